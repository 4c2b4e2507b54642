"""The one intake function every channel goes through.

normalise → enforce limits → deduplicate by channel source id → store → screen → notify.

A question accepted by any channel is committed with its audit rows before the console
hears about it (publish after commit), and the console hears within the same tick.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from hub.actions.common import write_audit
from hub.errors import IntakeRejected
from hub.models import Channel, LiveSession, Question, QuestionState, Visibility
from hub.text import WIDTH_TABLE, normalise_text, to_simplified

__all__ = [
    "IntakeItem",
    "IntakeResult",
    "check_intake",
    "clean_contact",
    "do_intake_question",
    "normalise_text",
    "to_simplified",
]

_PHONE_SEPARATORS = re.compile(r"[\s\-()（）]")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^(0\d{2,3})?\d{7,8}$|^12345$|^\d{5}$")


def clean_contact(contact: str) -> str:
    """Return the phone number as digits, or raise with a clear message."""
    contact = contact.strip().translate(WIDTH_TABLE)
    if not contact:
        return ""
    digits = _PHONE_SEPARATORS.sub("", contact)
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    if not (_MOBILE.match(digits) or _LANDLINE.match(digits)):
        raise IntakeRejected(
            _("The contact must be a phone number, e.g. 13812345678 or 0527-12345678"),
            code="bad_contact",
        )
    return digits


@dataclass(frozen=True)
class IntakeItem:
    """One question as a channel adapter hands it over (raw, not yet normalised)."""

    session_id: int
    channel: str
    text: str
    source_id: str | None = None
    asker_name: str = ""
    asker_ref: str = ""
    contact: str = ""
    private: bool = False
    submitted_by: Any = None
    #: Adapters for third-party systems truncate over-long names instead of refusing.
    truncate_name: bool = False


@dataclass(frozen=True)
class IntakeResult:
    question: Question
    created: bool


def check_intake(item: IntakeItem) -> tuple[str, str, str]:
    """Validate and normalise; return (text, asker name, contact). Raises IntakeRejected."""
    if item.channel not in Channel.values:
        raise IntakeRejected(_("Unknown channel %(c)s") % {"c": item.channel}, code="bad_channel")
    if not isinstance(item.text, str):
        raise IntakeRejected(_("The question text must be a string"), code="bad_text")
    # Cheap bound before any work: a megabyte of text is refused without normalising it.
    if len(item.text) > settings.HUB_QUESTION_MAX_CHARS * 4:
        raise IntakeRejected(
            _("The question is too long: at most %(max)s characters")
            % {"max": settings.HUB_QUESTION_MAX_CHARS},
            code="too_long",
        )
    text = normalise_text(item.text)
    if len(text) < settings.HUB_QUESTION_MIN_CHARS:
        raise IntakeRejected(
            _("The question is too short: at least %(min)s characters")
            % {"min": settings.HUB_QUESTION_MIN_CHARS},
            code="too_short",
        )
    if len(text) > settings.HUB_QUESTION_MAX_CHARS:
        raise IntakeRejected(
            _("The question is too long: %(n)s characters, at most %(max)s")
            % {"n": len(text), "max": settings.HUB_QUESTION_MAX_CHARS},
            code="too_long",
        )
    name = normalise_text(item.asker_name or "", to_simplified=False).replace("\n", " ")
    if len(name) > settings.HUB_NAME_MAX_CHARS:
        if not item.truncate_name:
            raise IntakeRejected(
                _("The name is too long: at most %(max)s characters")
                % {"max": settings.HUB_NAME_MAX_CHARS},
                code="name_too_long",
            )
        name = name[: settings.HUB_NAME_MAX_CHARS]
    contact = clean_contact(item.contact or "")
    return text, name, contact


def do_intake_question(item: IntakeItem, *, now: datetime | None = None) -> IntakeResult:
    """Store one incoming question, once. The same (channel, source id) twice returns the
    question stored the first time with ``created=False`` and changes nothing.

    Locking: no session lock is taken (intake publishes no viewer event), so intake runs
    concurrently with moderation; the unique constraint on (channel, source id) decides
    races between two deliveries of the same item.
    """
    from moderation.actions import apply_screening

    now = now or timezone.now()
    source_id = (item.source_id or "").strip()[:120] or None
    if source_id is not None:
        existing = Question.objects.filter(
            channel=item.channel, channel_source_id=source_id
        ).first()
        if existing is not None:
            return IntakeResult(existing, created=False)
    text, name, contact = check_intake(item)
    session = LiveSession.objects.filter(pk=item.session_id).only("status").first()
    if session is None:
        raise IntakeRejected(_("Unknown session"), code="unknown_session")
    if not session.accepts_questions:
        raise IntakeRejected(
            _("This session is not taking questions (it is %(status)s)")
            % {"status": session.get_status_display()},
            code="not_accepting",
        )
    try:
        with transaction.atomic():
            question = Question.objects.create(
                session_id=item.session_id,
                text=text,
                original_text=item.text[: settings.HUB_QUESTION_MAX_CHARS * 4],
                channel=item.channel,
                channel_source_id=source_id,
                asker_name=name,
                asker_ref=item.asker_ref[:120],
                contact=contact,
                visibility=Visibility.PRIVATE if item.private else Visibility.PUBLIC,
                received_at=now,
                state=QuestionState.RECEIVED,
                submitted_by=item.submitted_by,
            )
            write_audit(
                session_id=item.session_id,
                question=question,
                actor=item.submitted_by,
                action="intake",
                now=now,
                to_state=QuestionState.RECEIVED,
                note=item.channel,
                system_label=f"intake:{item.channel}",
            )
            apply_screening(question, now)
    except IntegrityError:
        if source_id is None:
            raise
        existing = Question.objects.get(channel=item.channel, channel_source_id=source_id)
        return IntakeResult(existing, created=False)
    # Committed: now look for the same question asked before (may merge it).
    from moderation.actions import do_find_same_question

    do_find_same_question(question.pk, now=now)
    question.refresh_from_db()
    return IntakeResult(question, created=True)
