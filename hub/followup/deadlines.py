"""Deadlines of a task, counted in working time (:mod:`hub.workcalendar.working_time`).

The two clocks (see :class:`hub.followup.models.FollowUpTask`):

- **accept clock**: ``accept_hours`` of working time from the dispatch;
- **reply clock**: ``reply_days`` working days of working time (a *budget*) from the
  dispatch, paused while the task waits for the citizen, raised by approved extensions
  up to ``max_reply_days`` in total, stopped when a reply is published.

The clock is stored, never recomputed from history: ``reply_used`` is the working time
consumed by finished stretches and ``reply_clock_started_at`` the start of the running
one. Pausing adds the running stretch to ``reply_used``; resuming starts a new stretch
and moves ``reply_deadline`` to ``add_working_time(resume, budget - used)``. Every
function here takes ``now`` from its caller (one clock read per operation) and only
changes the task object in memory: the calling action saves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.followup.models import (
    DEFAULT_ACCEPT_HOURS,
    DEFAULT_ESCALATE_HOURS,
    DEFAULT_MAX_REPLY_DAYS,
    DEFAULT_REPLY_DAYS,
    DEFAULT_WARN_PERCENT,
    DeadlinePolicy,
    FollowUpTask,
)
from hub.workcalendar.working_time import (
    add_working_time,
    default_office_hours,
    working_time_between,
)

ZERO = timedelta(0)


@dataclass(frozen=True)
class Policy:
    """The deadlines that apply to one task (from its session's kind)."""

    accept_hours: int = DEFAULT_ACCEPT_HOURS
    reply_days: int = DEFAULT_REPLY_DAYS
    max_reply_days: int = DEFAULT_MAX_REPLY_DAYS
    warn_percent: int = DEFAULT_WARN_PERCENT
    escalate_hours: int = DEFAULT_ESCALATE_HOURS

    @property
    def accept_budget(self) -> timedelta:
        return timedelta(hours=self.accept_hours)

    @property
    def reply_budget(self) -> timedelta:
        return self.reply_days * default_office_hours().per_day

    @property
    def max_reply_budget(self) -> timedelta:
        return self.max_reply_days * default_office_hours().per_day

    @property
    def escalate_after(self) -> timedelta:
        return timedelta(hours=self.escalate_hours)


def policy_for_kind(session_kind: str) -> Policy:
    """The staff-edited policy of this kind of session, or the defaults."""
    row = DeadlinePolicy.objects.filter(session_kind=session_kind).first()
    if row is None:
        return Policy()
    return Policy(
        accept_hours=row.accept_hours,
        reply_days=row.reply_days,
        max_reply_days=row.max_reply_days,
        warn_percent=row.warn_percent,
        escalate_hours=row.escalate_hours,
    )


def policy_for(task: FollowUpTask) -> Policy:
    return policy_for_kind(task.session.kind)


def working_days(amount: timedelta) -> float:
    """A working-time amount in working days (7 h each with the default hours)."""
    return amount / default_office_hours().per_day


# --- accept clock -------------------------------------------------------------------


def accept_used(task: FollowUpTask, now: datetime) -> timedelta:
    """Working time since the dispatch (up to the acceptance, if accepted)."""
    if task.dispatched_at is None:
        return ZERO
    end = task.accepted_at or now
    return working_time_between(task.dispatched_at, end)


# --- reply clock --------------------------------------------------------------------


def reply_used(task: FollowUpTask, now: datetime) -> timedelta:
    """Working time the reply clock has consumed by ``now``."""
    used = task.reply_used or ZERO
    if task.reply_clock_started_at is not None:
        used += working_time_between(task.reply_clock_started_at, now)
    return used


def reply_remaining(task: FollowUpTask, now: datetime) -> timedelta | None:
    """Working time left before the reply deadline (negative when overdue)."""
    if task.reply_budget is None:
        return None
    return task.reply_budget - reply_used(task, now)


def _deadline_from(task: FollowUpTask, start: datetime) -> datetime:
    remaining = (task.reply_budget or ZERO) - (task.reply_used or ZERO)
    # Already overdue when the clock (re)starts: the deadline is behind us; show the
    # restart instant rather than invent a past date (the overdue reminders are driven
    # by the used time, not by this field).
    return add_working_time(start, max(remaining, ZERO))


def start_clocks(task: FollowUpTask, policy: Policy, now: datetime) -> None:
    """A (re)dispatch: fresh accept and reply clocks for the new department."""
    task.dispatched_at = now
    task.accepted_at = None
    task.accept_deadline = add_working_time(now, policy.accept_budget)
    task.reply_budget = policy.reply_budget
    task.extension_days = 0
    task.requested_extension_days = 0
    task.reply_used = ZERO
    task.reply_clock_started_at = now
    task.reply_deadline = _deadline_from(task, now)
    task.deadline_generation += 1
    task.supervision_level = 0


def stop_clocks(task: FollowUpTask, now: datetime) -> None:
    """The department is off the task (returned): nothing runs until it is reassigned."""
    pause_reply_clock(task, now)
    task.accept_deadline = None


def pause_reply_clock(task: FollowUpTask, now: datetime) -> None:
    """Bank the running stretch; no deadline while paused. Idempotent."""
    if task.reply_clock_started_at is not None:
        task.reply_used = reply_used(task, now)
        task.reply_clock_started_at = None
    task.reply_deadline = None


def resume_reply_clock(task: FollowUpTask, now: datetime) -> None:
    """Start a new stretch; the deadline moves by the paused working time."""
    if task.reply_clock_started_at is None:
        task.reply_clock_started_at = now
    task.reply_deadline = _deadline_from(task, task.reply_clock_started_at)


def extend_reply_budget(task: FollowUpTask, days: int, now: datetime) -> None:
    """An approved extension: ``days`` more working days; a new deadline generation
    (so the new deadline gets its own warning and supervision steps)."""
    running = task.reply_clock_started_at is not None
    pause_reply_clock(task, now)
    task.reply_budget = (task.reply_budget or ZERO) + days * default_office_hours().per_day
    task.extension_days += days
    task.deadline_generation += 1
    task.supervision_level = 0
    if running:
        resume_reply_clock(task, now)


def restart_reply_clock(task: FollowUpTask, policy: Policy, now: datetime) -> None:
    """A reopened task (重办): a fresh reply budget, running from now."""
    task.reply_budget = policy.reply_budget
    task.extension_days = 0
    task.requested_extension_days = 0
    task.reply_used = ZERO
    task.reply_clock_started_at = now
    task.reply_deadline = _deadline_from(task, now)
    task.deadline_generation += 1
    task.supervision_level = 0


def max_extension_days(task: FollowUpTask, policy: Policy) -> int:
    """How many more working days an extension may add (total ≤ ``max_reply_days``)."""
    budget_days = working_days(task.reply_budget or ZERO)
    return max(0, round(policy.max_reply_days - budget_days))
