"""Honest counts (issue 10 §4): supports and public votes cannot be stuffed, cookie writes
need the CSRF token, logins are throttled on the API and the admin alike.

The stuffing attempts are the ones that succeeded before: cookieless POSTs (each got a
fresh browser id), fresh ids from one address, a flood of votes from one client. Time is
frozen with time-machine wherever a browser id's age matters.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import authenticate
from django.contrib.auth.backends import ModelBackend
from django.core import signing
from django.core.cache import caches
from django.db import connections
from django.test import Client, RequestFactory
from django.test.client import MULTIPART_CONTENT

from hub import throttle
from hub.actions.supports import support_coalescer
from hub.browser import COOKIE, SALT, issue
from hub.browser import read as read_browser_id
from hub.followup.models import PublicVote
from hub.intake.signing import sign
from hub.models import Question, QuestionSupport
from hub.throttle import take_slot
from moderation.actions import do_approve_question
from moderation.models import LibraryEntry
from tests.followup_steps import accept, reply_and_publish

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
JSON = "application/json"


@pytest.fixture(autouse=True)
def _frozen(time_machine: Any) -> None:
    time_machine.move_to(T0, tick=False)


@pytest.fixture
def published(live_session: Any, host: Any, ask: Any) -> list[Question]:
    questions = [ask("请问老旧小区加装电梯的补贴什么时候发放？"), ask("公交站台能否加装遮雨棚？")]
    for question in questions:
        do_approve_question(host, live_session.pk, question.pk)
    return questions


def support_url(question: Question) -> str:
    return f"/api/sessions/live/questions/{question.pk}/support"


def page_loaded(**client_defaults: Any) -> Client:
    """A browser (or a script acting as one) that loaded the viewer's page once."""
    browser = Client(**client_defaults)
    page = browser.get("/")
    assert page.status_code == 200 and COOKIE in page.cookies
    return browser


def wait_out_the_minimum_age(time_machine: Any, settings: Any) -> None:
    time_machine.shift(settings.HUB_BROWSER_MIN_AGE_SECONDS + 1)


def supports_of(question: Question) -> int:
    question.refresh_from_db()
    return question.supports


# --- supports ----------------------------------------------------------------------------


def test_thirty_cookieless_support_posts_add_no_support_and_say_why(published: Any) -> None:
    question = published[0]

    responses = [Client().post(support_url(question)) for _ in range(30)]

    assert {r.status_code for r in responses} == {403}
    assert {r.json()["code"] for r in responses} == {"no_browser_id"}
    assert all(r.json()["message"] for r in responses)
    assert COOKIE not in responses[0].cookies  # the write endpoint never issues an id
    assert supports_of(question) == 0
    assert not QuestionSupport.objects.exists()


def test_thirty_freshly_issued_browser_ids_from_one_address_support_only_up_to_the_cap(
    published: Any, settings: Any, time_machine: Any
) -> None:
    question, other_question = published
    cap = settings.HUB_SUPPORTS_PER_ADDRESS_PER_SESSION
    assert cap == 20  # the documented default: a small office's NAT, not a stuffing script
    browsers = [page_loaded() for _ in range(30)]
    wait_out_the_minimum_age(time_machine, settings)

    responses = [b.post(support_url(question)) for b in browsers]

    assert [r.status_code for r in responses] == [200] * cap + [403] * (30 - cap)
    assert {r.json()["code"] for r in responses[cap:]} == {"address_limit"}
    assert supports_of(question) == cap
    # The cap is per session, not per question: the address has spent it.
    refused = browsers[0].post(support_url(other_question))
    assert refused.status_code == 403 and refused.json()["code"] == "address_limit"
    # Repeating a counted support is still answered, and takes nothing.
    again = browsers[1].post(support_url(question))
    assert again.status_code == 200 and again.json()["supports"] == cap
    # Another address has its own budget.
    neighbour = page_loaded(REMOTE_ADDR="198.51.100.7")
    wait_out_the_minimum_age(time_machine, settings)
    assert neighbour.post(support_url(other_question)).status_code == 200
    assert supports_of(question) + supports_of(other_question) == cap + 1


def test_a_browser_id_younger_than_the_minimum_age_is_refused_until_it_is_old_enough(
    published: Any, settings: Any, time_machine: Any
) -> None:
    settings.HUB_BROWSER_MIN_AGE_SECONDS = 5
    browser = page_loaded()
    time_machine.shift(2)

    early = browser.post(support_url(published[0]))

    assert early.status_code == 429 and early.json()["code"] == "browser_id_too_new"
    assert early["Retry-After"] == "3" and early.json()["retry_after"] == 3
    assert supports_of(published[0]) == 0
    time_machine.shift(3)
    assert browser.post(support_url(published[0])).json()["supports"] == 1


@pytest.mark.parametrize(
    "cookie",
    [
        pytest.param("3f2a" * 8, id="unsigned"),
        pytest.param(
            signing.dumps({"id": "a" * 32, "t": 0}, salt=SALT, key="another-secret-key"),
            id="signed-with-another-key",
        ),
        pytest.param(
            signing.dumps({"id": "a" * 32, "t": 0}, salt="another-salt"), id="another-salt"
        ),
        pytest.param(issue()[1][:-2] + "xx", id="tampered-signature"),
        pytest.param(signing.dumps(["a" * 32, 0], salt=SALT), id="signed-but-malformed"),
        pytest.param(
            signing.get_cookie_signer(salt=COOKIE + "hub.browser-id").sign("a" * 32),
            id="old-format",
        ),
    ],
)
def test_a_forged_or_unsigned_browser_id_is_refused(
    published: Any, settings: Any, time_machine: Any, cookie: str
) -> None:
    browser = Client()
    browser.cookies[COOKIE] = cookie
    wait_out_the_minimum_age(time_machine, settings)

    response = browser.post(support_url(published[0]))

    assert response.status_code == 403 and response.json()["code"] == "no_browser_id"
    assert supports_of(published[0]) == 0


def test_a_browser_id_signed_a_year_ago_has_expired(published: Any, time_machine: Any) -> None:
    browser = page_loaded()
    time_machine.shift(366 * 24 * 3600)

    response = browser.post(support_url(published[0]))

    assert response.status_code == 403 and response.json()["code"] == "no_browser_id"


def test_the_browser_id_comes_from_a_page_load_httponly_lax_and_secure_in_production(
    live_session: Any, settings: Any
) -> None:
    page = Client().get("/s/live/")
    cookie = page.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and not cookie["secure"]
    assert read_browser_id(cookie.value) is not None
    assert "csrftoken" in page.cookies  # the page's scripts can send the CSRF token
    # A page load with a valid id keeps it (its age counts from the first page).
    browser = Client()
    browser.cookies[COOKIE] = cookie.value
    assert COOKIE not in browser.get("/s/live/").cookies
    # The API never issues one, not even on a read.
    assert COOKIE not in Client().get("/api/sessions/live/questions").cookies

    settings.SESSION_COOKIE_SECURE = True
    assert Client().get("/").cookies[COOKIE]["secure"]
    settings.SESSION_COOKIE_SECURE, settings.PRODUCTION = False, True
    assert Client().get("/").cookies[COOKIE]["secure"]


def test_the_support_count_is_published_once_for_the_supports_that_counted(
    published: Any,
    settings: Any,
    time_machine: Any,
    frames: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.HUB_SUPPORTS_PER_ADDRESS_PER_SESSION = 2
    browsers = [page_loaded() for _ in range(4)]
    wait_out_the_minimum_age(time_machine, settings)
    with django_capture_on_commit_callbacks(execute=True):
        for browser in browsers:
            browser.post(support_url(published[0]))
        support_coalescer.flush()

    counts = [c for f in frames.viewer if f["type"] == "supports" for c in f["data"]["questions"]]
    assert [c["supports"] for c in counts] == [2]


# --- behind a proxy ------------------------------------------------------------------------


def test_behind_the_proxy_the_right_most_forwarded_hop_counts_and_a_spoofed_left_one_does_not(
    published: Any, settings: Any, time_machine: Any
) -> None:
    settings.HUB_PROXY_HEADERS = True
    settings.HUB_SUPPORTS_PER_ADDRESS_PER_SESSION = 3
    # The client writes any X-Forwarded-For it likes; the proxy appends the real address.
    browsers = [page_loaded(HTTP_X_FORWARDED_FOR=f"203.0.113.{n}, 198.51.100.20") for n in range(6)]
    wait_out_the_minimum_age(time_machine, settings)

    statuses = [b.post(support_url(published[0])).status_code for b in browsers]

    assert statuses == [200, 200, 200, 403, 403, 403]
    # Another real client behind the same proxy (REMOTE_ADDR is the proxy's) is apart.
    other = page_loaded(HTTP_X_FORWARDED_FOR="198.51.100.21")
    wait_out_the_minimum_age(time_machine, settings)
    assert other.post(support_url(published[0])).status_code == 200


def test_trusted_proxies_are_skipped_and_without_proxy_headers_the_header_is_ignored(
    published: Any, settings: Any, time_machine: Any
) -> None:
    settings.HUB_SUPPORTS_PER_ADDRESS_PER_SESSION = 1
    forwarded = "203.0.113.1, 198.51.100.30, 10.0.0.5"
    settings.HUB_PROXY_HEADERS, settings.HUB_TRUSTED_PROXIES = True, ["10.0.0.0/8"]
    first = page_loaded(HTTP_X_FORWARDED_FOR=forwarded)
    same_client = page_loaded(HTTP_X_FORWARDED_FOR="198.51.100.30, 10.9.9.9")
    wait_out_the_minimum_age(time_machine, settings)
    assert first.post(support_url(published[0])).status_code == 200
    assert same_client.post(support_url(published[0])).status_code == 403

    # Without HUB_PROXY_HEADERS every request counts by its socket address.
    settings.HUB_PROXY_HEADERS = False
    spoofer = page_loaded(HTTP_X_FORWARDED_FOR="192.0.2.99")
    wait_out_the_minimum_age(time_machine, settings)
    assert spoofer.post(support_url(published[1])).status_code == 200
    again = page_loaded(HTTP_X_FORWARDED_FOR="192.0.2.100")
    wait_out_the_minimum_age(time_machine, settings)
    assert again.post(support_url(published[1])).json()["code"] == "address_limit"


def test_ipv6_addresses_of_one_slash_64_share_one_budget(
    published: Any, settings: Any, time_machine: Any
) -> None:
    settings.HUB_SUPPORTS_PER_ADDRESS_PER_SESSION = 1
    one = page_loaded(REMOTE_ADDR="2001:db8:1:2::1")
    same_net = page_loaded(REMOTE_ADDR="2001:db8:1:2:ffff::9")
    other_net = page_loaded(REMOTE_ADDR="2001:db8:1:3::1")
    wait_out_the_minimum_age(time_machine, settings)

    assert one.post(support_url(published[0])).status_code == 200
    assert same_net.post(support_url(published[0])).status_code == 403
    assert other_net.post(support_url(published[0])).status_code == 200


# --- public votes ----------------------------------------------------------------------------


def vote(browser: Client, task: Any, verdict: str = "satisfied") -> Any:
    return browser.post(
        f"/api/followup/tasks/{task.pk}/vote", {"verdict": verdict}, content_type=JSON
    )


def test_109_votes_from_one_client_in_one_minute_count_at_most_the_per_address_cap(
    followup: Any, settings: Any, time_machine: Any
) -> None:
    accept(followup, "lift")
    task = reply_and_publish(followup, "lift")
    cap = settings.HUB_VOTES_PER_ADDRESS_PER_TASK
    assert cap == 20
    # The old attack: no cookie at all. Nothing counts.
    assert {vote(Client(), task).json()["code"] for _ in range(109)} == {"no_browser_id"}
    assert PublicVote.objects.count() == 0
    time_machine.shift(61)  # a new minute: the refusals above do not use up the rate limit
    # A script that loads a page for each vote, then waits out the minimum age.
    browsers = [page_loaded() for _ in range(109)]
    wait_out_the_minimum_age(time_machine, settings)

    responses = [vote(b, task) for b in browsers]

    accepted = [r for r in responses if r.status_code == 200]
    assert len(accepted) == cap
    assert {r.json()["code"] for r in responses if r.status_code != 200} <= {
        "address_limit",
        "rate_limited",
    }
    assert PublicVote.objects.filter(reply__task=task).count() == cap
    detail = Client().get(f"/api/followup/tasks/{task.pk}").json()
    assert detail["replies"][-1]["votes"]["satisfied"] == cap


def test_a_vote_needs_a_page_issued_browser_id_old_enough(
    followup: Any, settings: Any, time_machine: Any
) -> None:
    accept(followup, "lift")
    task = reply_and_publish(followup, "lift")
    browser = page_loaded()

    early = vote(browser, task)

    assert early.status_code == 429 and early.json()["code"] == "browser_id_too_new"
    forged = Client()
    forged.cookies[COOKIE] = "3f2a" * 8
    wait_out_the_minimum_age(time_machine, settings)
    assert vote(forged, task).json()["code"] == "no_browser_id"
    assert vote(browser, task).status_code == 200
    assert PublicVote.objects.count() == 1


# --- CSRF on cookie-authenticated writes ---------------------------------------------------


def logged_in(username: str, users: Any) -> tuple[Client, str]:
    """A browser logged in as ``username`` (session cookie) that enforces CSRF, and its
    CSRF token from a page load."""
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(users[username])
    browser.get("/")
    return browser, browser.cookies["csrftoken"].value


ENTRY = {"question": "夜间施工噪音扰民怎么投诉？", "answer": "拨打12345", "published": True}


def test_library_writes_with_the_session_cookie_and_no_csrf_token_are_refused(
    users: Any,
) -> None:
    browser, token = logged_in("staff", users)

    no_token = browser.post("/api/library", ENTRY, content_type=JSON)
    as_text = browser.post(
        "/api/library", '{"question": "x", "answer": "y"}', content_type="text/plain"
    )
    wrong = browser.post("/api/library", ENTRY, content_type=JSON, HTTP_X_CSRFTOKEN="x" * 32)

    for response in (no_token, as_text, wrong):
        assert response.status_code == 403 and response.json()["code"] == "csrf"
    assert not LibraryEntry.objects.exists()
    created = browser.post("/api/library", ENTRY, content_type=JSON, HTTP_X_CSRFTOKEN=token)
    assert created.status_code == 201, created.content
    entry_url = f"/api/library/{created.json()['id']}"

    patched = browser.patch(entry_url, {"published": False}, content_type=JSON)
    assert patched.status_code == 403 and patched.json()["code"] == "csrf"
    plain = browser.patch(
        entry_url, '{"published": false}', content_type="text/plain", HTTP_X_CSRFTOKEN=token
    )
    assert plain.status_code == 415 and plain.json()["code"] == "unsupported_media_type"
    assert LibraryEntry.objects.get().published is True
    ok = browser.patch(entry_url, {"published": False}, content_type=JSON, HTTP_X_CSRFTOKEN=token)
    assert ok.status_code == 200 and ok.json()["published"] is False


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(
            '{"text": "请问老旧小区加装电梯的补贴什么时候发放？"}', "text/plain", id="plain"
        ),
        pytest.param(
            "text=请问老旧小区加装电梯的补贴", "application/x-www-form-urlencoded", id="form"
        ),
        pytest.param({"text": "请问老旧小区加装电梯的补贴"}, MULTIPART_CONTENT, id="multipart"),
    ],
)
def test_anonymous_writes_that_a_cross_site_form_could_send_are_refused_with_415(
    live_session: Any, body: Any, content_type: str
) -> None:
    response = Client().post("/api/sessions/live/questions", body, content_type=content_type)

    assert response.status_code == 415 and response.json()["code"] == "unsupported_media_type"
    assert not Question.objects.exists()


def test_login_and_logout_need_the_csrf_token(users: Any) -> None:
    browser = Client(enforce_csrf_checks=True)
    credentials = {"username": "host", "password": "pw-host"}

    refused = browser.post("/api/auth/login", credentials, content_type=JSON)

    assert refused.status_code == 403 and refused.json()["code"] == "csrf"
    assert browser.get("/api/auth/me").json()["user"] is None
    browser.get("/login/")
    token = browser.cookies["csrftoken"].value
    done = browser.post("/api/auth/login", credentials, content_type=JSON, HTTP_X_CSRFTOKEN=token)
    assert done.status_code == 200 and done.json()["user"] == "host"

    token = browser.cookies["csrftoken"].value  # login rotates it
    kept = browser.post("/api/auth/logout")
    assert kept.status_code == 403 and kept.json()["code"] == "csrf"
    assert browser.get("/api/auth/me").json()["user"] == "host"
    assert browser.post("/api/auth/logout", HTTP_X_CSRFTOKEN=token).status_code == 200
    assert browser.get("/api/auth/me").json()["user"] is None


def test_signed_webhooks_carry_no_cookie_and_need_no_csrf_token(live_session: Any) -> None:
    body = json.dumps(
        {
            "session": "live",
            "statuses": [{"id": 1, "text": "微博提问：公交站台没有遮雨棚", "user": {"id": 7}}],
        }
    ).encode()
    response = Client(enforce_csrf_checks=True).post(
        "/api/intake/microblog",
        body,
        content_type=JSON,
        HTTP_X_HUB_SIGNATURE_256=sign(django_settings.MICROBLOG_SECRET, body),
        HTTP_X_HUB_TIMESTAMP=str(int(time.time())),
    )

    assert response.status_code == 200, response.content
    assert len(response.json()["accepted"]) == 1


# --- the login throttle: API and admin --------------------------------------------------------


def admin_login(browser: Client, password: str, username: str = "host") -> Any:
    browser.get("/admin/login/")
    token = browser.cookies["csrftoken"].value
    return browser.post(
        "/admin/login/?next=/admin/",
        {
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": token,
            "next": "/admin/",
        },
    )


def test_25_wrong_admin_passwords_then_the_right_one_does_not_log_in_within_the_window(
    users: Any, settings: Any, time_machine: Any
) -> None:
    users["host"].is_staff = True
    users["host"].save()
    browser = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en")
    limit = settings.HUB_LOGIN_FAILURES_PER_ADDRESS

    wrong = [admin_login(browser, f"guess-{n}") for n in range(25)]

    # The form again for each wrong password; from the limit on, 429 and a clear message.
    assert [r.status_code for r in wrong] == [200] * (limit - 1) + [429] * (26 - limit)
    assert int(wrong[-1]["Retry-After"]) > 0
    assert "Too many failed logins" in wrong[-1].content.decode()
    right = admin_login(browser, "pw-host")
    assert right.status_code == 429
    assert browser.get("/admin/").status_code == 302  # still not logged in
    # The API login shares the count: the right password is refused there too.
    api = Client()
    refused = api.post(
        "/api/auth/login", {"username": "host", "password": "pw-host"}, content_type=JSON
    )
    assert refused.status_code == 429 and refused.json()["code"] == "login_throttled"
    assert int(refused["Retry-After"]) > 0

    time_machine.shift(settings.HUB_LOGIN_FAILURE_WINDOW_SECONDS + 1)
    assert admin_login(browser, "pw-host").status_code == 302
    assert browser.get("/admin/").status_code == 200


def test_failures_for_one_username_from_many_addresses_lock_that_username_only(
    users: Any, settings: Any
) -> None:
    limit = settings.HUB_LOGIN_FAILURES_PER_USERNAME
    for n in range(limit):
        attacker = Client(REMOTE_ADDR=f"198.51.100.{n + 1}")
        response = attacker.post(
            "/api/auth/login", {"username": "staff", "password": "nope"}, content_type=JSON
        )
        assert response.status_code in (401, 429)
    fresh = Client(REMOTE_ADDR="192.0.2.50")

    locked = fresh.post(
        "/api/auth/login", {"username": "staff", "password": "pw-staff"}, content_type=JSON
    )
    other = fresh.post(
        "/api/auth/login", {"username": "host", "password": "pw-host"}, content_type=JSON
    )

    assert locked.status_code == 429 and locked.json()["code"] == "login_throttled"
    assert other.status_code == 200


def test_a_successful_login_does_not_reset_the_address_budget(users: Any, settings: Any) -> None:
    settings.HUB_LOGIN_FAILURES_PER_ADDRESS = 3
    browser = Client()

    def attempt(username: str, password: str) -> int:
        return browser.post(
            "/api/auth/login", {"username": username, "password": password}, content_type=JSON
        ).status_code

    assert [attempt("host", "x"), attempt("host", "y")] == [401, 401]
    assert attempt("nobody", "pw-nobody") == 200  # one valid account of the attacker's
    assert attempt("host", "z") == 429
    assert attempt("host", "pw-host") == 429


# --- counted across processes ----------------------------------------------------------------


@pytest.mark.redis
def test_concurrent_clients_of_a_shared_redis_cache_never_take_more_than_the_cap(
    redis_url_required: str, settings: Any
) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url_required,
            "KEY_PREFIX": f"test-honest-{uuid.uuid4().hex}",
        }
    }
    assert type(caches["default"]).__name__ == "RedisCache"
    taken: list[bool] = []

    def supporter() -> None:
        # Each thread has its own cache connection, as each server process has.
        for _ in range(5):
            taken.append(take_slot("support:1", "198.51.100.40", 20, 60) is not None)
        connections.close_all()

    threads = [threading.Thread(target=supporter) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(taken) == 40 and taken.count(True) == 20
    assert take_slot("support:1", "198.51.100.41", 20, 60) is not None  # another address


def test_simultaneous_wrong_passwords_never_get_more_checks_than_the_limit(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each attempt is counted before its password is checked: 25 attempts in flight at
    once cannot all pass the throttle before the first failure is recorded."""
    limit = settings.HUB_LOGIN_FAILURES_PER_ADDRESS
    lock, everyone_decided = threading.Lock(), threading.Event()
    checked, refused = [0], [0]

    def note(counter: list[int]) -> None:
        with lock:
            counter[0] += 1
            if checked[0] + refused[0] == 25:
                everyone_decided.set()

    def slow_password_check(*args: Any, **kwargs: Any) -> None:
        note(checked)
        # Hold every checked attempt until each of the 25 has been let in or refused: a
        # throttle that records failures only after the check would let all 25 in.
        everyone_decided.wait(10)
        return None

    real_begin = throttle.begin_login_attempt

    def counted_begin(request: Any, username: str) -> bool:
        allowed = real_begin(request, username)
        if not allowed:
            note(refused)
        return allowed

    monkeypatch.setattr(ModelBackend, "authenticate", slow_password_check)
    monkeypatch.setattr(throttle, "begin_login_attempt", counted_begin)
    results: list[Any] = []

    def attempt(n: int) -> None:
        # Other usernames each time: only the per-address limit applies.
        request = RequestFactory().post("/api/auth/login", REMOTE_ADDR="198.51.100.60")
        results.append(authenticate(request, username=f"guess-{n}", password="wrong"))

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(25)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert everyone_decided.is_set()
    assert (checked[0], refused[0]) == (limit, 25 - limit)
    assert results == [None] * 25
