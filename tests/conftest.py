"""Shared fixtures.

- Every frame published during a test (viewer and console) is round-tripped through JSON
  and validated against its schema in :mod:`hub.protocol` when the test ends.
- Under ``CI=true`` a skipped test fails the run: required services must be there.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from hub import protocol
from hub.events import frame_listeners
from hub.roles import Role
from tests.services import in_ci, redis_url

ROLE_USERS = {
    "host": Role.HOST,
    "leader": Role.LEADER,
    "screener": Role.SCREENER,
    "observer": Role.OBSERVER,
    "staff": Role.STAFF,
    "dept": Role.DEPARTMENT,
}


# --- CI: no skip may pass silently ---------------------------------------------------------


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if in_ci() and skipped:
        if reporter:
            reporter.write_line(
                f"CI=true: {skipped} test(s) were skipped; required services or the browser "
                "are missing. Failing the run.",
                red=True,
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def require_service(what: str) -> None:
    """Skip locally, fail under CI, when a service-backed test cannot reach its service."""
    if in_ci():
        pytest.fail(f"CI=true requires {what}")
    pytest.skip(f"{what} is not available here")


# --- frames -------------------------------------------------------------------------------


class FrameLog:
    def __init__(self) -> None:
        self.viewer: list[dict[str, Any]] = []
        self.console: list[dict[str, Any]] = []

    def __call__(self, kind: str, frame: str) -> None:
        decoded = json.loads(frame)
        (self.viewer if kind == "viewer" else self.console).append(decoded)

    def viewer_types(self) -> list[str]:
        return [f["type"] for f in self.viewer]

    def validate(self) -> None:
        for frame in self.viewer:
            protocol.viewer_frame_adapter.validate_json(json.dumps(frame))
        for frame in self.console:
            protocol.console_frame_adapter.validate_json(json.dumps(frame))


@pytest.fixture(autouse=True)
def frames() -> Iterator[FrameLog]:
    log = FrameLog()
    frame_listeners.append(log)
    try:
        yield log
    finally:
        frame_listeners.remove(log)
    log.validate()


@pytest.fixture(autouse=True)
def _no_background_coalescer() -> Iterator[None]:
    from hub.actions.supports import support_coalescer

    support_coalescer.autostart = False
    yield
    support_coalescer._dirty.clear()


@pytest.fixture(autouse=True)
def _clear_cache() -> Iterator[None]:
    from django.core.cache import cache

    from moderation import answers, screening, sectors

    cache.clear()
    # A flushed database must not match old words, keep old sector corrections nor
    # suggest library entries that are gone.
    screening.matcher.reset()
    sectors.model.reset()
    answers.library_index.reset()
    yield


@pytest.fixture
def lexicon(db: Any) -> None:
    """The starter lexicon (transactional tests flush the data migration's rows)."""
    from moderation.lexicon_seed import seed
    from moderation.models import CategoryPolicy, LexiconEntry
    from moderation.screening import bump_lexicon_version

    seed(CategoryPolicy, LexiconEntry)
    bump_lexicon_version()


# --- people and sessions -------------------------------------------------------------------


@pytest.fixture
def users(db: Any) -> dict[str, User]:
    result = {}
    for username, role in ROLE_USERS.items():
        group, _ = Group.objects.get_or_create(name=role)
        user = User.objects.create_user(username=username, password="pw-" + username)
        user.groups.add(group)
        result[username] = user
    result["nobody"] = User.objects.create_user(username="nobody", password="pw-nobody")
    return result


@pytest.fixture
def host(users: dict[str, User]) -> User:
    return users["host"]


@pytest.fixture
def make_session(users: dict[str, User]) -> Callable[..., Any]:
    from hub.actions.sessions import (
        do_create_session,
        do_end_session,
        do_go_live,
        do_open_collection,
    )

    counter = {"n": 0}

    def make(status: str = "live", slug: str | None = None, **fields: Any) -> Any:
        counter["n"] += 1
        now = timezone.now()
        session = do_create_session(
            users["host"],
            slug=slug or f"s{counter['n']}",
            kind=fields.pop("kind", "qa"),
            title=fields.pop("title", "测试访谈"),
            scheduled_start=now,
            scheduled_end=now + timedelta(hours=2),
            **fields,
        )
        if status in ("collecting", "live", "ended"):
            do_open_collection(users["host"], session.pk)
        if status in ("live", "ended"):
            do_go_live(users["host"], session.pk)
        if status == "ended":
            do_end_session(users["host"], session.pk)
        session.refresh_from_db()
        return session

    return make


@pytest.fixture
def live_session(make_session: Callable[..., Any]) -> Any:
    return make_session("live", slug="live")


@pytest.fixture
def ask(live_session: Any) -> Callable[..., Any]:
    """Put a question through the one intake pipeline; returns the stored Question."""
    from hub.intake.pipeline import IntakeItem, do_intake_question

    def ask_(text: str = "请问老旧小区改造什么时候开始？", session: Any = None, **kw: Any) -> Any:
        item = IntakeItem(
            session_id=(session or live_session).pk,
            channel=kw.pop("channel", "web"),
            text=text,
            **kw,
        )
        return do_intake_question(item).question

    return ask_


@pytest.fixture
def redis_url_required() -> str:
    url = redis_url()
    if url is None:
        require_service("Redis at 127.0.0.1:6379")
    import redis

    try:
        redis.Redis.from_url(url).ping()  # type: ignore[arg-type]
    except Exception:
        require_service("Redis at 127.0.0.1:6379")
    return url  # type: ignore[return-value]


# --- follow-up tasks (issue 4) ------------------------------------------------------------


@pytest.fixture(autouse=True)
def _followup_caches() -> Iterator[None]:
    """A flushed database must not keep old tone phrases, calendars or sender instances."""
    from hub.followup.notify import reset_senders
    from hub.followup.tone import tone_matcher
    from hub.workcalendar.working_time import calendar_build

    tone_matcher.reset()
    calendar_build.reset()
    reset_senders()
    yield
    reset_senders()


@pytest.fixture
def followup(
    users: dict[str, User], make_session: Callable[..., Any], ask: Callable[..., Any]
) -> Any:
    """An ended session whose unanswered questions became tasks, and the people working
    them (see tests/followup_steps.py for the objects and helpers)."""
    from tests.followup_steps import build_world

    return build_world(users, make_session, ask)
