"""Pages of the follow-up tasks (事后跟踪): the public board, each task's page, the asker's
code lookup, the department pages with their KPI charts, and the staff weekly report.

Public pages are rendered on the server from the same presenters as the public API
(:mod:`hub.followup.presenters`), so they show exactly what the API shows and nothing
private: no asker names, contacts or browser ids, no private question, no internal note.
The only writes a visitor makes (a public vote, an asker's evaluation) go through the
JSON API from ``static/followup/followup.js``; these views only read.

The report pages are for the staff role; they render :mod:`hub.followup.exports`' view
of :mod:`hub.followup.report` as HTML, PDF or XLSX.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_POST

from frontend.views import js_strings as frontend_strings
from hub.followup import api as followup_api
from hub.followup.charts import (
    PALETTE,
    Chart,
    Series,
    bar_chart,
    department_bar_charts,
    line_chart,
    percent,
)
from hub.followup.exports import (
    ARCHIVE_NAME,
    MAX_PERIOD_DAYS,
    Period,
    ReportFontMissing,
    archive_dir,
    archive_week,
    archived_reports,
    build_report,
    file_stem,
    kpi_definitions,
    kpi_headers,
    kpi_table,
    last_full_week,
    render_pdf,
    render_xlsx,
)
from hub.followup.kpis import DEFINITIONS, DepartmentKpis, department_kpis, totals
from hub.followup.models import (
    CLOSED_STATES,
    OPEN_STATES,
    Evaluation,
    NoticeKind,
    PublicVote,
    ReplyStage,
    Resolution,
    Satisfaction,
    TaskState,
)
from hub.followup.presenters import is_overdue, public_task_detail
from hub.lib.personal_data import mask_personal_data
from hub.models import Channel, Department, DepartmentLevel, LiveSession
from hub.roles import Role, roles_of
from moderation.sectors import Sector

PAGE_SIZE = 20
#: Default period of the department pages: this many days up to today.
DEFAULT_PERIOD_DAYS = 90


def _choices(choices: Any) -> dict[str, str]:
    return {value: str(label) for value, label in choices.choices}


def js_strings() -> dict[str, Any]:
    """The frontend's shared strings plus those of the follow-up scripts."""
    strings = frontend_strings()
    strings["followup"] = {
        "task_states": _choices(TaskState),
        "satisfaction": _choices(Satisfaction),
        "resolution": _choices(Resolution),
        "vote_thanks": _("Thank you: your rating is counted."),
        "vote_already": _("This browser has rated this reply already."),
        "your_vote": _("Your rating: {verdict}"),
        "code_required": _("Enter your private code."),
        "code_checking": _("Checking your code…"),
        "code_other_task": _(
            "This code belongs to another question (follow-up no. {id}). Open it to rate its reply."
        ),
        "code_no_task": _(
            "Your question has not become a follow-up task (yet). Questions not answered in the "
            "session become tasks when the session ends."
        ),
        "code_no_reply": _(
            "The department has not published its reply yet. You will be told when it is "
            "published (by SMS if you left a mobile number); you can also check here with "
            "your code."
        ),
        "code_evaluated": _("You have rated this reply already. Thank you."),
        "code_can_evaluate": _(
            "The reply is published: please tell us whether it solved your problem."
        ),
        "question_state": _("Your question: {state}"),
        "evaluate_thanks": _("Thank you: your evaluation is recorded."),
        "evaluate_reopen": _(
            "Thank you. You found the problem unresolved: staff will review whether the task is "
            "reopened."
        ),
        "choose_resolved": _("Choose whether the problem was resolved."),
        "choose_satisfaction": _("Choose how satisfied you are."),
        "task_no": _("Follow-up no. {id}"),
        "department": _("Department"),
        "reply_by": _("Reply due"),
        "paused": _("Paused while waiting for the citizen"),
        "overdue": _("Overdue"),
        "timeline": _("Progress"),
        "reply": _("Reply"),
        "published_at": _("Published {time}"),
        "editor": _("First review (editor)"),
        "section_head": _("Second review (section head)"),
        "leader": _("Sign-off (leader)"),
        "open_task": _("Open the task's page"),
        "not_public_task": _("Your question is private: only you see it here, with your code."),
    }
    return strings


def _config(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    user = request.user
    config = {
        "lang": request.LANGUAGE_CODE if hasattr(request, "LANGUAGE_CODE") else "zh-hans",
        "time_zone": settings.TIME_ZONE,
        "api": "/api",
        "followup_api": "/api/followup",
        "user": user.get_username() if user.is_authenticated else None,
        "login_url": reverse("frontend:login"),
    }
    config.update(extra)
    return config


def _base(request: HttpRequest, page: str, **extra: Any) -> dict[str, Any]:
    return {
        "i18n": js_strings(),
        "page_config": _config(request, page=page, **extra),
        "is_staff": Role.STAFF in roles_of(request.user),
    }


# --- the public board ------------------------------------------------------------------------

PROGRESS = {
    "open": {"open": True},
    "overdue": {"overdue": True},
    "closed": {"open": False},
}


class BoardFilter(forms.Form):
    """The board's filters (GET). Unknown values are refused with the field's message,
    and the board then shows every task rather than a silently different selection."""

    q = forms.CharField(label=gettext_lazy("Search"), required=False, max_length=100)
    status = forms.ChoiceField(label=gettext_lazy("Status"), required=False)
    department = forms.TypedChoiceField(
        label=gettext_lazy("Department"), required=False, coerce=int
    )
    sector = forms.ChoiceField(label=gettext_lazy("Sector"), required=False)
    session = forms.ChoiceField(label=gettext_lazy("Session"), required=False)
    page = forms.IntegerField(required=False, min_value=1, max_value=10_000)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            field.widget.attrs["data-testid"] = f"board-{name}"
        self._choices(
            "status",
            [
                ("", _("All")),
                ("open", _("Open")),
                ("overdue", _("Overdue")),
                ("closed", _("Closed")),
                (_("By state"), [(v, str(label)) for v, label in TaskState.choices]),
            ],
        )
        self._choices(
            "department",
            [("", _("All departments"))]
            + [(d.pk, d.name) for d in Department.objects.order_by("level", "name")],
        )
        self._choices("sector", [("", _("All sectors")), *Sector.choices])
        self._choices(
            "session",
            [("", _("All sessions"))]
            + [
                (s.slug, mask_personal_data(s.title))  # a public page: titles are public text
                for s in LiveSession.objects.filter(followup_tasks__is_public=True)
                .distinct()
                .order_by("-scheduled_start")[:100]
            ],
        )

    def _choices(self, name: str, choices: list[Any]) -> None:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices


def _api_filters(data: dict[str, Any]) -> dict[str, Any]:
    status = data.get("status") or ""
    params: dict[str, Any] = dict(PROGRESS.get(status, {}))
    if status in TaskState.values:
        params["state"] = status
    for name in ("q", "department", "sector", "session"):
        if data.get(name):
            params[name] = data[name]
    return params


def _board_counts() -> dict[str, int]:
    tasks = followup_api.public_tasks()
    now = timezone.now()
    open_tasks = list(tasks.filter(state__in=OPEN_STATES))
    return {
        "all": tasks.count(),
        "open": len(open_tasks),
        "overdue": sum(is_overdue(t, now) for t in open_tasks),
        "replied": tasks.filter(state=TaskState.REPLIED).count(),
        "closed": tasks.filter(state__in=CLOSED_STATES).count(),
    }


@require_GET
@ensure_csrf_cookie
def board(request: HttpRequest) -> HttpResponse:
    """Every public task with its question, channel, departments, deadlines and status;
    filters, search and pages. Works without scripts."""
    form = BoardFilter(request.GET or None)
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}
    page = data.get("page") or 1
    result = followup_api.list_public_tasks(
        request, **_api_filters(data), limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    count = result["count"]
    query = request.GET.copy()
    query.pop("page", None)
    pages = max(1, -(-count // PAGE_SIZE))
    return render(
        request,
        "followup/board.html",
        {
            **_base(request, "followup-board"),
            "form": form,
            "tasks": [
                {"task": t, "channel_label": _choices(Channel).get(t.channel, t.channel)}
                for t in result["items"]
            ],
            "count": count,
            "page": page,
            "pages": pages,
            "query": query.urlencode(),
            "counts": _board_counts(),
            "filtered": bool(_api_filters(data)),
        },
    )


# --- a task ------------------------------------------------------------------------------------


def _evaluation_summary(task_id: int, reply_id: int) -> dict[str, Any]:
    """Counts of the askers' verdicts on a reply (counts only: comments stay private)."""
    rows = Evaluation.objects.filter(task_id=task_id, reply_id=reply_id)
    resolved = Counter(rows.values_list("resolved", flat=True))
    satisfied = Counter(rows.values_list("satisfaction", flat=True))
    return {
        "count": sum(resolved.values()),
        "resolved": [(str(label), resolved.get(v, 0)) for v, label in Resolution.choices],
        "satisfaction": [(str(label), satisfied.get(v, 0)) for v, label in Satisfaction.choices],
    }


@require_GET
@ensure_csrf_cookie
def task_page(request: HttpRequest, task_id: int) -> HttpResponse:
    """One public task: question, deadlines, the public timeline, each published reply
    with its three reviewers, the public online evaluation (网上评议) and the asker's form."""
    task = followup_api.public_tasks().filter(pk=task_id).first()
    if task is None:
        raise Http404(_("Follow-up task #%(id)s does not exist") % {"id": task_id})
    now = timezone.now()
    detail = public_task_detail(task, now)
    latest = (
        task.replies.filter(stage=ReplyStage.PUBLISHED)
        .order_by("-round")
        .only("pk", "round")
        .first()
    )
    my_vote = ""
    evaluations = None
    if latest is not None:
        vote = PublicVote.objects.filter(
            reply=latest, browser_id=getattr(request, "browser_id", "")
        ).first()
        my_vote = vote.verdict if vote else ""
        evaluations = _evaluation_summary(task.pk, latest.pk)
    latest_reply = detail.replies[-1] if detail.replies else None
    return render(
        request,
        "followup/task.html",
        {
            **_base(request, "followup-task", task=task.pk, my_vote=my_vote),
            "task": detail,
            "latest_reply": latest_reply,
            "vote_buttons": [
                (value, str(label), getattr(latest_reply.votes, value))
                for value, label in Satisfaction.choices
            ]
            if latest_reply
            else [],
            "my_vote": my_vote,
            "my_vote_label": str(Satisfaction(my_vote).label) if my_vote else "",
            "verdicts": Satisfaction.choices,
            "resolutions": Resolution.choices,
            "evaluations": evaluations,
            "channel_label": _choices(Channel).get(detail.channel, detail.channel),
        },
    )


@require_GET
@ensure_csrf_cookie
def code_page(request: HttpRequest) -> HttpResponse:
    """The asker's lookup by private code (the code never goes into this page's URL)."""
    return render(
        request,
        "followup/code.html",
        {
            **_base(request, "followup-code"),
            "verdicts": Satisfaction.choices,
            "resolutions": Resolution.choices,
        },
    )


# --- periods ----------------------------------------------------------------------------------


class PeriodForm(forms.Form):
    start = forms.DateField(
        label=gettext_lazy("From"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    end = forms.DateField(
        label=gettext_lazy("To (inclusive)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    def __init__(self, *args: Any, default: Period, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"start": default.first, "end": default.last})
        super().__init__(*args, **kwargs)
        self.default = default

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first = data.get("start") or self.default.first
        last = data.get("end") or self.default.last
        if first > last:
            raise forms.ValidationError(
                _("The period starts after it ends; swap the dates."), code="bad_period"
            )
        if (last - first).days + 1 > MAX_PERIOD_DAYS:
            raise forms.ValidationError(
                _("Choose at most %(days)s days.") % {"days": MAX_PERIOD_DAYS}, code="too_long"
            )
        data["period"] = Period(first, last)
        return data


def period_form(request: HttpRequest, default: Period) -> tuple[PeriodForm, Period, bool]:
    """The period asked for in the query (``start``, ``end``: YYYY-MM-DD), a missing
    date taken from ``default``; on bad input the default period and ``False``."""
    data = request.GET.copy()
    data.setdefault("start", default.first.isoformat())
    data.setdefault("end", default.last.isoformat())
    form = PeriodForm(data, default=default)
    if form.is_valid():
        return form, form.cleaned_data["period"], True
    return form, default, False


def _default_period() -> Period:
    today = timezone.localdate()
    return Period(today - timedelta(days=DEFAULT_PERIOD_DAYS - 1), today)


@dataclass
class Bucket:
    label: str
    period: Period


def buckets(period: Period) -> list[Bucket]:
    """Days (up to a month), Monday weeks (up to half a year) or months, clipped to the
    period: the x axis of the trend charts."""
    out: list[Bucket] = []
    first, last = period.first, period.last
    if period.days <= 31:
        day = first
        while day <= last:
            out.append(Bucket(day.strftime("%m-%d"), Period(day, day)))
            day += timedelta(days=1)
    elif period.days <= 184:
        start = first
        while start <= last:
            end = min(start + timedelta(days=6 - start.weekday()), last)
            out.append(Bucket(start.strftime("%m-%d"), Period(start, end)))
            start = end + timedelta(days=1)
    else:
        start = first
        while start <= last:
            next_month = date(start.year + start.month // 12, start.month % 12 + 1, 1)
            end = min(next_month - timedelta(days=1), last)
            out.append(Bucket(start.strftime("%Y-%m"), Period(start, end)))
            start = end + timedelta(days=1)
    return out


# --- department pages ----------------------------------------------------------------------------


@dataclass
class KpiCard:
    key: str
    label: str
    value: str
    detail: str
    definition: str


def kpi_cards(row: DepartmentKpis) -> list[KpiCard]:
    """The figures of a department with their fractions and written definitions."""

    def card(key: str, value: str, detail: str) -> KpiCard:
        label, definition = DEFINITIONS[key]
        return KpiCard(key, str(label), value, detail, str(definition))

    return [
        card(
            "completion_rate",
            percent(row.completion_rate),
            _("%(n)s closed of %(d)s assigned") % {"n": row.closed, "d": row.assigned},
        ),
        card(
            "on_time_rate",
            percent(row.on_time_rate),
            _("%(n)s on time of %(d)s closed") % {"n": row.closed_on_time, "d": row.closed},
        ),
        card(
            "resolution_rate",
            percent(row.resolution_rate),
            _("%(n)s resolved of %(d)s evaluations (%(p)s partly)")
            % {"n": row.resolved_yes, "d": row.evaluated, "p": row.resolved_partly},
        ),
        card(
            "satisfaction_rate",
            percent(row.satisfaction_rate),
            _("%(s)s satisfied + %(b)s basically satisfied of %(d)s evaluations")
            % {"s": row.satisfied, "b": row.basically_satisfied, "d": row.evaluated},
        ),
        card(
            "return_rate",
            percent(row.return_rate),
            _("%(n)s returned of %(d)s dispatched") % {"n": row.returned, "d": row.dispatched},
        ),
        card(
            "overdue",
            str(row.accept_overdue + row.reply_overdue),
            _("%(a)s accepted late, %(r)s replied late; %(now)s overdue now")
            % {"a": row.accept_overdue, "r": row.reply_overdue, "now": row.overdue_now},
        ),
        card(
            "reopened",
            str(row.reopened),
            _("%(n)s reopened") % {"n": row.reopened},
        ),
    ]


def department_charts(row: DepartmentKpis, trend: list[tuple[str, DepartmentKpis]]) -> list[Chart]:
    rate_items = [
        (str(DEFINITIONS[key][0]), getattr(row, key))
        for key in (
            "completion_rate",
            "on_time_rate",
            "resolution_rate",
            "satisfaction_rate",
            "return_rate",
        )
    ]
    headers = kpi_headers()
    return [
        bar_chart(
            "rates",
            _("Rates in the period"),
            rate_items,
            label_header=_("Figure"),
            value_header=_("Rate"),
            max_value=1.0,
            value_text=percent,
            zero_is_data=True,
        ),
        line_chart(
            "trend",
            _("Rates over time"),
            [label for label, _row in trend],
            [
                Series(
                    headers["completion_rate"], [r.completion_rate for _l, r in trend], PALETTE[0]
                ),
                Series(headers["on_time_rate"], [r.on_time_rate for _l, r in trend], PALETTE[2]),
                Series(
                    headers["satisfaction_rate"],
                    [r.satisfaction_rate for _l, r in trend],
                    PALETTE[3],
                ),
            ],
            label_header=_("From"),
            max_value=1.0,
            value_text=percent,
            zero_is_data=True,
            description=_(
                "Each point is the rate of the tasks assigned (completion, on time) or the "
                "evaluations made (satisfaction) in that day, week or month; a gap means "
                "nothing to count."
            ),
        ),
        bar_chart(
            "counts",
            _("Tasks and overdue steps"),
            [
                (headers["assigned"], row.assigned),
                (headers["closed"], row.closed),
                (_("Returned"), row.returned),
                (headers["accept_overdue"], row.accept_overdue),
                (headers["reply_overdue"], row.reply_overdue),
                (headers["overdue_now"], row.overdue_now),
                (headers["reopened"], row.reopened),
            ],
            label_header=_("Figure"),
            value_header=_("Count"),
            color=PALETTE[5],
        ),
        bar_chart(
            "resolved",
            _("Askers: was the problem resolved?"),
            [
                (str(Resolution.YES.label), row.resolved_yes),
                (str(Resolution.PARTLY.label), row.resolved_partly),
                (str(Resolution.NO.label), row.resolved_no),
            ],
            label_header=_("Answer"),
            value_header=_("Evaluations"),
            color=PALETTE[2],
        ),
        bar_chart(
            "satisfaction",
            _("Askers: how satisfied?"),
            [
                (str(Satisfaction.SATISFIED.label), row.satisfied),
                (str(Satisfaction.BASIC.label), row.basically_satisfied),
                (str(Satisfaction.UNSATISFIED.label), row.unsatisfied),
            ],
            label_header=_("Answer"),
            value_header=_("Evaluations"),
            color=PALETTE[3],
        ),
        bar_chart(
            "votes",
            _("Public online evaluation (网上评议)"),
            [(str(label), row.votes.get(v, 0)) for v, label in Satisfaction.choices],
            label_header=_("Verdict"),
            value_header=_("Votes"),
            color=PALETTE[4],
        ),
    ]


def _supervision_rows(row: DepartmentKpis) -> list[dict[str, Any]]:
    ids = {s.task_id for s in row.supervisions}
    public = set(followup_api.public_tasks().filter(pk__in=ids).values_list("pk", flat=True))
    return [
        {
            "task": s.task_id,
            "public": s.task_id in public,
            "level": s.level,
            "kind": str(NoticeKind(s.kind).label),
            "at": s.at,
        }
        for s in reversed(row.supervisions)
    ]


@require_GET
def departments_page(request: HttpRequest) -> HttpResponse:
    """Every department's figures for a period, side by side."""
    form, period, _valid = period_form(request, _default_period())
    rows = department_kpis(period.start, period.end)
    total = totals(rows)
    charts = department_bar_charts(rows, ("completion", "on_time", "satisfaction"))
    table = kpi_table(rows, total)
    display = table.display_rows()
    footer = table.display_footer() or []
    return render(
        request,
        "followup/departments.html",
        {
            **_base(request, "followup-departments"),
            "form": form,
            "period": period,
            "kpi_columns": table.headers[1:],
            "rows": [
                {"department_id": r.department_id, "name": r.department_name, "cells": cells[1:]}
                for r, cells in zip(rows, display, strict=True)
            ],
            "total": {"name": footer[0], "cells": footer[1:]} if footer else None,
            "charts": charts,
            "definitions": kpi_definitions(),
        },
    )


@require_GET
def department_page(request: HttpRequest, department_id: int) -> HttpResponse:
    """One department: its KPIs with their definitions, charts over the period, and its
    supervision history (督办)."""
    department = get_object_or_404(Department, pk=department_id)
    form, period, _valid = period_form(request, _default_period())
    now = timezone.now()
    (row,) = department_kpis(period.start, period.end, departments=[department], now=now)
    trend = []
    for bucket in buckets(period):
        (point,) = department_kpis(
            bucket.period.start, bucket.period.end, departments=[department], now=now
        )
        trend.append((bucket.label, point))
    recent = followup_api.list_public_tasks(request, department=department.pk, limit=10, offset=0)
    return render(
        request,
        "followup/department.html",
        {
            **_base(request, "followup-department", department=department.pk),
            "department": department,
            "level_label": _choices(DepartmentLevel).get(department.level, department.level),
            "form": form,
            "period": period,
            "row": row,
            "cards": kpi_cards(row),
            "charts": department_charts(row, trend),
            "supervisions": _supervision_rows(row),
            "recent": [
                {"task": t, "channel_label": _choices(Channel).get(t.channel, t.channel)}
                for t in recent["items"]
            ],
            "recent_count": recent["count"],
        },
    )


# --- the staff report -----------------------------------------------------------------------------


def _require_staff(request: HttpRequest) -> HttpResponse | None:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), reverse("frontend:login"))
    if Role.STAFF not in roles_of(request.user):
        raise PermissionDenied(_("The weekly report is for follow-up staff."))
    return None


def _report_period(request: HttpRequest) -> tuple[PeriodForm, Period, bool]:
    return period_form(request, last_full_week(timezone.now()))


@require_GET
@ensure_csrf_cookie
def report_page(request: HttpRequest) -> HttpResponse:
    """The weekly report (专报) for any period (default: last week), with downloads and
    the archive of past weeks."""
    refused = _require_staff(request)
    if refused is not None:
        return refused
    form, period, valid = _report_period(request)
    view = build_report(period)
    return render(
        request,
        "followup/report.html",
        {
            **_base(request, "followup-report"),
            "form": form,
            "period_valid": valid,
            "view": view,
            "query": period.query(),
            "archive": archived_reports(),
            "last_week": last_full_week(timezone.now()),
        },
    )


def _download(request: HttpRequest, kind: str) -> HttpResponse:
    refused = _require_staff(request)
    if refused is not None:
        return refused
    form, period, valid = _report_period(request)
    if not valid:
        errors = "; ".join(str(e) for e in form.errors.get("__all__", [])) or _(
            "Dates are written as YYYY-MM-DD."
        )
        return HttpResponse(errors, status=400, content_type="text/plain; charset=utf-8")
    view = build_report(period)
    if kind == "pdf":
        try:
            content = render_pdf(view)
        except ReportFontMissing as exc:
            return HttpResponse(str(exc), status=503, content_type="text/plain; charset=utf-8")
        content_type = "application/pdf"
    else:
        content = render_xlsx(view)
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{file_stem(view)}.{kind}"'
    return response


@require_GET
def report_pdf(request: HttpRequest) -> HttpResponse:
    return _download(request, "pdf")


@require_GET
def report_xlsx(request: HttpRequest) -> HttpResponse:
    return _download(request, "xlsx")


@require_GET
def report_archive_file(request: HttpRequest, name: str) -> HttpResponseBase:
    """One archived weekly file (staff)."""
    refused = _require_staff(request)
    if refused is not None:
        return refused
    if not ARCHIVE_NAME.match(name):
        raise Http404(name)
    path = archive_dir() / name
    if not path.is_file():
        raise Http404(name)
    return FileResponse(path.open("rb"), as_attachment=True, filename=name)


@require_POST
def report_archive_now(request: HttpRequest) -> HttpResponse:
    """Write last week's files now (what the hourly beat does), for a server without a
    Celery beat (``make run``)."""
    refused = _require_staff(request)
    if refused is not None:
        return refused
    week = last_full_week(timezone.now())
    try:
        written = archive_week(week)
    except ReportFontMissing as exc:
        messages.error(request, str(exc))
    else:
        if written:
            messages.success(
                request, _("Last week's report was saved: %(week)s") % {"week": week.label()}
            )
        else:
            messages.info(request, _("Last week's report was saved already."))
    return redirect("followup_pages:report")
