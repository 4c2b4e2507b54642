"""The viewer stream: snapshot, live events in seq order, replay with ``since``, gap
fill from the log, heartbeats, and the bound on slow viewers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from hub import protocol
from hub.models import Question
from hub.realtime import broker
from hub.realtime.fanout import ViewerConnection
from hub.routing import websocket_application
from moderation.actions import do_approve_question, do_reject_question

pytestmark = pytest.mark.django_db(transaction=True)


async def viewer(slug: str = "live", since: int | None = None) -> WebsocketCommunicator:
    query = f"?since={since}" if since is not None else ""
    communicator = WebsocketCommunicator(websocket_application, f"/ws/sessions/{slug}/live{query}")
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def frame(c: WebsocketCommunicator, *, skip_heartbeats: bool = True) -> dict[str, Any]:
    while True:
        text = await c.receive_from(timeout=3)
        protocol.viewer_frame_adapter.validate_json(text)
        decoded = json.loads(text)
        if not (skip_heartbeats and decoded["type"] == "heartbeat"):
            return decoded


@pytest.fixture
def approve(host: Any, ask: Callable[..., Question]) -> Callable[..., Any]:
    async def approve_(text: str = "一个会被公开的问题") -> Question:
        question = await database_sync_to_async(ask)(text)
        await database_sync_to_async(do_approve_question)(host, question.session_id, question.pk)
        return question

    return approve_


async def test_first_frame_is_a_snapshot_of_public_questions_only(
    approve: Callable[..., Any], ask: Callable[..., Question], live_session: Any
) -> None:
    public = await approve("公开的问题内容")
    await database_sync_to_async(ask)("仍在审核中的问题")
    await database_sync_to_async(ask)("私下的问题内容", private=True, contact="13812345678")
    c = await viewer()
    snapshot = await frame(c)
    assert snapshot["type"] == "snapshot"
    assert [q["id"] for q in snapshot["data"]["questions"]] == [public.pk]
    assert snapshot["data"]["session"]["slug"] == "live"
    assert snapshot["seq"] == (
        await database_sync_to_async(
            lambda: type(live_session).objects.get(pk=live_session.pk).last_event_seq
        )()
    )
    assert "13812345678" not in json.dumps(snapshot) and "138****" not in json.dumps(snapshot)
    await c.disconnect()


async def test_live_events_arrive_in_seq_order(
    approve: Callable[..., Any], live_session: Any
) -> None:
    c = await viewer()
    start = (await frame(c))["seq"]
    questions = [await approve(f"第{i}个公开问题") for i in range(3)]
    got = [await frame(c) for _ in questions]
    assert [f["seq"] for f in got] == [start + 1, start + 2, start + 3]
    assert [f["data"]["id"] for f in got] == [q.pk for q in questions]
    assert await c.receive_nothing(timeout=0.2)
    await c.disconnect()


async def test_reconnecting_with_since_replays_exactly_the_missed_events_once(
    approve: Callable[..., Any], host: Any, live_session: Any
) -> None:
    first = await viewer()
    seen = (await frame(first))["seq"]
    await first.disconnect()
    missed = [await approve(f"断线期间的问题{i}") for i in range(3)]
    await database_sync_to_async(do_reject_question)(
        host, live_session.pk, missed[0].pk, "duplicate"
    )
    again = await viewer(since=seen)
    replayed = [await frame(again) for _ in range(4)]
    assert [f["seq"] for f in replayed] == [seen + 1, seen + 2, seen + 3, seen + 4]
    assert [f["type"] for f in replayed] == ["question_published"] * 3 + ["question_withdrawn"]
    live = await approve("重连之后的新问题")
    after = await frame(again)
    assert (after["seq"], after["data"]["id"]) == (seen + 5, live.pk)
    assert await again.receive_nothing(timeout=0.2)
    await again.disconnect()


async def test_since_too_old_gets_a_snapshot_and_continues(
    approve: Callable[..., Any], settings: Any, live_session: Any
) -> None:
    settings.HUB_REPLAY_WINDOW = 2
    c = await viewer()
    seen = (await frame(c))["seq"]
    await c.disconnect()
    for i in range(3):
        await approve(f"太久以前的问题{i}")
    again = await viewer(since=seen)
    snapshot = await frame(again)
    assert snapshot["type"] == "snapshot"
    assert snapshot["seq"] == seen + 3
    assert len(snapshot["data"]["questions"]) == 3
    question = await approve("快照之后的问题")
    assert (await frame(again))["data"]["id"] == question.pk
    await again.disconnect()


@pytest.mark.parametrize("since", ["-5", "abc", "999999"])
async def test_nonsense_since_gets_a_snapshot(live_session: Any, since: str) -> None:
    c = WebsocketCommunicator(websocket_application, f"/ws/sessions/live/live?since={since}")
    await c.connect()
    assert (await frame(c))["type"] == "snapshot"
    await c.disconnect()


async def test_unknown_session_is_closed_with_4404(live_session: Any) -> None:
    c = WebsocketCommunicator(websocket_application, "/ws/sessions/missing/live")
    await c.connect()
    assert (await c.receive_output(timeout=3)) == {
        "type": "websocket.close",
        "code": protocol.CLOSE_UNKNOWN_SESSION,
    }


async def test_a_lost_publication_is_filled_from_the_log(
    approve: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, live_session: Any
) -> None:
    c = await viewer()
    start = (await frame(c))["seq"]
    real_publish = broker.publish
    dropped: list[int] = []

    def lossy(session_id: int, seq: int, text: str) -> None:
        if not dropped:
            dropped.append(seq)  # the first publication is lost on the way
            return
        real_publish(session_id, seq, text)

    monkeypatch.setattr(broker, "publish", lossy)
    lost = await approve("发布时丢失的问题")
    kept = await approve("随后正常发布的问题")
    got = [await frame(c), await frame(c)]
    assert dropped == [start + 1]
    assert [(f["seq"], f["data"]["id"]) for f in got] == [
        (start + 1, lost.pk),
        (start + 2, kept.pk),
    ]
    await c.disconnect()


async def test_heartbeats_carry_the_last_seq_and_catch_a_lost_last_event(
    approve: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
    live_session: Any,
) -> None:
    settings.HUB_HEARTBEAT_SECONDS = 0.2
    c = await viewer()
    start = (await frame(c))["seq"]
    beat = await frame(c, skip_heartbeats=False)
    assert (beat["type"], beat["seq"], beat["data"]) == ("heartbeat", start, {})
    monkeypatch.setattr(broker, "publish", lambda *args: None)  # every publication lost
    question = await approve("没有后续事件的问题")
    caught = await frame(c)
    assert (caught["seq"], caught["data"]["id"]) == (start + 1, question.pk)
    await c.disconnect()


async def test_a_viewer_that_falls_behind_while_held_is_closed_to_resync() -> None:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    connection = ViewerConnection(send, limit=4)
    for n in range(10):
        connection.hold(n, f"frame-{n}")
    assert connection.closed and connection.close_code == protocol.CLOSE_TOO_SLOW_RESYNC
    await connection.wait_closed()
    assert sent == [{"type": "websocket.close", "code": protocol.CLOSE_TOO_SLOW_RESYNC}]
    await connection.release()
    assert len(sent) == 1  # nothing more is written to a closed viewer


async def test_a_viewer_gets_each_stored_event_once_even_if_offered_twice() -> None:
    sent: list[str] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["text"])

    connection = ViewerConnection(send, limit=8)
    connection.hold(5, "e5")
    connection.hold(None, "heartbeat")
    await connection.release()
    await connection.send_text(5, "e5")  # the pump offers it again
    await connection.send_text(6, "e6")
    await connection.send_text(None, "heartbeat")
    assert sent == ["e5", "heartbeat", "e6", "heartbeat"]


async def test_a_failing_socket_is_dropped_without_stopping_the_others(
    approve: Callable[..., Any], live_session: Any
) -> None:
    from hub.realtime.fanout import local_hub

    healthy = await viewer()
    start = (await frame(healthy))["seq"]
    fanout = await local_hub.fanout(live_session.pk)

    async def broken(message: dict[str, Any]) -> None:
        raise ConnectionResetError("peer went away")

    dead = ViewerConnection(broken, limit=8)
    dead.last_seq = start
    await dead.release()
    fanout.viewers.add(dead)
    fanout.live.insert(0, dead)
    question = await approve("坏连接不影响其他观众")
    assert (await frame(healthy))["data"]["id"] == question.pk
    assert dead.closed and dead not in fanout.live
    await healthy.disconnect()


async def test_a_fast_viewer_is_not_held_back_by_a_slow_one(
    approve: Callable[..., Any], settings: Any, live_session: Any
) -> None:
    settings.HUB_VIEWER_QUEUE_LIMIT = 4
    slow = await viewer()
    fast = await viewer()
    await frame(slow)
    start = (await frame(fast))["seq"]
    # `slow` never reads; the communicator buffers, so the app-side queue is what bounds it.
    for i in range(6):
        await approve(f"快慢观众测试问题{i}")
        assert (await frame(fast))["seq"] == start + i + 1
    await slow.disconnect()
    await fast.disconnect()


async def test_viewers_connecting_together_share_one_snapshot(
    approve: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, live_session: Any
) -> None:
    from hub.realtime import fanout as fanout_module

    await approve("快照共享测试问题")
    built: list[int] = []
    real = fanout_module._snapshot_frame

    async def counting(session_id: int, seq: int) -> str:
        built.append(seq)
        return str(await real(session_id, seq))

    monkeypatch.setattr(fanout_module, "_snapshot_frame", counting)
    viewers = [await viewer() for _ in range(5)]
    snapshots = [await frame(v) for v in viewers]
    assert len({json.dumps(s) for s in snapshots}) == 1
    assert len(built) == 1
    await approve("之后的新问题使快照失效")
    for v in viewers:
        await frame(v)
    late = await viewer()
    assert (await frame(late))["seq"] == snapshots[0]["seq"] + 1
    assert len(built) == 2
    for v in [*viewers, late]:
        await v.disconnect()
