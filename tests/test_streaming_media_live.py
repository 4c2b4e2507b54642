"""End to end through the real server (``python -m hub.serve`` under Daphne): the demo
publisher script sends its test pattern over WHIP, a WHEP viewer decodes it, the HLS
playlist and a segment come over HTTP and decode, and when the publisher leaves the
viewer gets the waiting slate on the same connection. Stopping the server finishes the
recording."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from streaming.media.client import WhepClient
from streaming.media.slates import SlateKind
from tests.live import DEMO_PASSWORD, ROOT, HubServer, prepare_database
from tests.streaming_peers import Received, looks_like_bars, looks_like_slate, tone_ratio

pytestmark = [pytest.mark.liveserver, pytest.mark.timeout(120)]

MEDIA_ENV = {
    "HUB_PROGRAM_WIDTH": "320",
    "HUB_PROGRAM_HEIGHT": "240",
    "HUB_PROGRAM_FPS": "15",
    "HUB_HLS_SEGMENT_SECONDS": "1",
}
DEMO_TOKEN = f"studio-{DEMO_PASSWORD}"  # HUB_DEMO_STREAM_TOKEN's default


MEDIA_ROOT = "media"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[HubServer]:
    database = tmp_path / "hub.sqlite3"
    env = {**MEDIA_ENV, "HUB_MEDIA_ROOT": str(tmp_path / MEDIA_ROOT)}
    prepare_database(database, **env)
    hub = HubServer(database, tmp_path / "server.log", **env)
    yield hub
    hub.stop()


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, dict(response.headers.items()), response.read()


async def test_demo_publisher_reaches_webrtc_and_hls_viewers_and_the_recording_is_finished(
    server: HubServer, tmp_path: Path
) -> None:
    publisher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streaming.publish_test_pattern",
            "--url",
            f"{server.base}/whip/demo",
            "--token",
            DEMO_TOKEN,
            "--seconds",
            "7",
            "--size",
            "320x240",
            "--fps",
            "15",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    received = Received()
    viewer = WhepClient(f"{server.base}/whep/demo")
    try:
        assert publisher.stdout is not None
        for _ in range(4):  # "connection: …" lines may come first
            line = await asyncio.to_thread(publisher.stdout.readline)
            if line.startswith("publishing to"):
                break
        assert line.startswith(f"publishing to {server.base}/whip/demo/"), line

        await viewer.play(received.on_track)

        def bars(r: Received) -> bool:
            picture = r.latest_picture()
            return picture is not None and looks_like_bars(picture)

        await received.wait_for(bars, timeout=15, what="colour bars over WHEP")
        start = time.monotonic()
        await asyncio.sleep(1.0)
        assert tone_ratio(received.sound_since(start), 1000) > 0.8

        playlist_url = f"{server.base}/hls/demo/index.m3u8"
        segments: list[str] = []
        deadline = time.monotonic() + 10
        while len(segments) < 2 and time.monotonic() < deadline:
            try:
                status, headers, body = await asyncio.to_thread(get, playlist_url)
                segments = [x for x in body.decode().splitlines() if x.endswith(".ts")]
            except OSError:
                pass
            await asyncio.sleep(0.3)
        assert len(segments) >= 2, "no HLS segments"
        assert "max-age=1" in headers["Cache-Control"]
        status, headers, data = await asyncio.to_thread(
            get, f"{server.base}/hls/demo/{segments[-1]}"
        )
        assert status == 200 and "immutable" in headers["Cache-Control"]
        segment = tmp_path / "segment.ts"
        segment.write_bytes(data)
        with av.open(str(segment)) as container:
            frames = list(container.decode(video=0))
        assert frames and (frames[-1].width, frames[-1].height) == (320, 240)

        # The publisher's time is up: it deletes its resource; the viewer stays
        # connected and sees the waiting slate.
        assert await asyncio.to_thread(publisher.wait, 20) == 0

        def waiting(r: Received) -> bool:
            picture = r.latest_picture()
            return picture is not None and looks_like_slate(picture, SlateKind.WAITING)

        await received.wait_for(waiting, timeout=10, what="waiting slate")
        assert viewer.pc.connectionState == "connected"
        await viewer.close()

        # Stopping the server finishes the recording: a VOD playlist of every segment.
        await asyncio.to_thread(server.stop)
        (recording,) = [
            p
            for p in (tmp_path / MEDIA_ROOT / "hls" / "demo").glob("*.m3u8")
            if p.name != "index.m3u8"
        ]
        text = recording.read_text()
        assert "#EXT-X-PLAYLIST-TYPE:VOD" in text and text.rstrip().endswith("#EXT-X-ENDLIST")
        assert len([x for x in text.splitlines() if x.endswith(".ts")]) >= 4
    finally:
        if publisher.poll() is None:
            publisher.kill()
            publisher.wait(5)
        if publisher.stdout is not None:
            publisher.stdout.close()
        await viewer.close()
        await received.stop()
