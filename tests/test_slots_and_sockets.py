"""Slots and sockets cannot be held or flooded (issue 10 §4).

- WebRTC: an offer that can never connect (no candidates, no end-of-candidates) no longer
  holds a viewer slot for ever: a peer not connected by the deadline is closed.
- WHEP, WHIP and guest-join offers are rate-limited per client address (429 + Retry-After).
- WebSockets: one client address may hold only so many viewer and console sockets per
  process; the next is closed with 4503, and leaving gives the place back.
- ``approve`` on a private question is refused with ``private``, like queue and on air.

The WebRTC tests use real aiortc peers over loopback on the test's event loop (like
tests/test_streaming_media.py), with a short connect deadline set through the setting.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCPeerConnection
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient

from hub.realtime.addresscap import CLOSE_TOO_MANY_CONNECTIONS, console_slots, viewer_slots
from hub.routing import websocket_application
from streaming.media.engine import MediaEngine, reset_engine
from streaming.media.hls import HlsConfig
from streaming.media.peers import MediaPeer
from streaming.media.program import ProgramConfig
from streaming.media.testpattern import ToneTrack
from tests.conftest import require_service
from tests.live import HubServer, prepare_database
from tests.services import CHROMIUM
from tests.streaming_peers import asgi_http, play

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

SIZE = (160, 120)
#: Long enough for a real viewer to connect over loopback on a loaded test machine, short
#: enough for the test (the default is 15 s).
CONNECT_DEADLINE = 3.0


# -- WebRTC slots ------------------------------------------------------------------------------


@pytest.fixture
async def engine(tmp_path: Path, settings: Any) -> AsyncIterator[MediaEngine]:
    settings.HUB_MEDIA_ROOT = tmp_path
    settings.ROOT_URLCONF = "streaming.urls"
    settings.HUB_WEBRTC_CONNECT_TIMEOUT_SECONDS = CONNECT_DEADLINE
    engine = MediaEngine(  # the deadlines come from the settings
        config=ProgramConfig(*SIZE, fps=5),
        hls=False,
        hls_config=HlsConfig(segment_seconds=1, list_size=4),
        media_root=tmp_path,
        max_viewers=8,
        idle_seconds=60,
    )
    reset_engine(engine)
    yield engine
    await engine.shutdown()
    reset_engine(None)


async def offer_without_candidates() -> str:
    """A WHEP offer as an attacker sends it: no ICE candidate and no end-of-candidates, so
    the engine's ICE waits for candidates that never come."""
    pc = RTCPeerConnection()
    try:
        pc.addTransceiver("video", direction="recvonly")
        pc.addTransceiver("audio", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        lines = pc.localDescription.sdp.splitlines()
    finally:
        await pc.close()
    kept = [x for x in lines if not x.startswith(("a=candidate", "a=end-of-candidates"))]
    return "\r\n".join(kept) + "\r\n"


async def post_offer(client: AsyncClient, path: str, sdp: str, **headers: str) -> Any:
    return await client.post(path, sdp, content_type="application/sdp", headers=headers)


async def wait_until(predicate: Any, timeout: float, what: str) -> None:
    """Poll ``predicate`` (a bounded wait for an event, not a speed assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_eight_whep_offers_that_never_connect_are_closed_after_the_deadline_and_a_real_viewer_then_gets_a_slot(
    live_session: Any, engine: MediaEngine
) -> None:
    client = AsyncClient()
    offer = await offer_without_candidates()
    for _ in range(8):
        response = await post_offer(client, "/whep/live", offer)
        assert response.status_code == 201
    assert engine.viewer_count == 8
    full = await post_offer(client, "/whep/live", offer)
    assert full.status_code == 503 and full.json()["code"] == "webrtc_viewer_cap"

    await wait_until(
        lambda: engine.viewer_count == 0, 10 * CONNECT_DEADLINE, "the held slots to be freed"
    )
    assert engine.status("live")["webrtc_viewers"] == 0

    viewer, received = await play(asgi_http(client))
    try:
        await received.wait_for(lambda r: r.video_frames > 0, what="programme pictures")
        assert engine.viewer_count == 1
    finally:
        await viewer.close()
        await received.stop()


async def test_a_viewer_that_connects_within_the_deadline_is_kept(
    live_session: Any, engine: MediaEngine
) -> None:
    viewer, received = await play(asgi_http(AsyncClient()))
    try:
        await received.wait_for(lambda r: r.video_frames > 0, what="programme pictures")
        await asyncio.sleep(CONNECT_DEADLINE + 1.0)  # the deadline passes
        (peer,) = engine.sessions()["live"].viewers.values()
        assert not peer.closed and peer.state == "connected"
        before = received.video_frames
        await received.wait_for(lambda r: r.video_frames > before, what="more pictures")
    finally:
        await viewer.close()
        await received.stop()


async def test_a_peer_that_never_connects_is_closed_by_the_deadline_whatever_its_kind(
    live_session: Any, engine: MediaEngine, users: Any, settings: Any
) -> None:
    """The studio publisher slot too: a WHIP offer with no candidates is let go."""
    from streaming.actions import do_set_publisher_token

    await database_sync_to_async(do_set_publisher_token)(users["host"], live_session.pk, "t" * 24)
    pc = RTCPeerConnection()
    try:
        pc.addTransceiver(ToneTrack(440.0), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        sdp = "\r\n".join(
            x
            for x in pc.localDescription.sdp.splitlines()
            if not x.startswith(("a=candidate", "a=end-of-candidates"))
        )
    finally:
        await pc.close()
    response = await post_offer(
        AsyncClient(), "/whip/live", sdp + "\r\n", Authorization="Bearer " + "t" * 24
    )
    assert response.status_code == 201
    assert engine.status("live")["publisher_connected"]
    await wait_until(
        lambda: not engine.status("live")["publisher_connected"],
        10 * CONNECT_DEADLINE,
        "the silent publisher to be closed",
    )


# -- offer rate limits ---------------------------------------------------------------------


class ClientAt(AsyncClient):
    """An AsyncClient whose requests come from ``address`` (the ASGI scope's client)."""

    def __init__(self, address: str) -> None:
        super().__init__()
        self.address = address

    def _base_scope(self, **request: Any) -> dict[str, Any]:
        scope: dict[str, Any] = super()._base_scope(**request)  # type: ignore[misc]
        scope["client"] = [self.address, 40000]
        return scope


@pytest.mark.parametrize(
    ("path", "setting"),
    [
        ("/whep/live", "HUB_WHEP_RATE_PER_IP"),
        ("/whip/live", "HUB_WHIP_RATE_PER_IP"),
        ("/guest/no-such-link", "HUB_GUEST_JOIN_RATE_PER_IP"),
    ],
)
async def test_offers_past_the_rate_from_one_address_get_429_with_retry_after_and_other_addresses_do_not(
    path: str, setting: str, live_session: Any, engine: MediaEngine, settings: Any
) -> None:
    setattr(settings, setting, "3/m")
    attacker = ClientAt("203.0.113.7")
    body = "not an offer"  # counted before anything else is looked at
    answers = [(await post_offer(attacker, path, body)).status_code for _ in range(3)]
    assert 429 not in answers
    refused = await post_offer(attacker, path, body)
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited" and refused.json()["message"]
    assert int(refused["Retry-After"]) >= 1
    assert refused["Access-Control-Allow-Origin"] == "*"
    assert "Retry-After" in refused["Access-Control-Expose-Headers"]
    neighbour = ClientAt("203.0.113.8")
    assert (await post_offer(neighbour, path, body)).status_code != 429
    assert engine.viewer_count == 0


# -- WebSocket caps per address ---------------------------------------------------------------


def socket(path: str, address: str, headers: list[tuple[bytes, bytes]] | None = None) -> Any:
    communicator = WebsocketCommunicator(websocket_application, path, headers=headers or [])
    communicator.scope["client"] = (address, 50000)
    return communicator


async def open_viewer(address: str, headers: list[tuple[bytes, bytes]] | None = None) -> Any:
    c = socket("/ws/sessions/live/live", address, headers)
    connected, _ = await c.connect()
    assert connected
    first = json.loads(await c.receive_from(timeout=5))
    assert first["type"] == "snapshot"
    return c


async def refused_code(c: Any) -> int | None:
    """Connect; the close code of a connection closed at once, ``None`` if it stays open."""
    connected, code = await c.connect()
    if not connected:
        return int(code)
    message = await c.receive_output(timeout=5)
    return int(message["code"]) if message["type"] == "websocket.close" else None


async def test_viewer_sockets_past_the_cap_from_one_address_are_refused_with_4503_and_freed_places_are_taken_again(
    live_session: Any, settings: Any
) -> None:
    settings.HUB_WS_MAX_VIEWERS_PER_ADDRESS = cap = 20
    address = "198.51.100.20"
    viewers = [await open_viewer(address) for _ in range(cap)]
    for _ in range(3):
        assert await refused_code(socket("/ws/sessions/live/live", address)) == 4503
    other = await open_viewer("198.51.100.21")  # another address is not affected
    await viewers[0].send_to(text_data="still there?")  # ignored, the socket stays open
    assert await viewers[0].receive_nothing(timeout=0.2)

    for c in viewers[:5]:
        await c.disconnect()
    viewers[:5] = [await open_viewer(address) for _ in range(5)]
    assert await refused_code(socket("/ws/sessions/live/live", address)) == 4503

    for c in [*viewers, other]:
        await c.disconnect()
    assert viewer_slots.total() == 0
    # Connect and leave many times: no count is left behind to lock the address out.
    for _ in range(3):
        batch = [await open_viewer(address) for _ in range(cap)]
        for c in batch:
            await c.disconnect()
    assert viewer_slots.total() == 0


async def test_an_ipv6_network_counts_as_one_address_and_a_refused_socket_holds_no_place(
    live_session: Any, settings: Any
) -> None:
    settings.HUB_WS_MAX_VIEWERS_PER_ADDRESS = 2
    a = await open_viewer("2001:db8:1:2::10")
    b = await open_viewer("2001:db8:1:2:ffff::99")  # same /64
    assert await refused_code(socket("/ws/sessions/live/live", "2001:db8:1:2::abcd")) == 4503
    elsewhere = await open_viewer("2001:db8:1:3::10")  # another /64
    await a.disconnect()
    c = await open_viewer("2001:db8:1:2::abcd")
    for x in (b, c, elsewhere):
        await x.disconnect()
    assert viewer_slots.total() == 0


async def test_behind_the_proxy_a_client_cannot_escape_the_cap_by_writing_its_own_forwarded_for(
    live_session: Any, settings: Any
) -> None:
    """nginx appends the address it saw; what the client wrote is to its left."""
    settings.HUB_PROXY_HEADERS = True
    settings.HUB_TRUSTED_PROXIES = ["127.0.0.1"]
    settings.HUB_WS_MAX_VIEWERS_PER_ADDRESS = 3

    def via_proxy(written: str) -> list[tuple[bytes, bytes]]:
        return [(b"x-forwarded-for", f"{written}, 198.51.100.30".encode())]

    viewers = [await open_viewer("127.0.0.1", via_proxy(f"10.9.9.{i}")) for i in range(3)]
    spoofed = socket("/ws/sessions/live/live", "127.0.0.1", via_proxy("10.9.9.99"))
    assert await refused_code(spoofed) == 4503
    neighbour = await open_viewer("127.0.0.1", [(b"x-forwarded-for", b"198.51.100.31")])
    for c in [*viewers, neighbour]:
        await c.disconnect()
    assert viewer_slots.total() == 0


@database_sync_to_async
def _session_cookie(user: Any) -> bytes:
    from django.test import Client

    browser = Client()
    browser.force_login(user)
    return f"sessionid={browser.cookies['sessionid'].value}".encode()


async def open_console(cookie: bytes, address: str) -> Any:
    c = socket(
        "/ws/sessions/live/console",
        address,
        headers=[(b"origin", b"http://testserver"), (b"cookie", cookie)],
    )
    connected, _ = await c.connect()
    assert connected
    hello = json.loads(await c.receive_from(timeout=5))
    assert hello["type"] == "hello"
    return c


async def receive_type(c: Any, type_: str) -> dict[str, Any]:
    while True:
        frame = json.loads(await c.receive_from(timeout=5))
        if frame["type"] == type_:
            return frame  # type: ignore[no-any-return]


async def test_console_sockets_past_the_cap_from_one_address_are_refused_and_leaving_frees_a_place(
    live_session: Any, users: Any, settings: Any
) -> None:
    settings.HUB_WS_MAX_CONSOLES_PER_ADDRESS = cap = 4
    cookie = await _session_cookie(users["host"])
    address = "192.0.2.44"
    consoles = [await open_console(cookie, address) for _ in range(cap)]
    extra = socket(
        "/ws/sessions/live/console",
        address,
        headers=[(b"origin", b"http://testserver"), (b"cookie", cookie)],
    )
    assert await refused_code(extra) == CLOSE_TOO_MANY_CONNECTIONS == 4503
    other = await open_console(cookie, "192.0.2.45")
    await consoles[0].disconnect()
    consoles[0] = await open_console(cookie, address)
    for c in [*consoles, other]:
        await c.disconnect()
    for _ in range(3):
        batch = [await open_console(cookie, address) for _ in range(cap)]
        for c in batch:
            await c.disconnect()
    assert console_slots.total() == 0


async def test_approve_on_a_private_question_is_refused_with_private_on_the_console(
    live_session: Any, users: Any, ask: Any
) -> None:
    question = await database_sync_to_async(ask)("我家的低保申请为什么被退回了？", private=True)
    console = await open_console(await _session_cookie(users["host"]), "192.0.2.50")
    try:
        await console.send_to(
            text_data=json.dumps({"id": 7, "action": "approve", "question": question.pk})
        )
        refusal = await receive_type(console, "error")
        assert refusal["data"]["id"] == 7 and refusal["data"]["code"] == "private"
        assert refusal["data"]["message"]
    finally:
        await console.disconnect()
    await database_sync_to_async(question.refresh_from_db)()
    assert question.state == "pending" and question.published_at is None


# -- the page's answer to 4503 (real server, real chromium) ------------------------------------


@pytest.mark.browser
@pytest.mark.liveserver
def test_a_viewer_page_refused_with_4503_waits_at_least_15_seconds_instead_of_hammering(
    tmp_path: Path,
) -> None:
    if not os.path.exists(CHROMIUM):
        require_service(f"Debian's chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright  # as tests/test_browser: only when used

    database = tmp_path / "hub.sqlite3"
    prepare_database(database)
    server = HubServer(database, tmp_path / "server.log", HUB_WS_MAX_VIEWERS_PER_ADDRESS="1")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--headless=new", "--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page()
            page.goto(f"{server.base}/")
            seen = page.evaluate(
                """async (wsBase) => {
                  const live = await import('/static/frontend/live.js');
                  const url = `${wsBase}/ws/sessions/demo/live`;
                  // The one place of this address, held.
                  const held = await new Promise((resolve, reject) => {
                    const ws = new WebSocket(url);
                    ws.onmessage = () => resolve(ws);
                    ws.onclose = (e) => reject(new Error(`closed ${e.code}`));
                  });
                  // The page's own client, refused: what does it plan to do next?
                  const status = await new Promise((resolve) => {
                    const socket = new live.ReconnectingSocket({
                      url: () => url,
                      onFrame: () => {},
                      onStatus: (s) => {
                        if (s.state === 'reconnecting' && s.code !== undefined) {
                          socket.stop();
                          resolve(s);
                        }
                      },
                    });
                    socket.start();
                  });
                  held.close();
                  return { code: status.code, delay: status.delay };
                }""",
                server.ws,
            )
            browser.close()
    finally:
        server.stop()
    assert seen["code"] == CLOSE_TOO_MANY_CONNECTIONS
    assert seen["delay"] >= 15_000  # not the 0.5 s first retry of an ordinary drop


async def test_a_peer_that_lost_its_connection_is_closed_after_the_grace_unless_it_comes_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """aiortc reports no "disconnected" state (a dead path becomes "failed", closed at
    once); any other state after "connected" is given the grace and no more."""
    states: dict[int, str] = {}
    monkeypatch.setattr(
        RTCPeerConnection, "connectionState", property(lambda pc: states.get(id(pc), "new"))
    )

    def becomes(peer: MediaPeer, state: str) -> None:
        states[id(peer.pc)] = state
        peer.pc.emit("connectionstatechange")

    lost = MediaPeer("viewer", "live", connect_timeout=None, disconnect_grace=0.3)
    back = MediaPeer("viewer", "live", connect_timeout=None, disconnect_grace=0.3)
    for peer in (lost, back):
        becomes(peer, "connected")
        becomes(peer, "connecting")
    becomes(back, "connected")
    try:
        await wait_until(lambda: lost.closed, 10.0, "the lost peer to be closed")
        await asyncio.sleep(0.6)  # twice the grace
        assert not back.closed
    finally:
        await asyncio.gather(lost.close(), back.close())
