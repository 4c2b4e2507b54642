"""A media engine that dies without a word (its process killed or crashed) must not leave
the control plane believing its publisher and guests are still connected: the engine
that replaces it says it holds nothing before it takes its first peer, so the studio
reconnects without a hand-over and viewers hear that the signal went off.

In-process, with real aiortc peers over loopback (as tests/test_streaming_media.py): a
"crash" is the engine's peers and programmes ending while nothing it says reaches the
database; a restart is a new :class:`MediaEngine` taking the endpoints.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient
from django.utils import timezone

from hub import protocol
from hub.models import AuditEntry, SessionEvent
from hub.routing import websocket_application
from streaming import actions as a
from streaming.media import engine as engine_module
from streaming.media.client import GuestClient, SignallingError, WhipClient
from streaming.media.engine import MediaEngine, reset_engine
from streaming.media.program import ProgramConfig
from streaming.media.slates import SlateKind
from streaming.media.testpattern import ColourBarsTrack, ToneTrack
from streaming.models import GuestInvite, GuestState, StudioStream
from tests.streaming_peers import (
    Received,
    asgi_http,
    looks_like_slate,
    play,
    showing_bars,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

TOKEN = "studio-token-for-crash-tests-01"
SIZE = (160, 120)
BASE = "http://testserver"


def new_engine(tmp_path: Path) -> MediaEngine:
    return MediaEngine(
        config=ProgramConfig(*SIZE, fps=15),
        hls=False,
        media_root=tmp_path,
        max_viewers=4,
        idle_seconds=60,
    )


@pytest.fixture
def studio(live_session: Any, users: Any) -> Any:
    a.do_set_publisher_token(users["host"], live_session.pk, TOKEN)
    return live_session


@pytest.fixture
async def engines(tmp_path: Path, settings: Any) -> AsyncIterator[list[MediaEngine]]:
    """The engines of the test, first one serving; every one is shut down at the end."""
    settings.HUB_MEDIA_ROOT = tmp_path
    settings.ROOT_URLCONF = "streaming.urls"
    started = [new_engine(tmp_path)]
    reset_engine(started[0])
    yield started
    for engine in started:
        await engine.shutdown()
    reset_engine(None)


@pytest.fixture
def http() -> Any:
    return asgi_http(AsyncClient())


async def crash(engine: MediaEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine's process dies: its peers and programmes end, and nothing it would say
    (publisher gone, guest gone, recording finished) reaches the control plane."""

    async def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("the media process is dead")

    with monkeypatch.context() as patched:
        patched.setattr(engine_module, "_db", unreachable)
        await engine.shutdown()
    assert engine.sessions() == {}


def restart(engines: list[MediaEngine], tmp_path: Path) -> MediaEngine:
    """A new media process takes the endpoints."""
    engine = new_engine(tmp_path)
    engines.append(engine)
    reset_engine(engine)
    return engine


async def publish(http: Any) -> WhipClient:
    client = WhipClient(f"{BASE}/whip/live", token=TOKEN, http=http)
    try:
        await client.publish(ColourBarsTrack(*SIZE, fps=15), ToneTrack(1000))
    except SignallingError:
        await client.pc.close()
        raise
    return client


def showing_waiting_slate(received: Received) -> bool:
    picture = received.latest_picture()
    return picture is not None and looks_like_slate(picture, SlateKind.WAITING)


def resource_of(client: WhipClient) -> str:
    assert client.location is not None
    return client.location.rsplit("/", 1)[1]


async def db(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return await database_sync_to_async(function)(*args, **kwargs)


def studio_row(session_id: int) -> StudioStream:
    return StudioStream.objects.get(session_id=session_id)


def stream_states(session_id: int) -> list[dict[str, Any]]:
    events = SessionEvent.objects.filter(session_id=session_id, type="stream_state")
    return [e.data for e in events.order_by("seq")]


def audit_reasons(session_id: int, action: str) -> list[tuple[str, str]]:
    entries = AuditEntry.objects.filter(session_id=session_id, action=action).order_by("id")
    return [(e.reason, e.note) for e in entries]


async def viewer_socket() -> tuple[WebsocketCommunicator, dict[str, Any]]:
    """A viewer page's event stream; returns it and its snapshot."""
    communicator = WebsocketCommunicator(websocket_application, "/ws/sessions/live/live")
    connected, _ = await communicator.connect()
    assert connected
    snapshot = await next_frame(communicator)
    assert snapshot["type"] == "snapshot"
    return communicator, snapshot


async def next_frame(communicator: WebsocketCommunicator, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        text = await communicator.receive_from(timeout=max(0.1, deadline - time.monotonic()))
        protocol.viewer_frame_adapter.validate_json(text)
        frame = json.loads(text)
        if frame["type"] != "heartbeat":
            return dict(frame)


async def frames_until(
    communicator: WebsocketCommunicator, done: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    while not done(seen):
        seen.append(await next_frame(communicator))
    return seen


# -- the control plane --------------------------------------------------------------------------


def test_an_engine_that_starts_clears_every_publisher_and_connected_guest_it_cannot_hold(
    studio: Any, make_session: Any, host: Any, frames: Any
) -> None:
    now = timezone.now()
    other = make_session("live", slug="other")
    a.do_set_publisher_token(host, other.pk, TOKEN)
    a.do_publisher_connected(studio.pk, "res-live", now)
    a.do_publisher_connected(other.pk, "res-other", now)
    on_air = a.do_invite_guest(host, studio.pk, "市民王先生")
    waiting = a.do_invite_guest(host, other.pk, "远程嘉宾", "guest")
    unused = a.do_invite_guest(host, studio.pk, "还没来的听众")
    a.do_guest_connect(on_air.token, now)
    a.do_guest_connect(waiting.token, now)
    a.do_put_guest_on_air(host, studio.pk, on_air.invite.pk)
    frames.viewer.clear()

    assert a.do_media_engine_started(now) == 4

    for session in (studio, other):
        row = studio_row(session.pk)
        assert (row.publisher_resource_id, row.publisher_connected_at, row.live) == (
            "",
            None,
            False,
        )
        assert stream_states(session.pk) == [{"live": True}, {"live": False}]
        assert a.staff_stage(session.pk).publisher.connected is False
    assert audit_reasons(studio.pk, "publisher_disconnected") == [("engine_restarted", "res-live")]
    states = dict(GuestInvite.objects.values_list("pk", "state"))
    assert states[on_air.invite.pk] == states[waiting.invite.pk] == GuestState.LEFT
    assert states[unused.invite.pk] == GuestState.INVITED
    assert a.current_program_state(studio.pk)["on_air_guest_ids"] == []
    # Viewers are told as when a publisher or guest drops: the signal is off, the guest too.
    viewer_frames = [(f["type"], f["data"]) for f in frames.viewer]
    assert ("stream_state", {"live": False}) in viewer_frames
    assert (
        "guest_on_air",
        {"guest": {"id": on_air.invite.pk, "label": "市民王先生"}, "on_air": False},
    ) in viewer_frames

    # Once is enough: a second start finds nothing more to clear and tells nobody.
    frames.viewer.clear()
    assert a.do_media_engine_started(now) == 0
    assert frames.viewer == []
    # The studio may publish again without a hand-over.
    assert a.authenticate_publisher("live", TOKEN).replaces is None


# -- the engine, with real peers --------------------------------------------------------------


async def test_a_studio_reconnecting_after_the_media_engine_died_is_accepted_without_a_hand_over(
    studio: Any,
    engines: list[MediaEngine],
    http: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = await publish(http)
    viewer, received = await play(http)
    clients: list[Any] = [first, viewer]
    receivers = [received]
    try:
        await received.wait_for(showing_bars, what="bars before the crash")
        lost = resource_of(first)
        await crash(engines[0], monkeypatch)
        # What the dead engine could not say: the control plane still counts its publisher.
        assert (await db(studio_row, studio.pk)).publisher_resource_id == lost

        engine = restart(engines, tmp_path)
        second = await publish(http)  # the encoder posts again: no 409, no hand-over needed
        clients.append(second)
        assert (await db(studio_row, studio.pk)).publisher_resource_id == resource_of(second)
        media = engine.sessions()["live"]
        assert media.publisher is not None and media.publisher.resource_id == resource_of(second)

        again, received_again = await play(http)  # the viewer's player renegotiates
        clients.append(again)
        receivers.append(received_again)
        await received_again.wait_for(showing_bars, what="bars from the reconnected studio")
        assert await db(stream_states, studio.pk) == [
            {"live": True},
            {"live": False},
            {"live": True},
        ]
        assert await db(audit_reasons, studio.pk, "publisher_disconnected") == [
            ("engine_restarted", lost)
        ]
    finally:
        for client in clients:
            await client.close()
        for receiver in receivers:
            await receiver.stop()


async def test_viewers_hear_the_signal_and_the_guest_went_off_when_the_restarted_engine_is_reached(
    studio: Any,
    engines: list[MediaEngine],
    http: Any,
    users: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    invitation = await db(a.do_invite_guest, users["host"], studio.pk, "市民王先生")
    publisher = await publish(http)
    guest_heard = Received()
    guest = GuestClient(f"{BASE}/guest/{invitation.token}", http=http)
    await guest.join(ToneTrack(440, amplitude=0.3), guest_heard.on_track)
    await db(a.do_put_guest_on_air, users["host"], studio.pk, invitation.invite.pk)
    socket, snapshot = await viewer_socket()
    clients: list[Any] = [publisher, guest]
    receivers = [guest_heard]
    try:
        stage = snapshot["data"]["stage"]
        assert stage["live"] is True
        assert stage["guests_on_air"] == [{"id": invitation.invite.pk, "label": "市民王先生"}]

        await crash(engines[0], monkeypatch)
        restart(engines, tmp_path)
        # Nothing but the restart has happened: nobody has been told yet.
        assert await socket.receive_nothing(timeout=0.3)

        # The first peer to reach the new engine is a viewer's player coming back.
        viewer, received = await play(http)
        clients.append(viewer)
        receivers.append(received)
        told = await frames_until(
            socket,
            lambda seen: {f["type"] for f in seen} >= {"stream_state", "guest_on_air"},
        )
        assert [f["data"] for f in told if f["type"] == "stream_state"] == [{"live": False}]
        assert [f["data"] for f in told if f["type"] == "guest_on_air"] == [
            {"guest": {"id": invitation.invite.pk, "label": "市民王先生"}, "on_air": False}
        ]
        await received.wait_for(showing_waiting_slate, what="waiting slate: no studio now")

        guest_row = await db(GuestInvite.objects.get, pk=invitation.invite.pk)
        assert guest_row.state == GuestState.LEFT
        stage_now = await db(a.staff_stage, studio.pk)
        assert stage_now.publisher.connected is False and stage_now.live is False
        assert await db(audit_reasons, studio.pk, "guest_left") == [
            ("engine_restarted", f"guest #{invitation.invite.pk} 市民王先生")
        ]

        # And the studio comes back: viewers hear the signal is on again.
        clients.append(await publish(http))
        back = await frames_until(
            socket, lambda seen: any(f["type"] == "stream_state" for f in seen)
        )
        assert [f["data"] for f in back if f["type"] == "stream_state"] == [{"live": True}]
        await received.wait_for(showing_bars, what="bars after the studio came back")
    finally:
        await socket.disconnect()
        for client in clients:
            await client.close()
        for receiver in receivers:
            await receiver.stop()


async def test_a_restarted_engine_that_cannot_tell_the_control_plane_refuses_peers_until_it_can(
    studio: Any,
    engines: list[MediaEngine],
    http: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = await publish(http)
    clients: list[Any] = [first]
    try:
        await crash(engines[0], monkeypatch)
        engine = restart(engines, tmp_path)
        calls = {"n": 0}
        real = a.do_media_engine_started

        def database_down_once(now: Any) -> int:
            calls["n"] += 1
            if calls["n"] == 1:
                raise ConnectionError("database unreachable")
            return real(now)

        monkeypatch.setattr(a, "do_media_engine_started", database_down_once)
        with pytest.raises(SignallingError) as refused:
            await publish(http)
        assert refused.value.result.status == 503
        assert json.loads(refused.value.result.body)["code"] == "media_unavailable"
        assert engine.sessions() == {}

        clients.append(await publish(http))  # the next attempt tells it, then publishes
        assert calls["n"] == 2
        assert (await db(studio_row, studio.pk)).publisher_resource_id == resource_of(clients[-1])
    finally:
        for client in clients:
            await client.close()


async def test_an_engine_clears_the_control_plane_once_and_keeps_its_own_publisher(
    studio: Any, engines: list[MediaEngine], http: Any
) -> None:
    publisher = await publish(http)
    viewers = [await play(http)]
    try:
        await viewers[0][1].wait_for(showing_bars, what="bars")
        # More requests on the same engine, some at once: its own publisher stays.
        viewers += await asyncio.gather(*(play(http) for _ in range(2)))
        row = await db(studio_row, studio.pk)
        assert row.publisher_resource_id == resource_of(publisher) and row.live is True
        assert await db(stream_states, studio.pk) == [{"live": True}]
        assert engines[0].status("live")["webrtc_viewers"] == 3
    finally:
        for client, received in viewers:
            await client.close()
            await received.stop()
        await publisher.close()
