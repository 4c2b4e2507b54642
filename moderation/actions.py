"""The queue's state machine: one action per transition, each with a guard, a permission
check and an audit row.

    received → pending → approved → queued → on_air → answered
                     ↘ rejected (from pending, approved, queued, deferred)
                     ↘ deferred (from pending, approved, queued)
    on_air → queued (taken off air without an answer)
    session end: every question neither answered nor rejected → unanswered

Locking contract: every ``do_*`` runs in ``transaction.atomic()`` and locks the session
row, then the question row (:func:`hub.actions.common.lock_question`). The session lock
serialises the session's public event seq; the lock order prevents deadlocks. Events
are published after commit. Each action reads the clock once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from hub.actions.common import audit_entry, lock_question, publish_staff_question, write_audit
from hub.errors import DomainError, IllegalTransition, NotFound
from hub.events import record_public_event
from hub.models import (
    AuditEntry,
    LiveAnswer,
    LiveSession,
    Question,
    QuestionState,
    RejectionReason,
    SessionStatus,
    Visibility,
)
from hub.presenters import public_question
from hub.protocol import AnswerLive, QuestionRef
from hub.roles import require_permission
from moderation.answers import add_live_answer_entry

if TYPE_CHECKING:
    from moderation.screening import Screener

S = QuestionState

APPROVABLE = frozenset({S.PENDING})
REJECTABLE = frozenset({S.PENDING, S.APPROVED, S.QUEUED, S.DEFERRED})
QUEUEABLE = frozenset({S.APPROVED})
AIRABLE = frozenset({S.APPROVED, S.QUEUED})
DEFERRABLE = frozenset({S.PENDING, S.APPROVED, S.QUEUED})
SUMMARY_MAX_CHARS = 2000


#: The verb of each action, for refusal messages in the reader's language.
ACTION_VERBS = {
    "screen": gettext_lazy("screen"),
    "approve": gettext_lazy("approve"),
    "reject": gettext_lazy("reject"),
    "queue": gettext_lazy("queue"),
    "put on air": gettext_lazy("put on air"),
    "take off air": gettext_lazy("take off air"),
    "type the live answer of": gettext_lazy("type the live answer of"),
    "mark answered": gettext_lazy("mark answered"),
    "defer": gettext_lazy("defer"),
    "merge": gettext_lazy("merge"),
    "unmerge": gettext_lazy("unmerge"),
    "answer from the library": gettext_lazy("answer from the library"),
}


def _guard_state(question: Question, allowed: frozenset[str], action: str) -> None:
    if question.state not in allowed:
        raise IllegalTransition(
            _("Cannot %(action)s question #%(id)s: it is %(state)s")
            % {
                "action": ACTION_VERBS.get(action, action),
                "id": question.pk,
                "state": question.get_state_display(),
            }
        )


def _guard_session_open(session: LiveSession) -> None:
    if session.status == SessionStatus.ENDED:
        raise IllegalTransition(_("The session has ended; its queue is closed"))


def _transition(
    question: Question,
    to_state: str,
    actor: Any,
    action: str,
    now: datetime,
    *,
    reason: str = "",
    note: str = "",
    fields: tuple[str, ...] = (),
    system_label: str = "system",
) -> str:
    from_state = question.state
    question.state = to_state
    question.save(update_fields=["state", *fields])
    write_audit(
        session_id=question.session_id,
        question=question,
        actor=actor,
        action=action,
        now=now,
        from_state=from_state,
        to_state=to_state,
        reason=reason,
        note=note,
        system_label=system_label,
    )
    return from_state


# --- received → pending ---------------------------------------------------------------


def do_screen_question(question_id: int, *, now: datetime | None = None) -> Question:
    """The system's first look at an intake: received → pending. (Screening rules hook here.)"""
    now = now or timezone.now()
    with transaction.atomic():
        question = Question.objects.select_for_update().get(pk=question_id)
        apply_screening(question, now)
    return question


def apply_screening(question: Question, now: datetime) -> None:
    """received → pending (held for review when screening flags it) or → rejected with
    the recorded reason, inside the caller's transaction: intake stores and screens in one
    commit, so a question is never left half-taken. Nothing is dropped: a rejected
    question stays, with its flags, for the observers and the host to see."""
    from moderation.screening import AskerHistory, Screener
    from moderation.sectors import classifier

    _guard_state(question, frozenset({S.RECEIVED}), "screen")
    history = AskerHistory.load(
        [(question.session_id, question.asker_ref)],
        [question.text],
        now=now,
        exclude_question=question.pk,
    )
    screen_into(question, Screener(history), classifier())
    question.save(update_fields=["state", *SCREENING_FIELDS])
    screening_audit(question, now).save(force_insert=True)
    publish_staff_question(question, now)


#: The fields :func:`screen_into` sets (besides ``state``).
SCREENING_FIELDS = ("text", "screening_flags", "sector", "rejection_reason", "rejection_note")


def screen_into(question: Question, screener: Screener, classify: Callable[[str], str]) -> None:
    """The screening rules, applied in memory to a received question (stored or not yet):
    the public text (personal data and masked words masked), the flags, the sector of the
    public text, and the state: rejected with the reason of the first rejecting flag, else
    pending (a held question is pending with a ``hold`` flag). Saves nothing."""
    result = screener.screen(
        question.text, session_id=question.session_id, asker_ref=question.asker_ref
    )
    question.text = result.text
    question.screening_flags = [flag.as_dict() for flag in result.flags]
    question.sector = classify(question.text)
    if result.rejecting is not None:
        question.state = S.REJECTED
        question.rejection_reason = result.rejection_reason
        question.rejection_note = _flags_summary(question.screening_flags)
    else:
        question.state = S.PENDING


def screen_new_questions(questions: Sequence[Question], now: datetime) -> None:
    """:func:`screen_into` for a batch of questions not stored yet, in order, with the
    lexicon, the sector model and the askers' history each read once: the outcome is the
    same as screening them one after the other (an asker's earlier question in the batch
    counts for flooding and repeats, as if it had been stored first)."""
    from moderation.screening import AskerHistory, Screener
    from moderation.sectors import classifier

    history = AskerHistory.load(
        [(q.session_id, q.asker_ref) for q in questions], [q.text for q in questions], now=now
    )
    screener, classify = Screener(history), classifier()
    for question in questions:
        screen_into(question, screener, classify)
        history.record(question.session_id, question.asker_ref, question.text)


def screening_audit(question: Question, now: datetime) -> AuditEntry:
    """The audit row of a question's screening (received → its screened state), unsaved."""
    return audit_entry(
        session_id=question.session_id,
        question=question,
        actor=None,
        action="screen",
        now=now,
        from_state=S.RECEIVED,
        to_state=question.state,
        reason=question.rejection_reason if question.state == S.REJECTED else "",
        note=_flags_summary(question.screening_flags),
        system_label="screening",
    )


def _flags_summary(flags: list[dict[str, str]]) -> str:
    return "; ".join(f"{f['category']}/{f['kind']}:{f['match']}" for f in flags or [])


# --- approve --------------------------------------------------------------------------


def check_approve_question(actor: Any, session: LiveSession, question: Question) -> None:
    """Approving publishes a question to the viewers; a private one is never published,
    so it is refused with ``private`` like ``queue`` and ``on_air`` (it stays pending and
    is handled after the session: answered from the library, deferred, or followed up)."""
    require_permission(actor, "approve")
    _guard_session_open(session)
    if question.visibility == Visibility.PRIVATE:  # in any state: the reason that matters
        raise IllegalTransition(
            _("A private question is never published; defer it or answer it from the library"),
            code="private",
        )
    _guard_state(question, APPROVABLE, "approve")


def do_approve_question(
    actor: Any, session_id: int, question_id: int, *, now: datetime | None = None
) -> Question:
    """pending → approved: the question is published to viewers. A private question is
    refused (``private``, see :func:`check_approve_question`)."""
    now = now or timezone.now()
    with transaction.atomic():
        session, question = lock_question(session_id, question_id)
        check_approve_question(actor, session, question)
        fields: tuple[str, ...] = ()
        if question.visibility == Visibility.PUBLIC:
            question.published_at = now
            fields = ("published_at",)
        _transition(question, S.APPROVED, actor, "approve", now, fields=fields)
        if question.is_public:
            record_public_event(session, "question_published", public_question(question), now)
        publish_staff_question(question, now)
    return question


# --- reject ---------------------------------------------------------------------------


def check_reject_question(
    actor: Any, session: LiveSession, question: Question, reason: str
) -> None:
    require_permission(actor, "reject")
    _guard_session_open(session)
    _guard_state(question, REJECTABLE, "reject")
    if reason not in RejectionReason.values:
        raise DomainError(
            _("Unknown rejection reason %(reason)s; use one of: %(choices)s")
            % {"reason": reason, "choices": ", ".join(RejectionReason.values)},
            code="bad_reason",
        )
    if reason == RejectionReason.OTHER:
        pass  # the note is where "other" is explained; checked in do_ after stripping


def do_reject_question(
    actor: Any,
    session_id: int,
    question_id: int,
    reason: str,
    note: str = "",
    *,
    now: datetime | None = None,
) -> Question:
    """→ rejected, keeping the reason code and note. Never deleted; observers see it.
    A question that was already public is withdrawn from the viewers' list."""
    now = now or timezone.now()
    note = note.strip()
    with transaction.atomic():
        session, question = lock_question(session_id, question_id)
        check_reject_question(actor, session, question, reason)
        if reason == RejectionReason.OTHER and not note:
            raise DomainError(_("Explain an 'other' rejection in the note"), code="note_required")
        was_public = question.is_public
        question.rejection_reason = reason
        question.rejection_note = note
        question.queue_position = None
        _transition(
            question,
            S.REJECTED,
            actor,
            "reject",
            now,
            reason=reason,
            note=note,
            fields=("rejection_reason", "rejection_note", "queue_position"),
        )
        if was_public:
            record_public_event(session, "question_withdrawn", QuestionRef(id=question.pk), now)
        publish_staff_question(question, now)
    return question


# --- queue and reorder ----------------------------------------------------------------


def check_queue_question(actor: Any, session: LiveSession, question: Question) -> None:
    require_permission(actor, "queue")
    _guard_session_open(session)
    if question.visibility == Visibility.PRIVATE:  # before the state: a private one is
        # never approved, so "not approved" would hide the reason
        raise IllegalTransition(
            _("Private questions are handled after the session, never on air"), code="private"
        )
    _guard_state(question, QUEUEABLE, "queue")


def do_queue_question(
    actor: Any, session_id: int, question_id: int, *, now: datetime | None = None
) -> Question:
    """approved → queued for the guest, at the end of the queue."""
    now = now or timezone.now()
    with transaction.atomic():
        session, question = lock_question(session_id, question_id)
        check_queue_question(actor, session, question)
        last = Question.objects.filter(session=session, state=S.QUEUED).aggregate(
            m=Max("queue_position")
        )["m"]
        question.queue_position = (last or 0) + 1
        _transition(question, S.QUEUED, actor, "queue", now, fields=("queue_position",))
        publish_staff_question(question, now)
    return question


def do_reorder_queue(
    actor: Any, session_id: int, order: list[int], *, now: datetime | None = None
) -> list[int]:
    """Set the guest's queue order. ``order`` must list exactly the queued questions, so a
    host working from a stale screen is refused instead of silently losing a question."""
    from hub.events import lock_session

    now = now or timezone.now()
    require_permission(actor, "reorder")
    with transaction.atomic():
        session = lock_session(session_id)
        _guard_session_open(session)
        queued = {
            q.pk: q
            for q in Question.objects.select_for_update().filter(session=session, state=S.QUEUED)
        }
        if len(order) != len(set(order)) or set(order) != set(queued):
            raise DomainError(
                _("The queue has changed since you loaded it; reload and try again"),
                code="stale_queue",
            )
        for position, question_id in enumerate(order, start=1):
            question = queued[question_id]
            if question.queue_position != position:
                question.queue_position = position
                question.save(update_fields=["queue_position"])
                publish_staff_question(question, now)
        write_audit(
            session_id=session_id,
            question=None,
            actor=actor,
            action="reorder",
            now=now,
            note=",".join(str(i) for i in order),
        )
    return order


# --- on air / off air -----------------------------------------------------------------


def check_put_on_air(actor: Any, session: LiveSession, question: Question) -> None:
    require_permission(actor, "on_air")
    if session.status != SessionStatus.LIVE:
        raise IllegalTransition(_("The session is not live"), code="not_live")
    if question.visibility == Visibility.PRIVATE:  # before the state, as for queue
        raise IllegalTransition(
            _("Private questions are handled after the session, never on air"), code="private"
        )
    _guard_state(question, AIRABLE, "put on air")
    current = Question.objects.filter(session=session, state=S.ON_AIR).exclude(pk=question.pk)
    if current.exists():
        raise IllegalTransition(
            _("Question #%(id)s is on air; mark it answered or take it off air first")
            % {"id": current.values_list("pk", flat=True)[0]},
            code="already_on_air",
        )


def do_put_on_air(
    actor: Any, session_id: int, question_id: int, *, now: datetime | None = None
) -> Question:
    """approved or queued → on air. At most one question per session is on air (guarded
    here and by a partial unique constraint)."""
    now = now or timezone.now()
    with transaction.atomic():
        session, question = lock_question(session_id, question_id)
        check_put_on_air(actor, session, question)
        question.queue_position = None
        _transition(question, S.ON_AIR, actor, "on_air", now, fields=("queue_position",))
        LiveAnswer.objects.update_or_create(
            question=question, defaults={"on_air_at": now, "answered_at": None}
        )
        record_public_event(session, "question_on_air", public_question(question), now)
        publish_staff_question(question, now)
    return question


def check_take_off_air(actor: Any, session: LiveSession, question: Question) -> None:
    require_permission(actor, "off_air")
    _guard_state(question, frozenset({S.ON_AIR}), "take off air")


def do_take_off_air(
    actor: Any, session_id: int, question_id: int, *, now: datetime | None = None
) -> Question:
    """on air → queued, back at the head of the queue (not answered after all)."""
    now = now or timezone.now()
    with transaction.atomic():
        session, question = lock_question(session_id, question_id)
        check_take_off_air(actor, session, question)
        queued = list(
            Question.objects.select_for_update()
            .filter(session=session, state=S.QUEUED)
            .order_by("queue_position", "id")
        )
        for position, other in enumerate(queued, start=2):
            if other.queue_position != position:
                other.queue_position = position
                other.save(update_fields=["queue_position"])
                publish_staff_question(other, now)
        question.queue_position = 1
        _transition(question, S.QUEUED, actor, "off_air", now, fields=("queue_position",))
        record_public_event(session, "question_off_air", public_question(question), now)
        publish_staff_question(question, now)
    return question


# --- answering ------------------------------------------------------------------------


def _clean_summary(summary: str) -> str:
    summary = summary.strip()
    if len(summary) > SUMMARY_MAX_CHARS:
        raise DomainError(
            _("The summary is %(n)s characters; the limit is %(max)s")
            % {"n": len(summary), "max": SUMMARY_MAX_CHARS},
            code="too_long",
        )
    return summary


def check_set_live_answer(actor: Any, question: Question) -> None:
    require_permission(actor, "live_answer")
    _guard_state(question, frozenset({S.ON_AIR}), "type the live answer of")


def do_set_live_answer(
    actor: Any,
    session_id: int,
    question_id: int,
    summary: str,
    *,
    now: datetime | None = None,
) -> Question:
    """While a question is on air, publish the summary as it is typed (no state change)."""
    now = now or timezone.now()
    summary = _clean_summary(summary)
    with transaction.atomic():
        session, question = lock_question(session_id, question_id)
        check_set_live_answer(actor, question)
        answer = question.live_answer
        if answer.summary == summary:
            return question
        answer.summary = summary
        answer.answered_by = actor
        answer.save(update_fields=["summary", "answered_by"])
        record_public_event(
            session, "answer_live", AnswerLive(question_id=question.pk, summary=summary), now
        )
        publish_staff_question(question, now)
    return question


def check_mark_answered(actor: Any, question: Question) -> None:
    require_permission(actor, "answered")
    _guard_state(question, frozenset({S.ON_AIR}), "mark answered")


def do_mark_answered(
    actor: Any,
    session_id: int,
    question_id: int,
    summary: str = "",
    *,
    now: datetime | None = None,
) -> Question:
    """on air → answered, with who answered, when, and the short summary."""
    now = now or timezone.now()
    summary = _clean_summary(summary)
    with transaction.atomic():
        session, question = lock_question(session_id, question_id)
        check_mark_answered(actor, question)
        answer = question.live_answer
        if summary:
            answer.summary = summary
        answer.answered_by = actor
        answer.answered_at = now
        answer.save(update_fields=["summary", "answered_by", "answered_at"])
        _transition(question, S.ANSWERED, actor, "answered", now, note=answer.summary)
        add_live_answer_entry(question, answer.summary, actor, now)
        record_public_event(session, "question_answered", public_question(question), now)
        publish_staff_question(question, now)
    return question


# --- defer ----------------------------------------------------------------------------


def check_defer_question(actor: Any, session: LiveSession, question: Question) -> None:
    require_permission(actor, "defer")
    _guard_session_open(session)
    _guard_state(question, DEFERRABLE, "defer")


def do_defer_question(
    actor: Any,
    session_id: int,
    question_id: int,
    note: str = "",
    *,
    now: datetime | None = None,
) -> Question:
    """→ deferred to follow-up after the session (it becomes a tracked task later)."""
    now = now or timezone.now()
    with transaction.atomic():
        session, question = lock_question(session_id, question_id)
        check_defer_question(actor, session, question)
        question.queue_position = None
        _transition(
            question,
            S.DEFERRED,
            actor,
            "defer",
            now,
            note=note.strip(),
            fields=("queue_position",),
        )
        if question.is_public:
            record_public_event(session, "question_deferred", public_question(question), now)
        publish_staff_question(question, now)
    return question


# --- observer flags -------------------------------------------------------------------


def check_flag_question(actor: Any, question: Question) -> None:
    require_permission(actor, "flag")
    if question.state in (S.REJECTED, S.ANSWERED, S.UNANSWERED):
        raise IllegalTransition(
            _("Question #%(id)s is closed; there is nothing to flag") % {"id": question.pk},
            code="closed",
        )


def do_flag_question(
    actor: Any, session_id: int, question_id: int, note: str = "", *, now: datetime | None = None
) -> Question:
    """An observer (or host) flags a question as passed over. Once per person and question;
    flagging again only updates the note. No state changes; the audit records it."""
    from moderation.models import ObserverFlag

    now = now or timezone.now()
    with transaction.atomic():
        _, question = lock_question(session_id, question_id)
        check_flag_question(actor, question)
        ObserverFlag.objects.update_or_create(
            question=question, observer=actor, defaults={"note": note.strip(), "created_at": now}
        )
        write_audit(
            session_id=session_id,
            question=question,
            actor=actor,
            action="flag",
            now=now,
            from_state=question.state,
            to_state=question.state,
            note=note.strip(),
        )
        publish_staff_question(question, now)
    return question


# --- merging the same question ------------------------------------------------------------

MERGEABLE = frozenset({S.PENDING, S.APPROVED, S.QUEUED, S.DEFERRED})
MERGE_TARGETS = frozenset(
    {S.PENDING, S.APPROVED, S.QUEUED, S.ON_AIR, S.ANSWERED, S.DEFERRED, S.UNANSWERED}
)


def check_merge_question(
    actor: Any, session: LiveSession, question: Question, target: Question
) -> None:
    require_permission(actor, "merge")
    _guard_session_open(session)
    _guard_state(question, MERGEABLE, "merge")
    if target.pk == question.pk:
        raise DomainError(_("A question cannot be merged into itself"), code="self_merge")
    if target.state not in MERGE_TARGETS:
        raise IllegalTransition(
            _("Question #%(id)s cannot take merged questions: it is %(state)s")
            % {"id": target.pk, "state": target.get_state_display()},
            code="bad_target",
        )


def _askers_changed(target: Question, now: datetime) -> None:
    """The canonical question gained or lost an asker: tell the consoles now, and viewers
    with the next coalesced ``supports`` event (which carries the askers count)."""
    publish_staff_question(target, now)
    _viewers_askers_changed(target)


def _viewers_askers_changed(target: Question) -> None:
    from hub.actions.supports import support_coalescer

    if target.is_public:
        support_coalescer.mark(target.session_id, target.pk)


#: The fields a merge sets on the merged question (besides ``state``).
MERGE_FIELDS = ("merged_into", "merge_score", "queue_position")


def _fold_into(question: Question, target_id: int, score: float | None) -> str:
    """The merge rule on the merged question, in memory: it points at the canonical
    question with the similarity score (none for a host's merge) and leaves the run
    order. Returns the audit note."""
    question.merged_into_id = target_id
    question.merge_score = score
    question.queue_position = None
    return f"#{target_id}" + (f" score={score:.2f}" if score is not None else "")


def _merge_label(auto: bool) -> str:
    return "similarity" if auto else "system"


def merge_into(
    question: Question,
    target: Question,
    actor: Any,
    now: datetime,
    *,
    score: float | None,
    auto: bool,
) -> None:
    """Fold ``question`` (and whatever was merged into it) into ``target``. The caller
    holds the session lock when the question was public (a withdrawal is recorded)."""
    was_public = question.is_public
    Question.objects.filter(merged_into=question, state=S.MERGED).update(merged_into=target)
    note = _fold_into(question, target.pk, score)
    _transition(
        question,
        S.MERGED,
        actor,
        "merge",
        now,
        note=note,
        system_label=_merge_label(auto),
        fields=MERGE_FIELDS,
    )
    if was_public:
        record_public_event(
            question.session, "question_withdrawn", QuestionRef(id=question.pk), now
        )
    publish_staff_question(question, now)
    _askers_changed(target, now)


@dataclass
class SameQuestion:
    """A merge :func:`find_same_questions` decided for a question of a batch not stored
    yet: into ``target``, a stored question's id or an earlier question of the batch
    (stored before it). ``similar``: the question's suggestions, should the target no
    longer take merges when the batch is stored."""

    question: Question
    target: int | Question
    score: float
    similar: list[dict[str, Any]]

    @property
    def into_batch(self) -> bool:
        return isinstance(self.target, Question)


def lock_merge_targets(merges: Sequence[SameQuestion]) -> list[SameQuestion]:
    """In the transaction that stores a batch: lock the stored canonical questions (in id
    order) and keep the merges whose target still takes merges (a host may have rejected
    it since the lookup); the others become suggestions, as with a single question."""
    stored = sorted({m.target for m in merges if isinstance(m.target, int)})
    if not stored:
        return list(merges)
    states = dict(
        Question.objects.select_for_update()
        .filter(pk__in=stored)
        .order_by("pk")
        .values_list("pk", "state")
    )
    kept = []
    for merge in merges:
        if isinstance(merge.target, int) and states.get(merge.target) not in MERGE_TARGETS:
            merge.question.similar = merge.similar
        else:
            kept.append(merge)
    return kept


def merge_new_questions(merges: Sequence[SameQuestion], now: datetime) -> dict[int, AuditEntry]:
    """The automatic merges of questions just taken in, made in memory before they are
    stored (their targets are stored already): exactly the changes and the audit row of
    :func:`merge_into` with ``auto=True``. Such questions were never published (nothing
    to withdraw) and nothing is merged into them. Returns the audit rows by ``id()`` of
    the question, to be saved after the questions."""
    audits = {}
    for merge in merges:
        question = merge.question
        assert not question.is_public and question.state == S.PENDING, question.text
        target = merge.target
        target_id = target.pk if isinstance(target, Question) else target
        assert target_id is not None, "the target is stored first"
        note = _fold_into(question, target_id, merge.score)
        question.state = S.MERGED
        audits[id(question)] = audit_entry(
            session_id=question.session_id,
            question=question,
            actor=None,
            action="merge",
            now=now,
            from_state=S.PENDING,
            to_state=S.MERGED,
            note=note,
            system_label=_merge_label(True),
        )
    return audits


def do_merge_question(
    actor: Any, session_id: int, question_id: int, into_id: int, *, now: datetime | None = None
) -> Question:
    """A host merges a question into another asking the same thing. It keeps its channel,
    asker and time as a source of the target; undo with :func:`do_unmerge_question`."""
    now = now or timezone.now()
    with transaction.atomic():
        session, question = lock_question(session_id, question_id)
        try:
            target = Question.objects.select_for_update().get(pk=into_id, session_id=session_id)
        except Question.DoesNotExist:
            raise NotFound(_("Question #%(id)s is not in this session") % {"id": into_id}) from None
        while target.state == S.MERGED and target.merged_into_id:
            target = Question.objects.select_for_update().get(pk=target.merged_into_id)
        check_merge_question(actor, session, question, target)
        merge_into(question, target, actor, now, score=None, auto=False)
    return question


def check_unmerge_question(actor: Any, session: LiveSession, question: Question) -> None:
    require_permission(actor, "unmerge")
    _guard_session_open(session)
    _guard_state(question, frozenset({S.MERGED}), "unmerge")


def do_unmerge_question(
    actor: Any, session_id: int, question_id: int, *, now: datetime | None = None
) -> Question:
    """Undo a merge: the question stands on its own again, back in review (pending)."""
    now = now or timezone.now()
    with transaction.atomic():
        session, question = lock_question(session_id, question_id)
        check_unmerge_question(actor, session, question)
        target = question.merged_into
        question.merged_into = None
        question.merge_score = None
        question.published_at = None
        _transition(
            question,
            S.PENDING,
            actor,
            "unmerge",
            now,
            note=f"#{target.pk}" if target else "",
            fields=("merged_into", "merge_score", "published_at"),
        )
        publish_staff_question(question, now)
        if target is not None:
            _askers_changed(target, now)
    return question


def find_same_questions(questions: Sequence[Question]) -> list[SameQuestion]:
    """Before a batch of new, screened questions is stored (in arrival order, any
    sessions): find for each the open question it repeats (score at or above the merge
    threshold) or the close ones ("similar to #N"), exactly as if they had come one after
    the other: a question may be merged into an earlier one of its batch, never into a
    later one. Held and private questions are left alone: a flood must not inflate
    another question's count. Suggestions are set on the questions (``similar``); the
    merges are returned, to be made while storing (:func:`lock_merge_targets`,
    :func:`merge_new_questions`). Reads (one similarity pass per session, see
    :meth:`moderation.merging.SessionIndexes.lookup_batch`), writes nothing, holds no
    lock: a slow index never holds up a transaction."""
    from django.conf import settings

    from moderation.merging import NewQuestion, session_indexes

    merges: list[SameQuestion] = []
    if not settings.HUB_AUTO_MERGE:
        return merges
    by_session: dict[int, list[Question]] = {}
    for question in questions:
        by_session.setdefault(question.session_id, []).append(question)
    for session_id, batch in by_session.items():
        open_in_batch = {i for i, q in enumerate(batch) if _may_be_canonical(q)}
        lookup = session_indexes.lookup_batch(
            session_id,
            [
                NewQuestion(q.text, i in open_in_batch, _may_merge_automatically(q))
                for i, q in enumerate(batch)
            ],
        )
        if lookup is None:
            continue
        for position, question in enumerate(batch):
            candidates = lookup.candidates(position, open_in_batch)
            if not candidates:
                continue
            best = candidates[0]
            similar = [
                {
                    "id": c.question_id if c.position is None else batch[c.position],
                    "score": round(c.score, 3),
                }
                for c in candidates
                if c.verdict in ("merge", "suggest")
            ]
            if best.verdict == "merge":
                target = best.question_id if best.position is None else batch[best.position]
                assert target is not None
                merges.append(SameQuestion(question, target, round(best.score, 3), similar))
                open_in_batch.discard(position)
            elif similar:
                question.similar = similar
    return merges


def resolve_similar(questions: Sequence[Question], *, stored: bool) -> list[Question]:
    """Suggestions of an earlier question of the batch name the question object while it
    has no id. Before storing (``stored=False``): set such suggestions aside (the
    question is stored with none) and return the questions concerned; once stored
    (``stored=True``): put them back with the ids."""
    if not stored:
        pointing = []
        for question in questions:
            refs = question.similar or []
            if any(isinstance(ref["id"], Question) for ref in refs):
                question._batch_similar = refs  # type: ignore[attr-defined]
                question.similar = []
                pointing.append(question)
        return pointing
    for question in questions:
        refs = question.__dict__.pop("_batch_similar", question.similar)
        question.similar = [
            {**ref, "id": ref["id"].pk if isinstance(ref["id"], Question) else ref["id"]}
            for ref in refs
        ]
    return list(questions)


def index_new_questions(questions: Sequence[Question]) -> None:
    """After commit: this process's similarity index takes the batch in at once (its
    analysis is still in memory), so the next batch finds it without reading it back."""
    from django.conf import settings

    from moderation.merging import OPEN_TARGETS, session_indexes

    if not settings.HUB_AUTO_MERGE:
        return
    by_session: dict[int, list[tuple[int, str, bool]]] = {}
    for q in questions:
        indexed = q.visibility == Visibility.PUBLIC and q.state in OPEN_TARGETS
        by_session.setdefault(q.session_id, []).append((q.pk, q.text, indexed))
    for session_id, stored in by_session.items():
        session_indexes.add_stored(session_id, stored)


def canonical_questions_grown(merges: Sequence[SameQuestion]) -> list[Question]:
    """After commit: the stored questions (from before the batch) that merges made grow,
    fresh from the database with what the console shows; viewers hear of their askers
    with the next ``supports`` event."""
    from hub.queries import staff_questions

    earlier: dict[int, set[int]] = {}
    for merge in merges:
        if isinstance(merge.target, int) and merge.question.state == S.MERGED:
            earlier.setdefault(merge.question.session_id, set()).add(merge.target)
    targets = [
        target
        for session_id, target_ids in earlier.items()
        for target in staff_questions(session_id).filter(pk__in=sorted(target_ids))
    ]
    for target in targets:
        _viewers_askers_changed(target)
    return targets


def _may_merge_automatically(question: Question) -> bool:
    """Only a pending public question that screening did not hold is merged on its own."""
    held = any(flag.get("action") == "hold" for flag in question.screening_flags or [])
    return question.state == S.PENDING and question.visibility == Visibility.PUBLIC and not held


def _may_be_canonical(question: Question) -> bool:
    """A question just taken in that later ones may be merged into (public and open)."""
    return question.visibility == Visibility.PUBLIC and question.state == S.PENDING


# --- sectors ----------------------------------------------------------------------------


def check_set_sector(actor: Any, question: Question, sector: str) -> None:
    from moderation.sectors import Sector

    require_permission(actor, "set_sector")
    if sector not in Sector.values:
        raise DomainError(
            _("Unknown sector %(s)s; use one of: %(choices)s")
            % {"s": sector, "choices": ", ".join(Sector.values)},
            code="bad_sector",
        )


def do_set_question_sector(
    actor: Any, session_id: int, question_id: int, sector: str, *, now: datetime | None = None
) -> Question:
    """Correct a question's sector. Corrections train the classifier (moderation.sectors)."""
    from moderation.sectors import bump_corrections_version

    now = now or timezone.now()
    with transaction.atomic():
        _, question = lock_question(session_id, question_id)
        check_set_sector(actor, question, sector)
        previous = question.sector
        question.sector = sector
        question.sector_source = "staff"
        question.save(update_fields=["sector", "sector_source"])
        write_audit(
            session_id=session_id,
            question=question,
            actor=actor,
            action="set_sector",
            now=now,
            from_state=question.state,
            to_state=question.state,
            note=f"{previous} → {sector}",
        )
        publish_staff_question(question, now)
        transaction.on_commit(bump_corrections_version)
    return question
