"""The answer library (咨询答问库): answered questions and their answers, shared by every
session and every channel, searched as questions arrive.

* Entries are added when a question is marked answered on air with a summary
  (:func:`add_live_answer_entry`, called inside that action's transaction), or written
  by staff and hosts (:func:`do_add_library_entry`). Staff edit, publish as FAQ and retire
  them (:func:`do_update_library_entry`).
* :func:`library_matches` finds the entries most like a text with the same similarity
  engine that merges repeated questions (:mod:`moderation.similarity`), so a question
  asked in other words, in traditional characters or with filler still finds its answer.
  Scores are exact; only entries at or above :data:`SUGGEST_MIN_SCORE` are suggested.
  :func:`library_hints` does the same for a batch of new questions at intake (the best
  entry of each), so the queue shows which questions the library may answer.
* :func:`do_answer_from_library` answers a waiting question at once with an entry's
  answer (simple questions); complex ones the host defers for follow-up as before.

Index: each process keeps one :class:`~moderation.similarity.SimilarityIndex` of the
active entries. New entries are picked up by id on the next lookup (one cheap query);
edits and retirements bump a version in the shared cache (like the screening lexicon) and
every process rebuilds its index on its next lookup.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from hub.actions.common import lock_question, publish_staff_question
from hub.errors import DomainError, IllegalTransition, NotFound
from hub.events import record_public_event
from hub.lib.personal_data import mask_personal_data
from hub.models import Department, LiveAnswer, Question, QuestionState, Visibility
from hub.presenters import public_question
from hub.roles import require_permission
from moderation.models import LibraryEntry, LibrarySource
from moderation.similarity import Match, SimilarityIndex
from moderation.versioned import VersionedBuild

S = QuestionState

#: States a question can be answered from the library in: waiting in the queue, before or
#: after the host's approval, or deferred for follow-up. On air, the guest answers.
ANSWERABLE_FROM_LIBRARY = frozenset({S.PENDING, S.APPROVED, S.QUEUED, S.DEFERRED})
#: Lowest score at which an entry is suggested for a question (the merge engine's
#: "suggest" band: same topic and intent in other words).
SUGGEST_MIN_SCORE = 0.5
QUESTION_MAX_CHARS = 500
ANSWER_MAX_CHARS = 4000


@dataclass(frozen=True)
class LibraryMatch:
    entry: LibraryEntry
    score: float


class _LibraryIndex:
    """This process's index of active entries (see the module docstring)."""

    def __init__(self) -> None:
        self.index = SimilarityIndex()
        self.last_id = 0
        self.lock = threading.Lock()

    def sync(self) -> None:
        """Add entries created since the last lookup. Call under ``lock``."""
        rows = (
            LibraryEntry.objects.filter(pk__gt=self.last_id, retired=False)
            .order_by("pk")
            .values_list("pk", "question_text")
        )
        for pk, text in rows.iterator(chunk_size=2000):
            self.index.add(pk, text)
            self.last_id = pk


def _build_index() -> _LibraryIndex:
    index = _LibraryIndex()
    with index.lock:
        index.sync()
    return index


library_index: VersionedBuild[_LibraryIndex] = VersionedBuild("moderation:library", _build_index)


def library_matches(
    text: str, *, limit: int = 3, published_only: bool = False, min_score: float = SUGGEST_MIN_SCORE
) -> list[LibraryMatch]:
    """Active entries most like ``text``, best first (exact scores ≥ ``min_score``).
    ``published_only`` restricts to the public FAQ (for anonymous readers)."""
    found = _library_lookup(
        [text],
        candidates=limit * 3,
        min_score=min_score,
        published_only=published_only,
        related=("department",),
    )
    return found[0][:limit]


def library_hints(
    texts: Sequence[str], *, min_score: float = SUGGEST_MIN_SCORE
) -> list[LibraryMatch | None]:
    """For each text, the active entry most like it (exact score ≥ ``min_score``), or
    ``None``: the intake pipeline's hint for a batch of new questions. One index sync and
    at most one query for the entries, whatever the number of texts; the texts' analysis
    is the one the similarity lookups of the same batch just made (the shared analyzer
    remembers it), so a lookup costs a few band-key probes and the scoring of the few
    entries they find."""
    # A few candidates each: an entry retired since the index was built is skipped.
    found = _library_lookup(texts, candidates=3, min_score=min_score)
    return [matches[0] if matches else None for matches in found]


def _library_lookup(
    texts: Sequence[str],
    *,
    candidates: int,
    min_score: float,
    published_only: bool = False,
    related: tuple[str, ...] = (),
) -> list[list[LibraryMatch]]:
    """For each text, its active entries with an exact score ≥ ``min_score``, best first,
    among the ``candidates`` most like it: one index sync and at most one query for the
    entries, whatever the number of texts. The index has its own lock for lookups;
    ``index.lock`` only guards the sync."""
    found: list[list[Match]] = [[] for _ in texts]
    index = library_index.get()
    with index.lock:
        index.sync()
    if len(index.index):
        for position, text in enumerate(texts):
            text = (text or "").strip()
            if text:
                matches = index.index.candidates(text, limit=candidates)
                found[position] = [m for m in matches if m.score >= min_score]
    ids = {m.question_id for matches in found for m in matches}
    if not ids:
        return [[] for _ in texts]
    entries = LibraryEntry.objects.filter(pk__in=sorted(ids), retired=False)
    if published_only:
        entries = entries.filter(published=True)
    if related:  # (with no names, select_related would follow every relation)
        entries = entries.select_related(*related)
    by_id = {e.pk: e for e in entries}
    return [
        [
            LibraryMatch(by_id[m.question_id], round(m.score, 3))
            for m in matches
            if m.question_id in by_id
        ]
        for matches in found
    ]


def search_library(
    query: str, *, published_only: bool, sector: str = "", limit: int = 20
) -> list[LibraryEntry]:
    """Library search for people: similar questions first, then plain text matches of
    the words typed (question or answer), most used first. An empty query lists entries.

    A public search (``published_only``) is made with personal data in the query masked:
    typing someone's number must not tell whether an entry holds it (entries are shown
    masked, but matching the raw text would still confirm the number)."""
    query = (query or "").strip()[:QUESTION_MAX_CHARS]
    if published_only:
        query = mask_personal_data(query)
    base = LibraryEntry.objects.filter(retired=False).select_related("department")
    if published_only:
        base = base.filter(published=True)
    if sector:
        base = base.filter(sector=sector)
    if not query:
        return list(base[:limit])
    similar = [
        m.entry
        for m in library_matches(query, limit=limit, published_only=published_only, min_score=0.2)
        if not sector or m.entry.sector == sector
    ]
    seen = {e.pk for e in similar}
    text_hits = base.filter(Q(question_text__icontains=query) | Q(answer_text__icontains=query))
    rest = [e for e in text_hits.exclude(pk__in=seen)[: max(0, limit - len(similar))]]
    return (similar + rest)[:limit]


@dataclass(frozen=True)
class PublicEntry:
    """A library entry as the public FAQ (page and API) shows it: question and answer
    with personal data masked (entries come from live answers and staff, who may have
    written a caller's number into them)."""

    id: int
    question: str
    answer: str
    sector: str
    department: str | None
    source: str
    source_label: str
    times_used: int
    updated_at: datetime


def public_library_entry(entry: LibraryEntry) -> PublicEntry:
    return PublicEntry(
        id=entry.pk,
        question=mask_personal_data(entry.question_text),
        answer=mask_personal_data(entry.answer_text),
        sector=entry.sector,
        department=entry.department.name if entry.department else None,
        source=entry.source,
        source_label=str(entry.get_source_display()),
        times_used=entry.times_used,
        updated_at=entry.updated_at,
    )


# --- writing entries ----------------------------------------------------------------------


def _clean(text: str, limit: int, what: str) -> str:
    text = (text or "").strip()
    if not text:
        raise DomainError(_("The %(what)s is empty") % {"what": what}, code="empty")
    if len(text) > limit:
        raise DomainError(
            _("The %(what)s is %(n)s characters; the limit is %(max)s")
            % {"what": what, "n": len(text), "max": limit},
            code="too_long",
        )
    return text


def _clean_sector(sector: str) -> str:
    from moderation.sectors import Sector

    if sector not in Sector.values:
        raise DomainError(_("Unknown sector %(s)s") % {"s": sector}, code="bad_sector")
    return sector


def check_edit_library(actor: Any) -> None:
    require_permission(actor, "edit_library")


def do_add_library_entry(
    actor: Any,
    *,
    question_text: str,
    answer_text: str,
    sector: str = "other",
    department_id: int | None = None,
    published: bool = False,
    now: datetime | None = None,
) -> LibraryEntry:
    """A staff-written entry (e.g. a frequent question with the department's answer)."""
    check_edit_library(actor)
    now = now or timezone.now()
    question_text = _clean(question_text, QUESTION_MAX_CHARS, _("question"))
    answer_text = _clean(answer_text, ANSWER_MAX_CHARS, _("answer"))
    sector = _clean_sector(sector)
    if department_id is not None and not Department.objects.filter(pk=department_id).exists():
        raise NotFound(_("Unknown department"))
    return LibraryEntry.objects.create(
        question_text=question_text,
        answer_text=answer_text,
        sector=sector,
        department_id=department_id,
        source=LibrarySource.STAFF,
        published=published,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        created_at=now,
        updated_at=now,
    )


def do_update_library_entry(
    actor: Any, entry_id: int, *, now: datetime | None = None, **changes: Any
) -> LibraryEntry:
    """Change an entry's texts, sector, department, FAQ flag or retirement. Every process
    rebuilds its index after commit (the texts matched may have changed)."""
    check_edit_library(actor)
    now = now or timezone.now()
    allowed = {"question_text", "answer_text", "sector", "department_id", "published", "retired"}
    unknown = set(changes) - allowed
    if unknown:
        raise DomainError(
            _("Cannot change %(fields)s") % {"fields": ", ".join(sorted(unknown))}, code="invalid"
        )
    if "question_text" in changes:
        changes["question_text"] = _clean(
            changes["question_text"], QUESTION_MAX_CHARS, _("question")
        )
    if "answer_text" in changes:
        changes["answer_text"] = _clean(changes["answer_text"], ANSWER_MAX_CHARS, _("answer"))
    if "sector" in changes:
        changes["sector"] = _clean_sector(changes["sector"])
    department_id = changes.get("department_id")
    if department_id is not None and not Department.objects.filter(pk=department_id).exists():
        raise NotFound(_("Unknown department"))
    with transaction.atomic():
        try:
            entry = LibraryEntry.objects.select_for_update().get(pk=entry_id)
        except LibraryEntry.DoesNotExist:
            raise NotFound(_("Library entry #%(id)s does not exist") % {"id": entry_id}) from None
        for field, value in changes.items():
            setattr(entry, field, value)
        entry.updated_at = now
        entry.save(update_fields=[*changes, "updated_at"])
        transaction.on_commit(library_index.bump)
    return entry


def add_live_answer_entry(question: Question, summary: str, actor: Any, now: datetime) -> None:
    """Called by :func:`moderation.actions.do_mark_answered` inside its transaction: a
    public question answered on air with a summary joins the library (published: it was
    broadcast). Once per question; a later summary updates the entry."""
    summary = summary.strip()
    if not summary or question.visibility != Visibility.PUBLIC:
        return
    LibraryEntry.objects.update_or_create(
        source_question=question,
        defaults={
            "question_text": question.text[:QUESTION_MAX_CHARS],
            "answer_text": summary[:ANSWER_MAX_CHARS],
            "sector": question.sector,
            "source": LibrarySource.LIVE,
            "published": True,
            "updated_at": now,
        },
        create_defaults={
            "question_text": question.text[:QUESTION_MAX_CHARS],
            "answer_text": summary[:ANSWER_MAX_CHARS],
            "sector": question.sector,
            "source": LibrarySource.LIVE,
            "published": True,
            "created_by": actor if getattr(actor, "is_authenticated", False) else None,
            "created_at": now,
            "updated_at": now,
        },
    )
    transaction.on_commit(library_index.bump)


# --- answering from the library -------------------------------------------------------------


def check_answer_from_library(actor: Any, question: Question, entry: LibraryEntry) -> None:
    require_permission(actor, "answer_from_library")
    from moderation.actions import _guard_session_open, _guard_state

    _guard_session_open(question.session)
    _guard_state(question, ANSWERABLE_FROM_LIBRARY, "answer from the library")
    if entry.retired:
        raise IllegalTransition(
            _("Library entry #%(id)s is retired; choose another answer") % {"id": entry.pk},
            code="retired",
        )


def do_answer_from_library(
    actor: Any, session_id: int, question_id: int, entry_id: int, *, now: datetime | None = None
) -> Question:
    """pending, approved, queued or deferred → answered at once with a library entry's
    answer. A public question is published with its answer (viewers see that it was
    answered from the library); a private one is answered for its asker only.

    Locking: the session row, then the question row (:func:`lock_question`), then the
    entry row (its use count).
    """
    from moderation.actions import _transition

    now = now or timezone.now()
    with transaction.atomic():
        session, question = lock_question(session_id, question_id)
        try:
            entry = LibraryEntry.objects.select_for_update().get(pk=entry_id)
        except LibraryEntry.DoesNotExist:
            raise NotFound(_("Library entry #%(id)s does not exist") % {"id": entry_id}) from None
        check_answer_from_library(actor, question, entry)
        user = actor if getattr(actor, "is_authenticated", False) else None
        LiveAnswer.objects.update_or_create(
            question=question,
            defaults={
                "summary": entry.answer_text,
                "answered_by": user,
                "on_air_at": now,
                "answered_at": now,
                "library_entry": entry,
            },
        )
        fields: tuple[str, ...] = ("queue_position",)
        question.queue_position = None
        if question.visibility == Visibility.PUBLIC and question.published_at is None:
            question.published_at = now
            fields = (*fields, "published_at")
        _transition(
            question,
            S.ANSWERED,
            actor,
            "answer_from_library",
            now,
            note=f"library #{entry.pk}",
            fields=fields,
        )
        LibraryEntry.objects.filter(pk=entry.pk).update(times_used=F("times_used") + 1)
        if question.is_public:
            question = Question.objects.select_related("live_answer").get(pk=question.pk)
            record_public_event(session, "question_answered", public_question(question), now)
        publish_staff_question(question, now)
    return question


__all__ = [
    "ANSWERABLE_FROM_LIBRARY",
    "LibraryMatch",
    "PublicEntry",
    "add_live_answer_entry",
    "check_answer_from_library",
    "do_add_library_entry",
    "do_answer_from_library",
    "do_update_library_entry",
    "library_hints",
    "library_index",
    "library_matches",
    "public_library_entry",
    "search_library",
]
