"""Which department should take a task (梳理交办): a ranked suggestion for staff.

Score of a department ``d`` for a task of sector ``s`` (higher first; ties by name):

- **past assignments** — ``3 × resolved + 1 × other`` over earlier tasks of sector ``s``
  that ended with ``d`` as lead department and were not returned by it (closed resolved
  counts three times: a department that solves such cases is the better guess);
- **returns** — ``−2`` for each task of sector ``s`` that ``d`` returned (退单: "not ours");
- **name** — ``+2`` when the department's name contains a keyword of the sector
  (教育 for education, 住房/住建 for housing …), so a fresh installation suggests sensibly;
- **session** — ``+1`` when ``d`` is one of the session's responsible departments.

Only departments with a positive score are suggested, at most ``limit``.
"""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Count, Q
from django.utils.translation import gettext as _

from hub.followup.models import FollowUpTask, TaskEvent, TaskState
from hub.models import Department

SECTOR_NAME_KEYWORDS: dict[str, tuple[str, ...]] = {
    "education": ("教育",),
    "housing": ("住房", "住建", "城乡建设", "房产", "不动产"),
    "labour": ("人力资源", "人社", "社会保障", "医疗保障"),
    "security": ("公安",),
    "transport": ("交通", "公交", "运输"),
    "environment": ("生态环境", "环保", "环境"),
    "health": ("卫生", "健康", "医疗"),
    "market": ("市场监督", "市场监管"),
    "civil": ("民政",),
    "agriculture": ("农业", "农村", "水利"),
}


def suggest_departments(
    task: FollowUpTask, *, limit: int = 3
) -> list[tuple[Department, float, list[str]]]:
    """Ranked (department, score, reasons) for the task."""
    scores: dict[int, float] = defaultdict(float)
    reasons: dict[int, list[str]] = defaultdict(list)
    past = (
        FollowUpTask.objects.filter(sector=task.sector, lead_department__isnull=False)
        .exclude(pk=task.pk)
        .values("lead_department")
        .annotate(
            resolved=Count("id", filter=Q(state=TaskState.CLOSED_RESOLVED)),
            total=Count("id"),
        )
    )
    for row in past:
        dept = row["lead_department"]
        scores[dept] += 3 * row["resolved"] + (row["total"] - row["resolved"])
        reasons[dept].append(
            _("handled %(n)s earlier task(s) of this sector") % {"n": row["total"]}
        )
    returns = (
        TaskEvent.objects.filter(action="return", task__sector=task.sector)
        .exclude(task=task)
        .values("department")
        .annotate(n=Count("id"))
    )
    for row in returns:
        if row["department"] is not None:
            scores[row["department"]] -= 2 * row["n"]
            reasons[row["department"]].append(
                _("returned %(n)s task(s) of this sector") % {"n": row["n"]}
            )
    keywords = SECTOR_NAME_KEYWORDS.get(task.sector, ())
    session_departments = set(task.session.departments.values_list("pk", flat=True))
    departments = {d.pk: d for d in Department.objects.all()}
    for dept in departments.values():
        if keywords and any(k in dept.name for k in keywords):
            scores[dept.pk] += 2
            reasons[dept.pk].append(_("its name matches the sector"))
        if dept.pk in session_departments:
            scores[dept.pk] += 1
            reasons[dept.pk].append(_("responsible department of the session"))
    ranked = sorted(
        (
            (departments[pk], score)
            for pk, score in scores.items()
            if score > 0 and pk in departments
        ),
        key=lambda pair: (-pair[1], pair[0].name),
    )
    return [(dept, score, reasons[dept.pk]) for dept, score in ranked[:limit]]
