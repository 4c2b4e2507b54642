"""Peers that come and go leave nothing behind: tasks, file descriptors, peer objects,
memory. Also: a peer whose network vanishes (no DELETE, no DTLS close) is closed when
ICE consent fails, and removed from every registry."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCPeerConnection
from aiortc.contrib.media import RelayStreamTrack
from django.test import AsyncClient

from streaming.media.client import WhepClient, WhipClient
from streaming.media.engine import MediaEngine, reset_engine
from streaming.media.peers import MediaPeer
from streaming.media.program import ProgramConfig
from streaming.media.testpattern import ColourBarsTrack, ToneTrack
from tests.streaming_peers import Received, asgi_http

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]

TOKEN = "studio-token-for-cleanup-01"
BASE = "http://testserver"
SIZE = (160, 120)


@pytest.fixture
def studio(live_session: Any, users: Any) -> Any:
    from streaming.actions import do_set_publisher_token

    do_set_publisher_token(users["host"], live_session.pk, TOKEN)
    return live_session


@pytest.fixture
async def engine(tmp_path: Path, settings: Any) -> AsyncIterator[MediaEngine]:
    settings.HUB_MEDIA_ROOT = tmp_path
    settings.ROOT_URLCONF = "streaming.urls"
    # A hundred cycles from one address in a minute: not what the offer rates are about.
    settings.HUB_WHEP_RATE_PER_IP = settings.HUB_WHIP_RATE_PER_IP = "10000/m"
    engine = MediaEngine(
        config=ProgramConfig(*SIZE, fps=15),
        hls=False,
        media_root=tmp_path,
        max_viewers=50,
        idle_seconds=600,
    )
    reset_engine(engine)
    yield engine
    await engine.shutdown()
    reset_engine(None)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def live_objects(kind: type) -> int:
    # type(o), not isinstance(o, …): isinstance reads o.__class__, which makes a lazy
    # object left by an earlier test (a test client's resolver_match) evaluate itself.
    return sum(1 for o in gc.get_objects() if issubclass(type(o), kind))


def release_free_heap() -> None:
    """Give the C allocator's free pages back to the system (glibc ``malloc_trim``), so
    that RSS counts memory in use: in a long test run the process holds a large heap
    from earlier tests (over 1 GB), and its free pages made RSS move by more than the
    bound below while Python's own blocks stayed flat."""
    libc = ctypes.util.find_library("c")
    if libc:
        trim = getattr(ctypes.CDLL(libc), "malloc_trim", None)
        if trim is not None:
            trim(0)


async def settle() -> dict[str, int]:
    """Let closing finish, collect garbage, and count what is alive."""
    for _ in range(10):
        await asyncio.sleep(0.05)
    gc.collect()
    release_free_heap()
    return {
        "tasks": len(asyncio.all_tasks()),
        "fds": open_fds(),
        "peer_connections": live_objects(RTCPeerConnection),
        "media_peers": live_objects(MediaPeer),
        "relay_tracks": live_objects(RelayStreamTrack),
        "python_blocks": sys.getallocatedblocks(),
        "rss": rss_bytes(),
    }


async def one_viewer(http: Any, *, delete: bool) -> None:
    """Connect a WHEP viewer, receive a few frames, leave (DELETE, or just vanish)."""
    received = Received(keep_pictures=2)
    client = WhepClient(f"{BASE}/whep/live", http=http)
    await client.play(received.on_track)
    await received.wait_for(lambda r: r.video_frames >= 2 and r.audio_frames >= 5, what="media")
    if delete:
        await client.close()
    else:  # no DELETE: the server learns from DTLS close / connection state
        await client.pc.close()
    await received.stop()


#: Set in the fresh process that measures the hundred cycles (see the test below).
FRESH_PROCESS = "HUB_TEST_FRESH_PROCESS"


async def measured_in_a_fresh_process(test: str) -> bool:
    """Run ``test`` of this file again in a new pytest process and assert that it passed;
    True when this call did so (the caller then returns), False inside that process.

    Memory is measured there: late in the full suite this process holds a heap of over
    1 GB that earlier tests left, whose free pages move RSS by more than the bound of a
    leak while Python's own blocks stay flat."""
    if os.environ.get(FRESH_PROCESS) == "1":
        return False
    command = [sys.executable, "-m", "pytest", f"{__file__}::{test}", "-q", "-s"]
    command += ["-p", "no:cacheprovider"]
    env = {**os.environ, FRESH_PROCESS: "1"}
    child = await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=170
    )
    print(child.stdout[-3000:])
    assert child.returncode == 0, child.stdout[-6000:] + child.stderr[-3000:]
    assert "1 passed" in child.stdout
    return True


async def test_hundred_viewer_and_publisher_cycles_leak_no_tasks_fds_peers_or_memory(
    studio: Any, engine: MediaEngine, caplog: Any
) -> None:
    if await measured_in_a_fresh_process(
        "test_hundred_viewer_and_publisher_cycles_leak_no_tasks_fds_peers_or_memory"
    ):
        return
    # pytest keeps every captured log record, and aioice's INFO records hold candidate
    # pairs (and so sockets' transports): that would look like a leak of ours.
    caplog.set_level(logging.WARNING)
    http = asgi_http(AsyncClient())
    publisher = WhipClient(f"{BASE}/whip/live", token=TOKEN, http=http)
    await publisher.publish(ColourBarsTrack(*SIZE, fps=15), ToneTrack())
    for _ in range(2):  # warm-up: first-use allocations (codecs, caches, pools)
        await asyncio.gather(*(one_viewer(http, delete=True) for _ in range(5)))
    before = await settle()

    cycles = 0
    halfway: dict[str, int] = {}
    started = time.monotonic()
    for round_ in range(20):
        await asyncio.gather(*(one_viewer(http, delete=(i % 2 == 0)) for i in range(5)))
        cycles += 5
        if round_ % 5 == 4:  # the studio reconnects now and then too
            await publisher.close()
            publisher = WhipClient(f"{BASE}/whip/live", token=TOKEN, http=http)
            await publisher.publish(ColourBarsTrack(*SIZE, fps=15), ToneTrack())
        if cycles == 50:
            halfway = await settle()
    elapsed = time.monotonic() - started
    await asyncio.sleep(0.5)
    after = await settle()
    print(f"{cycles} cycles in {elapsed:.1f} s; before {before}; halfway {halfway}; after {after}")

    assert cycles == 100
    assert engine.status("live")["webrtc_viewers"] == 0
    assert engine.sessions()["live"].viewers == {}
    for counted in ("peer_connections", "media_peers", "relay_tracks"):
        assert after[counted] == before[counted], counted
    assert after["tasks"] <= before["tasks"] + 2
    assert after["fds"] <= before["fds"] + 4
    assert after["python_blocks"] - before["python_blocks"] < 20_000
    # The C heap grows over the first tens of connections (allocator arenas of the
    # codec and transport threads), then stays flat: the second 50 cycles add nothing.
    assert after["rss"] - halfway["rss"] < 12 * 1024 * 1024
    await publisher.close()


async def test_a_viewer_whose_network_vanishes_is_closed_when_ice_consent_fails(
    studio: Any, engine: MediaEngine, monkeypatch: Any
) -> None:
    import aioice.ice

    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.2)
    monkeypatch.setattr(aioice.ice, "CONSENT_FAILURES", 3)
    http = asgi_http(AsyncClient())
    received = Received()
    client = WhepClient(f"{BASE}/whep/live", http=http)
    await client.play(received.on_track)
    await received.wait_for(lambda r: r.video_frames >= 2, what="video")
    media = engine.sessions()["live"]
    (server_peer,) = media.viewers.values()

    # Pull the plug: the client's sockets close without a word (no DTLS close_notify).
    ice = client.pc.getTransceivers()[0].receiver.transport.transport
    await ice._connection.close()

    deadline = time.monotonic() + 10
    while media.viewers and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert media.viewers == {}
    assert server_peer.closed and server_peer.pc.connectionState in ("failed", "closed")
    assert engine.status("live")["webrtc_viewers"] == 0
    await client.pc.close()
    await received.stop()
