"""Against real servers: Daphne processes on free ports, real ``websockets`` clients, the
embedded SQLite default, and Redis fan-out between two server processes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from hub import protocol
from hub.intake.signing import sign
from hub.settings import DEV_MICROBLOG_SECRET
from tests.live import Browserless, HubServer, command, next_frame, prepare_database, viewer

pytestmark = pytest.mark.liveserver


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    folder = tmp_path_factory.mktemp("live")
    database = folder / "hub.sqlite3"
    prepare_database(database)
    hub = HubServer(database, folder / "server.log")
    yield hub
    hub.stop()


def _validate(frame: dict[str, Any]) -> dict[str, Any]:
    protocol.viewer_frame_adapter.validate_json(json.dumps(frame))
    return frame


async def test_reconnect_with_since_replays_exactly_the_missed_events(server: HubServer) -> None:
    host = Browserless(server)
    host.login("host")
    async with viewer(server) as first:
        snapshot = _validate(await next_frame(first))
        assert snapshot["type"] == "snapshot"
        seen = snapshot["seq"]
    asked = []
    async with host.console() as console:
        for n in range(3):
            status, body = Browserless(server).request(
                "POST", "/api/sessions/demo/questions", {"text": f"断线期间提出的问题第{n}个"}
            )
            assert status == 201, body
            asked.append(body["id"])
            await command(console, id=n, action="approve", question=body["id"])
        async with viewer(server, since=seen) as again:
            replayed = [_validate(await next_frame(again)) for _ in range(3)]
            assert [f["seq"] for f in replayed] == [seen + 1, seen + 2, seen + 3]
            assert [f["data"]["id"] for f in replayed] == asked
            status, body = Browserless(server).request(
                "POST", "/api/sessions/demo/questions", {"text": "重新连接之后的问题"}
            )
            await command(console, id="live", action="approve", question=body["id"])
            live = _validate(await next_frame(again))
            assert (live["seq"], live["data"]["id"]) == (seen + 4, body["id"])
            heartbeat = _validate(await next_frame(again, "heartbeat", timeout=5))
            assert heartbeat["seq"] == seen + 4  # nothing was sent twice or skipped


async def test_every_channel_reaches_the_host_and_viewers_see_every_step(
    server: HubServer,
) -> None:
    host, leader, screener = Browserless(server), Browserless(server), Browserless(server)
    host.login("host")
    leader.login("leader")
    screener.login("screener")
    async with (
        host.console() as console,
        leader.console() as leader_ws,
        screener.console() as screener_ws,
        viewer(server) as audience,
    ):
        await next_frame(console, "snapshot")
        await next_frame(leader_ws, "snapshot")
        await next_frame(screener_ws, "snapshot")
        await next_frame(audience, "snapshot")

        # 1. the web page
        status, web = Browserless(server).request(
            "POST",
            "/api/sessions/demo/questions",
            {
                "text": "网页提问：小区电梯加装补贴怎么申请？",
                "nickname": "网友甲",
                "contact": "13812345678",
            },
        )
        assert status == 201
        # 2. the microblog webhook, signed
        body = json.dumps(
            {
                "session": "demo",
                "statuses": [
                    {
                        "id": 990001,
                        "text": "微博提问：公交站台没有遮雨棚 #市长热线面对面#",
                        "created_at": "Sun Nov 22 14:30:00 +0800 2026",
                        "user": {"id": 123, "screen_name": "微博网友乙"},
                    }
                ],
            }
        ).encode()
        status, blog = Browserless(server).request(
            "POST",
            "/api/intake/microblog",
            raw=body,
            headers={
                "X-Hub-Signature-256": sign(DEV_MICROBLOG_SECRET, body),
                "X-Hub-Timestamp": str(int(time.time())),
            },
        )
        assert status == 200 and len(blog["accepted"]) == 1, blog
        # 3. a radio call-in typed by the screener
        call = await command(
            screener_ws,
            id="call",
            action="submit_call",
            channel="radio",
            text="广播来电：农贸市场周边停车难",
            name="听众丙",
            phone="13705275678",
        )
        ids = [web["id"], blog["accepted"][0]["question"], call["question"]]

        arrived: dict[int, dict[str, Any]] = {}
        while len(arrived) < 3:
            frame = await next_frame(console, "question")
            if frame["data"]["id"] in ids:
                arrived[frame["data"]["id"]] = frame["data"]
        assert {q["channel"] for q in arrived.values()} == {"web", "microblog", "radio"}
        assert arrived[web["id"]]["contact"] == "138****5678"

        for n, question_id in enumerate(ids):
            await command(console, id=f"a{n}", action="approve", question=question_id)
        await command(console, id="q", action="queue", question=ids[1])
        await command(console, id="air", action="on_air", question=ids[1])
        await command(
            leader_ws, id="sum", action="live_answer", question=ids[1], summary="本月内完成站台改造"
        )
        await command(
            leader_ws,
            id="done",
            action="answered",
            question=ids[1],
            summary="本月内完成二十个站台改造",
        )

        seen = [_validate(await next_frame(audience)) for _ in range(6)]
        assert [f["type"] for f in seen] == ["question_published"] * 3 + [
            "question_on_air",
            "answer_live",
            "question_answered",
        ]
        assert [f["data"]["id"] for f in seen[:3]] == ids
        assert seen[-1]["data"]["answer"]["summary"] == "本月内完成二十个站台改造"
        assert "13812345678" not in json.dumps(seen) and "138****" not in json.dumps(seen)

    status, listed = Browserless(server).request("GET", "/api/sessions/demo/questions")
    answered = next(q for q in listed["items"] if q["id"] == ids[1])
    assert answered["state"] == "answered"


async def test_console_refuses_a_foreign_origin_and_an_anonymous_user(server: HubServer) -> None:
    host = Browserless(server)
    host.login("host")
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with host.console(origin="https://evil.example"):
            pass
    assert refused.value.response.status_code == 403
    async with Browserless(server).console() as anonymous:
        error = await next_frame(anonymous)
        assert error["data"]["code"] == "forbidden"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await next_frame(anonymous)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


@pytest.mark.redis
async def test_redis_fans_out_between_two_server_processes(
    tmp_path: Path, redis_url_required: str
) -> None:
    database = tmp_path / "shared.sqlite3"
    prepare_database(database)
    first = HubServer(database, tmp_path / "a.log", HUB_REDIS_URL=redis_url_required)
    second = HubServer(database, tmp_path / "b.log", HUB_REDIS_URL=redis_url_required)
    try:
        host, observer = Browserless(first), Browserless(second)
        host.login("host")
        observer.login("observer")
        async with (
            viewer(second) as audience,
            observer.console() as watching,
            host.console() as console,
        ):
            await next_frame(audience, "snapshot")
            await next_frame(watching, "snapshot")
            await next_frame(console, "snapshot")
            status, body = Browserless(first).request(
                "POST", "/api/sessions/demo/questions", {"text": "跨进程推送的问题内容"}
            )
            assert status == 201
            await command(console, id=1, action="approve", question=body["id"])
            published = _validate(await next_frame(audience, "question_published"))
            assert published["data"]["id"] == body["id"]
            change = await next_frame(watching, "question")
            assert change["data"]["id"] == body["id"]
    finally:
        first.stop()
        second.stop()


def test_web_questions_sent_at_once_are_all_taken_in_and_batched(
    tmp_path: Path,
) -> None:
    import sqlite3
    from concurrent.futures import ThreadPoolExecutor

    database = tmp_path / "hub.sqlite3"
    prepare_database(database)
    hub = HubServer(database, tmp_path / "server.log", HUB_WEB_RATE_PER_IP="10000/m")
    try:
        texts = [f"并发提问{n}号：小区{n}号楼的电梯什么时候能修好？" for n in range(40)]

        def ask(text: str) -> int:
            status, _ = Browserless(hub).request(
                "POST", "/api/sessions/demo/questions", {"text": text}
            )
            return status

        with ThreadPoolExecutor(max_workers=40) as pool:
            statuses = list(pool.map(ask, texts))
    finally:
        hub.stop()

    assert statuses == [201] * 40
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT text, received_at FROM hub_question WHERE text LIKE '并发提问%'"
        ).fetchall()
    assert sorted(text for text, _ in rows) == sorted(texts)
    # A batch reads the clock once: questions that arrived while another batch was being
    # taken in share their batch's time.
    assert len({received for _, received in rows}) < len(texts)
