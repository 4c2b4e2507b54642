"""The timer tick: warnings at 80%, supervision levels 1 and 2, each sent exactly once per
step and deadline generation, whatever restarts or concurrent workers do; failing senders
are retried, then recorded as persistent failures."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import close_old_connections
from django.test import override_settings

from hub.followup import actions
from hub.followup.models import (
    FollowUpTask,
    Notice,
    NoticeAudience,
    NoticeKind,
    NoticeStatus,
)
from hub.followup.notify import reset_senders
from hub.followup.timers import tick
from tests.followup_steps import refresh

SH = ZoneInfo("Asia/Shanghai")
K = NoticeKind


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


def kinds(task: FollowUpTask) -> list[tuple[str, int]]:
    rows = task.notices.filter(kind__in=SUPERVISION_AND_WARNINGS)
    return sorted(rows.values_list("kind", "generation"))


SUPERVISION_AND_WARNINGS = {
    K.ACCEPT_WARNING,
    K.ACCEPT_SUPERVISION_1,
    K.ACCEPT_SUPERVISION_2,
    K.REPLY_WARNING,
    K.REPLY_SUPERVISION_1,
    K.REPLY_SUPERVISION_2,
}


class RecordingSender:
    """Counts what it was asked to send (class-level, the tick builds its own instance)."""

    sent: list[int] = []

    def send(self, notice: Notice) -> None:
        RecordingSender.sent.append(notice.pk)


class FailingSender:
    calls: list[int] = []

    def send(self, notice: Notice) -> None:
        FailingSender.calls.append(notice.pk)
        raise ConnectionError("SMS gateway unreachable")


def dispatch_monday(w: Any) -> FollowUpTask:
    with time_machine.travel(at(2026, 11, 2, 9, 0), tick=False):
        actions.do_assign_task(w.staff, w.tasks["lift"].pk, lead_department_id=w.housing.pk)
    return refresh(w.tasks["lift"])


@pytest.mark.django_db
def test_accept_warning_at_80_percent_then_supervision_levels(followup: Any) -> None:
    w = followup
    task = dispatch_monday(w)
    tick(at(2026, 11, 2, 11, 0))  # 2 h of 3 used: 67%
    assert kinds(task) == []
    tick(at(2026, 11, 2, 11, 30))  # 2.5 h: 83%
    assert kinds(task) == [(K.ACCEPT_WARNING, 1)]
    tick(at(2026, 11, 2, 13, 45))  # lunch break does not count: 3 h 15 min
    assert kinds(task) == [(K.ACCEPT_SUPERVISION_1, 1), (K.ACCEPT_WARNING, 1)]
    task = refresh(task)
    assert task.supervision_level == 1
    level1 = task.notices.get(kind=K.ACCEPT_SUPERVISION_1)
    assert level1.audience == NoticeAudience.DEPARTMENT and level1.department == w.housing
    assert "督办" in level1.message  # notices are written in the product's language
    tick(at(2026, 11, 3, 14, 0))  # 10.5 working hours used: not yet 3 + 8
    assert refresh(task).supervision_level == 1
    tick(at(2026, 11, 3, 14, 30))  # 11 working hours: 8 after the deadline → level 2
    task = refresh(task)
    assert task.supervision_level == 2
    assert task.notices.get(kind=K.ACCEPT_SUPERVISION_2).audience == NoticeAudience.LEADERSHIP
    supervision = list(
        task.events.filter(action__startswith="supervision").values_list("action", "public")
    )
    assert supervision == [("supervision_1", True), ("supervision_2", True)]


@pytest.mark.django_db
def test_an_overdue_task_gets_no_late_warning_only_supervision(followup: Any) -> None:
    w = followup
    task = dispatch_monday(w)
    tick(at(2026, 11, 2, 15, 0))  # first tick after the deadline: already overdue
    assert kinds(task) == [(K.ACCEPT_SUPERVISION_1, 1)]


@pytest.mark.django_db
def test_each_step_is_sent_once_however_often_the_tick_runs(followup: Any) -> None:
    w = followup
    task = dispatch_monday(w)
    w.editor.email = "zhujian@example.gov.cn"
    w.editor.save()
    RecordingSender.sent = []
    with override_settings(HUB_FOLLOWUP_EMAIL_SENDER="tests.test_followup_timers.RecordingSender"):
        reset_senders()
        for _ in range(3):
            tick(at(2026, 11, 2, 15, 0))
        # A "restarted worker": a fresh process state (no sender cache), same database.
        reset_senders()
        tick(at(2026, 11, 2, 15, 5))
    assert Notice.objects.filter(task=task, kind=K.ACCEPT_SUPERVISION_1).count() == 1
    notice = Notice.objects.get(task=task, kind=K.ACCEPT_SUPERVISION_1)
    assert notice.status == NoticeStatus.SENT and notice.attempts == 1
    assert RecordingSender.sent == [notice.pk]
    assert task.events.filter(action="supervision_1").count() == 1


@pytest.mark.django_db
def test_department_notices_go_by_email_when_members_have_addresses(followup: Any) -> None:
    w = followup
    w.editor.email = "zhujian@example.gov.cn"
    w.editor.save()
    task = dispatch_monday(w)
    RecordingSender.sent = []
    with override_settings(HUB_FOLLOWUP_EMAIL_SENDER="tests.test_followup_timers.RecordingSender"):
        reset_senders()
        tick(at(2026, 11, 2, 15, 0))
    notice = task.notices.get(kind=K.ACCEPT_SUPERVISION_1)
    assert (notice.channel, notice.address) == ("email", "zhujian@example.gov.cn")
    assert RecordingSender.sent == [notice.pk]


@pytest.mark.django_db
def test_a_new_deadline_generation_gets_its_own_reminders(followup: Any) -> None:
    w = followup
    task = dispatch_monday(w)
    with time_machine.travel(at(2026, 11, 2, 9, 30), tick=False):
        actions.do_accept_task(w.editor, task.pk)
    tick(at(2026, 11, 6, 11, 0))  # 4 days + 2 h of 5 days: 85%
    assert (K.REPLY_WARNING, 1) in kinds(task)
    with time_machine.travel(at(2026, 11, 6, 11, 0), tick=False):
        actions.do_request_extension(w.editor, task.pk, 5, "复杂")
        actions.do_approve_extension(w.staff, task.pk)
    tick(at(2026, 11, 6, 11, 5))  # the budget doubled: 43%, nothing new
    assert [k for k in kinds(task) if k[0] == K.REPLY_WARNING] == [(K.REPLY_WARNING, 1)]
    tick(at(2026, 11, 13, 11, 0))  # 9 days + 2 h of 10: 92% of the new budget
    assert [k for k in kinds(task) if k[0] == K.REPLY_WARNING] == [
        (K.REPLY_WARNING, 1),
        (K.REPLY_WARNING, 2),
    ]


@pytest.mark.django_db
def test_no_reminders_while_waiting_for_the_citizen(followup: Any) -> None:
    w = followup
    task = dispatch_monday(w)
    with time_machine.travel(at(2026, 11, 2, 9, 30), tick=False):
        actions.do_accept_task(w.editor, task.pk)
        actions.do_wait_for_citizen(w.editor, task.pk, "等待补充材料")
    tick(at(2026, 11, 20, 9, 0))
    assert kinds(task) == []


@pytest.mark.django_db
@override_settings(
    HUB_FOLLOWUP_SMS_SENDER="tests.test_followup_timers.FailingSender",
    HUB_FOLLOWUP_MAX_ATTEMPTS=3,
    HUB_FOLLOWUP_RETRY_SECONDS=60,
)
def test_a_failing_sender_is_retried_with_back_off_then_recorded_as_failed(
    followup: Any,
) -> None:
    reset_senders()
    FailingSender.calls = []
    notice = Notice.objects.get(kind=K.PRIVATE_CODE, address="13812345678")  # hotline asker
    start = notice.next_attempt_at
    from datetime import timedelta

    tick(start)
    notice.refresh_from_db()
    assert (notice.status, notice.attempts) == (NoticeStatus.PENDING, 1)
    assert "SMS gateway unreachable" in notice.last_error
    assert notice.next_attempt_at == start + timedelta(seconds=60)
    tick(start + timedelta(seconds=30))  # not due yet
    assert FailingSender.calls.count(notice.pk) == 1
    tick(start + timedelta(seconds=60))
    tick(start + timedelta(seconds=60 + 120))
    notice.refresh_from_db()
    assert (notice.status, notice.attempts) == (NoticeStatus.FAILED, 3)
    tick(start + timedelta(days=1))
    assert FailingSender.calls.count(notice.pk) == 3  # a failed notice is not retried for ever

    from hub.followup.report import weekly_report

    report = weekly_report(start - timedelta(days=1), start + timedelta(days=7))
    assert notice.pk in [f.notice_id for f in report.failures]


@pytest.mark.django_db(transaction=True)
def test_two_workers_ticking_at_once_claim_and_send_each_step_once(
    users: dict[str, Any], make_session: Any, ask: Any
) -> None:
    from django.db import connection

    from tests.followup_steps import build_world

    w = build_world(users, make_session, ask)
    w.editor.email = "zhujian@example.gov.cn"
    w.editor.save()
    for key in ("lift", "bus"):
        with time_machine.travel(at(2026, 11, 2, 9, 0), tick=False):
            actions.do_assign_task(w.staff, w.tasks[key].pk, lead_department_id=w.housing.pk)
    RecordingSender.sent = []
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            tick(at(2026, 11, 6, 10, 0))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            close_old_connections()

    with override_settings(
        HUB_FOLLOWUP_EMAIL_SENDER="tests.test_followup_timers.RecordingSender",
        HUB_FOLLOWUP_SMS_SENDER="tests.test_followup_timers.RecordingSender",
        HUB_FOLLOWUP_LEADERSHIP_EMAILS=["lingdao@example.gov.cn"],
    ):
        reset_senders()
        threads = [threading.Thread(target=worker) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert not errors
    assert connection.vendor == "postgresql"  # the suite runs on PostgreSQL (row locks)
    assert len(RecordingSender.sent) == len(set(RecordingSender.sent))
    # accept level 1 + level 2, reply warning, for two tasks; plus the private-code SMS.
    claimed = Notice.objects.exclude(kind=K.PRIVATE_CODE)
    assert sorted(claimed.values_list("kind", flat=True)) == sorted(
        [K.ACCEPT_SUPERVISION_1, K.ACCEPT_SUPERVISION_2, K.REPLY_WARNING] * 2
    )
    # Every reminder was sent once (the private-code SMS are due later than this tick).
    assert sorted(RecordingSender.sent) == sorted(claimed.values_list("pk", flat=True))
    assert all(n.status == NoticeStatus.SENT for n in claimed)


@pytest.mark.django_db(transaction=True)
def test_the_embedded_timer_thread_runs_the_same_tick(
    users: dict[str, Any], make_session: Any, ask: Any
) -> None:
    """What ``make run`` does without Celery: a daemon thread calls tick() periodically."""
    import time
    from datetime import timedelta

    from django.utils import timezone

    from hub.followup.timers import start_embedded_timer, stop_embedded_timer
    from tests.followup_steps import build_world

    w = build_world(users, make_session, ask)
    long_ago = timezone.now() - timedelta(days=10)
    actions.do_assign_task(
        w.staff, w.tasks["lift"].pk, lead_department_id=w.housing.pk, now=long_ago
    )
    with override_settings(HUB_FOLLOWUP_EXTERNAL_BEAT=True):
        assert start_embedded_timer(0.05) is None  # a beat runs it elsewhere
    thread = start_embedded_timer(0.05)
    try:
        assert thread is not None and thread.daemon
        assert start_embedded_timer(0.05) is None  # once per process
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if Notice.objects.filter(kind=K.ACCEPT_SUPERVISION_2).exists():
                break
            time.sleep(0.05)
    finally:
        stop_embedded_timer()
    assert not thread.is_alive()
    task = refresh(w.tasks["lift"])
    assert task.supervision_level == 2
    assert Notice.objects.filter(task=task, kind=K.ACCEPT_SUPERVISION_2).count() == 1


@pytest.mark.django_db
def test_the_celery_beat_task_is_scheduled_and_runs_the_tick(followup: Any) -> None:
    from django.conf import settings

    from hub.followup.tasks import followup_tick

    entry = settings.CELERY_BEAT_SCHEDULE["followup-tick"]
    assert entry["task"] == followup_tick.name
    assert entry["schedule"] == settings.HUB_FOLLOWUP_TICK_SECONDS
    result = followup_tick.apply().get()
    assert set(result) == {"tasks_created", "notices_claimed", "notices_tried"}
    assert result["notices_tried"] >= 1  # the private-code SMS of the fixture were due
