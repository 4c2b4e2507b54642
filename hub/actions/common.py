"""Helpers shared by the action modules: locking, audit rows, question events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils.translation import gettext as _

from hub.errors import NotFound
from hub.events import lock_session, send_console_event
from hub.models import AuditEntry, LiveSession, Question
from hub.presenters import staff_question
from hub.roles import actor_label


def lock_question(session_id: int, question_id: int) -> tuple[LiveSession, Question]:
    """Lock the session row, then the question row (always in that order: no deadlocks).

    Must be called inside ``transaction.atomic()``. Raises :class:`NotFound` when the
    question does not belong to the session.
    """
    session = lock_session(session_id)
    try:
        question = (
            Question.objects.select_for_update()
            .select_related("session")
            .get(pk=question_id, session_id=session_id)
        )
    except Question.DoesNotExist:
        raise NotFound(_("Question #%(id)s is not in this session") % {"id": question_id}) from None
    return session, question


def audit_entry(
    *,
    session_id: int,
    question: Question | None,
    actor: Any,
    action: str,
    now: datetime,
    from_state: str = "",
    to_state: str = "",
    reason: str = "",
    note: str = "",
    system_label: str = "system",
) -> AuditEntry:
    """The audit row :func:`write_audit` saves, unsaved (batches ``bulk_create`` them)."""
    user = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    return AuditEntry(
        session_id=session_id,
        question=question,
        actor=user,
        actor_label=actor_label(actor, system_label),
        action=action,
        from_state=from_state,
        to_state=to_state,
        reason=reason,
        note=note,
        at=now,
    )


def write_audit(**fields: Any) -> AuditEntry:
    """Save one audit row (arguments of :func:`audit_entry`)."""
    entry = audit_entry(**fields)
    entry.save(force_insert=True)
    return entry


def publish_staff_question(question: Question, now: datetime) -> None:
    """Send the console the question's new staff view (after commit)."""
    question.refresh_from_db()
    send_console_event(question.session_id, "question", staff_question(question), now)
