"""Turn follow-up models into API shapes. The only place that decides what the public,
an asker (by private code), a department and staff may see of a task.

Public views never carry askers' names, contacts, browser ids, internal notes (return
reasons, wait reasons, review notes) or anything of a private question; the text shown is
``FollowUpTask.public_text`` (host-approved and masked for personal data).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from hub.followup import deadlines
from hub.followup.models import (
    CLOSED_STATES,
    FollowUpTask,
    PublicVote,
    ReplyStage,
    TaskEvent,
    TaskReply,
    TaskState,
)
from hub.followup.schemas import (
    DepartmentRef,
    ReplyPublic,
    ReplyStaff,
    Signature,
    StaffAsker,
    StaffEvent,
    StaffTask,
    TaskPublic,
    TaskPublicDetail,
    TimelineEntry,
    VoteTally,
)
from hub.models import Department
from hub.presenters import mask_contact
from moderation.sectors import Sector

#: What each timeline action is called on the public page and in the work pages.
ACTION_LABELS: dict[str, Any] = {
    "create": _("Unanswered in the session; became a follow-up task"),
    "assign": _("Assigned"),
    "reassign": _("Reassigned"),
    "dismiss": _("Dismissed"),
    "accept": _("Accepted by the department"),
    "return": _("Returned by the department"),
    "wait": _("Waiting for the citizen (clock paused)"),
    "resume": _("Handling resumed"),
    "request_extension": _("Extension requested"),
    "approve_extension": _("Extension approved"),
    "refuse_extension": _("Extension refused"),
    "reply_saved": _("Reply drafted"),
    "review_editor": _("Reply passed the editor's review"),
    "review_section": _("Reply passed the section head's review"),
    "reply_blocked": _("Reply blocked by the tone check"),
    "reply_sent_back": _("Reply sent back for editing"),
    "tone_override": _("Tone check overridden by staff"),
    "reply_published": _("Reply published"),
    "evaluated": _("Evaluated by an asker"),
    "reopen_requested": _("Asker asked for the task to be reopened"),
    "close": _("Closed"),
    "reopen": _("Reopened (redo)"),
    "supervision_1": _("Supervision: notice to the department"),
    "supervision_2": _("Supervision: reported to the leadership"),
}


def sector_label(code: str) -> str:
    try:
        return str(Sector(code).label)
    except ValueError:
        return code


def department_ref(department: Department | None) -> DepartmentRef | None:
    if department is None:
        return None
    return DepartmentRef(id=department.pk, name=department.name, level=department.level)


def is_overdue(task: FollowUpTask, now: datetime) -> bool:
    """Not accepted in time, or the reply clock has used more than its budget (a paused
    clock counts what it had used; a replied task counts whether it replied late)."""
    if task.state == TaskState.DISPATCHED and task.accept_deadline and now > task.accept_deadline:
        return True
    if task.state in CLOSED_STATES or task.state == TaskState.REPLIED:
        return task.replied_on_time is False
    if task.reply_budget is None or task.state in (TaskState.PENDING, TaskState.RETURNED):
        return False
    return deadlines.reply_used(task, now) > task.reply_budget


def _common(task: FollowUpTask, now: datetime) -> dict[str, Any]:
    return {
        "id": task.pk,
        "session_slug": task.session.slug,
        "session_title": task.session.title,
        "text": task.public_text,
        "sector": task.sector,
        "sector_label": sector_label(task.sector),
        "channel": task.channel,
        "askers": task.askers_count,
        "state": task.state,
        "state_label": str(task.get_state_display()),
        "is_open": task.is_open,
        "lead_department": department_ref(task.lead_department),
        "assisting_departments": [
            department_ref(d) for d in task.assisting_departments.all() if d is not None
        ],
        "created_at": task.created_at,
        "dispatched_at": task.dispatched_at,
        "accept_deadline": task.accept_deadline,
        "accepted_at": task.accepted_at,
        "reply_deadline": task.reply_deadline,
        "reply_paused": task.state == TaskState.WAITING_CITIZEN,
        "replied_at": task.replied_at,
        "replied_on_time": task.replied_on_time,
        "closed_at": task.closed_at,
        "updated_at": task.updated_at,
        "supervision_level": task.supervision_level,
        "extension_days": task.extension_days,
        "reopen_count": task.reopen_count,
        "overdue": is_overdue(task, now),
    }


def public_task(task: FollowUpTask, now: datetime) -> TaskPublic:
    return TaskPublic(**_common(task, now))


def timeline(task: FollowUpTask, *, public_only: bool = True) -> list[TimelineEntry]:
    events: QuerySet[TaskEvent] = task.events.select_related("department").order_by("at", "id")
    if public_only:
        events = events.filter(public=True)
    return [
        TimelineEntry(
            at=e.at,
            action=e.action,
            label=str(ACTION_LABELS.get(e.action, e.action)),
            state=e.to_state,
            department=e.department.name if e.department else None,
            note=e.public_note,
        )
        for e in events
    ]


def _signature(reply: TaskReply, level: str) -> Signature | None:
    at = getattr(reply, f"{level}_at")
    if at is None:
        return None
    return Signature(name=str(reply.signers.get(level, "")), at=at)


def vote_tally(reply: TaskReply) -> VoteTally:
    counts = Counter(PublicVote.objects.filter(reply=reply).values_list("verdict", flat=True))
    return VoteTally(
        satisfied=counts.get("satisfied", 0),
        basic=counts.get("basic", 0),
        unsatisfied=counts.get("unsatisfied", 0),
    )


def public_reply(reply: TaskReply) -> ReplyPublic:
    assert reply.stage == ReplyStage.PUBLISHED and reply.published_at is not None
    return ReplyPublic(
        round=reply.round,
        text=reply.text,
        department=reply.department.name,
        published_at=reply.published_at,
        editor=_signature(reply, "editor"),
        section_head=_signature(reply, "section_head"),
        leader=_signature(reply, "leader"),
        tone_overridden=bool(reply.tone_override_reason),
        votes=vote_tally(reply),
    )


def published_replies(task: FollowUpTask) -> list[ReplyPublic]:
    rows = task.replies.filter(stage=ReplyStage.PUBLISHED).select_related("department")
    return [public_reply(r) for r in rows.order_by("round")]


def public_task_detail(task: FollowUpTask, now: datetime) -> TaskPublicDetail:
    return TaskPublicDetail(
        **_common(task, now), timeline=timeline(task), replies=published_replies(task)
    )


def staff_reply(reply: TaskReply) -> ReplyStaff:
    return ReplyStaff(
        round=reply.round,
        text=reply.text,
        department=reply.department.name,
        stage=reply.stage,
        stage_label=str(reply.get_stage_display()),
        drafted_by=reply.drafted_by.get_username() if reply.drafted_by else "",
        editor=_signature(reply, "editor"),
        section_head=_signature(reply, "section_head"),
        leader=_signature(reply, "leader"),
        tone_flags=list(reply.tone_flags or []),
        tone_override_reason=reply.tone_override_reason,
        published_at=reply.published_at,
        updated_at=reply.updated_at,
    )


def staff_task(task: FollowUpTask, now: datetime, *, with_details: bool = True) -> StaffTask:
    """The work view of a task, for staff and the lead department's members."""
    data = _common(task, now)
    data.update(
        is_public=task.is_public,
        question_id=task.question_id,
        visibility=task.question.visibility,
        assignment_note=task.assignment_note,
        wait_reason=task.wait_reason,
        requested_extension_days=task.requested_extension_days,
        reply_budget_days=(
            round(deadlines.working_days(task.reply_budget), 2) if task.reply_budget else None
        ),
        reply_used_days=round(deadlines.working_days(deadlines.reply_used(task, now)), 2),
        reopen_requested=task.reopen_requested,
        return_count=task.return_count,
        dispatch_count=task.dispatch_count,
    )
    if with_details:
        evaluated = set(task.evaluations.values_list("asker_id", "reply__round"))
        latest_round = task.replies.filter(stage=ReplyStage.PUBLISHED).order_by("-round").first()
        data["askers_detail"] = [
            StaffAsker(
                id=a.pk,
                question_id=a.question_id,
                channel=a.question.channel,
                name=a.question.asker_name,
                contact=mask_contact(a.question.contact),
                has_code=hasattr(a.question, "asker_code"),
                evaluated_latest=(
                    latest_round is not None and (a.pk, latest_round.round) in evaluated
                ),
            )
            for a in task.askers.select_related("question", "question__asker_code")
        ]
        data["replies"] = [
            staff_reply(r) for r in task.replies.select_related("department", "drafted_by")
        ]
        data["events"] = [
            StaffEvent(
                at=e.at,
                action=e.action,
                label=str(ACTION_LABELS.get(e.action, e.action)),
                actor=e.actor_label,
                from_state=e.from_state,
                to_state=e.to_state,
                department=e.department.name if e.department else None,
                note=e.note,
                public=e.public,
            )
            for e in task.events.select_related("department").order_by("at", "id")
        ]
    return StaffTask(**data)
