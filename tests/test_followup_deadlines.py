"""Deadlines in working time, with frozen clocks: across the National Day holiday and its
make-up Saturday, paused while waiting for the citizen, extended, per session kind."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from hub.followup import actions, deadlines
from hub.followup.models import DeadlinePolicy
from hub.followup.presenters import is_overdue
from tests.followup_steps import refresh, reply_and_publish

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


def test_deadlines_skip_the_national_day_holiday_and_count_the_make_up_saturday(
    followup: Any,
) -> None:
    w = followup
    # Wednesday 30 September 2026, 16:30: one office hour left that day; 1-7 October are
    # holidays; Saturday 10 October is a make-up workday.
    with time_machine.travel(at(2026, 9, 30, 16, 30), tick=False):
        actions.do_assign_task(w.staff, w.tasks["lift"].pk, lead_department_id=w.housing.pk)
    task = refresh(w.tasks["lift"])
    # 3 working hours: 16:30-17:30 on 30 Sep, then 09:00-11:00 on Thursday 8 October.
    assert task.accept_deadline == at(2026, 10, 8, 11, 0)
    # 5 × 7 h (09:00-12:00, 13:30-17:30): 1 h (30 Sep) + 7 (8 Oct) + 7 (9 Oct) + 7 (Sat
    # 10 Oct, make-up workday) + 7 (12 Oct) + 6 on Tuesday 13 Oct → 16:30.
    assert task.reply_deadline == at(2026, 10, 13, 16, 30)
    assert task.reply_budget == timedelta(hours=35)


def test_the_accept_clock_stands_still_over_the_holiday(followup: Any) -> None:
    w = followup
    with time_machine.travel(at(2026, 9, 30, 16, 30), tick=False):
        actions.do_assign_task(w.staff, w.tasks["lift"].pk, lead_department_id=w.housing.pk)
    task = refresh(w.tasks["lift"])
    assert deadlines.accept_used(task, at(2026, 10, 5, 12, 0)) == timedelta(hours=1)
    assert not is_overdue(task, at(2026, 10, 7, 23, 0))
    assert is_overdue(task, at(2026, 10, 8, 11, 1))


def test_waiting_for_the_citizen_pauses_the_reply_clock_and_resuming_moves_the_deadline(
    followup: Any,
) -> None:
    w = followup
    with time_machine.travel(at(2026, 11, 2, 9, 0), tick=False):  # Monday
        actions.do_assign_task(w.staff, w.tasks["lift"].pk, lead_department_id=w.housing.pk)
        actions.do_accept_task(w.editor, w.tasks["lift"].pk)
    task = refresh(w.tasks["lift"])
    assert task.reply_deadline == at(2026, 11, 6, 17, 30)  # five full office days
    with time_machine.travel(at(2026, 11, 3, 9, 0), tick=False):  # Tuesday: one day used
        actions.do_wait_for_citizen(w.editor, task.pk, "请补充业主签字材料")
    task = refresh(task)
    assert task.reply_used == timedelta(hours=7)
    assert task.reply_deadline is None
    # Two days pass while paused: nothing is used.
    assert deadlines.reply_used(task, at(2026, 11, 5, 8, 0)) == timedelta(hours=7)
    with time_machine.travel(at(2026, 11, 5, 9, 0), tick=False):  # Thursday
        actions.do_resume_task(w.editor, task.pk, "材料已补齐")
    task = refresh(task)
    # 30 h left: Thu, Fri, Mon, Tue → Tuesday 10 November 17:30.
    assert task.reply_deadline == at(2026, 11, 10, 17, 30)
    assert deadlines.reply_remaining(task, at(2026, 11, 9, 17, 30)) == timedelta(hours=7)
    # A second pause banks only the new stretch.
    with time_machine.travel(at(2026, 11, 5, 12, 0), tick=False):
        actions.do_wait_for_citizen(w.editor, task.pk, "再次补充材料")
    assert refresh(task).reply_used == timedelta(hours=10)


def test_an_approved_extension_moves_the_deadline_by_working_days(followup: Any) -> None:
    w = followup
    with time_machine.travel(at(2026, 11, 2, 9, 0), tick=False):
        actions.do_assign_task(w.staff, w.tasks["lift"].pk, lead_department_id=w.housing.pk)
        actions.do_accept_task(w.editor, w.tasks["lift"].pk)
    with time_machine.travel(at(2026, 11, 4, 10, 0), tick=False):
        actions.do_request_extension(w.editor, w.tasks["lift"].pk, 5, "需要联合勘察")
        actions.do_approve_extension(w.staff, w.tasks["lift"].pk, 3)
    task = refresh(w.tasks["lift"])
    assert task.extension_days == 3
    # Was Friday 6 Nov 17:30; +3 working days → Wednesday 11 Nov 17:30.
    assert task.reply_deadline == at(2026, 11, 11, 17, 30)


def test_a_reply_after_the_deadline_is_recorded_as_late(followup: Any) -> None:
    w = followup
    with time_machine.travel(at(2026, 11, 2, 9, 0), tick=False):
        actions.do_assign_task(w.staff, w.tasks["lift"].pk, lead_department_id=w.housing.pk)
        actions.do_accept_task(w.editor, w.tasks["lift"].pk)
    with time_machine.travel(at(2026, 11, 9, 10, 0), tick=False):
        assert is_overdue(refresh(w.tasks["lift"]), at(2026, 11, 9, 10, 0))
        task = reply_and_publish(w)
    assert task.replied_on_time is False
    assert task.reply_used == timedelta(hours=36)
    assert is_overdue(task, at(2026, 11, 9, 10, 0))


def test_a_reply_within_the_deadline_is_on_time(followup: Any) -> None:
    w = followup
    with time_machine.travel(at(2026, 11, 2, 9, 0), tick=False):
        actions.do_assign_task(w.staff, w.tasks["lift"].pk, lead_department_id=w.housing.pk)
        actions.do_accept_task(w.editor, w.tasks["lift"].pk)
    with time_machine.travel(at(2026, 11, 6, 17, 0), tick=False):
        task = reply_and_publish(w)
    assert task.replied_on_time is True
    assert task.reply_clock_started_at is None


def test_deadlines_follow_the_policy_of_the_session_kind(followup: Any) -> None:
    w = followup
    DeadlinePolicy.objects.create(
        session_kind=w.session.kind, accept_hours=1, reply_days=2, max_reply_days=4
    )
    with time_machine.travel(at(2026, 11, 2, 9, 0), tick=False):
        actions.do_assign_task(w.staff, w.tasks["lift"].pk, lead_department_id=w.housing.pk)
        actions.do_accept_task(w.editor, w.tasks["lift"].pk)
    task = refresh(w.tasks["lift"])
    assert task.accept_deadline == at(2026, 11, 2, 10, 0)
    assert task.reply_deadline == at(2026, 11, 3, 17, 30)
    with pytest.raises(Exception) as refused:
        actions.do_request_extension(w.editor, task.pk, 3, "复杂")
    assert getattr(refused.value, "code", "") == "bad_days"
    actions.do_request_extension(w.editor, task.pk, 2, "复杂")


def test_reassignment_gives_the_new_department_fresh_clocks(followup: Any) -> None:
    w = followup
    with time_machine.travel(at(2026, 11, 2, 9, 0), tick=False):
        actions.do_assign_task(w.staff, w.tasks["lift"].pk, lead_department_id=w.housing.pk)
    with time_machine.travel(at(2026, 11, 3, 9, 0), tick=False):
        actions.do_return_task(w.editor, w.tasks["lift"].pk, "属于区政府职责")
    with time_machine.travel(at(2026, 11, 4, 9, 0), tick=False):
        actions.do_reassign_task(w.staff, w.tasks["lift"].pk, lead_department_id=w.county.pk)
    task = refresh(w.tasks["lift"])
    assert task.accept_deadline == at(2026, 11, 4, 12, 0)
    assert task.reply_deadline == at(2026, 11, 10, 17, 30)
    assert task.reply_used == timedelta(0)
