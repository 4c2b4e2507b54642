"""The one intake pipeline every channel goes through, one item or a batch at a time.

deduplicate by channel source id → normalise → enforce limits → screen → store → merge
the same question asked before → notify the consoles.

A question accepted by any channel is committed with its audit rows before the console
hears about it (publish after commit), and the console hears within the same tick.
:func:`do_intake_batch` is the pipeline; :func:`do_intake_question` is a batch of one.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from hub.actions.common import audit_entry
from hub.errors import IntakeRejected
from hub.events import send_console_event
from hub.models import (
    AuditEntry,
    Channel,
    LiveSession,
    Question,
    QuestionState,
    SessionStatus,
    Visibility,
)
from hub.presenters import member_sources, staff_question
from hub.protocol import QuestionsBatch, StaffQuestion, staff_question_chunks
from hub.text import (
    WIDTH_TABLE,
    escape_unsafe,
    is_clean_id,
    normalise_text,
    strip_unsafe,
    to_simplified,
    unstorable,
)

if TYPE_CHECKING:
    from moderation.actions import SameQuestion

__all__ = [
    "BadCharacters",
    "IntakeItem",
    "IntakeResult",
    "NotStored",
    "check_intake",
    "check_references",
    "clean_contact",
    "do_intake_batch",
    "do_intake_question",
    "normalise_text",
    "stored_reference",
    "to_simplified",
]

#: What people put between the digits of a phone number they type: spaces, dashes of any
#: width, brackets, dots (139.7308.5508), middle dots and slashes.
_PHONE_SEPARATORS = re.compile(r"[\s\-‐‑‒–—－()（）.．·・/／_]")
_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
_LANDLINE = re.compile(r"^(0[0-9]{2,3})?[0-9]{7,8}$|^12345$|^[0-9]{5}$")

#: The length of ``Question.channel_source_id`` and ``Question.asker_ref``.
REFERENCE_MAX_CHARS = 120
_HASHED = "sha256:"


class BadCharacters(IntakeRejected):
    """A field holds what no text or id may: a lone surrogate or NUL anywhere, or a
    control, noncharacter or bidirectional character in an id (see :mod:`hub.text`).
    Malformed input: 400, the item alone in a batch."""

    code = "bad_characters"
    http_status = 400


class NotStored(IntakeRejected):
    """Storing this question failed for a reason of its own while the others of its
    batch were stored (logged with the cause); sending it again is safe."""

    code = "not_stored"


def stored_reference(value: str) -> str:
    """How a source id or asker reference is stored and looked up: as it is up to
    :data:`REFERENCE_MAX_CHARS` characters, else ``sha256:`` and the hex digest of the
    whole value (71 characters), so two long ids never collide by being cut. A value
    that itself starts with ``sha256:`` is hashed too: a sender's id can never equal the
    hash of another one."""
    if len(value) <= REFERENCE_MAX_CHARS and not value.startswith(_HASHED):
        return value
    return _HASHED + hashlib.sha256(value.encode("utf-8")).hexdigest()


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
    """Validate and normalise; return (text, asker name, contact). Raises IntakeRejected
    (:class:`BadCharacters` for a lone surrogate or NUL in any field, or a character no id
    may hold in the source id or asker reference)."""
    if not isinstance(item.channel, str) or item.channel not in Channel.values:
        raise IntakeRejected(
            _("Unknown channel %(c)s") % {"c": escape_unsafe(str(item.channel))},
            code="bad_channel",
        )
    if not isinstance(item.text, str):
        raise IntakeRejected(_("The question text must be a string"), code="bad_text")
    for field, value in (
        (_("question text"), item.text),
        (_("name"), item.asker_name),
        (_("contact"), item.contact),
    ):
        if isinstance(value, str) and unstorable(value):
            raise BadCharacters(
                _("The %(field)s holds a lone surrogate or NUL character") % {"field": field}
            )
    check_references(item)
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


def check_references(item: IntakeItem) -> None:
    """Refuse a source id or asker reference that is not a string or holds a character
    no id may (:func:`hub.text.is_clean_id`): they are looked up before anything else.
    A source id is compared without surrounding whitespace, so it is checked so."""
    source_id = item.source_id.strip() if isinstance(item.source_id, str) else item.source_id
    for field, value in ((_("source id"), source_id), (_("asker reference"), item.asker_ref)):
        if value is None:
            continue
        if not isinstance(value, str) or not is_clean_id(value):
            raise BadCharacters(
                _("The %(field)s %(value)s holds a control or invalid character")
                % {"field": field, "value": escape_unsafe(str(value))[:200]},
                code="bad_id",
            )


def do_intake_question(item: IntakeItem, *, now: datetime | None = None) -> IntakeResult:
    """Store one incoming question, once: :func:`do_intake_batch` of one item, raising
    its :class:`IntakeRejected` instead of returning it. The same (channel, source id)
    twice returns the question stored the first time with ``created=False`` and changes
    nothing. The console hears of the question (and of the question it was merged into)
    with ``question`` frames."""
    outcome = do_intake_batch([item], now=now)[0]
    if isinstance(outcome, IntakeRejected):
        raise outcome
    return outcome


def do_intake_batch(
    items: Sequence[IntakeItem], *, now: datetime | None = None
) -> list[IntakeResult | IntakeRejected]:
    """Take in many questions at once (a microblog delivery, a coalesced burst of web
    questions), with the same rules and outcomes as taking them one after the other:
    one :class:`IntakeResult` or :class:`IntakeRejected` per item, in order. A refused
    item never stops the others; nothing accepted is lost.

    1. Deduplicate: one query for the (channel, source id) pairs already stored; a pair
       repeated within the batch is stored once, the repeats answer ``created=False``
       with that question (an item refused by validation does not count as stored).
    2. Validate each item (:func:`check_intake`) and its session (one query).
    3. Screen in memory (``moderation.actions.screen_new_questions``: lexicon, sector
       model and askers' history read once).
    4. Look for the same question asked before, in the session or earlier in the batch
       (``moderation.actions.find_same_questions``: one similarity pass per session,
       no lock held), deciding merges and suggestions; and for the answer library
       entry most like each question not rejected (``moderation.answers.library_hints``:
       one index sync and one query per batch), shown in the queue as a hint.
    5. Store, in one transaction: lock the canonical questions merged into and re-check
       them, insert the questions as they end up (pending, held, rejected, merged, with
       their suggestions) and their ``intake``, ``screen`` and ``merge`` audit rows
       with bulk inserts (both databases return the new primary keys).
    6. After commit, tell the consoles: one ``questions_batch`` frame per session with
       the staff view of every new question and of every earlier question that gained
       askers (up to :data:`SEPARATE_FRAMES_MAX` views go as ``question`` frames, as
       for one question).

    7. If planning or storing the batch fails (an item the database refuses, a bug),
       nothing of it is stored and each item is taken in again by itself, in order, in
       its own transaction: one item's failure is its own (:class:`NotStored`), every
       other item has the outcome it would have had alone. Only an unavailable database
       (``OperationalError``, ``InterfaceError``) fails the whole batch.

    Locking: no session lock is taken (intake publishes no viewer event), so intake runs
    concurrently with moderation. The unique constraint on (channel, source id) decides
    races between two deliveries of the same item: the batch that loses is planned again
    without the items the other one stored, which it reports as duplicates.
    """
    from moderation.actions import canonical_questions_grown, index_new_questions

    now = now or timezone.now()
    try:
        plan = _plan_and_store(items, now)
    except Exception:
        if len(items) == 1:
            raise
        # Something in one item broke the batch (or the database is failing: then the
        # first item alone fails the same way and that error goes up).
        logger.exception("taking in a batch of %s questions failed: one at a time", len(items))
        return [_alone(item, now) for item in items]
    created = [question for question, _ in plan.new]
    if created:
        index_new_questions(created)
        _tell_consoles(created, canonical_questions_grown(plan.merges), now)
    return plan.results


def _alone(item: IntakeItem, now: datetime) -> IntakeResult | IntakeRejected:
    """One item of a batch that failed, taken in by itself (its own transaction). The
    database being unavailable is everybody's failure and goes up; any other error is
    this item's own: it is refused with :class:`NotStored`."""
    try:
        return do_intake_batch([item], now=now)[0]
    except (OperationalError, InterfaceError):
        raise
    except Exception:
        logger.exception("storing one question of a failed batch failed")
        return NotStored(
            _("This question could not be stored; the others were. Please send it again.")
        )


def _plan_and_store(items: Sequence[IntakeItem], now: datetime) -> _Plan:
    """Steps 1–5 of :func:`do_intake_batch`: the plan, stored (retried after a race)."""
    checked: dict[int, tuple[str, str, str] | IntakeRejected] = {}
    for attempt in range(1, _STORE_ATTEMPTS + 1):
        plan = _plan(items, checked, now)
        try:
            _store(plan, now)
        except IntegrityError:
            # Another delivery stored some of the same source ids since we looked.
            if attempt == _STORE_ATTEMPTS or not _stored_since(plan):
                raise
            continue
        except OperationalError as error:
            # Two deliveries inserting the same source ids in another order: PostgreSQL
            # breaks the deadlock by rolling one back; that one is planned again.
            if attempt == _STORE_ATTEMPTS or getattr(error.__cause__, "sqlstate", "") != "40P01":
                raise
            continue
        break
    return plan


# Each new attempt follows another delivery that stored some of the same source ids (or a
# deadlock with one): as many as deliveries racing for the same items, in practice few.
_STORE_ATTEMPTS = 8
logger = logging.getLogger(__name__)


@dataclass
class _Plan:
    results: list[IntakeResult | IntakeRejected]
    new: list[tuple[Question, IntakeItem]]
    keys: set[tuple[str, str]]
    merges: list[SameQuestion]


def _source_id(item: IntakeItem) -> str | None:
    """The item's source id as stored (:func:`stored_reference`); None without one, and
    for an id :func:`check_references` refuses (never looked up)."""
    raw = item.source_id.strip() if isinstance(item.source_id, str) else ""
    if not raw or not is_clean_id(raw):
        return None
    return stored_reference(raw)


def _stored_questions(keys: set[tuple[str, str]]) -> dict[tuple[str, str], Question]:
    """The questions already stored under these (channel, source id) pairs (one query)."""
    if not keys:
        return {}
    by_channel: dict[str, list[str]] = {}
    for channel, source_id in keys:
        by_channel.setdefault(channel, []).append(source_id)
    condition = Q()
    for channel, source_ids in by_channel.items():
        condition |= Q(channel=channel, channel_source_id__in=sorted(source_ids))
    return {(q.channel, q.channel_source_id or ""): q for q in Question.objects.filter(condition)}


def _stored_since(plan: _Plan) -> bool:
    return bool(_stored_questions(plan.keys))


def _plan(
    items: Sequence[IntakeItem],
    checked: dict[int, tuple[str, str, str] | IntakeRejected],
    now: datetime,
) -> _Plan:
    """Decide every item's outcome and screen the new questions, writing nothing.
    ``checked`` caches validation between attempts."""
    from moderation.actions import find_same_questions, screen_new_questions

    keys = {(item.channel, sid) for item in items if (sid := _source_id(item)) is not None}
    stored = _stored_questions(keys)
    session_ids = {item.session_id for item in items}
    statuses = dict(LiveSession.objects.filter(pk__in=session_ids).values_list("pk", "status"))
    results: list[IntakeResult | IntakeRejected] = []
    new: list[tuple[Question, IntakeItem]] = []
    new_keys: set[tuple[str, str]] = set()
    for position, item in enumerate(items):
        source_id = _source_id(item)
        key = (item.channel, source_id) if source_id is not None else None
        if key is not None and key in stored:
            results.append(IntakeResult(stored[key], created=False))
            continue
        if position not in checked:
            try:
                checked[position] = check_intake(item)
            except IntakeRejected as refused:
                checked[position] = refused
        valid = checked[position]
        if isinstance(valid, IntakeRejected):
            results.append(valid)
            continue
        status = statuses.get(item.session_id)
        refusal = _session_refusal(status)
        if refusal is not None:
            results.append(refusal)
            continue
        text, name, contact = valid
        question = Question(
            session_id=item.session_id,
            text=text,
            original_text=strip_unsafe(item.text[: settings.HUB_QUESTION_MAX_CHARS * 4]),
            channel=item.channel,
            channel_source_id=source_id,
            asker_name=name,
            asker_ref=stored_reference(item.asker_ref),
            contact=contact,
            visibility=Visibility.PRIVATE if item.private else Visibility.PUBLIC,
            received_at=now,
            state=QuestionState.RECEIVED,
            submitted_by=item.submitted_by,
        )
        results.append(IntakeResult(question, created=True))
        new.append((question, item))
        if key is not None:
            stored[key] = question  # a repeat later in the batch is a duplicate of this
            new_keys.add(key)
    questions = [question for question, _ in new]
    screen_new_questions(questions, now)
    try:
        merges = find_same_questions(questions)
    except Exception:
        # Never lose a question to the similarity engine: store it unmerged; the host
        # can still merge it.
        logger.exception("looking for the same questions at intake failed")
        merges = []
        for question in questions:
            question.similar = []
    _hint_library(questions)
    return _Plan(results, new, new_keys, merges)


def _hint_library(questions: list[Question]) -> None:
    """Set on each new question that is not rejected the answer library entry most like it
    (``library_hint``, which also fills the relation's cache: the console frames need no
    query) and its score. One index sync and one query per batch, no lock held."""
    from moderation.answers import library_hints

    hinted = [q for q in questions if q.state != QuestionState.REJECTED]
    if not hinted:
        return
    try:
        hints = library_hints([q.text for q in hinted])
    except Exception:
        # Never lose a question to the library: store it without a hint; selecting it
        # still shows the library's suggestions.
        logger.exception("matching new questions against the answer library failed")
        return
    for question, hint in zip(hinted, hints, strict=True):
        if hint is not None:
            question.library_hint = hint.entry
            question.library_hint_score = hint.score


def _session_refusal(status: str | None) -> IntakeRejected | None:
    if status is None:
        return IntakeRejected(_("Unknown session"), code="unknown_session")
    if status not in (SessionStatus.COLLECTING, SessionStatus.LIVE):
        return IntakeRejected(
            _("This session is not taking questions (it is %(status)s)")
            % {"status": SessionStatus(status).label},
            code="not_accepting",
        )
    return None


def _store(plan: _Plan, now: datetime) -> None:
    """Insert the new questions as they end up, and their audit rows, in one transaction.
    A question merged into an earlier one of the batch is inserted after it (it needs
    its id); a suggestion of an earlier question of the batch is filled in once that
    one has its id."""
    from moderation.actions import (
        lock_merge_targets,
        merge_new_questions,
        resolve_similar,
        screening_audit,
    )

    if not plan.new:
        return
    questions = [question for question, _ in plan.new]
    with transaction.atomic():
        merges = lock_merge_targets(plan.merges)
        second = {id(m.question) for m in merges if m.into_batch}
        merged = merge_new_questions([m for m in merges if not m.into_batch], now)
        pointing = resolve_similar(questions, stored=False)
        Question.objects.bulk_create([q for q in questions if id(q) not in second])
        merged.update(merge_new_questions([m for m in merges if m.into_batch], now))
        Question.objects.bulk_create([q for q in questions if id(q) in second])
        if pointing:
            resolve_similar(pointing, stored=True)
            # Small statements: a CASE over many rows costs quadratic time.
            Question.objects.bulk_update(pointing, ["similar"], batch_size=50)
        audits = []
        for question, item in plan.new:
            audits.append(
                audit_entry(
                    session_id=question.session_id,
                    question=question,
                    actor=item.submitted_by,
                    action="intake",
                    now=now,
                    to_state=QuestionState.RECEIVED,
                    note=item.channel,
                    system_label=f"intake:{item.channel}",
                )
            )
            audits.append(screening_audit(question, now))
            if id(question) in merged:
                audits.append(merged[id(question)])
        AuditEntry.objects.bulk_create(audits)
    plan.merges = merges


#: A batch that changes at most this many questions of a session (one new question and
#: the earlier one it repeats) tells the console with ``question`` frames, as a single
#: question always has; a bigger one with one ``questions_batch`` frame.
SEPARATE_FRAMES_MAX = 2


def _tell_consoles(created: list[Question], targets: list[Question], now: datetime) -> None:
    """The staff view of each new question and of each earlier question that gained
    askers, per session: ``question`` frames up to :data:`SEPARATE_FRAMES_MAX` views,
    else one ``questions_batch`` frame. Built from the objects in memory: no query per
    question."""
    # The earlier questions' merged repeats (this batch's included) are in the database;
    # a new question can only have repeats from this batch, counted here.
    members: dict[int, dict[str, int]] = member_sources([t.pk for t in targets])
    earlier = {t.pk for t in targets}
    for question in created:
        target = question.merged_into_id
        if question.state == QuestionState.MERGED and target is not None and target not in earlier:
            sources = members.setdefault(target, {})
            sources[question.channel] = sources.get(question.channel, 0) + 1
        # Nothing is attached to a question this new: spare the presenter its queries.
        question.observer_flag_count = 0  # type: ignore[attr-defined]
        Question.live_answer.related.set_cached_value(question, None)
    by_session: dict[int, list[StaffQuestion]] = {}
    for question in [*created, *targets]:
        view = staff_question(question, members.get(question.pk, {}))
        by_session.setdefault(question.session_id, []).append(view)
    for session_id, views in by_session.items():
        if len(views) <= SEPARATE_FRAMES_MAX:
            for view in views:
                send_console_event(session_id, "question", view, now)
            continue
        # One frame, unless the batch is too big for one WebSocket message.
        for chunk in staff_question_chunks(views):
            send_console_event(session_id, "questions_batch", QuestionsBatch(questions=chunk), now)
