"""Turn models into protocol shapes. The only place that decides what a viewer, and
each console role, may see.

Personal data: the public shapes mask it by their types (:data:`hub.protocol.PublicText`,
:data:`hub.protocol.PublicName`); the console's shapes are cut per role by
:func:`console_view` (see :class:`ConsoleAudience` for who sees what).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from hub import protocol
from hub.lib.personal_data import mask_personal_data, public_name
from hub.models import LiveSession, Question, QuestionState
from hub.roles import Role
from moderation.priority import priority_score

_PHONE_DIGITS = re.compile(r"\D")
#: The characters a URL is written with (RFC 3986, ASCII). A link flag's match is cut at
#: the first other character: Chinese text written right after a link is not part of it.
_URL_PART = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")


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
        # A guest whose name is only a number (masked to nothing) is left out, as on the
        # server-rendered page.
        guests=[
            protocol.Guest(name=str(g.get("name", "")), title=str(g.get("title", "")))
            for g in session.guests or []
            if isinstance(g, dict) and public_name(str(g.get("name", "")))
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
    in the reader's language, rather than a label frozen in the language of the event).
    Raw: public shapes mask it (:data:`hub.protocol.PublicName`), consoles per role."""
    return question.asker_name


def flag_match(flag: dict[str, Any]) -> str:
    """What a screening flag shows of its match: a link only up to the end of its URL (the
    stored match runs on into the text after it, which may hold a phone number); personal
    data is masked by :class:`hub.protocol.ScreeningFlag` itself."""
    match = str(flag.get("match", ""))
    if flag.get("kind") == "link":
        found = _URL_PART.match(match)
        return found.group(0) if found else ""
    return match


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
        original_text=question.original_text,
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
        flags=[
            protocol.ScreeningFlag(**{**flag, "match": flag_match(flag)})
            for flag in question.screening_flags or []
        ],
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


# --- what each console role sees -----------------------------------------------------------


@dataclass(frozen=True)
class ConsoleAudience:
    """Who a console connection shows questions to, decided once when it opens.

    - ``full`` (host, staff): every question as :func:`staff_question` makes it: the
      text, ``original_text`` with personal data masked, the name the asker gave and the
      contact masked (138****5678). They run the queue and the follow-up.
    - ``screener``: the same for public questions and for the private calls this screener
      typed in (``submitted_by`` is them: they check what they typed and may answer it
      from the library). Other private questions: redacted as below.
    - ``leader``: public questions without the contact and with names as the public sees
      them (the leader answers on air, the leader's screen may be on camera); never a
      private question, whose text the leader therefore does not get: redacted.
    - ``observer`` (a citizen role, treated as public for personal data): public questions
      with names as the public sees them (:func:`hub.lib.personal_data.public_name`), the
      contact masked (138****5678) as for every console; every text masked. A private
      question is redacted: the observer sees that it exists, its channel, state, sector,
      times, flags' kinds and handling, not its text, original, asker, contact, notes,
      answer text, similar questions or library hint. A citizen who asked privately asked
      the host and the staff, not the observer group. The observer's stage has no title
      of a confidential agenda item and guests' labels masked.

    A user with several roles gets the widest of them (full > screener > leader > observer).
    """

    kind: str  # "full" | "screener" | "leader" | "observer"
    username: str = ""

    @classmethod
    def of(cls, roles: frozenset[str], username: str) -> ConsoleAudience:
        if roles & {Role.HOST, Role.STAFF}:
            return cls("full", username)
        if Role.SCREENER in roles:
            return cls("screener", username)
        if Role.LEADER in roles:
            return cls("leader", username)
        return cls("observer", username)

    @property
    def full(self) -> bool:
        return self.kind == "full"

    def sees_private_text(self, question: protocol.StaffQuestion) -> bool:
        if self.full:
            return True
        return (
            self.kind == "screener"
            and bool(self.username)
            and (question.submitted_by == self.username)
        )


def _redacted_private(question: protocol.StaffQuestion) -> protocol.StaffQuestion:
    answer = question.answer.model_copy(update={"summary": ""}) if question.answer else None
    return question.model_copy(
        update={
            "text": "",
            "original_text": "",
            "asker": "",
            "contact": "",
            "rejection_note": "",
            "answer": answer,
            "flags": [flag.model_copy(update={"match": ""}) for flag in question.flags],
            "similar": [],
            "library_hint": None,
        }
    )


def console_view(
    audience: ConsoleAudience, question: protocol.StaffQuestion
) -> protocol.StaffQuestion:
    """``question`` as ``audience`` may see it (see :class:`ConsoleAudience`)."""
    if audience.full:
        return question
    if question.visibility == "private" and not audience.sees_private_text(question):
        return _redacted_private(question)
    if audience.kind == "screener":
        return question
    if audience.kind == "leader":
        return question.model_copy(update={"contact": "", "asker": public_name(question.asker)})
    return question.model_copy(update={"asker": public_name(question.asker)})


def console_stage_view(
    audience: ConsoleAudience, stage: protocol.StaffStage
) -> protocol.StaffStage:
    """The console's stage as ``audience`` may see it. The observer (a citizen) gets
    agenda titles and guests' labels as the public sees them, and no title of a
    confidential (涉密) item; every other console role gets it whole."""
    if audience.kind != "observer":
        return stage
    return stage.model_copy(
        update={
            "agenda": [
                item.model_copy(
                    update={"title": "" if item.confidential else mask_personal_data(item.title)}
                )
                for item in stage.agenda
            ],
            "guests": [console_guest_view(audience, guest) for guest in stage.guests],
        }
    )


def console_guest_view(
    audience: ConsoleAudience, guest: protocol.StaffGuest
) -> protocol.StaffGuest:
    """A guest as ``audience`` may see it: the observer gets the label masked."""
    if audience.kind != "observer":
        return guest
    return guest.model_copy(update={"label": mask_personal_data(guest.label)})


def console_frame_for(audience: ConsoleAudience, frame: str) -> str:
    """A console frame (JSON text published to every console of the session) as
    ``audience`` may receive it: question data cut by :func:`console_view`; the stage and
    guests by :func:`console_stage_view` and :func:`console_guest_view`. Other frames, and
    every frame for ``full``, unchanged."""
    if audience.full:
        return frame
    decoded = json.loads(frame)
    type_, data = decoded.get("type"), decoded.get("data")
    if type_ == "question":
        decoded["data"] = console_view(
            audience, protocol.StaffQuestion.model_validate(data)
        ).model_dump(mode="json")
    elif type_ in ("questions_batch", "snapshot"):
        questions = [protocol.StaffQuestion.model_validate(q) for q in data["questions"]]
        decoded["data"] = {
            **data,
            "questions": [console_view(audience, q).model_dump(mode="json") for q in questions],
        }
    elif type_ == "stage" and audience.kind == "observer":
        stage = protocol.StaffStage.model_validate(data)
        decoded["data"] = console_stage_view(audience, stage).model_dump(mode="json")
    elif type_ == "guest" and audience.kind == "observer":
        guest = protocol.StaffGuest.model_validate(data)
        decoded["data"] = console_guest_view(audience, guest).model_dump(mode="json")
    else:
        return frame
    return json.dumps(decoded, ensure_ascii=False, separators=(",", ":"))
