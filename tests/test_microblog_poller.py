"""The Celery microblog poller feeds the same intake as the webhook, from a real local
HTTP server shaped like Weibo's API."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from hub.models import IntakeCursor, Question
from hub.tasks import poll_microblog

pytestmark = pytest.mark.django_db(transaction=True)


class FakeWeibo:
    def __init__(self) -> None:
        self.statuses: list[dict[str, Any]] = []
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self.fail = False


@pytest.fixture
def weibo(settings: Any) -> Iterator[FakeWeibo]:
    state = FakeWeibo()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            query = parse_qs(url.query)
            state.requests.append((url.path, query))
            if state.fail:
                self.send_response(502)
                self.end_headers()
                return
            since = int(query.get("since_id", ["0"])[0])
            if url.path.endswith("statuses/mentions.json"):
                body = {"statuses": [s for s in state.statuses if int(s["id"]) > since]}
            else:
                body = {"comments": []}
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.HUB_MICROBLOG_API_URL = f"http://127.0.0.1:{server.server_port}/2/"
    settings.HUB_MICROBLOG_API_TOKEN = "token-1"
    yield state
    server.shutdown()


def status(n: int, text: str) -> dict[str, Any]:
    return {
        "id": n,
        "idstr": str(n),
        "text": text,
        "created_at": "Sun Nov 22 14:30:00 +0800 2026",
        "user": {"id": 7, "screen_name": "微博用户"},
    }


def test_poller_takes_new_mentions_once_and_keeps_its_cursor(
    weibo: FakeWeibo, make_session: Callable[..., Any]
) -> None:
    session = make_session("live", microblog_hashtag="市长热线")
    weibo.statuses = [
        status(101, "#市长热线# 路灯不亮了"),
        status(102, "#市长热线# 垃圾清运不及时"),
        status(103, "没有话题标签的微博内容"),
    ]
    first = poll_microblog()
    assert first == {"accepted": 2, "duplicates": 0, "rejected": 1}
    assert set(
        Question.objects.filter(session=session).values_list("channel_source_id", flat=True)
    ) == {"status:101", "status:102"}
    assert IntakeCursor.objects.get(name="microblog:statuses").value == "103"
    weibo.statuses.append(status(104, "#市长热线# 新的问题来了"))
    second = poll_microblog()
    assert second == {"accepted": 1, "duplicates": 0, "rejected": 0}
    statuses_requests = [q for path, q in weibo.requests if "statuses" in path]
    assert statuses_requests[-1]["since_id"] == ["103"]
    assert statuses_requests[-1]["access_token"] == ["token-1"]


def test_poller_survives_an_unreachable_api_and_loses_nothing(
    weibo: FakeWeibo, make_session: Callable[..., Any]
) -> None:
    make_session("live", microblog_hashtag="市长热线")
    weibo.statuses = [status(201, "#市长热线# 故障期间发的微博")]
    weibo.fail = True
    assert poll_microblog() == {"accepted": 0, "duplicates": 0, "rejected": 0}
    assert not IntakeCursor.objects.exists()
    weibo.fail = False
    assert poll_microblog()["accepted"] == 1


def test_poller_does_nothing_without_an_api_url(settings: Any) -> None:
    settings.HUB_MICROBLOG_API_URL = None
    assert poll_microblog() == {"accepted": 0, "duplicates": 0, "rejected": 0}


def test_poller_takes_the_good_items_of_a_hostile_page_and_its_cursor_ignores_odd_ids(
    weibo: FakeWeibo, make_session: Callable[..., Any]
) -> None:
    session = make_session("live", microblog_hashtag="市长热线")
    odd_ids = ["²", "9" * 5000, "１２３", "-5"]
    weibo.statuses = [status(301, "#市长热线# 正常的一条微博")]
    # Odd ids the API might send: a superscript digit (isdigit() but not int()), a number
    # past Python's int-string limit, full-width digits, a sign. The fake filters by int.
    weibo.statuses += [{**status(0, "#市长热线# 奇怪的编号"), "idstr": i} for i in odd_ids]
    for s in weibo.statuses[1:]:
        s["id"] = 302
    poll_microblog()
    assert Question.objects.filter(session=session, channel_source_id="status:301").exists()
    assert IntakeCursor.objects.get(name="microblog:statuses").value == "301"


def test_poller_refuses_a_page_nested_too_deep_without_crashing(
    weibo: FakeWeibo, make_session: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    make_session("live", microblog_hashtag="市长热线")
    deep = ("[" * 100_000 + "]" * 100_000).encode()

    class Response:
        def __enter__(self) -> Response:
            return self

        def __exit__(self, *args: object) -> None:
            return None

        def read(self, n: int) -> bytes:
            return deep[:n]

    monkeypatch.setattr("urllib.request.urlopen", lambda *a, **k: Response())
    assert poll_microblog() == {"accepted": 0, "duplicates": 0, "rejected": 0}
    assert not IntakeCursor.objects.exists()
