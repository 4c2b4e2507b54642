"""The weekly report (专报) as data, for any period ``[start, end)``; rendering (HTML,
PDF, XLSX) is the public pages' job.

Contents of :class:`WeeklyReport`:

- ``tasks_created`` and ``askers`` in the period, by channel (``by_channel``: tasks by the
  channel of the question that started them; ``askers_by_channel``: every asker of those
  tasks, merged repeats included) and by sector;
- ``by_department``: the KPI rows of :mod:`hub.followup.kpis` for the period, and
  ``totals``;
- ``hot_topics``: keywords of the period's tasks (jieba TF-IDF as in
  :mod:`moderation.hotwords`, our stop words), each task weighted by its number of askers,
  normalised to the hottest (1.0). Private tasks count too (their words, never their text,
  appear), so the leadership sees what people ask even when they asked privately;
- ``good_cases``: tasks replied in the period on time whose askers' evaluations are all
  satisfied or basically satisfied (at least one), fastest reply first;
- ``bad_cases``: tasks with a supervision step, an unsatisfied evaluation, a tone-check
  override or a return in the period, each with its reasons;
- ``overdue``: open tasks overdue now, most overdue first;
- ``failures``: notices that could not be sent after every retry (persistent failures),
  every one raised before the end of the period (they stay until staff deal with them).

Case texts are the public texts (masked); private tasks appear in case lists with their
number and department only (``text`` empty).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from hub.followup import deadlines
from hub.followup.kpis import DepartmentKpis, department_kpis, totals
from hub.followup.models import (
    SUPERVISION_KINDS,
    Evaluation,
    FollowUpTask,
    Notice,
    NoticeStatus,
    Satisfaction,
    TaskAsker,
    TaskEvent,
    TaskReply,
    TaskState,
)
from hub.followup.presenters import is_overdue, sector_label
from hub.lib.personal_data import mask_personal_data

HOT_TOPICS = 20
CASES = 10


@dataclass
class CaseEntry:
    task_id: int
    text: str
    department: str
    state: str
    reasons: list[str] = field(default_factory=list)
    reply_working_days: float | None = None


@dataclass
class OverdueEntry:
    task_id: int
    text: str
    department: str
    state: str
    overdue_working_days: float
    supervision_level: int


@dataclass
class FailureEntry:
    notice_id: int
    task_id: int
    kind: str
    audience: str
    channel: str
    attempts: int
    last_error: str
    created_at: datetime


@dataclass
class WeeklyReport:
    start: datetime
    end: datetime
    generated_at: datetime
    tasks_created: int
    askers: int
    by_channel: dict[str, int]
    askers_by_channel: dict[str, int]
    by_sector: dict[str, dict[str, object]]
    by_department: list[DepartmentKpis]
    totals: DepartmentKpis
    hot_topics: list[tuple[str, float]]
    good_cases: list[CaseEntry]
    bad_cases: list[CaseEntry]
    overdue: list[OverdueEntry]
    failures: list[FailureEntry]


def _text(task: FollowUpTask) -> str:
    """The text a report shows of a task: the public text, masked (reports travel to
    departments and the leadership, and may be published); "" for a private task."""
    return mask_personal_data(task.public_text) if task.is_public else ""


def _department(task: FollowUpTask) -> str:
    return task.lead_department.name if task.lead_department else ""


def hot_topics(tasks: list[FollowUpTask], limit: int = HOT_TOPICS) -> list[tuple[str, float]]:
    from moderation.hotwords import keywords

    heat: dict[str, float] = defaultdict(float)
    for task in tasks:
        for word, weight in keywords(mask_personal_data(task.public_text)):
            heat[word] += weight * task.askers_count
    top = sorted(heat.items(), key=lambda item: (-item[1], item[0]))[:limit]
    if not top:
        return []
    hottest = top[0][1] or 1.0
    return [(word, round(value / hottest, 3)) for word, value in top]


def _good_cases(start: datetime, end: datetime) -> list[CaseEntry]:
    replied = (
        FollowUpTask.objects.filter(replied_at__gte=start, replied_at__lt=end, replied_on_time=True)
        .select_related("lead_department")
        .order_by("replied_at")
    )
    verdicts: dict[int, list[str]] = defaultdict(list)
    for task_id, satisfaction in Evaluation.objects.filter(task__in=replied).values_list(
        "task_id", "satisfaction"
    ):
        verdicts[task_id].append(satisfaction)
    good = []
    for task in replied:
        marks = verdicts.get(task.pk, [])
        if not marks or Satisfaction.UNSATISFIED in marks:
            continue
        used = deadlines.working_days(task.reply_used)
        good.append(
            CaseEntry(
                task_id=task.pk,
                text=_text(task),
                department=_department(task),
                state=task.state,
                reasons=[f"{m}" for m in marks],
                reply_working_days=round(used, 2),
            )
        )
    good.sort(key=lambda c: (c.reply_working_days or 0.0, c.task_id))
    return good[:CASES]


def _bad_cases(start: datetime, end: datetime) -> list[CaseEntry]:
    reasons: dict[int, list[str]] = defaultdict(list)
    for task_id, kind in Notice.objects.filter(
        kind__in=SUPERVISION_KINDS, created_at__gte=start, created_at__lt=end
    ).values_list("task_id", "kind"):
        reasons[task_id].append(kind)
    for task_id in Evaluation.objects.filter(
        satisfaction=Satisfaction.UNSATISFIED, at__gte=start, at__lt=end
    ).values_list("task_id", flat=True):
        reasons[task_id].append("unsatisfied")
    for task_id in TaskReply.objects.filter(
        tone_override_at__gte=start, tone_override_at__lt=end
    ).values_list("task_id", flat=True):
        reasons[task_id].append("tone_override")
    for task_id in TaskEvent.objects.filter(action="return", at__gte=start, at__lt=end).values_list(
        "task_id", flat=True
    ):
        reasons[task_id].append("returned")
    tasks = FollowUpTask.objects.filter(pk__in=reasons).select_related("lead_department")
    cases = [
        CaseEntry(
            task_id=t.pk,
            text=_text(t),
            department=_department(t),
            state=t.state,
            reasons=sorted(set(reasons[t.pk]), key=reasons[t.pk].index),
        )
        for t in tasks
    ]
    cases.sort(key=lambda c: (-len(c.reasons), c.task_id))
    return cases[:CASES]


def _overdue(now: datetime) -> list[OverdueEntry]:
    rows = []
    open_tasks = FollowUpTask.objects.filter(
        state__in=[
            TaskState.DISPATCHED,
            TaskState.IN_PROGRESS,
            TaskState.WAITING_CITIZEN,
            TaskState.EXTENSION_REQUESTED,
        ]
    ).select_related("lead_department")
    for task in open_tasks:
        if not is_overdue(task, now):
            continue
        remaining = deadlines.reply_remaining(task, now)
        late = -remaining if remaining is not None and remaining.total_seconds() < 0 else None
        rows.append(
            OverdueEntry(
                task_id=task.pk,
                text=_text(task),
                department=_department(task),
                state=task.state,
                overdue_working_days=round(deadlines.working_days(late), 2) if late else 0.0,
                supervision_level=task.supervision_level,
            )
        )
    rows.sort(key=lambda r: (-r.overdue_working_days, r.task_id))
    return rows


def _failures(end: datetime) -> list[FailureEntry]:
    # A failure stays on every report until it is dealt with (re-sent or removed in the
    # admin): persistent failures must not vanish with the week they happened in.
    failed = Notice.objects.filter(status=NoticeStatus.FAILED, created_at__lt=end)
    return [
        FailureEntry(
            notice_id=n.pk,
            task_id=n.task_id,
            kind=n.kind,
            audience=n.audience,
            channel=n.channel,
            attempts=n.attempts,
            last_error=n.last_error,
            created_at=n.created_at,
        )
        for n in failed.order_by("created_at", "id")
    ]


def weekly_report(start: datetime, end: datetime, *, now: datetime | None = None) -> WeeklyReport:
    """Build the report for ``[start, end)`` (aware datetimes; normally a Monday-to-Monday
    week). ``now`` decides which open tasks are overdue (default: the present)."""
    now = now or timezone.now()
    created = list(
        FollowUpTask.objects.filter(created_at__gte=start, created_at__lt=end).select_related(
            "lead_department"
        )
    )
    by_channel = Counter(t.channel for t in created)
    askers_by_channel = Counter(
        TaskAsker.objects.filter(task__in=[t.pk for t in created]).values_list(
            "question__channel", flat=True
        )
    )
    sectors = Counter(t.sector for t in created)
    by_sector = {
        code: {"label": sector_label(code), "tasks": n} for code, n in sectors.most_common()
    }
    rows = department_kpis(start, end, now=now)
    return WeeklyReport(
        start=start,
        end=end,
        generated_at=now,
        tasks_created=len(created),
        askers=sum(t.askers_count for t in created),
        by_channel=dict(by_channel),
        askers_by_channel=dict(askers_by_channel),
        by_sector=by_sector,
        by_department=rows,
        totals=totals(rows),
        hot_topics=hot_topics(created),
        good_cases=_good_cases(start, end),
        bad_cases=_bad_cases(start, end),
        overdue=_overdue(now),
        failures=_failures(end),
    )
