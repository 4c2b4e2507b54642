"""The console WebSocket: roles, commands, acknowledgements and refusals."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.urls import path

from hub import protocol
from hub.consumers import ConsoleConsumer
from hub.models import Question

pytestmark = pytest.mark.django_db(transaction=True)

app = URLRouter([path("ws/sessions/<slug:slug>/console", ConsoleConsumer.as_asgi())])


async def open_console(user: Any, slug: str = "live") -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(app, f"/ws/sessions/{slug}/console")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def receive(communicator: WebsocketCommunicator, type_: str | None = None) -> dict[str, Any]:
    """Next frame (of ``type_``, skipping others), validated against the console schema."""
    while True:
        text = await communicator.receive_from(timeout=3)
        protocol.console_frame_adapter.validate_json(text)
        frame = json.loads(text)
        if type_ is None or frame["type"] == type_:
            return frame


async def hello_and_snapshot(c: WebsocketCommunicator) -> tuple[dict[str, Any], dict[str, Any]]:
    return await receive(c, "hello"), await receive(c, "snapshot")


async def test_anonymous_visitor_is_refused_with_a_reason(live_session: Any) -> None:
    from django.contrib.auth.models import AnonymousUser

    c = await open_console(AnonymousUser())
    error = await receive(c)
    assert (error["type"], error["data"]["code"]) == ("error", "forbidden")
    assert (await c.receive_output(timeout=3))["code"] == 4403


async def test_account_without_a_console_role_is_refused(
    users: dict[str, Any], live_session: Any
) -> None:
    c = await open_console(users["dept"])
    assert (await receive(c))["data"]["code"] == "forbidden"
    assert (await c.receive_output(timeout=3))["code"] == 4403


async def test_unknown_session_closes_with_4404(users: dict[str, Any], live_session: Any) -> None:
    c = await open_console(users["host"], slug="nope")
    assert (await receive(c))["data"]["code"] == "not_found"
    assert (await c.receive_output(timeout=3))["code"] == 4404


async def test_observer_sees_rejected_questions_with_reasons_but_can_change_nothing(
    users: dict[str, Any], ask: Callable[..., Question]
) -> None:
    from moderation.actions import do_reject_question

    question = await database_sync_to_async(ask)("无关的广告内容", contact="13812345678")
    await database_sync_to_async(do_reject_question)(
        users["host"], question.session_id, question.pk, "advertising", "推销"
    )
    c = await open_console(users["observer"])
    hello, snapshot = await hello_and_snapshot(c)
    assert hello["data"]["roles"] == ["observer"]
    assert hello["data"]["permissions"] == ["flag"]  # a supervisory note, no state change
    [seen] = snapshot["data"]["questions"]
    assert (seen["state"], seen["rejection_reason"], seen["rejection_note"]) == (
        "rejected",
        "advertising",
        "推销",
    )
    assert seen["contact"] == "138****5678"
    await c.send_json_to({"id": "x1", "action": "approve", "question": question.pk})
    error = await receive(c, "error")
    assert error["data"] == {
        "id": "x1",
        "action": "approve",
        "code": "forbidden",
        "message": error["data"]["message"],
    }
    await c.disconnect()


async def test_host_command_is_acknowledged_and_every_console_hears_the_change(
    users: dict[str, Any], ask: Callable[..., Question]
) -> None:
    question = await database_sync_to_async(ask)("请问学区划分何时公布？")
    host = await open_console(users["host"])
    observer = await open_console(users["observer"])
    await hello_and_snapshot(host)
    await hello_and_snapshot(observer)
    await host.send_json_to({"id": 7, "action": "approve", "question": question.pk})
    ack = await receive(host, "ack")
    assert ack["data"] == {
        "id": 7,
        "action": "approve",
        "result": {"question": question.pk, "state": "approved"},
    }
    change = await receive(observer, "question")
    assert (change["data"]["id"], change["data"]["state"]) == (question.pk, "approved")
    counts = await receive(observer, "counts")
    assert counts["data"]["by_state"] == {"approved": 1}
    await host.disconnect()
    await observer.disconnect()


async def test_refused_command_names_its_reason(
    users: dict[str, Any], ask: Callable[..., Question]
) -> None:
    question = await database_sync_to_async(ask)("还没审核就想上直播")
    c = await open_console(users["host"])
    await hello_and_snapshot(c)
    await c.send_json_to({"id": 1, "action": "on_air", "question": question.pk})
    error = await receive(c, "error")
    assert error["data"]["code"] == "illegal_transition"
    assert f"#{question.pk}" in error["data"]["message"]
    await c.send_json_to({"id": 2, "action": "approve", "question": 999999})
    assert (await receive(c, "error"))["data"]["code"] == "not_found"
    await c.disconnect()


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ("not json", "bad_json"),
        (json.dumps({"id": 1, "action": "explode"}), "bad_command"),
        (json.dumps({"id": 1, "action": "approve"}), "bad_command"),
        (json.dumps({"id": 1, "action": "approve", "question": "x"}), "bad_command"),
        (
            json.dumps({"id": 1, "action": "reject", "question": 1, "reason": "boring"}),
            "bad_command",
        ),
        (json.dumps([1, 2, 3]), "bad_command"),
        ("x" * 70000, "bad_command"),
    ],
)
async def test_malformed_commands_get_an_error_frame_and_the_socket_stays_open(
    users: dict[str, Any], live_session: Any, payload: str, code: str
) -> None:
    c = await open_console(users["host"])
    await hello_and_snapshot(c)
    await c.send_to(text_data=payload)
    assert (await receive(c, "error"))["data"]["code"] == code
    await c.send_json_to({"id": "still", "action": "set_status", "status": "ended"})
    assert (await receive(c, "ack"))["data"]["result"] == {"status": "ended"}
    await c.disconnect()


async def test_screener_types_a_call_in_that_lands_in_the_queue(
    users: dict[str, Any], live_session: Any
) -> None:
    screener = await open_console(users["screener"])
    host = await open_console(users["host"])
    await hello_and_snapshot(screener)
    await hello_and_snapshot(host)
    await screener.send_json_to(
        {
            "id": "call-1",
            "action": "submit_call",
            "channel": "radio",
            "text": "广播听众：高铁站出租车排队乱",
            "name": "刘师傅",
            "phone": "13705275678",
        }
    )
    ack = await receive(screener, "ack")
    question_id = ack["data"]["result"]["question"]
    seen = await receive(host, "question")
    assert seen["data"]["id"] == question_id
    assert (
        seen["data"]["channel"],
        seen["data"]["asker"],
        seen["data"]["contact"],
        seen["data"]["submitted_by"],
    ) == ("radio", "刘师傅", "137****5678", "screener")
    await screener.send_json_to({"id": "x", "action": "approve", "question": question_id})
    assert (await receive(screener, "error"))["data"]["code"] == "forbidden"
    await screener.send_json_to(
        {"id": "bad", "action": "submit_call", "channel": "radio", "text": "短", "phone": "nope"}
    )
    assert (await receive(screener, "error"))["data"]["code"] in {"too_short", "bad_contact"}
    await screener.disconnect()
    await host.disconnect()


async def test_leader_types_the_live_answer_and_marks_it_answered(
    users: dict[str, Any], ask: Callable[..., Question]
) -> None:
    from moderation.actions import do_approve_question, do_put_on_air

    question = await database_sync_to_async(ask)("停车难怎么解决？")
    for action in (do_approve_question, do_put_on_air):
        await database_sync_to_async(action)(users["host"], question.session_id, question.pk)
    leader = await open_console(users["leader"])
    hello, snapshot = await hello_and_snapshot(leader)
    assert hello["data"]["permissions"] == ["answered", "live_answer"]
    assert [q["state"] for q in snapshot["data"]["questions"]] == ["on_air"]
    await leader.send_json_to(
        {"id": 1, "action": "live_answer", "question": question.pk, "summary": "新增停车位"}
    )
    await receive(leader, "ack")
    await leader.send_json_to(
        {"id": 2, "action": "answered", "question": question.pk, "summary": "年内新增停车位两千个"}
    )
    ack = await receive(leader, "ack")
    assert ack["data"]["result"]["state"] == "answered"
    await leader.send_json_to({"id": 3, "action": "queue", "question": question.pk})
    assert (await receive(leader, "error"))["data"]["code"] == "forbidden"
    await leader.disconnect()


async def test_console_sends_heartbeats(
    users: dict[str, Any], live_session: Any, settings: Any
) -> None:
    settings.HUB_HEARTBEAT_SECONDS = 0.2
    c = await open_console(users["observer"])
    await hello_and_snapshot(c)
    beat = await receive(c, "heartbeat")
    assert beat["data"] == {}
    await c.disconnect()


async def test_a_command_that_fails_unexpectedly_is_refused_and_the_console_stays_open(
    users: dict[str, Any], ask: Callable[..., Question], monkeypatch: pytest.MonkeyPatch
) -> None:
    question = await database_sync_to_async(ask)("请问学区划分何时公布？")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug in an action")

    monkeypatch.setattr("moderation.actions.do_approve_question", broken)
    c = await open_console(users["host"])
    await hello_and_snapshot(c)
    await c.send_json_to({"id": "b1", "action": "approve", "question": question.pk})
    error = await receive(c, "error")
    assert (error["data"]["id"], error["data"]["code"]) == ("b1", "internal")
    monkeypatch.undo()
    await c.send_json_to({"id": "b2", "action": "approve", "question": question.pk})
    ack = await receive(c, "ack")
    assert ack["data"]["result"] == {"question": question.pk, "state": "approved"}
    await c.disconnect()
