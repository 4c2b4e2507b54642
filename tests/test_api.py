"""The HTTP API as a browser and a staff member use it: ask, list, support, log in.

Every error answer must be ``{"code": str, "message": str}`` with the status code of its
error class (see :mod:`hub.api`). Frames published during a test are captured by the
``frames`` fixture; on_commit callbacks are run with ``django_capture_on_commit_callbacks``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from hub.actions.sessions import do_end_session
from hub.actions.supports import support_coalescer
from hub.browser import read as read_browser_id
from hub.models import Channel, Question, QuestionSupport, Visibility
from moderation.actions import do_approve_question, do_defer_question, do_reject_question

QUESTION = "请问老旧小区加装电梯的补贴什么时候发放？"
PHONE = "13812345678"


# --- helpers ----------------------------------------------------------------------------


def ask_url(slug: str = "live") -> str:
    return f"/api/sessions/{slug}/questions"


def support_url(question_id: int, slug: str = "live") -> str:
    return f"/api/sessions/{slug}/questions/{question_id}/support"


def web_ask(
    client: Client, slug: str = "live", headers: dict[str, str] | None = None, **body: Any
) -> Any:
    body.setdefault("text", QUESTION)
    return client.post(ask_url(slug), body, content_type="application/json", headers=headers)


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is a JSON error of the documented shape, with this status and code."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert isinstance(body.get("code"), str) and body["code"], body
    assert isinstance(body.get("message"), str) and body["message"], body
    if code is not None:
        assert body["code"] == code, body
    return body


def publish(host: Any, session: Any, question: Any) -> None:
    do_approve_question(host, session.pk, question.pk)


def browser() -> Client:
    """A browser that loaded a page, as viewers do: it holds a page-issued browser id."""
    new = Client()
    assert new.get("/").status_code == 200
    assert "hub_bid" in new.cookies
    return new


@pytest.fixture
def client(db: Any, settings: Any) -> Client:
    """A viewer's browser, its id old enough to count (the minimum age, the caps and
    cookieless stuffing are tested in tests/test_honest_counts.py)."""
    settings.HUB_BROWSER_MIN_AGE_SECONDS = 0
    return browser()


# --- asking from the web ----------------------------------------------------------------


def test_web_ask_is_stored_pending_and_tied_to_the_browser(client, live_session):
    response = web_ask(client, nickname="老张")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "pending"
    assert body["duplicate"] is False
    assert isinstance(body["message"], str) and body["message"]
    question = Question.objects.get(pk=body["id"])
    assert question.session_id == live_session.pk
    assert question.channel == Channel.WEB
    assert question.state == "pending"
    assert question.text == QUESTION
    assert question.asker_name == "老张"
    assert question.visibility == Visibility.PUBLIC
    browser_id = question.asker_ref.removeprefix("bid:")
    assert question.asker_ref.startswith("bid:") and len(browser_id) == 32
    issued = read_browser_id(client.cookies["hub_bid"].value)
    assert issued is not None and browser_id == issued.id
    assert "hub_bid" not in response.cookies  # the page issued it; the API never does


def test_same_browser_is_recognised_across_asks(client, live_session):
    first = web_ask(client).json()["id"]
    second = web_ask(client, text="第二个问题：公交线路什么时候调整？").json()["id"]

    refs = set(Question.objects.filter(pk__in=[first, second]).values_list("asker_ref", flat=True))
    assert len(refs) == 1
    assert web_ask(Client()).status_code == 201
    assert Question.objects.values("asker_ref").distinct().count() == 2


def test_private_web_ask_is_stored_private(client, live_session):
    response = web_ask(client, private=True)

    assert response.status_code == 201
    assert Question.objects.get(pk=response.json()["id"]).visibility == Visibility.PRIVATE


def test_web_ask_to_a_collecting_session_is_accepted(client, make_session):
    make_session("collecting", slug="pre")

    response = web_ask(client, slug="pre")

    assert response.status_code == 201
    assert Question.objects.filter(session__slug="pre").count() == 1


# --- the public list ----------------------------------------------------------------------


def test_public_list_shows_only_approved_public_questions(client, live_session, host, ask):
    pending = ask("这个问题还在等待审核吗？")
    approved = ask("这个问题已经通过审核了吗？")
    private = ask("这个问题是私下提问的吗？", private=True)
    withdrawn = ask("这个问题通过后又被撤下了吗？")
    rejected = ask("这个问题直接被拒绝了吗？")
    for question in (approved, withdrawn):
        publish(host, live_session, question)
    do_defer_question(host, live_session.pk, private.pk, "转交民政局")  # never approved
    do_reject_question(host, live_session.pk, withdrawn.pk, "off_topic")
    do_reject_question(host, live_session.pk, rejected.pk, "abusive")

    response = client.get(ask_url())

    assert response.status_code == 200
    body = response.json()
    assert [item["id"] for item in body["items"]] == [approved.pk]
    assert body["count"] == 1
    item = body["items"][0]
    assert item["text"] == "这个问题已经通过审核了吗？"
    assert item["state"] == "approved"
    assert item["channel"] == "web"
    assert item["published_at"]
    assert pending.pk not in {i["id"] for i in body["items"]}


def test_public_list_keeps_published_questions_after_the_session_ends(
    client, live_session, host, ask
):
    published_one, pending = ask("这个问题公开了吗？"), ask("这个问题一直没审核吗？")
    publish(host, live_session, published_one)
    do_end_session(host, live_session.pk)

    items = client.get(ask_url()).json()["items"]

    assert [(i["id"], i["state"]) for i in items] == [(published_one.pk, "unanswered")]
    assert pending.pk not in {i["id"] for i in items}


def test_public_list_of_another_session_is_separate(client, make_session, host, ask):
    other = make_session("live", slug="other")
    make_session("live", slug="mine")
    publish(host, other, ask(session=other))

    assert client.get(ask_url("mine")).json() == {"items": [], "count": 0}
    assert client.get(ask_url("other")).json()["count"] == 1


def test_public_list_of_unknown_session_is_a_404_error(client, db):
    assert_error(client.get(ask_url("no-such-session")), 404)


def test_contact_phone_never_reaches_viewers_and_is_masked_for_staff(
    client, live_session, host, frames, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = web_ask(client, contact="138-1234-5678", nickname="市民")
    qid = response.json()["id"]
    assert Question.objects.get(pk=qid).contact == PHONE  # stored as digits, for staff

    with django_capture_on_commit_callbacks(execute=True):
        publish(host, live_session, Question.objects.get(pk=qid))
    listing = client.get(ask_url())
    session_info = client.get(f"/api/sessions/{live_session.slug}")

    assert [i["id"] for i in listing.json()["items"]] == [qid]
    assert "question_published" in frames.viewer_types()
    viewer_text = json.dumps(frames.viewer, ensure_ascii=False)
    for public_text in (listing.content.decode(), session_info.content.decode(), viewer_text):
        assert PHONE not in public_text
        assert "138-1234-5678" not in public_text
        assert "138****5678" not in public_text
        assert '"contact"' not in public_text
    staff = [
        f["data"] for f in frames.console if f["type"] == "question" and f["data"]["id"] == qid
    ]
    assert staff, frames.console
    assert {f["contact"] for f in staff} == {"138****5678"}
    assert PHONE not in json.dumps(frames.console)


# --- idempotency --------------------------------------------------------------------------


def test_idempotency_key_makes_a_retry_return_the_first_question(client, live_session):
    headers = {"Idempotency-Key": "k-123"}

    first = web_ask(client, headers=headers)
    retry = web_ask(client, headers=headers, text="重试时文字略有不同也不应再建一个问题")

    assert first.status_code == 201 and first.json()["duplicate"] is False
    assert retry.status_code == 200, retry.content
    assert retry.json()["duplicate"] is True
    assert retry.json()["id"] == first.json()["id"]
    assert retry.json()["state"] == "pending"
    assert Question.objects.count() == 1
    assert Question.objects.get().text == QUESTION


def test_idempotency_key_belongs_to_one_browser(client, live_session):
    headers = {"Idempotency-Key": "same-key"}

    first = web_ask(client, headers=headers)
    other = web_ask(Client(), headers=headers)

    assert first.status_code == other.status_code == 201
    assert first.json()["id"] != other.json()["id"]
    assert Question.objects.count() == 2


def test_idempotency_key_reused_in_another_session_never_answers_for_the_first_one(
    client, live_session, make_session
):
    other = make_session("live", slug="other")
    headers = {"Idempotency-Key": "form-1"}
    web_ask(client, headers=headers)

    response = web_ask(client, slug="other", headers=headers, text="另一场访谈里的问题是什么？")

    answered = Question.objects.get(pk=response.json()["id"])
    assert answered.session_id == other.pk, "the reply names a question of another session"
    assert Question.objects.filter(session=other).count() == 1


def test_without_idempotency_key_two_asks_are_two_questions(client, live_session):
    assert web_ask(client).status_code == 201
    assert web_ask(client).status_code == 201
    assert Question.objects.count() == 2


# --- refused input ------------------------------------------------------------------------

JSON = "application/json"


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        pytest.param(json.dumps({"nickname": "老王"}), JSON, id="missing-text"),
        pytest.param(json.dumps({"text": 12345}), JSON, id="text-not-a-string"),
        pytest.param(json.dumps({"text": None}), JSON, id="text-null"),
        pytest.param(
            json.dumps({"text": QUESTION, "private": "maybe"}), JSON, id="private-not-a-boolean"
        ),
        pytest.param(json.dumps([QUESTION]), JSON, id="body-is-a-list"),
        pytest.param('{"text": "请问', JSON, id="invalid-json"),
        pytest.param("text=" + QUESTION, "application/x-www-form-urlencoded", id="form-encoded"),
        pytest.param(QUESTION, "text/plain", id="plain-text"),
    ],
)
def test_malformed_ask_gets_a_coded_error_and_stores_nothing(
    client, live_session, data, content_type
):
    response = client.post(ask_url(), data, content_type=content_type)

    # 415 for a body that is not JSON at all (hub.csrf: what a cross-site form can send).
    assert response.status_code in (400, 415, 422), response.status_code
    assert_error(response, response.status_code)
    assert Question.objects.count() == 0


def test_text_too_long_after_normalisation_is_refused_and_not_stored(
    client, live_session, settings
):
    settings.HUB_QUESTION_MAX_CHARS = 20

    response = web_ask(client, text="问" * 21)

    assert_error(response, 422, "too_long")
    assert Question.objects.count() == 0


def test_text_length_is_measured_after_normalisation(client, live_session, settings):
    settings.HUB_QUESTION_MAX_CHARS = 20
    # 30 raw characters, 19 after collapsing spaces and dropping zero-width ones.
    raw = "请问" + " " * 8 + "\u200b" * 3 + "公交线路调整" + "\u3000" * 2 + "什么时候开始呢？？"
    assert len(raw) > 20

    response = web_ask(client, text=raw)

    assert response.status_code == 201, response.content
    stored = Question.objects.get().text
    assert stored == "请问 公交线路调整 什么时候开始呢？？"
    assert len(stored) <= 20


def test_huge_text_is_refused_as_too_long(client, live_session):
    response = web_ask(client, text="长" * 10_000)

    assert_error(response, 422, "too_long")
    assert Question.objects.count() == 0


@pytest.mark.parametrize("text", ["问", "   ", "\u200b\u200b问\u200b", ""])
def test_text_too_short_after_normalisation_is_refused(client, live_session, text):
    response = web_ask(client, text=text)

    assert_error(response, 422, "too_short")
    assert Question.objects.count() == 0


@pytest.mark.parametrize("contact", ["not-a-phone", "1381234567", "12", "138123456789"])
def test_bad_contact_is_refused(client, live_session, contact):
    response = web_ask(client, contact=contact)

    assert_error(response, 422, "bad_contact")
    assert Question.objects.count() == 0


@pytest.mark.parametrize(
    ("contact", "stored"),
    [
        ("+86 138 1234 5678", PHONE),
        ("0527-12345678", "052712345678"),
        ("１３８１２３４５６７８", PHONE),
    ],
)
def test_contact_is_stored_as_digits(client, live_session, contact, stored):
    response = web_ask(client, contact=contact)

    assert response.status_code == 201, response.content
    assert Question.objects.get().contact == stored


def test_nickname_over_the_limit_is_refused(client, live_session, settings):
    response = web_ask(client, nickname="名" * (settings.HUB_NAME_MAX_CHARS + 1))

    assert_error(response, 422, "name_too_long")
    assert Question.objects.count() == 0


def test_announced_session_does_not_accept_questions(client, make_session):
    make_session("announced", slug="soon")

    response = web_ask(client, slug="soon")

    assert_error(response, 422, "not_accepting")
    assert Question.objects.count() == 0


def test_ended_session_does_not_accept_questions(client, live_session, host):
    do_end_session(host, live_session.pk)

    response = web_ask(client)

    assert_error(response, 422, "not_accepting")
    assert Question.objects.count() == 0


def test_ask_to_unknown_session_is_a_404_error(client, db):
    response = web_ask(client, slug="no-such-session")

    assert_error(response, 404)
    assert Question.objects.count() == 0


def test_oversized_ask_body_is_a_413_json_error(client, live_session, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096

    response = web_ask(client, text="x" * 5000)

    assert_error(response, 413, "too_large")
    assert Question.objects.count() == 0


# --- rate limits --------------------------------------------------------------------------


def test_third_ask_from_one_browser_is_rate_limited_and_nothing_accepted_is_lost(
    client, live_session, settings
):
    settings.HUB_WEB_RATE_PER_BROWSER = "2/m"

    first = web_ask(client, text="第一个问题：道路什么时候修？")
    second = web_ask(client, text="第二个问题：学校什么时候建？")
    third = web_ask(client, text="第三个问题：医院什么时候开？")

    assert first.status_code == second.status_code == 201
    body = assert_error(third, 429, "rate_limited")
    retry_after = int(third["Retry-After"])
    assert 1 <= retry_after <= 60
    assert body["retry_after"] == retry_after
    stored = set(Question.objects.values_list("pk", flat=True))
    assert stored == {first.json()["id"], second.json()["id"]}
    assert not Question.objects.filter(text__startswith="第三个问题").exists()

    other_browser = web_ask(Client(), text="另一位市民的问题：公园什么时候开放？")
    assert other_browser.status_code == 201, other_browser.content
    assert Question.objects.count() == 3


def test_waiting_retry_after_seconds_is_enough_to_ask_again(
    client, live_session, settings, time_machine
):
    settings.HUB_WEB_RATE_PER_BROWSER = "2/m"
    time_machine.move_to(datetime(2026, 11, 22, 6, 0, tzinfo=UTC), tick=False)
    assert web_ask(client).status_code == 201
    assert web_ask(client).status_code == 201
    time_machine.shift(0.5)

    refused = web_ask(client)
    assert refused.status_code == 429
    time_machine.shift(int(refused["Retry-After"]))

    retried = web_ask(client)

    assert retried.status_code == 201, (refused["Retry-After"], retried.content)
    assert Question.objects.count() == 3


def test_rate_limit_per_browser_survives_a_retry_with_idempotency_key(
    client, live_session, settings
):
    settings.HUB_WEB_RATE_PER_BROWSER = "1/m"
    assert web_ask(client).status_code == 201

    assert_error(web_ask(client, headers={"Idempotency-Key": "x"}), 429, "rate_limited")
    assert Question.objects.count() == 1


def test_rate_limit_per_ip_covers_distinct_browsers(live_session, settings):
    settings.HUB_WEB_RATE_PER_IP = "2/m"
    browsers = [Client(), Client(), Client()]

    responses = [web_ask(b, text=f"第{i}位市民的问题是什么？") for i, b in enumerate(browsers)]

    assert [r.status_code for r in responses] == [201, 201, 429]
    assert_error(responses[2], 429, "rate_limited")
    assert int(responses[2]["Retry-After"]) >= 1
    assert Question.objects.count() == 2


def test_forwarded_for_header_does_not_escape_the_ip_limit(live_session, settings):
    settings.HUB_WEB_RATE_PER_IP = "1/m"
    assert web_ask(Client()).status_code == 201

    spoofed = web_ask(Client(), headers={"X-Forwarded-For": "203.0.113.9"})

    assert_error(spoofed, 429, "rate_limited")
    assert Question.objects.count() == 1


def test_other_addresses_have_their_own_ip_limit(live_session, settings):
    settings.HUB_WEB_RATE_PER_IP = "1/m"
    assert web_ask(Client(REMOTE_ADDR="198.51.100.1")).status_code == 201
    assert web_ask(Client(REMOTE_ADDR="198.51.100.1")).status_code == 429

    assert web_ask(Client(REMOTE_ADDR="198.51.100.2")).status_code == 201
    assert Question.objects.count() == 2


# --- support ------------------------------------------------------------------------------


@pytest.fixture
def published(live_session, host, ask) -> Any:
    """Two published questions in the live session."""
    first, second = ask("第一个已公开的问题是什么？"), ask("第二个已公开的问题是什么？")
    publish(host, live_session, first)
    publish(host, live_session, second)
    return first, second


def test_support_twice_from_one_browser_counts_once(client, published):
    question, _ = published

    first = client.post(support_url(question.pk))
    again = client.post(support_url(question.pk))

    assert first.status_code == again.status_code == 200
    assert first.json() == {"id": question.pk, "supports": 1}
    assert again.json() == {"id": question.pk, "supports": 1}
    question.refresh_from_db()
    assert question.supports == 1
    assert QuestionSupport.objects.filter(question=question).count() == 1


def test_support_from_two_browsers_counts_twice(client, published):
    question, _ = published

    client.post(support_url(question.pk))
    response = browser().post(support_url(question.pk))

    assert response.status_code == 200
    assert response.json()["supports"] == 2
    question.refresh_from_db()
    assert question.supports == 2
    listed = client.get(ask_url()).json()["items"]
    assert {i["id"]: i["supports"] for i in listed}[question.pk] == 2


def test_support_on_a_pending_question_is_refused(client, live_session, ask):
    pending = ask()

    response = client.post(support_url(pending.pk))

    assert_error(response, 409, "not_public")
    pending.refresh_from_db()
    assert pending.supports == 0
    assert not QuestionSupport.objects.exists()


def test_support_on_a_private_or_withdrawn_question_is_refused(
    client, live_session, host, ask, published
):
    private = ask("一个私下的问题是什么？", private=True)  # approving it is refused: pending
    withdrawn, _ = published
    do_reject_question(host, live_session.pk, withdrawn.pk, "duplicate")

    assert_error(client.post(support_url(private.pk)), 409, "not_public")
    assert_error(client.post(support_url(withdrawn.pk)), 409, "not_public")
    assert not QuestionSupport.objects.exists()


def test_support_on_a_question_of_another_session_is_not_found(client, make_session, published):
    make_session("live", slug="elsewhere")
    question, _ = published

    assert_error(client.post(support_url(question.pk, slug="elsewhere")), 404, "not_found")
    assert_error(client.post(support_url(999_999)), 404, "not_found")
    assert not QuestionSupport.objects.exists()


def test_support_counts_are_published_in_one_coalesced_frame(
    client, published, frames, django_capture_on_commit_callbacks
):
    first, second = published
    other = browser()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(support_url(first.pk))
        other.post(support_url(first.pk))
        client.post(support_url(second.pk))
    assert "supports" not in frames.viewer_types()  # nothing is sent per click

    with django_capture_on_commit_callbacks(execute=True):
        support_coalescer.flush()

    supports = [f for f in frames.viewer if f["type"] == "supports"]
    assert len(supports) == 1, frames.viewer_types()
    counts = {c["id"]: c["supports"] for c in supports[0]["data"]["questions"]}
    assert counts == {first.pk: 2, second.pk: 1}

    with django_capture_on_commit_callbacks(execute=True):
        support_coalescer.flush()
    assert [f["type"] for f in frames.viewer].count("supports") == 1


def test_repeated_support_does_not_trigger_a_publication(
    client, published, frames, django_capture_on_commit_callbacks
):
    question, _ = published
    client.post(support_url(question.pk))
    with django_capture_on_commit_callbacks(execute=True):
        support_coalescer.flush()
    assert frames.viewer_types().count("supports") == 1

    client.post(support_url(question.pk))
    with django_capture_on_commit_callbacks(execute=True):
        support_coalescer.flush()

    assert frames.viewer_types().count("supports") == 1


# --- auth ---------------------------------------------------------------------------------


def login(client: Client, username: str, password: str) -> Any:
    return client.post(
        "/api/auth/login",
        {"username": username, "password": password},
        content_type="application/json",
    )


def test_login_returns_user_and_roles_and_sets_session_cookie(client, users):
    assert client.get("/api/auth/me").json() == {"user": None, "roles": []}

    response = login(client, "host", "pw-host")

    assert response.status_code == 200, response.content
    assert response.json() == {"user": "host", "roles": ["host"]}
    assert response.cookies["sessionid"].value
    assert client.get("/api/auth/me").json() == {"user": "host", "roles": ["host"]}


def test_user_without_role_logs_in_with_no_roles(client, users):
    response = login(client, "nobody", "pw-nobody")

    assert response.status_code == 200
    assert response.json() == {"user": "nobody", "roles": []}


@pytest.mark.parametrize(("username", "password"), [("host", "wrong"), ("ghost", "pw-host")])
def test_bad_credentials_are_refused(client, users, username, password):
    response = login(client, username, password)

    assert_error(response, 401, "bad_credentials")
    assert "sessionid" not in response.cookies
    assert client.get("/api/auth/me").json() == {"user": None, "roles": []}


def test_logout_ends_the_session(client, users):
    login(client, "screener", "pw-screener")
    assert client.get("/api/auth/me").json()["user"] == "screener"

    response = client.post("/api/auth/logout")

    assert response.status_code == 200
    assert response.json() == {"user": None, "roles": []}
    assert client.get("/api/auth/me").json() == {"user": None, "roles": []}


def test_login_with_malformed_body_is_a_coded_error(client, users):
    response = client.post("/api/auth/login", {"username": "host"}, content_type="application/json")

    assert_error(response, 422)


# --- OpenAPI ------------------------------------------------------------------------------


def test_openapi_document_lists_the_public_endpoints(client, db):
    response = client.get("/api/openapi.json")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    paths = response.json()["paths"]
    for path in (
        "/api/sessions/{slug}/questions",
        "/api/sessions/{slug}/questions/{question_id}/support",
        "/api/intake/microblog",
        "/api/intake/hotline",
        "/api/auth/login",
    ):
        assert path in paths, sorted(paths)
    assert {"get", "post"} <= set(paths["/api/sessions/{slug}/questions"])


def test_api_docs_page_is_served(client, db):
    response = client.get("/api/docs")

    assert response.status_code == 200
    assert b"openapi.json" in response.content
