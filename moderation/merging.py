"""Finding the same question asked again, across channels, as questions arrive.

Each process keeps one :class:`~moderation.similarity.SimilarityIndex` per session and
brings it up to date from the database before every lookup (questions with a higher id
than the last one indexed), so questions taken in by another process are found too.
Rejected and merged questions may linger in an index; candidates are re-checked against
the database, so only open public questions are ever proposed as the canonical one.

Private questions are neither indexed nor merged automatically: their askers asked not
to be published, and a merge would put their question behind a public one.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass

from django.db.models import QuerySet

from hub.models import Question, QuestionState, Visibility
from moderation.similarity import Match, SimilarityIndex, Verdict

#: States a canonical question may be in for a new question to be merged into it.
OPEN_TARGETS = (
    QuestionState.PENDING,
    QuestionState.APPROVED,
    QuestionState.QUEUED,
    QuestionState.ON_AIR,
    QuestionState.ANSWERED,
    QuestionState.DEFERRED,
    QuestionState.UNANSWERED,
)
MAX_SESSIONS = 16
_MANY = 512  # questions indexed at once above which the index merges its arrays once
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    question_id: int
    score: float
    verdict: str  # "merge" | "suggest" | "none"


class SessionIndexes:
    """The per-process indexes, least recently used sessions dropped past MAX_SESSIONS.

    A lookup never waits for a big build: when more than ``SYNC_LIMIT`` questions are
    missing from a session's index (a cold start in a busy session), or another thread is
    building it, the lookup returns no candidates at once and a background thread brings
    the index up to date. Questions taken in meanwhile simply stay for the host to merge.
    Concurrent lookups (requests in other threads) only wait for each other's short sync,
    at most ``LOCK_WAIT`` seconds; the index itself is safe to search from many threads.
    """

    #: Missing questions indexed in line before a lookup. Several server processes take
    #: in questions (``deploy/``: hub-daphne@8001, @8002 …); each catches up with the
    #: others' deliveries since its last lookup (a few batches of up to 500, about
    #: 0.15 ms each to analyse and add) rather than miss them; a cold start in a busy
    #: session (tens of thousands) warms in the background instead.
    SYNC_LIMIT = 2000
    LOCK_WAIT = 2.0

    def _ready(self, session_id: int, entry: _SessionIndex) -> bool:
        """Bring the session's index up to date for a lookup; ``False`` when it is being
        built, or too far behind (a background warm-up starts), or busy for too long."""
        if entry.warming or not entry.lock.acquire(timeout=self.LOCK_WAIT):
            return False
        try:
            if entry.warming:
                return False
            if not entry.sync_within(session_id, self.SYNC_LIMIT):
                self._start_warming(session_id, entry)
                return False
            return True
        finally:
            entry.lock.release()

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._indexes: OrderedDict[int, _SessionIndex] = OrderedDict()

    def _entry(self, session_id: int) -> _SessionIndex:
        with self._lock:
            entry = self._indexes.get(session_id)
            if entry is None:
                entry = _SessionIndex()
                self._indexes[session_id] = entry
            self._indexes.move_to_end(session_id)
            while len(self._indexes) > MAX_SESSIONS:
                self._indexes.popitem(last=False)
            return entry

    def candidates(
        self, session_id: int, text: str, *, exclude: int | None = None, limit: int = 5
    ) -> list[Candidate]:
        """Open public questions of the session most like ``text``, best first."""
        entry = self._entry(session_id)
        if not self._ready(session_id, entry):
            return []  # being built: do not wait
        matches = [
            m for m in entry.index.candidates(text, limit=limit + 1) if m.question_id != exclude
        ]
        if not matches:
            return []
        open_ids = set(
            Question.objects.filter(
                pk__in=[m.question_id for m in matches],
                state__in=OPEN_TARGETS,
                visibility=Visibility.PUBLIC,
            ).values_list("pk", flat=True)
        )
        return [
            Candidate(m.question_id, m.score, entry.index.classify(m.score))
            for m in matches
            if m.question_id in open_ids
        ][:limit]

    def lookup_batch(
        self, session_id: int, new: Sequence[NewQuestion], *, limit: int = 5
    ) -> BatchLookup | None:
        """Similarity lookups for a batch of questions about to be stored, in order, as
        :meth:`candidates` would make them one after the other: each is compared with the
        session's stored questions (this process's index, brought up to date first) and
        with the batch's earlier questions (a small index of the batch, in memory). A
        question is never compared with a later one of its batch. ``None`` when the index
        is busy or cold (see the class docstring): the batch then gets no candidates. The
        stored questions found are checked once for the whole batch to be open; which
        questions of the batch are open is the caller's to say (see
        :meth:`BatchLookup.candidates`). The batch's questions join the session's index
        with the next sync, once stored."""
        entry = self._entry(session_id)
        if not self._ready(session_id, entry):
            return None  # being built: do not wait
        index = entry.index
        stored = {
            position: index.candidates(question.text, limit=limit + 1)
            for position, question in enumerate(new)
            if question.look_up
        }
        batch = index.empty_like()  # keyed by position in the batch
        earlier: dict[int, list[Match]] = {}
        for position, question in enumerate(new):
            if question.look_up and len(batch):
                earlier[position] = batch.candidates(question.text, limit=limit + 1)
            if question.indexed:
                batch.add(position, question.text)
        found = {m.question_id for matches in stored.values() for m in matches}
        open_stored = frozenset(
            Question.objects.filter(
                pk__in=sorted(found), state__in=OPEN_TARGETS, visibility=Visibility.PUBLIC
            ).values_list("pk", flat=True)
            if found
            else ()
        )
        return BatchLookup(stored, earlier, open_stored, index.classify)

    def add_stored(self, session_id: int, stored: Sequence[tuple[int, str, bool]]) -> None:
        """A batch this process just stored, ``(id, text, indexed)`` each: index it now,
        while its analysis is fresh in memory, so that the next lookup neither analyses
        it again nor counts it as backlog. Skipped when the index is being built (the
        warm-up reads the batch)."""
        if not stored:
            return
        entry = self._entry(session_id)
        if entry.warming or not entry.lock.acquire(timeout=self.LOCK_WAIT):
            return
        try:
            for pk, text, indexed in sorted(stored):
                if pk <= entry.last_id:
                    continue  # a sync read it already
                if indexed:
                    entry.index.add(pk, text)
                entry.known.add(pk)
        finally:
            entry.lock.release()

    def _start_warming(self, session_id: int, entry: _SessionIndex) -> None:
        if not entry.warming:
            entry.warming = True
            threading.Thread(
                target=self._warm,
                args=(session_id, entry),
                daemon=True,
                name=f"similarity-warm-{session_id}",
            ).start()

    @staticmethod
    def _warm(session_id: int, entry: _SessionIndex) -> None:
        from django.db import close_old_connections

        entry.lock.acquire()  # waits for the lookup that started us to let go
        try:
            entry.sync(session_id)
        except Exception:
            logger.exception("warming the similarity index of session %s failed", session_id)
        finally:
            entry.warming = False
            entry.lock.release()
            close_old_connections()

    def forget(self, session_id: int) -> None:
        with self._lock:
            self._indexes.pop(session_id, None)


class _SessionIndex:
    """One session's index and the highest question id it has seen. ``last_id``, ``known``
    and syncing are guarded by ``lock``; the index is safe to search without it."""

    def __init__(self) -> None:
        self.index = SimilarityIndex()
        self.last_id = 0
        self.lock = threading.Lock()
        self.warming = False
        # Ids above last_id already indexed (by add_stored): the next sync skips them.
        self.known: set[int] = set()

    def _new_rows(self, session_id: int) -> QuerySet[Question, tuple[int, str, str, str]]:
        return (
            Question.objects.filter(session_id=session_id, pk__gt=self.last_id)
            .values_list("pk", "text", "visibility", "state")
            .order_by("pk")
        )

    def sync_within(self, session_id: int, limit: int) -> bool:
        """Index the questions stored since the last sync if at most ``limit`` of them
        need analysing (one query); ``False``, indexing nothing, when there are more."""
        rows = list(self._new_rows(session_id)[: limit + len(self.known) + 1])
        if len(rows) > limit + len(self.known):
            return False
        self._index(rows)
        return True

    def sync(self, session_id: int) -> None:
        """Index every question stored since the last sync (a warm-up reads them in
        chunks). After a big one, the index is kept out of the garbage collector's full
        collections (:func:`keep_out_of_full_collections`)."""
        indexed = self._index(self._new_rows(session_id).iterator(chunk_size=2000))
        if indexed > _MANY:
            keep_out_of_full_collections()

    def _index(self, rows: Iterable[tuple[int, str, str, str]]) -> int:
        """Index the open public questions among ``rows``; return how many."""
        pairs = []
        for pk, text, visibility, state in rows:
            self.last_id = pk
            if pk in self.known:
                self.known.discard(pk)
                continue
            if visibility == Visibility.PUBLIC and state in OPEN_TARGETS:
                pairs.append((pk, text))
        if len(pairs) > _MANY:
            self.index.add_many(pairs)  # a warm-up: the sorted arrays are merged once
        else:
            for pk, text in pairs:
                self.index.add(pk, text)
        return len(pairs)


def keep_out_of_full_collections() -> None:
    """Collect garbage now, then move every object alive into the garbage collector's
    permanent generation (``gc.freeze()``), which its collections no longer walk.

    Why: a warmed index of a 100,000-question session is about 360,000 objects (feature
    sets, groups, member lists). Python's full collections walk every object each time
    the long-lived ones have grown by a quarter: measured at 430 ms per full collection
    with such an index in the process, paid by whichever intake request or lookup
    triggered it (lookup p99 8.9 ms instead of 1.3 ms, intake 656 instead of 846
    questions/s in ``tests.bench.intake_pipeline``). The index holds no reference cycles,
    so freezing it only spares the walks: its objects are still freed by reference
    counting when the index is dropped. Objects added later are collected as usual.

    The cost: an object alive now that later becomes part of unreachable cyclic garbage
    is never collected (a request in flight in another thread at this moment, say). The
    collection just before keeps that to what is alive at the end of a warm-up, which
    happens once per session and process.
    """
    gc.collect()
    gc.freeze()


@dataclass(frozen=True)
class NewQuestion:
    """A question of a batch for :meth:`SessionIndexes.lookup_batch`: ``indexed`` when
    later ones may be merged into it (public and open), ``look_up`` when it is to be
    compared with the questions before it (see ``moderation.actions.find_same_questions``)."""

    text: str
    indexed: bool
    look_up: bool


@dataclass(frozen=True)
class BatchCandidate:
    """A question like one of a batch: a stored question (``question_id``) or an earlier
    question of the same batch (``position``)."""

    question_id: int | None
    position: int | None
    score: float
    verdict: Verdict


@dataclass(frozen=True)
class BatchLookup:
    """What :meth:`SessionIndexes.lookup_batch` found, by position in the batch: the
    stored questions and the earlier questions of the batch most like each question (one
    more than asked for, as :meth:`SessionIndexes.candidates` fetches), and which of the
    stored ones were open public questions."""

    stored: dict[int, list[Match]]
    earlier: dict[int, list[Match]]
    open_stored: frozenset[int]
    classify: Callable[[float], Verdict]

    def candidates(
        self, position: int, open_in_batch: Container[int], *, limit: int = 5
    ) -> list[BatchCandidate]:
        """Like :meth:`SessionIndexes.candidates` for the question at ``position``, given
        which earlier questions of the batch are open now (not merged by an earlier
        decision). Best first; among equal scores stored questions (older) first."""
        found = [
            BatchCandidate(m.question_id, None, m.score, self.classify(m.score))
            for m in self.stored.get(position, ())
            if m.question_id in self.open_stored
        ]
        found += [
            BatchCandidate(None, m.question_id, m.score, self.classify(m.score))
            for m in self.earlier.get(position, ())
            if m.question_id in open_in_batch
        ]
        found.sort(key=lambda c: (-c.score, c.position is not None, c.position, c.question_id))
        return found[:limit]


session_indexes = SessionIndexes()
