"""Turn models into protocol shapes. The only place that decides what a viewer may see."""

from __future__ import annotations

import re

from django.utils import timezone

from hub import protocol
from hub.models import LiveSession, Question, QuestionState
from moderation.priority import priority_score
from moderation.screening import mask_personal_data

_PHONE_DIGITS = re.compile(r"\D")


def mask_contact(contact: str) -> str:
    """Mask a phone number for every view but staff's: 13812345678 → 138****5678.

    Shorter numbers keep at most their first 3 and last 2 digits; anything of 4 characters
    or fewer is masked whole.
    """
    if not contact:
        return ""
    digits = _PHONE_DIGITS.sub("", contact)
    if len(digits) == 11:
        return f"{digits[:3]}****{digits[-4:]}"
    if len(digits) <= 4:
        return "*" * len(digits)
    return f"{digits[:3]}{'*' * (len(digits) - 5)}{digits[-2:]}"


def session_info(session: LiveSession) -> protocol.SessionInfo:
    return protocol.SessionInfo(
        slug=session.slug,
        title=session.title,
        kind=session.kind,  # type: ignore[arg-type]
        status=session.status,  # type: ignore[arg-type]
        description=session.description,
        scheduled_start=session.scheduled_start,
        scheduled_end=session.scheduled_end,
        started_at=session.started_at,
        ended_at=session.ended_at,
        guests=[
            protocol.Guest(name=str(g.get("name", "")), title=str(g.get("title", "")))
            for g in session.guests or []
            if isinstance(g, dict)
        ],
        departments=[d.name for d in session.departments.all()],
    )


def _answer(question: Question) -> protocol.AnswerInfo | None:
    answer = getattr(question, "live_answer", None)
    if answer is None:
        return None
    return protocol.AnswerInfo(
        summary=answer.summary,
        on_air_at=answer.on_air_at,
        answered_at=answer.answered_at,
        answered_by=answer.answered_by.get_username() if answer.answered_by else "",
        library_entry=answer.library_entry_id,
    )


#: The hint's entry question is cut to this many characters (a tooltip, not the answer).
HINT_QUESTION_CHARS = 80


def _library_hint(question: Question) -> protocol.LibraryHint | None:
    """The library entry intake found for the question, unless retired since. Free for
    questions from intake (the entry is in memory) and from querysets that
    ``select_related("library_hint")`` (hub.queries.staff_questions); one query otherwise."""
    if question.library_hint_id is None:
        return None
    entry = question.library_hint
    if entry is None or entry.retired:
        return None
    text = entry.question_text
    if len(text) > HINT_QUESTION_CHARS:
        text = text[: HINT_QUESTION_CHARS - 1] + "…"
    return protocol.LibraryHint(
        entry=entry.pk, score=question.library_hint_score or 0.0, question=text
    )


def display_asker(question: Question) -> str:
    """The name the asker gave, or "" (pages show their own word for an anonymous asker,
    in the reader's language, rather than a label frozen in the language of the event)."""
    return question.asker_name


def member_sources(question_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per canonical question: how many merged repeats came from each channel."""
    from django.db.models import Count

    result: dict[int, dict[str, int]] = {}
    rows = (
        Question.objects.filter(merged_into_id__in=question_ids, state=QuestionState.MERGED)
        .values_list("merged_into_id", "channel")
        .annotate(n=Count("id"))
        .order_by()
    )
    for canonical, channel, n in rows:
        result.setdefault(canonical, {})[channel] = n
    return result


def _sources(question: Question, members: dict[str, int] | None) -> dict[str, int]:
    if members is None:
        members = member_sources([question.pk]).get(question.pk, {})
    sources = dict(members)
    sources[question.channel] = sources.get(question.channel, 0) + 1
    return sources


def public_question(
    question: Question, members: dict[str, int] | None = None
) -> protocol.PublicQuestion:
    """The viewer's view. Callers must only pass questions where ``is_public`` holds.
    ``members`` (per-channel merged repeats) saves a query when the caller has it."""
    assert question.is_public and question.published_at is not None, question.pk
    state = question.state
    if state not in ("approved", "queued", "on_air", "answered", "deferred", "unanswered"):
        state = QuestionState.APPROVED
    return protocol.PublicQuestion(
        id=question.pk,
        text=question.text,
        channel=question.channel,  # type: ignore[arg-type]
        asker=display_asker(question),
        supports=question.supports,
        state=state,  # type: ignore[arg-type]
        received_at=question.received_at,
        published_at=question.published_at,
        answer=_answer(question),
        askers=sum(_sources(question, members).values()),
    )


def staff_question(
    question: Question, members: dict[str, int] | None = None
) -> protocol.StaffQuestion:
    """The console's view. Querysets for many questions should annotate
    ``observer_flag_count`` and select the related rows (see hub.queries.staff_questions)
    to avoid queries for each."""
    observer_flags = getattr(question, "observer_flag_count", None)
    if observer_flags is None:
        from moderation.models import ObserverFlag

        observer_flags = ObserverFlag.objects.filter(question_id=question.pk).count()
    sources = _sources(question, members)
    askers = sum(sources.values())
    return protocol.StaffQuestion(
        id=question.pk,
        text=question.text,
        original_text=mask_personal_data(question.original_text),
        channel=question.channel,  # type: ignore[arg-type]
        asker=display_asker(question),
        contact=mask_contact(question.contact),
        visibility=question.visibility,  # type: ignore[arg-type]
        state=question.state,  # type: ignore[arg-type]
        supports=question.supports,
        received_at=question.received_at,
        published_at=question.published_at,
        queue_position=question.queue_position,
        rejection_reason=question.rejection_reason,
        rejection_note=question.rejection_note,
        submitted_by=question.submitted_by.get_username() if question.submitted_by else "",
        answer=_answer(question),
        flags=[protocol.ScreeningFlag(**flag) for flag in question.screening_flags or []],
        held=question.state == QuestionState.PENDING
        and any(flag.get("action") == "hold" for flag in question.screening_flags or []),
        observer_flags=observer_flags,
        priority=priority_score(
            supports=question.supports,
            other_askers=askers - 1,
            channel=question.channel,
            observer_flags=observer_flags,
            received_at=question.received_at,
            now=timezone.now(),
        ),
        askers=askers,
        sources=sources,
        merged_into=question.merged_into_id,
        merge_score=question.merge_score,
        similar=[protocol.SimilarRef(**ref) for ref in question.similar or []],
        sector=question.sector,
        sector_source=question.sector_source,  # type: ignore[arg-type]
        library_hint=_library_hint(question),
    )
