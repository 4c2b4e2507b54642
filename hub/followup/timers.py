"""The follow-up timers: one :func:`tick` drives warnings, supervision (督办) and delivery.

Celery beat runs it as ``hub.followup.tasks.followup_tick`` every
``HUB_FOLLOWUP_TICK_SECONDS``; the embedded default (``make run``: no worker, no beat) runs
the very same function from a daemon thread started by ``hub.serve``
(:func:`start_embedded_timer`) unless ``HUB_FOLLOWUP_EXTERNAL_BEAT`` says a beat runs.
Running both, or two beats, is harmless: every step is claimed exactly once.

Steps, per deadline generation of a task (see :class:`hub.followup.models.Notice`):

- accept clock (a dispatched task not yet accepted), and reply clock (dispatched, in
  progress or extension requested; paused while waiting for the citizen):
  ``*_warning`` to the department once ``warn_percent`` of the time is used (skipped
  when the task is already overdue), ``*_supervision_1`` to the department when the time
  is up (supervision level 1), ``*_supervision_2`` to the staff leadership
  ``escalate_hours`` of working time later (level 2).

Each step is decided and claimed inside a transaction holding the task's row lock
(skipped, not waited for, when an action holds it: the next tick sees it), so the
decision and the claim see the same state; supervision also raises the task's
``supervision_level`` and writes a public timeline event in that transaction.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from hub.followup import deadlines
from hub.followup.actions import _event, _message, create_missing_tasks
from hub.followup.models import (
    FollowUpTask,
    Notice,
    NoticeAudience,
    NoticeKind,
    TaskState,
)
from hub.followup.notify import claim_notice, deliver_due_notices

logger = logging.getLogger("hub.followup.timers")

K = NoticeKind
ACCEPT_STEPS = (K.ACCEPT_WARNING, K.ACCEPT_SUPERVISION_1, K.ACCEPT_SUPERVISION_2)
REPLY_STEPS = (K.REPLY_WARNING, K.REPLY_SUPERVISION_1, K.REPLY_SUPERVISION_2)
ACCEPT_CLOCK_STATES = frozenset({TaskState.DISPATCHED})
REPLY_CLOCK_STATES = frozenset(
    {TaskState.DISPATCHED, TaskState.IN_PROGRESS, TaskState.EXTENSION_REQUESTED}
)
SUPERVISION_LEVEL: dict[str, int] = {
    K.ACCEPT_SUPERVISION_1: 1,
    K.REPLY_SUPERVISION_1: 1,
    K.ACCEPT_SUPERVISION_2: 2,
    K.REPLY_SUPERVISION_2: 2,
}


@dataclass
class TickResult:
    tasks_created: int = 0
    notices_claimed: int = 0
    notices_tried: int = 0


def _due(
    used: timedelta, budget: timedelta, policy: deadlines.Policy, steps: tuple[str, str, str]
) -> list[str]:
    warning, level1, level2 = steps
    if used >= budget + policy.escalate_after:
        return [level1, level2]
    if used >= budget:
        return [level1]
    if used * 100 >= budget * policy.warn_percent:
        return [warning]
    return []


def due_steps(task: FollowUpTask, policy: deadlines.Policy, now: datetime) -> list[str]:
    """The reminder steps the task has reached by ``now`` (claimed or not)."""
    steps: list[str] = []
    if task.state in ACCEPT_CLOCK_STATES and task.dispatched_at is not None:
        steps += _due(deadlines.accept_used(task, now), policy.accept_budget, policy, ACCEPT_STEPS)
    if task.state in REPLY_CLOCK_STATES and task.reply_budget is not None:
        used = deadlines.reply_used(task, now)
        steps += _due(used, task.reply_budget, policy, REPLY_STEPS)
    return steps


_MESSAGES: dict[str, str] = {
    K.ACCEPT_WARNING: gettext_noop(
        "Reminder: follow-up task no. %(id)s (%(text)s) must be accepted by %(deadline)s."
    ),
    K.ACCEPT_SUPERVISION_1: gettext_noop(
        "Supervision (level 1): follow-up task no. %(id)s (%(text)s) was "
        "not accepted by %(deadline)s. Accept it now."
    ),
    K.ACCEPT_SUPERVISION_2: gettext_noop(
        "Supervision (level 2): %(department)s has still not accepted "
        "follow-up task no. %(id)s (%(text)s), due %(deadline)s."
    ),
    K.REPLY_WARNING: gettext_noop(
        "Reminder: follow-up task no. %(id)s (%(text)s) must be replied to by %(deadline)s."
    ),
    K.REPLY_SUPERVISION_1: gettext_noop(
        "Supervision (level 1): the reply to follow-up task no. %(id)s "
        "(%(text)s) is overdue (due %(deadline)s). Reply now."
    ),
    K.REPLY_SUPERVISION_2: gettext_noop(
        "Supervision (level 2): %(department)s has still not replied to "
        "follow-up task no. %(id)s (%(text)s), due %(deadline)s."
    ),
}


def _claim_step(task: FollowUpTask, kind: str, now: datetime) -> bool:
    level = SUPERVISION_LEVEL.get(kind, 0)
    deadline = task.accept_deadline if kind in ACCEPT_STEPS else task.reply_deadline
    department = task.lead_department
    message = _message(
        _MESSAGES[kind],
        id=task.pk,
        text=task.public_text[:40],
        deadline=timezone.localtime(deadline).strftime("%Y-%m-%d %H:%M") if deadline else "-",
        department=department.name if department else "-",
    )
    notice = claim_notice(
        task,
        kind,
        generation=task.deadline_generation,
        audience=NoticeAudience.LEADERSHIP if level == 2 else NoticeAudience.DEPARTMENT,
        department=department,
        message=message,
        now=now,
    )
    if notice is None:
        return False
    if level:
        if level > task.supervision_level:
            task.supervision_level = level
            task.updated_at = now
            task.save(update_fields=["supervision_level", "updated_at"])
        _event(
            task,
            None,
            f"supervision_{level}",
            now,
            from_state=task.state,
            note=kind,
            public=True,
            department=department,
            system_label="timer",
        )
    return True


def plan_reminders(now: datetime) -> int:
    """Claim every reminder step that is due and not claimed yet; how many were claimed."""
    claimed = 0
    policies: dict[str, deadlines.Policy] = {}
    candidates = (
        FollowUpTask.objects.filter(state__in=ACCEPT_CLOCK_STATES | REPLY_CLOCK_STATES)
        .select_related("session")
        .only(
            "pk",
            "state",
            "dispatched_at",
            "accepted_at",
            "reply_budget",
            "reply_used",
            "reply_clock_started_at",
            "deadline_generation",
            "session__kind",
        )
    )
    for snapshot in candidates.iterator():
        kind = snapshot.session.kind
        policy = policies.get(kind) or policies.setdefault(kind, deadlines.policy_for_kind(kind))
        steps = due_steps(snapshot, policy, now)
        if not steps:
            continue
        done = set(
            Notice.objects.filter(
                task_id=snapshot.pk, generation=snapshot.deadline_generation, kind__in=steps
            ).values_list("kind", flat=True)
        )
        if done.issuperset(steps):
            continue
        with transaction.atomic():
            task = (
                FollowUpTask.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("session", "lead_department")
                .filter(pk=snapshot.pk)
                .first()
            )
            if task is None:
                continue  # an action holds it; the next tick looks again
            for step in due_steps(task, policy, now):
                claimed += _claim_step(task, step, now)
    return claimed


def tick(now: datetime | None = None) -> TickResult:
    """One pass: create missing tasks, claim due reminders, send due notices."""
    now = now or timezone.now()
    result = TickResult()
    result.tasks_created = create_missing_tasks(now=now)
    result.notices_claimed = plan_reminders(now)
    result.notices_tried = deliver_due_notices(now)
    return result


# --- the embedded loop ----------------------------------------------------------------------

_embedded_lock = threading.Lock()
_embedded: tuple[threading.Thread, threading.Event] | None = None


def _loop(stop: threading.Event, interval: float) -> None:
    while not stop.wait(interval):
        close_old_connections()
        try:
            result = tick()
            if result.notices_claimed or result.tasks_created:
                logger.info("follow-up tick: %s", result)
        except Exception:  # a failing tick must not end the loop; the next one retries
            logger.exception("follow-up tick failed")
        finally:
            close_old_connections()


def start_embedded_timer(interval: float | None = None) -> threading.Thread | None:
    """Start the daemon thread that runs :func:`tick` every ``interval`` seconds (default
    ``HUB_FOLLOWUP_TICK_SECONDS``), once per process. Returns None when it is disabled
    (``HUB_FOLLOWUP_EXTERNAL_BEAT``) or already running. The thread never touches the
    server's event loop: it only uses the ORM, with its own database connection."""
    global _embedded
    if settings.HUB_FOLLOWUP_EXTERNAL_BEAT:
        return None
    with _embedded_lock:
        if _embedded is not None and _embedded[0].is_alive():
            return None
        stop = threading.Event()
        thread = threading.Thread(
            target=_loop,
            args=(stop, interval or settings.HUB_FOLLOWUP_TICK_SECONDS),
            name="followup-timer",
            daemon=True,
        )
        thread.start()
        _embedded = (thread, stop)
        return thread


def stop_embedded_timer() -> None:
    global _embedded
    with _embedded_lock:
        if _embedded is not None:
            _embedded[1].set()
            _embedded[0].join(timeout=5)
            _embedded = None
