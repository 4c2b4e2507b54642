"""No input gives a 5xx, and every API error is documented JSON (issue 10 §3).

On ``/api/`` an error is ``{"code", "message"}``; on ``/open311/`` it is GeoReport's
``[{"code", "description"}]``. The named cases each have a test; then a crawler sends
hostile values into every path and query parameter of every route, taken from the URL
conf and from the OpenAPI document (so a new route is attacked without anyone adding
it), anonymous and as staff.

Runs on PostgreSQL (the test default), where a NUL in a text parameter or an integer
beyond ``bigint`` fails in the database unless the boundary refuses it first.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import channels.db
import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from hub.api import api
from tests.followup_steps import World, accept, build_world, reply_and_publish

pytestmark = pytest.mark.django_db

HUGE = "1" + "0" * 29  # 30 digits: past bigint
ENORMOUS = "9" * 5000  # past Python's int() digit limit too
NUL = "\x00"
SURROGATE = "\ud800"

#: Hostile values for any parameter (percent-encoded as a client sends them; a lone
#: surrogate travels as its UTF-8-like bytes ED A0 80, which no valid UTF-8 holds).
HOSTILE = [
    NUL,
    "a\x00b",
    SURROGATE,
    "²",
    HUGE,
    ENORMOUS,
    "-1",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "9999-12-31",
    "x" * 100_000,
]


def wire(value: str) -> str:
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


# --- helpers ---------------------------------------------------------------------------


def assert_api_error(response: Any, status: int | None = None, code: str | None = None) -> Any:
    """A documented API error: JSON ``{"code": str, "message": str}``."""
    assert response.status_code < 500, (response.status_code, response.content[:300])
    if status is not None:
        assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = json.loads(response.content)
    assert isinstance(body, dict), body
    assert isinstance(body.get("code"), str) and body["code"], body
    assert isinstance(body.get("message"), str) and body["message"], body
    if code is not None:
        assert body["code"] == code, body
    return body


def assert_georeport_error(response: Any, status: int | None = None) -> Any:
    """An Open311 error: ``[{"code": <status>, "description": str}]``."""
    assert response.status_code < 500, (response.status_code, response.content[:300])
    if status is not None:
        assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = json.loads(response.content)
    assert isinstance(body, list) and len(body) == 1, body
    assert body[0]["code"] == response.status_code, body
    assert isinstance(body[0]["description"], str) and body[0]["description"], body
    return body


@pytest.fixture
def world(users: Any, make_session: Any, ask: Any) -> World:
    w = build_world(users, make_session, ask)
    accept(w, "bus")
    reply_and_publish(w, "bus")
    return w


@pytest.fixture
def staff_client(world: World) -> Client:
    client = Client(enforce_csrf_checks=False)
    client.force_login(world.staff)
    return client


# --- the named cases ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/api/nothing-here", "/api/", "/api/sessions/live/nothing", "/api/followup/nope/1"],
)
def test_an_unknown_api_path_is_a_json_404(client: Client, path: str) -> None:
    assert_api_error(client.get(path), 404, "not_found")
    assert_api_error(client.post(path, "{}", content_type="application/json"), 404)


def test_a_wrong_method_on_an_api_path_is_a_json_405_that_keeps_allow(client: Client) -> None:
    response = client.delete("/api/sessions")
    assert_api_error(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]


def test_a_multipart_body_without_a_boundary_is_a_400(client: Client, world: World) -> None:
    for path in ("/api/sessions/live/questions", "/api/library", "/api/auth/login"):
        response = client.post(path, b"--x\r\n", content_type="multipart/form-data")
        assert_api_error(response)
        assert response.status_code in (400, 403, 415), response.content


def test_a_multipart_body_without_a_boundary_from_staff_is_a_400(staff_client: Client) -> None:
    response = staff_client.post("/api/library", b"--x\r\n", content_type="multipart/form-data")
    assert_api_error(response)
    assert response.status_code in (400, 403, 415), response.content


@pytest.mark.parametrize(
    "raw", [b"not json", b"\xff\xfe{", b'{"text": "\xed\xa0\x80"}', b"[" * 100_000, b"{"]
)
def test_a_body_that_is_not_json_or_not_utf8_is_a_400(staff_client: Client, raw: bytes) -> None:
    for path in ("/api/library", "/api/followup/tasks/1/vote", "/api/sessions/s1/questions"):
        assert_api_error(staff_client.post(path, raw, content_type="application/json"), 400)


def test_an_empty_body_where_one_is_required_is_a_422(staff_client: Client) -> None:
    for path in ("/api/library", "/api/followup/tasks/1/vote", "/api/sessions/s1/questions"):
        response = staff_client.post(path, b"", content_type="application/json")
        assert_api_error(response, 422, "invalid")


@pytest.mark.parametrize("number", [HUGE, ENORMOUS, "-" + HUGE])
def test_an_id_beyond_int64_in_the_path_is_a_404_or_422(
    staff_client: Client, client: Client, world: World, number: str
) -> None:
    for c in (client, staff_client):
        for path in (
            f"/api/followup/tasks/{number}",
            f"/api/followup/work/tasks/{number}",
            f"/api/sessions/{world.session.slug}/questions/{number}/support",
            f"/api/library/suggestions/{world.session.slug}/{number}",
        ):
            method = c.post if path.endswith("support") else c.get
            response = method(path, content_type="application/json")
            assert_api_error(response)
            assert response.status_code in (401, 403, 404, 422), (path, response.content)
        response = c.patch(f"/api/library/{number}", "{}", content_type="application/json")
        assert response.status_code in (403, 404, 422), response.content
        assert_api_error(response)
        assert_georeport_error(c.get(f"/open311/v2/requests/{number}.json"), 404)


@pytest.mark.parametrize("number", [HUGE, ENORMOUS])
def test_a_huge_integer_in_a_query_or_body_is_refused_not_a_500(
    staff_client: Client, world: World, number: str
) -> None:
    for path in (
        f"/api/followup/tasks?department={number}",
        f"/api/followup/tasks?offset={number}",
        f"/api/followup/tasks?limit={number}",
        f"/api/followup/work/tasks?department={number}",
        f"/api/followup/work/tasks?offset={number}",
        f"/api/followup/work/notices?limit={number}",
    ):
        assert_api_error(staff_client.get(path), 422, "invalid")
    # The library's limit is clamped to 1..100, as it always was.
    response = staff_client.get(f"/api/library?limit={number}")
    assert response.status_code in (200, 422), response.content
    task = world.tasks["lift"].pk
    bodies = {
        "/api/library": {"question": "问", "answer": "答", "department": int(number[:30])},
        f"/api/followup/work/tasks/{task}/assign": {"lead_department": int(number[:30])},
        f"/api/followup/work/tasks/{task}/callback": {
            "asker": int(number[:30]),
            "resolved": "yes",
            "satisfaction": "satisfied",
        },
    }
    for path, body in bodies.items():
        response = staff_client.post(path, body, content_type="application/json")
        assert_api_error(response)
        assert response.status_code in (400, 404, 409, 422), (path, response.content)
    raw = ('{"question": "问", "answer": "答", "department": ' + number + "}").encode()
    assert_api_error(staff_client.post("/api/library", raw, content_type="application/json"))


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00+14:00",
        "0001-01-01",
        "9999-12-31",
        "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00-14:00",
        "2026-02-30",
    ],
)
def test_an_extreme_date_is_a_4xx(staff_client: Client, client: Client, value: str) -> None:
    for name in ("since", "until"):
        response = client.get("/api/followup/tasks", {name: value})
        assert response.status_code in (200, 400, 422), response.content
        if response.status_code != 200:
            assert_api_error(response)
    for name in ("start_date", "end_date"):
        response = client.get("/open311/v2/requests.json", {name: value})
        assert response.status_code in (200, 400), response.content
        if response.status_code != 200:
            assert_georeport_error(response, 400)


def test_superscript_two_as_an_id_is_a_404_or_422_not_a_500(
    client: Client, staff_client: Client, world: World
) -> None:
    slug = world.session.slug
    for path in (f"/api/followup/tasks/{wire('²')}", f"/api/followup/work/tasks/{wire('²')}"):
        response = staff_client.get(path)
        assert_api_error(response)
        assert response.status_code in (404, 422)
    response = client.post(f"/api/sessions/{slug}/questions/{wire('²')}/support")
    assert response.status_code in (403, 404, 422)
    assert_api_error(response)
    assert_georeport_error(client.get(f"/open311/v2/requests/{wire('²')}.json"), 404)
    assert_georeport_error(client.get("/open311/v2/requests.json?service_request_id=²"), 400)
    assert_georeport_error(client.get("/open311/v2/requests.json?service_request_id=1,²"), 400)


@pytest.mark.parametrize("bad", [NUL, "a\x00b", SURROGATE, "x\udfffy"])
def test_a_nul_or_lone_surrogate_in_a_query_is_a_400_invalid_characters(
    client: Client, staff_client: Client, bad: str
) -> None:
    for path in ("/api/library", "/api/followup/tasks", "/api/followup/work/tasks"):
        for name in ("q", "sector", "state"):
            response = staff_client.get(f"{path}?{name}={wire(bad)}")
            assert_api_error(response, 400, "invalid_characters")
    assert_api_error(client.get(f"/api/sessions?{wire(bad)}=1"), 400, "invalid_characters")
    response = client.get(f"/open311/v2/requests.json?service_code={wire(bad)}")
    assert_georeport_error(response, 400)
    assert client.get(f"/followup/?q={wire(bad)}").status_code == 400


@pytest.mark.parametrize("bad", [NUL, SURROGATE])
async def test_under_asgi_a_nul_or_lone_surrogate_in_a_query_or_path_is_a_400_too(
    async_client: Any, bad: str
) -> None:
    """Daphne serves the hub through Django's ASGI handler: the same refusals apply."""
    response = await async_client.get(f"/api/followup/tasks?q={wire(bad)}")
    assert_api_error(response, 400, "invalid_characters")
    response = await async_client.get(f"/api/sessions/{wire(bad)}")
    assert_api_error(response)
    assert response.status_code in (400, 404)


@pytest.mark.parametrize("bad", [NUL, SURROGATE])
def test_a_nul_or_lone_surrogate_in_a_path_is_a_4xx_in_the_api_format(
    client: Client, bad: str
) -> None:
    response = client.get(f"/api/sessions/{wire(bad)}")
    assert_api_error(response)
    assert response.status_code in (400, 404)
    response = client.get(f"/api/streaming/guests/{wire(bad)}")
    assert_api_error(response)
    assert response.status_code in (400, 404)
    assert_georeport_error(client.get(f"/open311/v2/requests/{wire(bad)}.json"))


def test_a_nul_in_a_json_body_is_a_4xx_not_a_database_error(
    staff_client: Client, world: World
) -> None:
    task = world.tasks["lift"].pk
    for path, body in {
        "/api/library": {"question": "问\x00", "answer": "答"},
        f"/api/followup/work/tasks/{task}/dismiss": {"reason": "重复\x00"},
        f"/api/followup/work/tasks/{task}/reply": {"text": "答复\ud800"},
        f"/api/streaming/sessions/{world.session.slug}/guests": {"label": "嘉宾\x00"},
    }.items():
        raw = json.dumps(body).encode()
        response = staff_client.post(path, raw, content_type="application/json")
        assert_api_error(response)
        assert response.status_code in (400, 403, 409, 422), (path, response.content)


def test_open311_errors_are_georeport_for_unknown_paths_bad_ids_and_wrong_methods(
    client: Client,
) -> None:
    assert_georeport_error(client.get("/open311/v2/nothing.json"), 404)
    assert_georeport_error(client.get("/open311/"), 404)
    assert_georeport_error(client.get("/open311/v2/requests/abc.json"), 404)
    assert_georeport_error(client.post("/open311/v2/requests.json"), 405)
    assert_georeport_error(client.delete("/open311/v2/services.json"), 405)


def test_an_unexpected_exception_in_an_api_view_is_a_logged_json_500(
    client: Client, world: World, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    """The last resort (no input reaches it; a defect would)."""
    import hub.api

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a defect")

    monkeypatch.setattr(hub.api, "session_info", broken)
    with caplog.at_level(logging.ERROR, logger="hub.errors"):
        response = client.get("/api/sessions")
    assert response.status_code == 500
    body = json.loads(response.content)
    assert body["code"] == "internal" and body["message"]
    assert "a defect" not in response.content.decode()
    assert any("a defect" in (r.exc_text or str(r.exc_info)) for r in caplog.records)


def test_an_unexpected_exception_in_an_open311_view_is_a_logged_georeport_500(
    monkeypatch: pytest.MonkeyPatch, world: World, caplog: Any
) -> None:
    from hub.followup import open311

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a defect")

    monkeypatch.setattr(open311, "_public", broken)
    client = Client(raise_request_exception=False)
    with caplog.at_level(logging.ERROR, logger="hub.errors"):
        response = client.get("/open311/v2/requests.json")
    assert response.status_code == 500
    body = json.loads(response.content)
    assert body[0]["code"] == 500 and body[0]["description"]
    assert caplog.records


# --- the crawler -------------------------------------------------------------------------


def url_conf_routes() -> Iterator[tuple[str, list[str]]]:
    """Every route of the URL conf as (regex, names of its parameters), the admin and
    the API's own patterns (taken from the OpenAPI document instead) left out."""

    def walk(patterns: list[Any], prefix: str) -> Iterator[tuple[str, list[str]]]:
        for p in patterns:
            regex = prefix + p.pattern.regex.pattern.lstrip("^")
            if isinstance(p, URLResolver):
                if regex.startswith(("admin/", "api/")):
                    continue
                yield from walk(p.url_patterns, regex)
            elif isinstance(p, URLPattern):
                yield regex, list(p.pattern.regex.groupindex)

    yield from walk(get_resolver().url_patterns, "")


def fill(regex: str, values: dict[str, str]) -> str:
    """A path for ``regex`` with each named group replaced by its value."""
    path = regex.rstrip("$").replace("\\Z", "").replace("\\", "")
    for name, value in values.items():
        path = re.sub(r"\(\?P<" + name + r">[^)]*\)", value, path)
    return "/" + path


def api_operations() -> Iterator[tuple[str, str, list[str], list[str]]]:
    """(method, path template, path parameters, query parameters) of every operation."""
    document = api.get_openapi_schema()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            params = operation.get("parameters", [])
            yield (
                method.upper(),
                path,
                [p["name"] for p in params if p["in"] == "path"],
                [p["name"] for p in params if p["in"] == "query"],
            )


def problem_with(path: str, response: Any) -> str | None:
    """Why this answer breaks the promise (a 5xx, or an error not in its prefix's
    format), or None."""
    try:
        assert response.status_code < 500, response.status_code
        if path.startswith("/api/") and response.status_code >= 400:
            assert_api_error(response)
        if path.startswith("/open311/") and response.status_code >= 400:
            assert_georeport_error(response)
    except (AssertionError, ValueError) as exc:
        return f"{path[:120]} → {response.status_code} {str(exc)[:160]}"
    return None


def alone(request: Any) -> Any:
    """Make the request as a server would, in a transaction of its own: rolled back after,
    so that one request's database error (or write) never affects the next."""
    savepoint = transaction.savepoint()
    try:
        return request()
    finally:
        transaction.savepoint_rollback(savepoint)


def send(client: Client, method: str, path: str) -> Any:
    if method in ("POST", "PUT", "PATCH"):
        return alone(lambda: client.generic(method, path, "{}", content_type="application/json"))
    return alone(lambda: client.generic(method, path))


def get_or_post(client: Client, path: str) -> Any:
    """GET, or for a route that takes only writes (WHIP, WHEP, guest join), an empty
    POST, so that its parameters reach the view."""
    response = alone(lambda: client.get(path))
    if response.status_code == 405:
        response = alone(lambda: client.post(path, b"", content_type="application/sdp"))
    return response


@pytest.mark.timeout(600)  # some 3,300 requests; about a minute on an idle machine
@pytest.mark.parametrize("who", ["anonymous", "staff"])
def test_hostile_values_in_every_parameter_of_every_route_give_no_5xx(
    world: World, who: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Channels' database_sync_to_async (the media views) closes "old" connections around
    # each call, which here is the test's own connection; Django's test client keeps its
    # request signals from doing the same.
    monkeypatch.setattr(channels.db, "close_old_connections", lambda: None)
    client = Client(raise_request_exception=False)
    if who == "staff":
        client.force_login(world.staff)
    good = {
        "slug": world.session.slug,
        "task_id": str(world.tasks["bus"].pk),
        "request_id": str(world.tasks["bus"].pk),
        "question_id": str(world.questions["bus"].pk),
        "department_id": str(world.housing.pk),
    }
    sent = 0
    problems: list[str] = []

    def check_answer(path: str, response: Any) -> None:
        problem = problem_with(path, response)
        if problem:
            problems.append(problem)

    for method, template, path_params, query_params in api_operations():
        for hostile in HOSTILE:
            for name in path_params:
                values = {p: good.get(p, "1") for p in path_params}
                values[name] = wire(hostile)
                path = template
                for p, v in values.items():
                    path = path.replace("{" + p + "}", v)
                check_answer(path, send(client, method, path))
                sent += 1
            base = template
            for p in path_params:
                base = base.replace("{" + p + "}", good.get(p, "1"))
            for name in query_params:
                path = f"{base}?{name}={wire(hostile)}"
                check_answer(path, send(client, method, path))
                sent += 1
    for regex, names in url_conf_routes():
        for hostile in HOSTILE:
            for name in names:
                values = {n: good.get(n, "x") for n in names}
                values[name] = wire(hostile)
                path = fill(regex, values)
                check_answer(path, get_or_post(client, path))
                sent += 1
            path = fill(regex, {n: good.get(n, "x") for n in names})
            for name in ("q", "page", "state", "since", "start_date", "id"):
                check_answer(path, get_or_post(client, f"{path}?{name}={wire(hostile)}"))
                sent += 1
    assert sent > 1000  # the crawler reached the routes (not a vacuous pass)
    fives = sum(" → 5" in p for p in problems)
    assert not problems, f"{len(problems)} of {sent} answers broke the promise ({fives} 5xx):\n" + (
        "\n".join(problems[:60])
    )
