"""Every write to a follow-up task: one action per transition, each with a guard, a
permission check and an audit row (:class:`hub.followup.models.TaskEvent`).

::

    (session ends) → pending ─assign→ dispatched ─accept→ in_progress ─publish reply→ replied
    pending, returned ─dismiss→ dismissed          dispatched ─return→ returned
    returned, dispatched ─reassign→ dispatched     in_progress ─wait→ waiting_citizen ─resume→
    in_progress ─request extension→ extension_requested ─approve / refuse→ in_progress
    replied ─close→ closed_resolved | closed_unresolved
    replied, closed_* ─reopen (once)→ in_progress

Replies pass three reviews inside the lead department (三审): editor (drafting →
section_review), section head (→ leader_review), leader sign-off (→ published, or
blocked by the tone check until edited or overridden by staff with a reason).

Locking contract: every ``do_*`` runs in ``transaction.atomic()`` and locks the task row
(:func:`lock_task`) before reading its state; a staff sector correction locks the session
and question first (the moderation action's order), then the task. Each action reads the
clock once (``now``) and passes it down. Notices (reminders, messages to askers) are
claimed in the same transaction and sent after commit by the outbox
(:mod:`hub.followup.notify`). Illegal transitions raise
:class:`hub.errors.IllegalTransition` with a message naming the action and the state.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from hub.browser import NoBrowserId
from hub.errors import DomainError, IllegalTransition, NotFound
from hub.events import lock_session
from hub.followup import deadlines
from hub.followup.codes import issue_code, question_for_code
from hub.followup.models import (
    REOPEN_LIMIT,
    WORKING_STATES,
    Evaluation,
    EvaluationSource,
    FollowUpTask,
    NoticeAudience,
    NoticeKind,
    PublicVote,
    ReplyStage,
    Resolution,
    Satisfaction,
    TaskAsker,
    TaskEvent,
    TaskReply,
    TaskState,
)
from hub.followup.notify import asker_address, claim_notice
from hub.followup.permissions import require_followup_permission, require_member
from hub.followup.tone import check_tone
from hub.lib.personal_data import mask_personal_data
from hub.models import (
    Department,
    LiveSession,
    Question,
    QuestionState,
    SessionStatus,
    Visibility,
)
from hub.roles import actor_label
from hub.throttle import AddressLimitReached, take_slot

logger = logging.getLogger(__name__)

T = TaskState
REASON_MAX_CHARS = 1000
REPLY_MAX_CHARS = 5000

#: The verb of each action, for refusal messages in the reader's language.
ACTION_VERBS = {
    "assign": gettext_lazy("assign"),
    "reassign": gettext_lazy("reassign"),
    "dismiss": gettext_lazy("dismiss"),
    "accept": gettext_lazy("accept"),
    "return": gettext_lazy("return"),
    "wait": gettext_lazy("wait for the citizen on"),
    "resume": gettext_lazy("resume"),
    "request_extension": gettext_lazy("request an extension of"),
    "approve_extension": gettext_lazy("approve the extension of"),
    "refuse_extension": gettext_lazy("refuse the extension of"),
    "draft_reply": gettext_lazy("write the reply of"),
    "review_reply": gettext_lazy("review the reply of"),
    "override_tone": gettext_lazy("override the tone check of"),
    "evaluate": gettext_lazy("evaluate"),
    "close": gettext_lazy("close"),
    "reopen": gettext_lazy("reopen"),
    "vote": gettext_lazy("vote on"),
}


# --- helpers ----------------------------------------------------------------------------


def lock_task(task_id: int) -> FollowUpTask:
    """Lock and return the task row (only that row: its department stays unlocked)."""
    try:
        return (
            FollowUpTask.objects.select_for_update(of=("self",))
            .select_related("session", "question", "lead_department")
            .get(pk=task_id)
        )
    except FollowUpTask.DoesNotExist:
        raise NotFound(_("Follow-up task #%(id)s does not exist") % {"id": task_id}) from None


def _guard(task: FollowUpTask, allowed: Iterable[str], action: str) -> None:
    if task.state not in allowed:
        raise IllegalTransition(
            _("Cannot %(action)s task #%(id)s: it is %(state)s")
            % {
                "action": ACTION_VERBS.get(action, action),
                "id": task.pk,
                "state": task.get_state_display(),
            }
        )


def _clean_reason(text: str, *, required: bool = True, what: str = "reason") -> str:
    text = (text or "").strip()
    if required and not text:
        raise DomainError(_("Give a reason"), code=f"{what}_required")
    if len(text) > REASON_MAX_CHARS:
        raise DomainError(
            _("The text is %(n)s characters; the limit is %(max)s")
            % {"n": len(text), "max": REASON_MAX_CHARS},
            code="too_long",
        )
    return text


def _event(
    task: FollowUpTask,
    actor: Any,
    action: str,
    now: datetime,
    *,
    from_state: str = "",
    to_state: str = "",
    note: str = "",
    public: bool = False,
    public_note: str = "",
    department: Department | None = None,
    system_label: str = "system",
) -> TaskEvent:
    user = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    return TaskEvent.objects.create(
        task=task,
        actor=user,
        actor_label=actor_label(actor, system_label),
        action=action,
        from_state=from_state,
        to_state=to_state or task.state,
        department=department,
        note=note,
        public=public,
        public_note=public_note,
        at=now,
    )


def _transition(
    task: FollowUpTask,
    to_state: str,
    actor: Any,
    action: str,
    now: datetime,
    *,
    note: str = "",
    public: bool = True,
    department: Department | None = None,
    system_label: str = "system",
) -> None:
    from_state = task.state
    task.state = to_state
    task.updated_at = now
    task.save()
    _event(
        task,
        actor,
        action,
        now,
        from_state=from_state,
        to_state=to_state,
        note=note,
        public=public,
        department=department if department is not None else task.lead_department,
        system_label=system_label,
    )


def _kick_delivery() -> None:
    """After commit, ask a worker to send the notices just claimed. Without a worker (the
    embedded default) the timer tick sends them; a request never waits for a sender."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return
    from hub.followup.tasks import deliver_notices

    try:
        deliver_notices.delay()
    except Exception as exc:  # broker down: the next tick delivers
        logger.warning("could not queue notice delivery: %s", exc)


def display_name(user: Any) -> str:
    if user is None:
        return ""
    return str(user.get_full_name() or user.get_username())


def _message(template: str, **values: Any) -> str:
    """A notice text in the product's language (the recipients are Chinese offices)."""
    with translation.override(settings.LANGUAGE_CODE):
        return _(template) % values


# --- creation at the end of a session ----------------------------------------------------


def do_create_tasks_for_session(
    session_id: int, *, now: datetime | None = None
) -> list[FollowUpTask]:
    """One task per unanswered merged group of an ended session, listing every asker.

    Idempotent: a group that has its task already is skipped, so the session-end hook,
    a retry and the timer tick's repair pass may all call it. Askers from other channels
    who left a mobile number and have no private code yet get one by SMS.
    """
    now = now or timezone.now()
    created: list[FollowUpTask] = []
    with transaction.atomic():
        session = lock_session(session_id)
        if session.status != SessionStatus.ENDED:
            raise IllegalTransition(
                _("Tasks are created when the session has ended"), code="not_ended"
            )
        canonicals = Question.objects.filter(
            session=session, state=QuestionState.UNANSWERED, followup_task__isnull=True
        ).order_by("id")
        for question in canonicals:
            created.append(_create_task(session, question, now))
    if created:
        transaction.on_commit(_kick_delivery)
    return created


def _create_task(session: LiveSession, question: Question, now: datetime) -> FollowUpTask:
    members = list(
        Question.objects.filter(merged_into=question, state=QuestionState.MERGED).order_by("id")
    )
    task = FollowUpTask.objects.create(
        session=session,
        question=question,
        state=T.PENDING,
        is_public=question.is_public,
        public_text=mask_personal_data(question.text),
        sector=question.sector,
        channel=question.channel,
        askers_count=1 + len(members),
        created_at=now,
        updated_at=now,
    )
    askers = TaskAsker.objects.bulk_create(
        [TaskAsker(task=task, question=q) for q in [question, *members]]
    )
    _event(
        task,
        None,
        "create",
        now,
        to_state=T.PENDING,
        note=_("%(n)s asker(s)") % {"n": len(askers)},
        public=True,
        system_label="session_end",
    )
    by_question = {q.pk: q for q in [question, *members]}
    for asker in TaskAsker.objects.filter(task=task, question__asker_code__isnull=True):
        source = by_question[asker.question_id]
        channel, address = asker_address(source.contact)
        if channel != "sms":
            continue
        code = issue_code(source, now=now)
        claim_notice(
            task,
            NoticeKind.PRIVATE_CODE,
            generation=0,
            recipient=f"asker:{asker.pk}",
            audience=NoticeAudience.ASKER,
            channel=channel,
            address=address,
            message=_message(
                gettext_noop(
                    "Your question (follow-up no. %(id)s) is being handled. Your private code "
                    "to follow it and rate the reply: %(code)s"
                ),
                id=task.pk,
                code=code,
            ),
            now=now,
        )
    return task


def create_missing_tasks(*, now: datetime | None = None) -> int:
    """Repair pass of the timer tick: ended sessions whose unanswered groups have no task
    yet (the session-end hook failed or ran before this app existed)."""
    session_ids = list(
        Question.objects.filter(
            state=QuestionState.UNANSWERED,
            session__status=SessionStatus.ENDED,
            followup_task__isnull=True,
        )
        .values_list("session_id", flat=True)
        .distinct()
    )
    count = 0
    for session_id in session_ids:
        count += len(do_create_tasks_for_session(session_id, now=now))
    return count


def create_tasks_after_session_end(session_id: int) -> None:
    """The hook ``do_end_session`` runs after its commit (robust: a failure is logged and
    the next timer tick repairs it)."""
    do_create_tasks_for_session(session_id)


# --- assignment (梳理交办) ----------------------------------------------------------------


def _departments(lead_id: int, assisting_ids: Iterable[int]) -> tuple[Department, list[Department]]:
    try:
        lead = Department.objects.get(pk=lead_id)
    except Department.DoesNotExist:
        raise NotFound(_("Department #%(id)s does not exist") % {"id": lead_id}) from None
    wanted = {int(i) for i in assisting_ids} - {lead.pk}
    assisting = list(Department.objects.filter(pk__in=wanted))
    missing = wanted - {d.pk for d in assisting}
    if missing:
        raise NotFound(
            _("Department #%(id)s does not exist") % {"id": ", ".join(map(str, sorted(missing)))}
        )
    return lead, assisting


def _dispatch(
    task: FollowUpTask,
    actor: Any,
    action: str,
    lead: Department,
    assisting: list[Department],
    note: str,
    now: datetime,
) -> None:
    task.lead_department = lead
    task.assignment_note = note
    task.dispatch_count += 1
    deadlines.start_clocks(task, deadlines.policy_for(task), now)
    _transition(task, T.DISPATCHED, actor, action, now, note=note, department=lead)
    task.assisting_departments.set(assisting)


def check_assign_task(actor: Any, task: FollowUpTask) -> None:
    require_followup_permission(actor, "assign")
    _guard(task, {T.PENDING}, "assign")


def do_assign_task(
    actor: Any,
    task_id: int,
    *,
    lead_department_id: int,
    assisting_department_ids: Iterable[int] = (),
    sector: str | None = None,
    publish: bool | None = None,
    public_text: str | None = None,
    note: str = "",
    now: datetime | None = None,
) -> FollowUpTask:
    """pending → dispatched to a lead department (and optional assisting ones), starting
    the accept and reply clocks. Staff may correct the sector (the correction trains the
    sector classifier), publish a public question that was never put on the public list,
    and edit its public text (personal data is masked again)."""
    now = now or timezone.now()
    note = _clean_reason(note, required=False)
    with transaction.atomic():
        task = lock_task(task_id)
        check_assign_task(actor, task)
        lead, assisting = _departments(lead_department_id, assisting_department_ids)
        if sector is not None and sector != task.sector:
            _set_sector(actor, task, sector, now)
        _set_publication(task, publish, public_text)
        _dispatch(task, actor, "assign", lead, assisting, note, now)
    transaction.on_commit(_kick_delivery)
    return task


def _set_sector(actor: Any, task: FollowUpTask, sector: str, now: datetime) -> None:
    from moderation.actions import do_set_question_sector

    # Locks the session and the question (the moderation order) after our task lock: no
    # other path locks a task after a session, so this order cannot deadlock.
    do_set_question_sector(actor, task.session_id, task.question_id, sector, now=now)
    task.sector = sector


def _set_publication(task: FollowUpTask, publish: bool | None, public_text: str | None) -> None:
    if public_text is not None:
        text = mask_personal_data(public_text.strip())
        if not text:
            raise DomainError(_("The public text cannot be empty"), code="empty_text")
        task.public_text = text
    if publish is None:
        return
    if publish and task.question.visibility == Visibility.PRIVATE:
        raise DomainError(
            _("The asker sent this question privately; it cannot be published"),
            code="private",
        )
    task.is_public = publish


def check_reassign_task(actor: Any, task: FollowUpTask) -> None:
    require_followup_permission(actor, "reassign")
    _guard(task, {T.RETURNED, T.DISPATCHED}, "reassign")


def do_reassign_task(
    actor: Any,
    task_id: int,
    *,
    lead_department_id: int,
    assisting_department_ids: Iterable[int] = (),
    note: str = "",
    now: datetime | None = None,
) -> FollowUpTask:
    """returned (or dispatched and not yet accepted) → dispatched to another department,
    with fresh clocks: the new department's time starts now."""
    now = now or timezone.now()
    note = _clean_reason(note, required=False)
    with transaction.atomic():
        task = lock_task(task_id)
        check_reassign_task(actor, task)
        lead, assisting = _departments(lead_department_id, assisting_department_ids)
        _dispatch(task, actor, "reassign", lead, assisting, note, now)
    transaction.on_commit(_kick_delivery)
    return task


def check_dismiss_task(actor: Any, task: FollowUpTask) -> None:
    require_followup_permission(actor, "dismiss")
    _guard(task, {T.PENDING, T.RETURNED}, "dismiss")


def do_dismiss_task(
    actor: Any, task_id: int, reason: str, *, now: datetime | None = None
) -> FollowUpTask:
    """pending or returned → dismissed: spam, abuse, or nothing any department can handle.
    The reason is kept; the task counts for no department."""
    now = now or timezone.now()
    reason = _clean_reason(reason)
    with transaction.atomic():
        task = lock_task(task_id)
        check_dismiss_task(actor, task)
        task.closed_at = now
        task.lead_department = None
        deadlines.stop_clocks(task, now)
        _transition(task, T.DISMISSED, actor, "dismiss", now, note=reason)
    return task


# --- the department: accept or return ------------------------------------------------------


def check_accept_task(actor: Any, task: FollowUpTask) -> None:
    require_followup_permission(actor, "accept")
    require_member(actor, task.lead_department_id)
    _guard(task, {T.DISPATCHED}, "accept")


def do_accept_task(actor: Any, task_id: int, *, now: datetime | None = None) -> FollowUpTask:
    """dispatched → in progress (签收). The accept clock stops; the reply clock runs on."""
    now = now or timezone.now()
    with transaction.atomic():
        task = lock_task(task_id)
        check_accept_task(actor, task)
        task.accepted_at = now
        late = task.accept_deadline is not None and now > task.accept_deadline
        _transition(task, T.IN_PROGRESS, actor, "accept", now, note=_("late") if late else "")
    return task


def check_return_task(actor: Any, task: FollowUpTask) -> None:
    require_followup_permission(actor, "return")
    require_member(actor, task.lead_department_id)
    _guard(task, {T.DISPATCHED}, "return")


def do_return_task(
    actor: Any, task_id: int, reason: str, *, now: datetime | None = None
) -> FollowUpTask:
    """dispatched → returned (退单) with the department's reason; staff reassign it. The
    department is taken off the task and its clocks stop."""
    now = now or timezone.now()
    reason = _clean_reason(reason)
    with transaction.atomic():
        task = lock_task(task_id)
        check_return_task(actor, task)
        department = task.lead_department
        task.return_count += 1
        task.lead_department = None
        deadlines.stop_clocks(task, now)
        _transition(task, T.RETURNED, actor, "return", now, note=reason, department=department)
        task.assisting_departments.clear()
    return task


# --- working: wait for the citizen, extensions ---------------------------------------------


def check_wait_for_citizen(actor: Any, task: FollowUpTask) -> None:
    require_followup_permission(actor, "wait")
    require_member(actor, task.lead_department_id)
    _guard(task, {T.IN_PROGRESS}, "wait")


def do_wait_for_citizen(
    actor: Any, task_id: int, reason: str, *, now: datetime | None = None
) -> FollowUpTask:
    """in progress → waiting for the citizen (e.g. documents to supply): the reply clock
    pauses; the reason is logged."""
    now = now or timezone.now()
    reason = _clean_reason(reason)
    with transaction.atomic():
        task = lock_task(task_id)
        check_wait_for_citizen(actor, task)
        deadlines.pause_reply_clock(task, now)
        task.wait_reason = reason
        _transition(task, T.WAITING_CITIZEN, actor, "wait", now, note=reason)
    return task


def check_resume_task(actor: Any, task: FollowUpTask) -> None:
    require_followup_permission(actor, "resume")
    if "view_all" not in _perms(actor):  # staff may resume any task; a department its own
        require_member(actor, task.lead_department_id)
    _guard(task, {T.WAITING_CITIZEN}, "resume")


def _perms(actor: Any) -> frozenset[str]:
    from hub.followup.permissions import followup_permissions

    return followup_permissions(actor)


def do_resume_task(
    actor: Any, task_id: int, note: str = "", *, now: datetime | None = None
) -> FollowUpTask:
    """waiting for the citizen → in progress: the reply clock runs again, and the deadline
    moves by the working time spent waiting."""
    now = now or timezone.now()
    note = _clean_reason(note, required=False)
    with transaction.atomic():
        task = lock_task(task_id)
        check_resume_task(actor, task)
        deadlines.resume_reply_clock(task, now)
        task.wait_reason = ""
        _transition(task, T.IN_PROGRESS, actor, "resume", now, note=note)
    return task


def check_request_extension(actor: Any, task: FollowUpTask, days: int) -> None:
    require_followup_permission(actor, "request_extension")
    require_member(actor, task.lead_department_id)
    _guard(task, {T.IN_PROGRESS}, "request_extension")
    _check_extension_days(task, days)


def _check_extension_days(task: FollowUpTask, days: int) -> None:
    policy = deadlines.policy_for(task)
    most = deadlines.max_extension_days(task, policy)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= most:
        if most == 0:
            raise DomainError(
                _(
                    "No extension is possible: the reply time is at its maximum of %(max)s "
                    "working days"
                )
                % {"max": policy.max_reply_days},
                code="extension_limit",
            )
        raise DomainError(
            _("An extension is 1 to %(most)s working days (at most %(max)s in total)")
            % {"most": most, "max": policy.max_reply_days},
            code="bad_days",
        )


def do_request_extension(
    actor: Any, task_id: int, days: int, reason: str, *, now: datetime | None = None
) -> FollowUpTask:
    """in progress → extension requested (a complex case): the clock keeps running while
    staff decide."""
    now = now or timezone.now()
    reason = _clean_reason(reason)
    with transaction.atomic():
        task = lock_task(task_id)
        check_request_extension(actor, task, days)
        task.requested_extension_days = days
        _transition(
            task,
            T.EXTENSION_REQUESTED,
            actor,
            "request_extension",
            now,
            note=f"+{days}: {reason}",
        )
    return task


def check_approve_extension(actor: Any, task: FollowUpTask, days: int) -> None:
    require_followup_permission(actor, "approve_extension")
    _guard(task, {T.EXTENSION_REQUESTED}, "approve_extension")
    _check_extension_days(task, days)


def do_approve_extension(
    actor: Any,
    task_id: int,
    days: int | None = None,
    note: str = "",
    *,
    now: datetime | None = None,
) -> FollowUpTask:
    """extension requested → in progress with ``days`` (default: as requested) more
    working days; the total never exceeds the policy's maximum (15 by default). The new
    deadline gets its own warning and supervision steps."""
    now = now or timezone.now()
    note = _clean_reason(note, required=False)
    with transaction.atomic():
        task = lock_task(task_id)
        granted = task.requested_extension_days if days is None else days
        check_approve_extension(actor, task, granted)
        deadlines.extend_reply_budget(task, granted, now)
        task.requested_extension_days = 0
        _transition(
            task, T.IN_PROGRESS, actor, "approve_extension", now, note=f"+{granted}: {note}"
        )
    return task


def check_refuse_extension(actor: Any, task: FollowUpTask) -> None:
    require_followup_permission(actor, "refuse_extension")
    _guard(task, {T.EXTENSION_REQUESTED}, "refuse_extension")


def do_refuse_extension(
    actor: Any, task_id: int, reason: str, *, now: datetime | None = None
) -> FollowUpTask:
    """extension requested → in progress; the deadline stands."""
    now = now or timezone.now()
    reason = _clean_reason(reason)
    with transaction.atomic():
        task = lock_task(task_id)
        check_refuse_extension(actor, task)
        task.requested_extension_days = 0
        _transition(task, T.IN_PROGRESS, actor, "refuse_extension", now, note=reason)
    return task


# --- the reply and its three reviews (三审) --------------------------------------------------

#: Task states in which the department may write, review and publish its reply.
REPLYING_STATES = WORKING_STATES


def current_reply(task: FollowUpTask) -> TaskReply | None:
    """The reply of the task's current round (a reopened task starts a new round)."""
    return TaskReply.objects.filter(task=task, round=task.reopen_count + 1).first()


def latest_published_reply(task: FollowUpTask) -> TaskReply | None:
    return (
        TaskReply.objects.filter(task=task, stage=ReplyStage.PUBLISHED).order_by("-round").first()
    )


def _lock_reply(task: FollowUpTask) -> TaskReply:
    reply = (
        TaskReply.objects.select_for_update().filter(task=task, round=task.reopen_count + 1).first()
    )
    if reply is None:
        raise IllegalTransition(
            _("Task #%(id)s has no reply yet; write one first") % {"id": task.pk},
            code="no_reply",
        )
    return reply


def _guard_stage(reply: TaskReply, allowed: Iterable[str], action: str) -> None:
    if reply.stage not in allowed:
        raise IllegalTransition(
            _("Cannot %(action)s task #%(id)s: its reply is %(stage)s")
            % {
                "action": ACTION_VERBS.get(action, action),
                "id": reply.task_id,
                "stage": reply.get_stage_display(),
            },
            code="bad_stage",
        )


def _clear_signatures(reply: TaskReply) -> None:
    reply.editor = reply.section_head = reply.leader = None
    reply.editor_at = reply.section_head_at = reply.leader_at = None
    reply.signers = {}


def check_save_reply(actor: Any, task: FollowUpTask) -> None:
    require_followup_permission(actor, "draft_reply")
    require_member(actor, task.lead_department_id)
    _guard(task, REPLYING_STATES, "draft_reply")


def do_save_reply(actor: Any, task_id: int, text: str, *, now: datetime | None = None) -> TaskReply:
    """Write or edit the reply of the current round. Editing a reply that was in review
    (or blocked by the tone check) sends it back to drafting: every review restarts,
    because the reviewers signed a different text. The tone check runs on every save so
    the department sees at once what would block publication."""
    now = now or timezone.now()
    text = (text or "").strip()
    if not text:
        raise DomainError(_("The reply cannot be empty"), code="empty_reply")
    if len(text) > REPLY_MAX_CHARS:
        raise DomainError(
            _("The reply is %(n)s characters; the limit is %(max)s")
            % {"n": len(text), "max": REPLY_MAX_CHARS},
            code="too_long",
        )
    flags = [flag.as_dict() for flag in check_tone(text)]
    with transaction.atomic():
        task = lock_task(task_id)
        check_save_reply(actor, task)
        reply = current_reply(task)
        if reply is None:
            assert task.lead_department is not None  # a working task always has one
            reply = TaskReply.objects.create(
                task=task,
                round=task.reopen_count + 1,
                department=task.lead_department,
                text=text,
                drafted_by=actor,
                tone_flags=flags,
                created_at=now,
                updated_at=now,
            )
            note = ""
        else:
            _guard_stage(
                reply,
                {
                    ReplyStage.DRAFTING,
                    ReplyStage.SECTION_REVIEW,
                    ReplyStage.LEADER_REVIEW,
                    ReplyStage.BLOCKED,
                },
                "draft_reply",
            )
            note = _("review restarts") if reply.stage != ReplyStage.DRAFTING else ""
            _clear_signatures(reply)
            reply.text = text
            reply.stage = ReplyStage.DRAFTING
            reply.tone_flags = flags
            reply.drafted_by = actor
            reply.updated_at = now
            reply.save()
        _event(task, actor, "reply_saved", now, from_state=task.state, note=note)
    return reply


def check_review_reply(actor: Any, task: FollowUpTask) -> None:
    require_followup_permission(actor, "review_reply")
    require_member(actor, task.lead_department_id)
    _guard(task, REPLYING_STATES, "review_reply")


def _require_other_signer(actor: Any, reply: TaskReply, *fields: str) -> None:
    for field in fields:
        if getattr(reply, f"{field}_id") == getattr(actor, "pk", None):
            raise DomainError(
                _("Each of the three reviews must be signed by a different person"),
                code="same_reviewer",
            )


def _sign(reply: TaskReply, actor: Any, level: str, now: datetime) -> None:
    setattr(reply, level, actor)
    setattr(reply, f"{level}_at", now)
    reply.signers = {**reply.signers, level: display_name(actor)}
    reply.updated_at = now


def do_editor_approve_reply(actor: Any, task_id: int, *, now: datetime | None = None) -> TaskReply:
    """First review (一审, the editor): drafting → awaiting the section head."""
    now = now or timezone.now()
    with transaction.atomic():
        task = lock_task(task_id)
        check_review_reply(actor, task)
        reply = _lock_reply(task)
        _guard_stage(reply, {ReplyStage.DRAFTING}, "review_reply")
        _sign(reply, actor, "editor", now)
        reply.stage = ReplyStage.SECTION_REVIEW
        reply.save()
        _event(task, actor, "review_editor", now, from_state=task.state)
    return reply


def do_section_approve_reply(actor: Any, task_id: int, *, now: datetime | None = None) -> TaskReply:
    """Second review (二审, the section head): → awaiting the leader's sign-off."""
    now = now or timezone.now()
    with transaction.atomic():
        task = lock_task(task_id)
        check_review_reply(actor, task)
        reply = _lock_reply(task)
        _guard_stage(reply, {ReplyStage.SECTION_REVIEW}, "review_reply")
        _require_other_signer(actor, reply, "editor")
        _sign(reply, actor, "section_head", now)
        reply.stage = ReplyStage.LEADER_REVIEW
        reply.save()
        _event(task, actor, "review_section", now, from_state=task.state)
    return reply


def do_sign_off_reply(actor: Any, task_id: int, *, now: datetime | None = None) -> TaskReply:
    """Third review (三审, the leader's sign-off). The tone check runs again on the final
    text (the phrase list may have changed): clean → published; flagged → blocked until
    the text is edited (reviews restart) or staff override with a reason."""
    now = now or timezone.now()
    with transaction.atomic():
        task = lock_task(task_id)
        check_review_reply(actor, task)
        reply = _lock_reply(task)
        _guard_stage(reply, {ReplyStage.LEADER_REVIEW}, "review_reply")
        _require_other_signer(actor, reply, "editor", "section_head")
        _sign(reply, actor, "leader", now)
        reply.tone_flags = [flag.as_dict() for flag in check_tone(reply.text)]
        if reply.tone_flags:
            reply.stage = ReplyStage.BLOCKED
            reply.save()
            _event(
                task,
                actor,
                "reply_blocked",
                now,
                from_state=task.state,
                note=", ".join(f["term"] for f in reply.tone_flags),
            )
        else:
            _publish_reply(task, reply, actor, now)
    if reply.stage == ReplyStage.PUBLISHED:
        transaction.on_commit(_kick_delivery)
    return reply


def check_send_back_reply(actor: Any, task: FollowUpTask) -> None:
    check_review_reply(actor, task)


def do_send_back_reply(
    actor: Any, task_id: int, note: str, *, now: datetime | None = None
) -> TaskReply:
    """A reviewer sends the reply back to drafting with a note; signatures are cleared."""
    now = now or timezone.now()
    note = _clean_reason(note, what="note")
    with transaction.atomic():
        task = lock_task(task_id)
        check_send_back_reply(actor, task)
        reply = _lock_reply(task)
        _guard_stage(
            reply,
            {ReplyStage.SECTION_REVIEW, ReplyStage.LEADER_REVIEW, ReplyStage.BLOCKED},
            "review_reply",
        )
        _clear_signatures(reply)
        reply.stage = ReplyStage.DRAFTING
        reply.updated_at = now
        reply.save()
        _event(task, actor, "reply_sent_back", now, from_state=task.state, note=note)
    return reply


def check_override_tone(actor: Any, task: FollowUpTask) -> None:
    require_followup_permission(actor, "override_tone")
    _guard(task, REPLYING_STATES, "override_tone")


def do_override_tone(
    actor: Any, task_id: int, reason: str, *, now: datetime | None = None
) -> TaskReply:
    """Staff publish a reply the tone check blocked (a false alarm, e.g. the phrase is
    quoted from the citizen), with the reason recorded. The override is listed in the
    weekly report's bad cases."""
    now = now or timezone.now()
    reason = _clean_reason(reason)
    with transaction.atomic():
        task = lock_task(task_id)
        check_override_tone(actor, task)
        reply = _lock_reply(task)
        _guard_stage(reply, {ReplyStage.BLOCKED}, "override_tone")
        reply.tone_override_reason = reason
        reply.tone_override_by = actor
        reply.tone_override_at = now
        _event(task, actor, "tone_override", now, from_state=task.state, note=reason)
        _publish_reply(task, reply, actor, now)
    transaction.on_commit(_kick_delivery)
    return reply


def _publish_reply(task: FollowUpTask, reply: TaskReply, actor: Any, now: datetime) -> None:
    """Publish inside the caller's transaction: the reply clock stops (on time when the
    working time used is within the budget), the task is replied, askers are told."""
    reply.stage = ReplyStage.PUBLISHED
    reply.published_at = now
    reply.updated_at = now
    reply.save()
    deadlines.pause_reply_clock(task, now)
    task.replied_at = now
    task.replied_on_time = task.reply_budget is None or task.reply_used <= task.reply_budget
    task.requested_extension_days = 0
    task.wait_reason = ""
    _transition(task, T.REPLIED, actor, "reply_published", now)
    for asker in task.askers.select_related("question"):
        channel, address = asker_address(asker.question.contact)
        if channel != "sms":
            continue
        claim_notice(
            task,
            NoticeKind.REPLY_PUBLISHED,
            generation=reply.round,
            recipient=f"asker:{asker.pk}",
            audience=NoticeAudience.ASKER,
            channel=channel,
            address=address,
            message=_message(
                gettext_noop(
                    "%(department)s has replied to your question (follow-up no. %(id)s). Read "
                    "the reply and rate it with your private code."
                ),
                department=reply.department.name,
                id=task.pk,
            ),
            now=now,
        )


# --- evaluation ----------------------------------------------------------------------------


def _check_verdict(resolved: str, satisfaction: str) -> None:
    if resolved not in Resolution.values:
        raise DomainError(
            _("Resolved must be one of: %(choices)s") % {"choices": ", ".join(Resolution.values)},
            code="bad_resolved",
        )
    if satisfaction not in Satisfaction.values:
        raise DomainError(
            _("Satisfaction must be one of: %(choices)s")
            % {"choices": ", ".join(Satisfaction.values)},
            code="bad_satisfaction",
        )


def _record_evaluation(
    task: FollowUpTask,
    asker: TaskAsker,
    resolved: str,
    satisfaction: str,
    comment: str,
    source: str,
    actor: Any,
    now: datetime,
) -> Evaluation:
    reply = latest_published_reply(task)
    if reply is None:
        raise IllegalTransition(
            _("Task #%(id)s has no published reply to evaluate yet") % {"id": task.pk},
            code="no_reply",
        )
    if Evaluation.objects.filter(reply=reply, asker=asker).exists():
        raise IllegalTransition(
            _("This reply has been evaluated already; each asker rates each reply once"),
            code="already_evaluated",
        )
    try:
        with transaction.atomic():
            evaluation = Evaluation.objects.create(
                task=task,
                reply=reply,
                asker=asker,
                department=reply.department,
                resolved=resolved,
                satisfaction=satisfaction,
                comment=comment,
                source=source,
                recorded_by=actor if getattr(actor, "is_authenticated", False) else None,
                at=now,
            )
    except IntegrityError:
        raise IllegalTransition(
            _("This reply has been evaluated already; each asker rates each reply once"),
            code="already_evaluated",
        ) from None
    _event(
        task,
        actor,
        "evaluated",
        now,
        from_state=task.state,
        note=f"{source}: {resolved}/{satisfaction}",
        department=reply.department,
        system_label="asker",
    )
    if (
        resolved == Resolution.NO
        and satisfaction == Satisfaction.UNSATISFIED
        and task.reopen_count < REOPEN_LIMIT
        and not task.reopen_requested
    ):
        task.reopen_requested = True
        task.updated_at = now
        task.save(update_fields=["reopen_requested", "updated_at"])
        _event(task, None, "reopen_requested", now, from_state=task.state, system_label="asker")
    return evaluation


def do_evaluate_by_code(
    code: str,
    resolved: str,
    satisfaction: str,
    comment: str = "",
    *,
    now: datetime | None = None,
) -> Evaluation:
    """The asker rates the published reply with the private code: resolved (yes / partly
    / no), satisfied (满意 / 基本满意 / 不满意) and a comment. Once per reply. An
    unresolved and unsatisfying verdict asks staff to review a reopening (once per task)."""
    now = now or timezone.now()
    _check_verdict(resolved, satisfaction)
    comment = _clean_reason(comment, required=False)
    question = question_for_code(code)
    if question is None:
        raise NotFound(_("This code is not valid; check it and try again"), code="bad_code")
    asker = TaskAsker.objects.filter(question=question).first()
    if asker is None:
        raise IllegalTransition(
            _("Your question has no follow-up task; there is nothing to evaluate"),
            code="no_task",
        )
    with transaction.atomic():
        task = lock_task(asker.task_id)
        return _record_evaluation(
            task, asker, resolved, satisfaction, comment, EvaluationSource.CODE, None, now
        )


def check_record_callback(actor: Any, task: FollowUpTask) -> None:
    require_followup_permission(actor, "record_callback")


def do_record_callback(
    actor: Any,
    task_id: int,
    asker_id: int,
    resolved: str,
    satisfaction: str,
    comment: str = "",
    *,
    now: datetime | None = None,
) -> Evaluation:
    """Hotline staff record the result of a callback (回访) on the asker's behalf (an
    asker without a code, e.g. an anonymous caller). Same rules as the code."""
    now = now or timezone.now()
    _check_verdict(resolved, satisfaction)
    comment = _clean_reason(comment, required=False)
    with transaction.atomic():
        task = lock_task(task_id)
        check_record_callback(actor, task)
        asker = TaskAsker.objects.filter(pk=asker_id, task=task).first()
        if asker is None:
            raise NotFound(
                _("Asker #%(id)s is not on this task") % {"id": asker_id}, code="not_found"
            )
        return _record_evaluation(
            task, asker, resolved, satisfaction, comment, EvaluationSource.CALLBACK, actor, now
        )


# --- closing and reopening -------------------------------------------------------------------


def check_close_task(actor: Any, task: FollowUpTask) -> None:
    require_followup_permission(actor, "close")
    _guard(task, {T.REPLIED}, "close")


def do_close_task(
    actor: Any, task_id: int, resolved: bool, note: str = "", *, now: datetime | None = None
) -> FollowUpTask:
    """replied → closed resolved or closed unresolved (staff, after the evaluations and
    callbacks). Closing declines a pending reopen request."""
    now = now or timezone.now()
    note = _clean_reason(note, required=False)
    with transaction.atomic():
        task = lock_task(task_id)
        check_close_task(actor, task)
        task.closed_at = now
        task.reopen_requested = False
        _transition(
            task,
            T.CLOSED_RESOLVED if resolved else T.CLOSED_UNRESOLVED,
            actor,
            "close",
            now,
            note=note,
        )
    return task


def check_reopen_task(actor: Any, task: FollowUpTask) -> None:
    require_followup_permission(actor, "reopen")
    _guard(task, {T.REPLIED, T.CLOSED_RESOLVED, T.CLOSED_UNRESOLVED}, "reopen")
    if task.reopen_count >= REOPEN_LIMIT:
        raise IllegalTransition(
            _("Task #%(id)s was reopened already; a task is reopened at most %(n)s time(s)")
            % {"id": task.pk, "n": REOPEN_LIMIT},
            code="reopen_limit",
        )
    if task.lead_department_id is None:
        raise IllegalTransition(_("The task has no lead department"), code="no_department")


def do_reopen_task(
    actor: Any, task_id: int, reason: str, *, now: datetime | None = None
) -> FollowUpTask:
    """→ in progress again (重办, counted as a redo), after staff reviewed an unresolved,
    unsatisfying verdict: the same department gets a fresh reply clock and writes a new
    reply (round 2). Allowed once per task."""
    now = now or timezone.now()
    reason = _clean_reason(reason)
    with transaction.atomic():
        task = lock_task(task_id)
        check_reopen_task(actor, task)
        task.reopen_count += 1
        task.reopen_requested = False
        task.closed_at = None
        task.replied_at = None
        task.replied_on_time = None
        deadlines.restart_reply_clock(task, deadlines.policy_for(task), now)
        _transition(task, T.IN_PROGRESS, actor, "reopen", now, note=reason)
    return task


# --- the public online evaluation (网上评议) -------------------------------------------------


#: How long a reply's per-address vote count is kept.
VOTE_CAP_TTL_SECONDS = 365 * 24 * 3600


def do_vote_on_reply(
    browser_id: str,
    task_id: int,
    verdict: str,
    *,
    now: datetime | None = None,
    address: str | None = None,
) -> PublicVote:
    """Anyone rates the published reply of a public task: once per browser id.

    ``browser_id`` must be a verified page-issued id (:func:`hub.browser.
    check_browser_may_count`). With ``address`` (the client address; the API always
    passes it) the vote also takes one of the address's
    ``HUB_VOTES_PER_ADDRESS_PER_TASK`` for this task's current reply, or is refused with
    :class:`~hub.throttle.AddressLimitReached` (a reopened task's new reply is a new
    round, rated afresh).
    """
    now = now or timezone.now()
    if not browser_id:
        raise NoBrowserId(_("Your browser has no visitor id: reload the page and try again"))
    if verdict not in Satisfaction.values:
        raise DomainError(
            _("The verdict must be one of: %(choices)s")
            % {"choices": ", ".join(Satisfaction.values)},
            code="bad_verdict",
        )
    task = FollowUpTask.objects.filter(pk=task_id, is_public=True).first()
    if task is None:
        raise NotFound(_("Follow-up task #%(id)s does not exist") % {"id": task_id})
    reply = latest_published_reply(task)
    if reply is None:
        raise IllegalTransition(
            _("Task #%(id)s has no published reply to evaluate yet") % {"id": task.pk},
            code="no_reply",
        )
    already = IllegalTransition(_("You have rated this reply already"), code="already_voted")
    if PublicVote.objects.filter(reply=reply, browser_id=browser_id).exists():
        raise already
    slot = None
    if address is not None:
        cap = settings.HUB_VOTES_PER_ADDRESS_PER_TASK
        slot = take_slot(f"vote:{reply.pk}", address, cap, VOTE_CAP_TTL_SECONDS)
        if slot is None:
            raise AddressLimitReached(
                _("Too many ratings of this reply from your network (at most %(n)s per address)")
                % {"n": cap}
            )
    try:
        with transaction.atomic():
            return PublicVote.objects.create(
                reply=reply,
                department=reply.department,
                browser_id=browser_id,
                verdict=verdict,
                at=now,
            )
    except IntegrityError:
        if slot is not None:
            slot.give_back()
        raise already from None
