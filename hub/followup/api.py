"""The follow-up JSON API, mounted at ``/api/followup`` (see ``hub/api.py``).

Public (no login):
    GET  /tasks                      public board: filters state, open, department, sector,
                                     session, overdue, q (text search); limit/offset
    GET  /tasks/{id}                 detail with the public timeline and published replies
    POST /tasks/{id}/vote            public online evaluation (网上评议), once per browser
    GET  /by-code/{code}             the asker's view by private code (also a private task)
    POST /by-code/{code}/evaluation  the asker's evaluation
    GET  /departments                departments, for filters

Work (login; staff see every task, a department member the tasks of their departments;
POSTs need Django's CSRF header like every session-authenticated write):
    GET  /work/tasks, /work/tasks/{id}, /work/tasks/{id}/suggestions, /work/notices
    POST /work/tasks/{id}/<action>   one endpoint per action of hub.followup.actions

Errors are the hub's coded errors ``{"code", "message"}`` (handlers in ``hub/api.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Router
from ninja.throttling import BaseThrottle
from ninja.utils import check_csrf

from hub.browser import check_browser_may_count
from hub.errors import ActionForbidden, DomainError, NotFound
from hub.followup import actions
from hub.followup.codes import question_for_code
from hub.followup.models import (
    CLOSED_STATES,
    OPEN_STATES,
    Evaluation,
    FollowUpTask,
    Notice,
    TaskAsker,
    TaskState,
)
from hub.followup.permissions import can_view_all, followup_permissions, user_departments
from hub.followup.presenters import (
    department_ref,
    is_overdue,
    public_task,
    public_task_detail,
    staff_task,
    vote_tally,
)
from hub.followup.schemas import (
    ApproveExtensionIn,
    AssignIn,
    ByCodeOut,
    CallbackIn,
    CloseIn,
    DepartmentRef,
    EvaluationIn,
    EvaluationOut,
    ExtensionIn,
    NoteIn,
    ReasonIn,
    ReassignIn,
    ReplyIn,
    StaffTask,
    StaffTaskList,
    Suggestion,
    TaskPublicDetail,
    TaskPublicList,
    VoteIn,
    VoteTally,
)
from hub.models import Department
from hub.throttle import client_address
from hub.wire import Error, Int64, errors

router = Router(tags=["follow-up"])

#: What work reads answer besides success (400 malformed, 401 not logged in, 403 role,
#: 422 a parameter that does not match); a task read also 404.
WORK_READ_ERRORS = errors(400, 401, 403, 422)
WORK_TASK_ERRORS = errors(400, 401, 403, 404, 422)

MAX_PAGE = 200


# --- throttles --------------------------------------------------------------------------


class _HubThrottle(BaseThrottle):
    """One of the hub's settings-driven throttles (``hub.api``), built on first use so
    this module does not import ``hub.api`` (which mounts this router) at import time."""

    def __init__(self, kind: str, scope: str, rate_setting: str) -> None:
        self.kind, self.scope, self.rate_setting = kind, scope, rate_setting
        self._impl: Any = None

    def _get(self) -> Any:
        if self._impl is None:
            from hub import api as hub_api

            self._impl = getattr(hub_api, self.kind)(self.scope, self.rate_setting)
        return self._impl

    def allow_request(self, request: HttpRequest) -> bool:
        return bool(self._get().allow_request(request))

    def wait(self) -> float | None:
        return self._get().wait()  # type: ignore[no-any-return]


CODE_THROTTLES: list[BaseThrottle] = [
    _HubThrottle("IpThrottle", "followup-code", "HUB_FOLLOWUP_CODE_RATE_PER_IP")
]
VOTE_THROTTLES: list[BaseThrottle] = [
    _HubThrottle("BrowserThrottle", "followup-vote", "HUB_FOLLOWUP_VOTE_RATE_PER_BROWSER"),
    _HubThrottle("IpThrottle", "followup-vote", "HUB_FOLLOWUP_VOTE_RATE_PER_IP"),
]


# --- auth ---------------------------------------------------------------------------------


class LoginRequired(DomainError):
    code = "login_required"
    http_status = 401


def _worker(request: HttpRequest) -> Any:
    """The logged-in user, with Django's CSRF check on writes; staff or department only."""
    user = request.user
    if not user.is_authenticated:
        raise LoginRequired(_("Log in to work on follow-up tasks"))
    if request.method not in ("GET", "HEAD", "OPTIONS") and check_csrf(request) is not None:
        raise ActionForbidden(
            _("The request lacks a valid CSRF token; reload the page"), code="csrf"
        )
    if not followup_permissions(user):
        raise ActionForbidden(_("Your role does not work on follow-up tasks"))
    return user


def _visible_to(user: Any) -> QuerySet[FollowUpTask]:
    tasks = FollowUpTask.objects.all()
    if can_view_all(user):
        return tasks
    mine = user_departments(user)
    return tasks.filter(Q(lead_department__in=mine) | Q(assisting_departments__in=mine)).distinct()


def _work_task(user: Any, task_id: int) -> FollowUpTask:
    task = (
        _visible_to(user)
        .select_related("session", "question", "lead_department")
        .filter(pk=task_id)
        .first()
    )
    if task is None:
        raise NotFound(_("Follow-up task #%(id)s does not exist") % {"id": task_id})
    return task


def _staff_out(task_id: int) -> StaffTask:
    task = FollowUpTask.objects.select_related("session", "question", "lead_department").get(
        pk=task_id
    )
    return staff_task(task, timezone.now())


# --- filters --------------------------------------------------------------------------------


def _parse_day(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    parsed = None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        pass
    if parsed is not None:
        try:
            parsed = parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)
            # The database compares in UTC: a zone can push year 1 or 9999 off the calendar.
            parsed.astimezone(UTC)
        except (OverflowError, ValueError):
            parsed = None
    if parsed is None:
        raise DomainError(
            _("%(name)s must be a date or date-time (ISO 8601)") % {"name": name},
            code="bad_date",
        )
    return parsed


def _filter(
    tasks: QuerySet[FollowUpTask],
    *,
    state: str | None,
    open: bool | None,
    department: int | None,
    sector: str | None,
    session: str | None,
    q: str | None,
    since: str | None = None,
    until: str | None = None,
) -> QuerySet[FollowUpTask]:
    if state:
        states = [s for s in state.split(",") if s]
        unknown = set(states) - set(TaskState.values)
        if unknown:
            raise DomainError(
                _("Unknown state %(s)s; use: %(choices)s")
                % {"s": ", ".join(sorted(unknown)), "choices": ", ".join(TaskState.values)},
                code="bad_state",
            )
        tasks = tasks.filter(state__in=states)
    if open is not None:
        tasks = tasks.filter(state__in=OPEN_STATES if open else [*CLOSED_STATES, "dismissed"])
    if department:
        tasks = tasks.filter(
            Q(lead_department_id=department) | Q(assisting_departments__id=department)
        ).distinct()
    if sector:
        tasks = tasks.filter(sector=sector)
    if session:
        tasks = tasks.filter(session__slug=session)
    if q:
        tasks = tasks.filter(public_text__icontains=q.strip()[:100])
    start, end = _parse_day(since, "since"), _parse_day(until, "until")
    if start:
        tasks = tasks.filter(created_at__gte=start)
    if end:
        tasks = tasks.filter(created_at__lt=end)
    return tasks


def _page(limit: int, offset: int) -> tuple[int, int]:
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise DomainError(
            _("limit is 1 to %(max)s and offset at least 0") % {"max": MAX_PAGE},
            code="bad_page",
        )
    return limit, offset


# --- public -------------------------------------------------------------------------------


def public_tasks() -> QuerySet[FollowUpTask]:
    """Tasks the public may see: published questions only, never a private one."""
    return (
        FollowUpTask.objects.filter(is_public=True)
        .exclude(question__visibility="private")
        .select_related("session", "lead_department")
        .prefetch_related("assisting_departments")
    )


@router.get("/tasks", response={200: TaskPublicList, **errors(400, 422)})
def list_public_tasks(
    request: HttpRequest,
    state: str | None = None,
    open: bool | None = None,
    department: Int64 | None = None,
    sector: str | None = None,
    session: str | None = None,
    q: str | None = None,
    since: str | None = None,
    until: str | None = None,
    overdue: bool | None = None,
    limit: Int64 = 50,
    offset: Int64 = 0,
) -> Any:
    """The public board, newest first. ``state`` takes a comma-separated list; ``since``
    and ``until`` bound the creation time; ``overdue`` is evaluated now."""
    limit, offset = _page(limit, offset)
    tasks = _filter(
        public_tasks(),
        state=state,
        open=open,
        department=department,
        sector=sector,
        session=session,
        q=q,
        since=since,
        until=until,
    ).order_by("-created_at", "-id")
    now = timezone.now()
    if overdue is not None:
        rows = [t for t in tasks if is_overdue(t, now) == overdue]
        return {
            "items": [public_task(t, now) for t in rows[offset : offset + limit]],
            "count": len(rows),
        }
    count = tasks.count()
    return {"items": [public_task(t, now) for t in tasks[offset : offset + limit]], "count": count}


@router.get("/tasks/{task_id}", response={200: TaskPublicDetail, **errors(400, 404, 422)})
def get_public_task(request: HttpRequest, task_id: Int64) -> Any:
    task = public_tasks().filter(pk=task_id).first()
    if task is None:
        raise NotFound(_("Follow-up task #%(id)s does not exist") % {"id": task_id})
    return public_task_detail(task, timezone.now())


#: A refused vote: ``{code, message}`` like every hub error (hub.wire.Error).
VoteError = Error


@router.post(
    "/tasks/{task_id}/vote",
    response={200: VoteTally, **errors(400, 403, 404, 409, 415, 422, 429)},
    throttle=VOTE_THROTTLES,
)
def vote(request: HttpRequest, task_id: Int64, body: VoteIn) -> Any:
    """Rate the published reply: satisfied / basic / unsatisfied, once per browser.

    Counts only under a browser id that a page load issued (403 ``no_browser_id``
    without one) at least ``HUB_BROWSER_MIN_AGE_SECONDS`` ago (429 ``browser_id_too_new``
    with ``Retry-After``), and at most ``HUB_VOTES_PER_ADDRESS_PER_TASK`` per client
    address for the task's reply (403 ``address_limit``)."""
    browser = check_browser_may_count(getattr(request, "browser", None))
    cast = actions.do_vote_on_reply(
        browser.id, task_id, body.verdict, address=client_address(request)
    )
    return vote_tally(cast.reply)


@router.get(
    "/by-code/{code}", response={200: ByCodeOut, **errors(400, 404, 429)}, throttle=CODE_THROTTLES
)
def by_code(request: HttpRequest, code: str) -> Any:
    """The asker's view: the question's state and, once it is a task, the task's status,
    timeline and reply (even for a private question: the code proves it is the asker)."""
    question = question_for_code(code)
    if question is None:
        raise NotFound(_("This code is not valid; check it and try again"), code="bad_code")
    asker = TaskAsker.objects.filter(question=question).select_related("task").first()
    task_out = None
    can_evaluate = evaluated = False
    if asker is not None:
        task = FollowUpTask.objects.select_related("session", "lead_department").get(
            pk=asker.task_id
        )
        task_out = public_task_detail(task, timezone.now())
        reply = actions.latest_published_reply(task)
        if reply is not None:
            evaluated = Evaluation.objects.filter(reply=reply, asker=asker).exists()
            can_evaluate = not evaluated
    return {
        "question_id": question.pk,
        "question_state": question.state,
        "task": task_out,
        "can_evaluate": can_evaluate,
        "evaluated": evaluated,
    }


@router.post(
    "/by-code/{code}/evaluation",
    response={200: EvaluationOut, **errors(400, 403, 404, 409, 415, 422, 429)},
    throttle=CODE_THROTTLES,
)
def evaluate_by_code(request: HttpRequest, code: str, body: EvaluationIn) -> Any:
    evaluation = actions.do_evaluate_by_code(code, body.resolved, body.satisfaction, body.comment)
    return _evaluation_out(evaluation)


def _evaluation_out(evaluation: Evaluation) -> dict[str, Any]:
    task = FollowUpTask.objects.get(pk=evaluation.task_id)
    return {
        "task": task.pk,
        "round": evaluation.reply.round,
        "resolved": evaluation.resolved,
        "satisfaction": evaluation.satisfaction,
        "reopen_requested": task.reopen_requested,
    }


@router.get("/departments", response={200: list[DepartmentRef], **errors(400)})
def list_departments(request: HttpRequest) -> Any:
    return [department_ref(d) for d in Department.objects.order_by("level", "name")]


# --- work: listing ----------------------------------------------------------------------------


@router.get("/work/tasks", response={200: StaffTaskList, **WORK_READ_ERRORS})
def list_work_tasks(
    request: HttpRequest,
    state: str | None = None,
    open: bool | None = None,
    department: Int64 | None = None,
    sector: str | None = None,
    session: str | None = None,
    q: str | None = None,
    limit: Int64 = 50,
    offset: Int64 = 0,
) -> Any:
    """Staff: every task; a department member: the tasks of their departments. Oldest
    deadline first among open tasks is what a work list wants, so: by state, then age."""
    user = _worker(request)
    limit, offset = _page(limit, offset)
    tasks = _filter(
        _visible_to(user),
        state=state,
        open=open,
        department=department,
        sector=sector,
        session=session,
        q=None,
    )
    if q:
        term = q.strip()[:100]
        tasks = tasks.filter(Q(public_text__icontains=term) | Q(question__text__icontains=term))
    tasks = (
        tasks.select_related("session", "question", "lead_department")
        .prefetch_related("assisting_departments")
        .order_by("created_at", "id")
    )
    now = timezone.now()
    return {
        "items": [staff_task(t, now, with_details=False) for t in tasks[offset : offset + limit]],
        "count": tasks.count(),
    }


@router.get("/work/tasks/{task_id}", response={200: StaffTask, **WORK_TASK_ERRORS})
def get_work_task(request: HttpRequest, task_id: Int64) -> Any:
    user = _worker(request)
    return staff_task(_work_task(user, task_id), timezone.now())


@router.get(
    "/work/tasks/{task_id}/suggestions", response={200: list[Suggestion], **WORK_TASK_ERRORS}
)
def suggestions(request: HttpRequest, task_id: Int64) -> Any:
    """Departments suggested for the task (see hub.followup.suggest for the score)."""
    from hub.followup.suggest import suggest_departments

    user = _worker(request)
    task = _work_task(user, task_id)
    return [
        {"department": department_ref(d), "score": score, "reasons": reasons}
        for d, score, reasons in suggest_departments(task)
    ]


@router.get("/work/notices", response={200: list[dict[str, Any]], **WORK_READ_ERRORS})
def list_notices(request: HttpRequest, status: str = "failed", limit: Int64 = 100) -> Any:
    """Staff: notices by status (``failed`` by default: persistent delivery failures)."""
    user = _worker(request)
    if not can_view_all(user):
        raise ActionForbidden(_("Only staff see the notice outbox"))
    limit, _offset = _page(limit, 0)
    rows = Notice.objects.filter(status=status).order_by("-created_at")[:limit]
    return [
        {
            "id": n.pk,
            "task": n.task_id,
            "kind": n.kind,
            "audience": n.audience,
            "channel": n.channel,
            "status": n.status,
            "attempts": n.attempts,
            "last_error": n.last_error,
            "created_at": n.created_at,
            "sent_at": n.sent_at,
        }
        for n in rows
    ]


# --- work: actions ------------------------------------------------------------------------------

#: A work command answers besides success: 400 malformed or refused input, 401 not
#: logged in, 403 role or CSRF, 404 no such task (for this user), 409 not in this state,
#: 415 a body that is not JSON, 422 a body that does not match.
WORK_ERRORS = errors(400, 401, 403, 404, 409, 415, 422)
_WORK: dict[int, Any] = {200: StaffTask, **WORK_ERRORS}


@router.post("/work/tasks/{task_id}/assign", response=_WORK)
def assign(request: HttpRequest, task_id: Int64, body: AssignIn) -> Any:
    actions.do_assign_task(
        _worker(request),
        task_id,
        lead_department_id=body.lead_department,
        assisting_department_ids=body.assisting_departments,
        sector=body.sector,
        publish=body.publish,
        public_text=body.public_text,
        note=body.note,
    )
    return _staff_out(task_id)


@router.post("/work/tasks/{task_id}/reassign", response=_WORK)
def reassign(request: HttpRequest, task_id: Int64, body: ReassignIn) -> Any:
    actions.do_reassign_task(
        _worker(request),
        task_id,
        lead_department_id=body.lead_department,
        assisting_department_ids=body.assisting_departments,
        note=body.note,
    )
    return _staff_out(task_id)


@router.post("/work/tasks/{task_id}/dismiss", response=_WORK)
def dismiss(request: HttpRequest, task_id: Int64, body: ReasonIn) -> Any:
    actions.do_dismiss_task(_worker(request), task_id, body.reason)
    return _staff_out(task_id)


@router.post("/work/tasks/{task_id}/accept", response=_WORK)
def accept(request: HttpRequest, task_id: Int64) -> Any:
    actions.do_accept_task(_worker(request), task_id)
    return _staff_out(task_id)


@router.post("/work/tasks/{task_id}/return", response=_WORK)
def return_task(request: HttpRequest, task_id: Int64, body: ReasonIn) -> Any:
    actions.do_return_task(_worker(request), task_id, body.reason)
    return _staff_out(task_id)


@router.post("/work/tasks/{task_id}/wait", response=_WORK)
def wait(request: HttpRequest, task_id: Int64, body: ReasonIn) -> Any:
    actions.do_wait_for_citizen(_worker(request), task_id, body.reason)
    return _staff_out(task_id)


@router.post("/work/tasks/{task_id}/resume", response=_WORK)
def resume(request: HttpRequest, task_id: Int64, body: NoteIn) -> Any:
    actions.do_resume_task(_worker(request), task_id, body.note)
    return _staff_out(task_id)


@router.post("/work/tasks/{task_id}/request-extension", response=_WORK)
def request_extension(request: HttpRequest, task_id: Int64, body: ExtensionIn) -> Any:
    actions.do_request_extension(_worker(request), task_id, body.days, body.reason)
    return _staff_out(task_id)


@router.post("/work/tasks/{task_id}/approve-extension", response=_WORK)
def approve_extension(request: HttpRequest, task_id: Int64, body: ApproveExtensionIn) -> Any:
    actions.do_approve_extension(_worker(request), task_id, body.days, body.note)
    return _staff_out(task_id)


@router.post("/work/tasks/{task_id}/refuse-extension", response=_WORK)
def refuse_extension(request: HttpRequest, task_id: Int64, body: ReasonIn) -> Any:
    actions.do_refuse_extension(_worker(request), task_id, body.reason)
    return _staff_out(task_id)


@router.post("/work/tasks/{task_id}/reply", response=_WORK)
def save_reply(request: HttpRequest, task_id: Int64, body: ReplyIn) -> Any:
    """Write or edit the reply (editing restarts the three reviews)."""
    actions.do_save_reply(_worker(request), task_id, body.text)
    return _staff_out(task_id)


@router.post("/work/tasks/{task_id}/reply/editor-approve", response=_WORK)
def reply_editor_approve(request: HttpRequest, task_id: Int64) -> Any:
    actions.do_editor_approve_reply(_worker(request), task_id)
    return _staff_out(task_id)


@router.post("/work/tasks/{task_id}/reply/section-approve", response=_WORK)
def reply_section_approve(request: HttpRequest, task_id: Int64) -> Any:
    actions.do_section_approve_reply(_worker(request), task_id)
    return _staff_out(task_id)


@router.post("/work/tasks/{task_id}/reply/sign-off", response=_WORK)
def reply_sign_off(request: HttpRequest, task_id: Int64) -> Any:
    """The leader's sign-off: publishes, or blocks when the tone check flags the text."""
    actions.do_sign_off_reply(_worker(request), task_id)
    return _staff_out(task_id)


@router.post("/work/tasks/{task_id}/reply/send-back", response=_WORK)
def reply_send_back(request: HttpRequest, task_id: Int64, body: NoteIn) -> Any:
    actions.do_send_back_reply(_worker(request), task_id, body.note)
    return _staff_out(task_id)


@router.post("/work/tasks/{task_id}/reply/override-tone", response=_WORK)
def reply_override_tone(request: HttpRequest, task_id: Int64, body: ReasonIn) -> Any:
    actions.do_override_tone(_worker(request), task_id, body.reason)
    return _staff_out(task_id)


@router.post("/work/tasks/{task_id}/callback", response={200: EvaluationOut, **WORK_ERRORS})
def record_callback(request: HttpRequest, task_id: Int64, body: CallbackIn) -> Any:
    evaluation = actions.do_record_callback(
        _worker(request), task_id, body.asker, body.resolved, body.satisfaction, body.comment
    )
    return _evaluation_out(evaluation)


@router.post("/work/tasks/{task_id}/close", response=_WORK)
def close(request: HttpRequest, task_id: Int64, body: CloseIn) -> Any:
    actions.do_close_task(_worker(request), task_id, body.resolved, body.note)
    return _staff_out(task_id)


@router.post("/work/tasks/{task_id}/reopen", response=_WORK)
def reopen(request: HttpRequest, task_id: Int64, body: ReasonIn) -> Any:
    actions.do_reopen_task(_worker(request), task_id, body.reason)
    return _staff_out(task_id)
