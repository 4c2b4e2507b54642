"""Key figures per department for any period (the public department pages and the weekly
report print these definitions next to the numbers: :data:`DEFINITIONS`).

Every figure is computed over a half-open period ``[start, end)`` of aware datetimes and
attributed to the department that held the task *as lead department*; assisting
departments are not credited or blamed. A rate whose denominator is 0 is ``None`` (shown
as "—", never as 0% or 100%).

- **assigned** (交办数): tasks whose lead department is D and whose latest dispatch
  (``dispatched_at``: assignment or reassignment to D) falls in the period. A task D
  returned is no longer D's (its lead is cleared) and counts under ``returned``.
- **closed** (办结数): of the assigned tasks, those closed — resolved or unresolved —
  before the end of the period.
- **办结率 completion rate** = closed / assigned.
- **按时办结率 on-time rate** = closed tasks whose (latest) reply was published within the
  reply deadline in force (working time used ≤ the budget, extensions included) / closed.
- **解决率 resolution rate** = evaluations answering "resolved: yes" / evaluations. "Partly"
  is *not* counted as resolved (it is reported separately as ``resolved_partly``): a
  citizen who says the problem is only partly solved still has a problem.
- **满意率 satisfaction rate** = evaluations "满意 satisfied" + "基本满意 basically
  satisfied" / evaluations (the 回访满意率 of the 12345 reports).
  Evaluations are those by askers (private code or hotline callback) made in the period
  on replies of D; each asker rates each reply at most once.
- **退单率 return rate** = returns by D in the period / dispatches to D in the period
  (every assignment or reassignment to D counts as one dispatch).
- **overdue**: ``accept_overdue`` and ``reply_overdue`` count level-1 supervision steps
  (督办, a task not accepted or not replied to in time) raised against D in the period;
  ``overdue_now`` counts D's open tasks that are overdue at the moment of computation.
- **supervision history**: every supervision step (level 1: notice to D; level 2:
  reported to the leadership) raised against D in the period, oldest first.
- **reopened** (重办): tasks of D reopened in the period after an unsatisfying reply.
- **public votes** (网上评议): votes by the public on D's replies cast in the period, one per
  browser and reply.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from hub.followup.models import (
    CLOSED_STATES,
    SUPERVISION_KINDS,
    Evaluation,
    FollowUpTask,
    Notice,
    NoticeKind,
    PublicVote,
    Resolution,
    Satisfaction,
    TaskEvent,
    TaskState,
)
from hub.followup.presenters import is_overdue
from hub.models import Department

#: (label, definition) of each figure, for pages and reports.
DEFINITIONS: dict[str, tuple[Any, Any]] = {
    "completion_rate": (
        _("Completion rate (办结率)"),
        _(
            "Tasks closed (resolved or not) by the end of the period, out of the tasks "
            "assigned to the department in the period."
        ),
    ),
    "on_time_rate": (
        _("On-time rate (按时办结率)"),
        _(
            "Closed tasks whose reply was published within the reply deadline (working "
            "days, approved extensions included), out of the closed tasks."
        ),
    ),
    "resolution_rate": (
        _("Resolution rate (解决率)"),
        _(
            "Askers' evaluations in the period answering 'resolved', out of all their "
            "evaluations. 'Partly resolved' does not count as resolved."
        ),
    ),
    "satisfaction_rate": (
        _("Satisfaction rate (满意率)"),
        _(
            "Askers' evaluations in the period that are 'satisfied' or 'basically "
            "satisfied', out of all their evaluations."
        ),
    ),
    "return_rate": (
        _("Return rate (退单率)"),
        _("Tasks the department returned in the period, out of the tasks dispatched to it."),
    ),
    "overdue": (
        _("Overdue (超期)"),
        _(
            "Supervision steps raised in the period because a task was not accepted (3 "
            "working hours) or not replied to (5 working days, or as extended) in time; "
            "and the department's open tasks overdue right now."
        ),
    ),
    "reopened": (
        _("Reopened (重办)"),
        _("Tasks reopened in the period after the asker found the reply unresolved."),
    ),
}


@dataclass(frozen=True)
class SupervisionEntry:
    task_id: int
    level: int
    kind: str
    at: datetime


@dataclass
class DepartmentKpis:
    department_id: int | None
    department_name: str
    level: str
    assigned: int = 0
    closed: int = 0
    closed_on_time: int = 0
    dispatched: int = 0
    returned: int = 0
    evaluated: int = 0
    resolved_yes: int = 0
    resolved_partly: int = 0
    resolved_no: int = 0
    satisfied: int = 0
    basically_satisfied: int = 0
    unsatisfied: int = 0
    accept_overdue: int = 0
    reply_overdue: int = 0
    overdue_now: int = 0
    reopened: int = 0
    votes: dict[str, int] = field(default_factory=dict)
    supervisions: list[SupervisionEntry] = field(default_factory=list)

    @staticmethod
    def _rate(numerator: int, denominator: int) -> float | None:
        return None if denominator == 0 else numerator / denominator

    @property
    def completion_rate(self) -> float | None:
        return self._rate(self.closed, self.assigned)

    @property
    def on_time_rate(self) -> float | None:
        return self._rate(self.closed_on_time, self.closed)

    @property
    def resolution_rate(self) -> float | None:
        return self._rate(self.resolved_yes, self.evaluated)

    @property
    def satisfaction_rate(self) -> float | None:
        return self._rate(self.satisfied + self.basically_satisfied, self.evaluated)

    @property
    def return_rate(self) -> float | None:
        return self._rate(self.returned, self.dispatched)

    def as_dict(self) -> dict[str, object]:
        """Plain values (rates as fractions or None), for JSON and templates."""
        return {
            "department_id": self.department_id,
            "department": self.department_name,
            "level": self.level,
            "assigned": self.assigned,
            "closed": self.closed,
            "closed_on_time": self.closed_on_time,
            "dispatched": self.dispatched,
            "returned": self.returned,
            "evaluated": self.evaluated,
            "resolved_yes": self.resolved_yes,
            "resolved_partly": self.resolved_partly,
            "resolved_no": self.resolved_no,
            "satisfied": self.satisfied,
            "basically_satisfied": self.basically_satisfied,
            "unsatisfied": self.unsatisfied,
            "accept_overdue": self.accept_overdue,
            "reply_overdue": self.reply_overdue,
            "overdue_now": self.overdue_now,
            "reopened": self.reopened,
            "votes": dict(self.votes),
            "completion_rate": self.completion_rate,
            "on_time_rate": self.on_time_rate,
            "resolution_rate": self.resolution_rate,
            "satisfaction_rate": self.satisfaction_rate,
            "return_rate": self.return_rate,
            "supervisions": [
                {"task": s.task_id, "level": s.level, "kind": s.kind, "at": s.at}
                for s in self.supervisions
            ],
        }


_LEVEL: dict[str, int] = {
    NoticeKind.ACCEPT_SUPERVISION_1: 1,
    NoticeKind.REPLY_SUPERVISION_1: 1,
    NoticeKind.ACCEPT_SUPERVISION_2: 2,
    NoticeKind.REPLY_SUPERVISION_2: 2,
}


def department_kpis(
    start: datetime,
    end: datetime,
    *,
    departments: list[Department] | None = None,
    now: datetime | None = None,
) -> list[DepartmentKpis]:
    """The figures of every department (or the given ones) for ``[start, end)``, in
    department order (level, then name). See the module docstring for the definitions."""
    now = now or timezone.now()
    if departments is None:
        departments = list(Department.objects.order_by("level", "name"))
    rows = {
        d.pk: DepartmentKpis(department_id=d.pk, department_name=d.name, level=d.level)
        for d in departments
    }
    ids = list(rows)

    assigned = FollowUpTask.objects.filter(
        lead_department_id__in=ids, dispatched_at__gte=start, dispatched_at__lt=end
    ).values_list("lead_department_id", "state", "closed_at", "replied_on_time")
    for dept, state, closed_at, on_time in assigned:
        row = rows[dept]
        row.assigned += 1
        if state in CLOSED_STATES and closed_at is not None and closed_at < end:
            row.closed += 1
            row.closed_on_time += bool(on_time)

    events = TaskEvent.objects.filter(
        department_id__in=ids,
        at__gte=start,
        at__lt=end,
        action__in=["assign", "reassign", "return", "reopen"],
    ).values_list("department_id", "action")
    for dept, action in events:
        row = rows[dept]
        if action == "return":
            row.returned += 1
        elif action == "reopen":
            row.reopened += 1
        else:
            row.dispatched += 1

    evaluations = Evaluation.objects.filter(
        department_id__in=ids, at__gte=start, at__lt=end
    ).values_list("department_id", "resolved", "satisfaction")
    for dept, resolved, satisfaction in evaluations:
        row = rows[dept]
        row.evaluated += 1
        row.resolved_yes += resolved == Resolution.YES
        row.resolved_partly += resolved == Resolution.PARTLY
        row.resolved_no += resolved == Resolution.NO
        row.satisfied += satisfaction == Satisfaction.SATISFIED
        row.basically_satisfied += satisfaction == Satisfaction.BASIC
        row.unsatisfied += satisfaction == Satisfaction.UNSATISFIED

    supervisions = (
        Notice.objects.filter(
            department_id__in=ids,
            kind__in=SUPERVISION_KINDS,
            created_at__gte=start,
            created_at__lt=end,
        )
        .order_by("created_at", "id")
        .values_list("department_id", "task_id", "kind", "created_at")
    )
    for dept, task_id, kind, at in supervisions:
        row = rows[dept]
        row.supervisions.append(SupervisionEntry(task_id, _LEVEL[kind], kind, at))
        if kind == NoticeKind.ACCEPT_SUPERVISION_1:
            row.accept_overdue += 1
        elif kind == NoticeKind.REPLY_SUPERVISION_1:
            row.reply_overdue += 1

    open_tasks = FollowUpTask.objects.filter(
        lead_department_id__in=ids,
        state__in=[
            TaskState.DISPATCHED,
            TaskState.IN_PROGRESS,
            TaskState.WAITING_CITIZEN,
            TaskState.EXTENSION_REQUESTED,
        ],
    )
    for task in open_tasks:
        if task.lead_department_id is not None and is_overdue(task, now):
            rows[task.lead_department_id].overdue_now += 1

    votes: dict[int, Counter[str]] = defaultdict(Counter)
    for dept, verdict in PublicVote.objects.filter(
        department_id__in=ids, at__gte=start, at__lt=end
    ).values_list("department_id", "verdict"):
        votes[dept][verdict] += 1
    for dept, counter in votes.items():
        rows[dept].votes = {v: counter.get(v, 0) for v in Satisfaction.values}
    for row in rows.values():
        if not row.votes:
            row.votes = {v: 0 for v in Satisfaction.values}

    return [rows[d.pk] for d in departments]


def totals(rows: list[DepartmentKpis]) -> DepartmentKpis:
    """The whole city: the sums of the departments' counts (rates recomputed from them)."""
    total = DepartmentKpis(department_id=None, department_name=str(_("All departments")), level="")
    for row in rows:
        for name in (
            "assigned",
            "closed",
            "closed_on_time",
            "dispatched",
            "returned",
            "evaluated",
            "resolved_yes",
            "resolved_partly",
            "resolved_no",
            "satisfied",
            "basically_satisfied",
            "unsatisfied",
            "accept_overdue",
            "reply_overdue",
            "overdue_now",
            "reopened",
        ):
            setattr(total, name, getattr(total, name) + getattr(row, name))
        for verdict, n in row.votes.items():
            total.votes[verdict] = total.votes.get(verdict, 0) + n
        total.supervisions.extend(row.supervisions)
    total.supervisions.sort(key=lambda s: s.at)
    return total
