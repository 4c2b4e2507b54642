"""A session's lifecycle: announced → collecting → live → ended.

Ending a session turns every question that was neither answered nor rejected into
``unanswered``, ready for follow-up work. Same locking contract as the queue actions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from hub.actions.common import publish_staff_question, write_audit
from hub.errors import DomainError, IllegalTransition
from hub.events import lock_session, record_public_event, send_console_event
from hub.models import LiveSession, Question, QuestionState, SessionStatus
from hub.presenters import session_info
from hub.protocol import UnansweredData
from hub.roles import require_permission

St = SessionStatus


def _guard(session: LiveSession, allowed: set[str], to: str) -> None:
    if session.status not in allowed:
        raise IllegalTransition(
            _("Cannot move the session from %(from)s to %(to)s")
            % {"from": session.get_status_display(), "to": St(to).label}
        )


def _publish_session(session: LiveSession, now: datetime) -> None:
    session.refresh_from_db()
    info = session_info(session)
    record_public_event(session, "session_state", info, now)
    send_console_event(session.pk, "session_state", info, now)


def check_open_collection(actor: Any, session: LiveSession) -> None:
    require_permission(actor, "set_status")
    _guard(session, {St.ANNOUNCED}, St.COLLECTING)


def do_open_collection(actor: Any, session_id: int, *, now: datetime | None = None) -> LiveSession:
    """announced → collecting: questions are taken before the broadcast starts."""
    now = now or timezone.now()
    with transaction.atomic():
        session = lock_session(session_id)
        check_open_collection(actor, session)
        _set_status(session, St.COLLECTING, actor, now)
        _publish_session(session, now)
    return session


def check_go_live(actor: Any, session: LiveSession) -> None:
    require_permission(actor, "set_status")
    _guard(session, {St.ANNOUNCED, St.COLLECTING}, St.LIVE)


def do_go_live(actor: Any, session_id: int, *, now: datetime | None = None) -> LiveSession:
    """announced or collecting → live."""
    now = now or timezone.now()
    with transaction.atomic():
        session = lock_session(session_id)
        check_go_live(actor, session)
        session.started_at = now
        _set_status(session, St.LIVE, actor, now, fields=("started_at",))
        _publish_session(session, now)
    return session


def check_end_session(actor: Any, session: LiveSession) -> None:
    require_permission(actor, "set_status")
    _guard(session, {St.LIVE}, St.ENDED)


def do_end_session(actor: Any, session_id: int, *, now: datetime | None = None) -> LiveSession:
    """live → ended; every question neither answered nor rejected becomes unanswered."""
    now = now or timezone.now()
    with transaction.atomic():
        session = lock_session(session_id)
        check_end_session(actor, session)
        session.ended_at = now
        _set_status(session, St.ENDED, actor, now, fields=("ended_at",))
        open_questions = list(
            Question.objects.select_for_update()
            .filter(session=session)
            .exclude(
                state__in=[
                    QuestionState.ANSWERED,
                    QuestionState.REJECTED,
                    QuestionState.UNANSWERED,
                    QuestionState.MERGED,  # handled with the question it was merged into
                ]
            )
        )
        public_ids = []
        for question in open_questions:
            from_state = question.state
            was_public = question.is_public
            question.state = QuestionState.UNANSWERED
            question.queue_position = None
            question.save(update_fields=["state", "queue_position"])
            write_audit(
                session_id=session.pk,
                question=question,
                actor=actor,
                action="session_end",
                now=now,
                from_state=from_state,
                to_state=QuestionState.UNANSWERED,
            )
            if was_public:
                public_ids.append(question.pk)
            publish_staff_question(question, now)
        _publish_session(session, now)
        if public_ids:
            record_public_event(
                session, "questions_unanswered", UnansweredData(ids=public_ids), now
            )
        # Every unanswered merged group becomes a follow-up task (hub.followup), after this
        # commit; robust: a failure is logged and the follow-up timer tick repairs it.
        from hub.followup.actions import create_tasks_after_session_end

        transaction.on_commit(lambda: create_tasks_after_session_end(session.pk), robust=True)
    return session


def _set_status(
    session: LiveSession, status: str, actor: Any, now: datetime, fields: tuple[str, ...] = ()
) -> None:
    from_status = session.status
    session.status = status
    session.save(update_fields=["status", *fields])
    write_audit(
        session_id=session.pk,
        question=None,
        actor=actor,
        action="session_status",
        now=now,
        from_state=from_status,
        to_state=status,
    )


def do_set_session_status(
    actor: Any, session_id: int, status: str, *, now: datetime | None = None
) -> LiveSession:
    """Dispatch a console ``set_status`` command to the one transition it names."""
    if status == St.COLLECTING:
        return do_open_collection(actor, session_id, now=now)
    if status == St.LIVE:
        return do_go_live(actor, session_id, now=now)
    if status == St.ENDED:
        return do_end_session(actor, session_id, now=now)
    raise DomainError(_("Unknown session status %(s)s") % {"s": status}, code="bad_status")


def do_publish_session_details(session_id: int, *, now: datetime | None = None) -> None:
    """After staff edit a session's title, schedule or guests in the admin, tell viewers."""
    now = now or timezone.now()
    with transaction.atomic():
        session = lock_session(session_id)
        _publish_session(session, now)


def do_create_session(
    actor: Any,
    *,
    slug: str,
    kind: str,
    title: str,
    scheduled_start: datetime,
    scheduled_end: datetime,
    description: str = "",
    guests: list[dict[str, str]] | None = None,
    departments: list[Any] | None = None,
    microblog_hashtag: str = "",
    now: datetime | None = None,
) -> LiveSession:
    """Announce a new session (status ``announced``)."""
    now = now or timezone.now()
    require_permission(actor, "set_status")
    if scheduled_end <= scheduled_start:
        raise DomainError(_("The session must end after it starts"), code="bad_schedule")
    if LiveSession.objects.filter(slug=slug).exists():
        raise DomainError(_("A session with this slug exists"), code="duplicate_slug")
    with transaction.atomic():
        session = LiveSession.objects.create(
            slug=slug,
            kind=kind,
            title=title,
            description=description,
            scheduled_start=scheduled_start,
            scheduled_end=scheduled_end,
            guests=guests or [],
            microblog_hashtag=microblog_hashtag.strip("#"),
        )
        session.departments.set(departments or [])
        write_audit(
            session_id=session.pk,
            question=None,
            actor=actor,
            action="session_create",
            now=now,
            to_state=session.status,
        )
    return session
