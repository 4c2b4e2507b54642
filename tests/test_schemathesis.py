"""schemathesis against ``/api/openapi.json``: every operation, anonymous and as each role.

The schema is loaded from the running Django application (in-process WSGI, the test
database), and every operation gets a bounded, derandomized number of generated requests,
valid and invalid ones. Each response must pass three checks: not a server error, a status
code the schema documents for the operation, and a body that matches the schema of that
status. Failures are collected over the whole run (not stopped at the first) so that the
assertion lists every distinct problem at once.

- Logged-in roles send the Django session cookie and a CSRF cookie with its matching
  ``X-CSRFToken`` header, as the pages do, so CSRF-protected writes are exercised.
- The signed webhooks get their generated body signed (``hub.intake.signing``), so the
  parsers behind the signature are fuzzed, not only the 401.
- Logging out (or in) replaces the session; the identity logs in again afterwards.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from django.test import Client
from django.utils.crypto import get_random_string
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import checks
from schemathesis.core import NotSet
from schemathesis.core.failures import Failure, FailureGroup

from hub.intake.signing import sign
from tests.conftest import ROLE_USERS
from tests.followup_steps import accept, build_world, reply_and_publish

pytestmark = [pytest.mark.django_db(transaction=False), pytest.mark.timeout(300)]

#: Generated requests per operation, per identity, per generation mode.
EXAMPLES = 15

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.response_schema_conformance,
]

SIGNED = {
    "/api/intake/microblog": "MICROBLOG_SECRET",
    "/api/intake/hotline": "HOTLINE_SECRET",
}

# The webhook bodies are documented as bare objects; half of their examples are payloads
# shaped like the channel systems' (valid and hostile values: any text, lone surrogates
# and NUL included, ids of any JSON type and size), so the parsers behind the signature
# are fuzzed item by item, not only the envelope.
_TEXT = st.text(st.characters(exclude_categories=()), max_size=60)
_ID = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    _TEXT,
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
)
_SLUG = st.one_of(st.sampled_from(["onair", "live", "nowhere"]), _TEXT)
_USER = st.one_of(
    st.fixed_dictionaries({"id": _ID}, optional={"idstr": _ID, "screen_name": _TEXT}),
    _TEXT,
    st.none(),
)
PAYLOADS = {
    "/api/intake/hotline": st.fixed_dictionaries(
        {
            "session": _SLUG,
            "orders": st.lists(
                st.fixed_dictionaries(
                    {"order_id": _ID, "content": _TEXT},
                    optional={
                        "caller_name": _TEXT,
                        "caller_phone": _ID,
                        "channel": st.sampled_from(["hotline", "radio", "web", ""]),
                        "private": st.one_of(st.booleans(), _ID),
                    },
                ),
                max_size=4,
            ),
        }
    ),
    "/api/intake/microblog": st.fixed_dictionaries(
        {
            "statuses": st.lists(
                st.fixed_dictionaries(
                    {"id": _ID, "text": _TEXT, "user": _USER}, optional={"idstr": _ID}
                ),
                max_size=4,
            )
        },
        optional={"session": _SLUG},
    ),
}


@dataclass
class Identity:
    """Who sends the generated requests: nobody, or a logged-in user with a CSRF token."""

    username: str | None
    cookies: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def log_in(self) -> None:
        # Like a page: a CSRF cookie for everyone, and its token in the header.
        token = get_random_string(32)
        self.cookies = {django_settings.CSRF_COOKIE_NAME: token}
        self.headers = {"X-CSRFToken": token}
        if self.username is None:
            return
        client = Client()
        client.force_login(User.objects.get(username=self.username))
        name = django_settings.SESSION_COOKIE_NAME
        self.cookies[name] = client.cookies[name].value


@dataclass
class Findings:
    failures: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    undocumented: set[str] = field(default_factory=set)
    server_errors: int = 0
    calls: int = 0

    def record(self, label: str, exc: BaseException) -> None:
        items = exc.exceptions if isinstance(exc, FailureGroup) else [exc]
        for failure in items:
            status = getattr(failure, "status_code", None)
            if getattr(failure, "code", "") == "ST103":
                self.undocumented.add(f"{label} {status}")
            if isinstance(failure, Failure):
                title = f"{type(failure).__name__}: {failure.title}"
                message = failure.message.splitlines()[0] if failure.message else ""
            else:
                title, message = type(failure).__name__, str(failure)[:200]
            self.failures[f"{label} | {title} | {message}"] += 1


def _signed_call(case: Any, identity: Identity, secret_setting: str) -> Any:
    body = case.body
    if isinstance(body, NotSet):
        raw = b""
    elif isinstance(body, bytes):
        raw = body
    elif isinstance(body, str):
        raw = body.encode("utf-8", "surrogatepass")
    else:
        # ASCII escapes: a lone surrogate arrives as "\\ud800", which is valid JSON text.
        raw = json.dumps(body).encode()
    secret = getattr(django_settings, secret_setting)
    headers = {
        **identity.headers,
        "Content-Type": "application/json",
        "X-Hub-Signature-256": sign(secret, raw),
        "X-Hub-Timestamp": str(int(time.time())),
    }
    return case.call(headers=headers, cookies=identity.cookies, data=raw)


def send(case: Any, identity: Identity) -> Any:
    """The request, in a transaction of its own that is rolled back after (as a server
    runs each request alone: one's database error never poisons the next)."""
    savepoint = transaction.savepoint()
    try:
        secret_setting = SIGNED.get(case.operation.path)
        if secret_setting:
            return _signed_call(case, identity, secret_setting)
        return case.call(headers=identity.headers, cookies=identity.cookies)
    finally:
        transaction.savepoint_rollback(savepoint)


def fuzz_operation(operation: Any, identity: Identity, findings: Findings) -> None:
    """Valid and invalid generated requests to one operation, every answer checked."""
    strategies = [operation.as_strategy(schemathesis.GenerationMode.POSITIVE)]
    try:
        strategies.append(operation.as_strategy(schemathesis.GenerationMode.NEGATIVE))
    except Exception:  # noqa: S110 - an operation with nothing to negate
        pass

    payloads = PAYLOADS.get(operation.path, st.nothing())

    @settings(
        max_examples=EXAMPLES * len(strategies),
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(*strategies), payload=st.one_of(st.none(), payloads))
    def run(case: Any, payload: Any) -> None:
        if payload is not None:
            case.body = payload
        findings.calls += 1
        try:
            response = send(case, identity)
        except Exception as exc:  # an exception escaping the app is a 500
            findings.server_errors += 1
            findings.record(operation.label, exc)
            return
        findings.statuses[f"{operation.label} {response.status_code}"] += 1
        findings.server_errors += response.status_code >= 500
        try:
            case.validate_response(response, checks=CHECKS)
        except (Exception, FailureGroup) as exc:
            findings.record(operation.label, exc)
        if operation.path in ("/api/auth/login", "/api/auth/logout"):
            identity.log_in()  # the session was replaced or flushed

    run()


def fuzz(schema: Any, identity: Identity, findings: Findings) -> None:
    for result in schema.get_all_operations():
        fuzz_operation(result.ok(), identity, findings)


@pytest.fixture
def world(users: Any, make_session: Any, ask: Any) -> Iterator[Any]:
    w = build_world(users, make_session, ask)  # its session "live" has ended
    accept(w, "bus")
    reply_and_publish(w, "bus")
    make_session("live", slug="onair")  # one on air, for the webhooks and the ask API
    yield w


@pytest.fixture
def schema(world: Any) -> Iterator[Any]:
    """The schema as the app serves it, with the app reached in-process. As in Django's
    test client, the end of a request must not close the test's database connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application())
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.mark.parametrize("username", [None, *ROLE_USERS])
def test_generated_requests_get_no_5xx_and_only_documented_answers(
    schema: Any, username: str | None
) -> None:
    identity = Identity(username)
    identity.log_in()
    findings = Findings()
    fuzz(schema, identity, findings)
    report = "\n".join(f"{n:4} × {line}" for line, n in sorted(findings.failures.items()))
    print(
        f"\n{findings.calls} calls as {username or 'anonymous'}: "
        f"{findings.server_errors} 5xx, {len(findings.undocumented)} undocumented status codes"
        f"\n{report}"
    )
    assert not findings.failures, report
