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

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass
from operator import attrgetter

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
    """

    SYNC_LIMIT = 200

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
        if not entry.lock.acquire(blocking=False):
            return []  # being built by another thread: do not wait
        try:
            backlog = Question.objects.filter(session_id=session_id, pk__gt=entry.last_id)
            if backlog.count() > self.SYNC_LIMIT:
                self._start_warming(session_id, entry)
                return []
            entry.sync(session_id)
            matches = [
                m for m in entry.index.candidates(text, limit=limit + 1) if m.question_id != exclude
            ]
        finally:
            entry.lock.release()
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
        """Similarity lookups for a batch of questions just stored in the session, in id
        order, as :meth:`candidates` would have made them one after the other: each new
        question is indexed (when ``indexed``: public and open) before its own lookup, so
        a later one of the batch can be found as the same as an earlier one, never the
        other way round. ``None`` when the index is busy or cold (see the class docstring):
        the batch then simply gets no candidates. The open-state re-check of the questions
        found is done once for the whole batch; whether a batch question is still open
        (it may be merged by an earlier decision) is the caller's to say (see
        :meth:`BatchLookup.candidates`)."""
        if not new:
            return BatchLookup({}, frozenset(), frozenset(), _classify_none)
        batch_ids = frozenset(q.question_id for q in new)
        entry = self._entry(session_id)
        if not entry.lock.acquire(blocking=False):
            return None  # being built by another thread: do not wait
        try:
            stored = Question.objects.filter(session_id=session_id, pk__gt=entry.last_id).count()
            backlog = stored - sum(1 for pk in batch_ids if pk > entry.last_id)
            if backlog > self.SYNC_LIMIT:
                self._start_warming(session_id, entry)
                return None
            entry.sync(session_id, skip=batch_ids)
            index = entry.index
            matches: dict[int, list[Match]] = {}
            for question in sorted(new, key=attrgetter("question_id")):
                qid = question.question_id
                if question.indexed:
                    index.add(qid, question.text)
                if question.look_up:
                    matches[qid] = [
                        m
                        for m in index.candidates(question.text, limit=limit + 1)
                        # Never itself, nor a question of the batch that came after it.
                        if m.question_id < qid or m.question_id not in batch_ids
                    ]
            entry.last_id = max(entry.last_id, max(batch_ids))
        finally:
            entry.lock.release()
        elsewhere = {m.question_id for found in matches.values() for m in found} - batch_ids
        open_elsewhere = frozenset(
            Question.objects.filter(
                pk__in=sorted(elsewhere), state__in=OPEN_TARGETS, visibility=Visibility.PUBLIC
            ).values_list("pk", flat=True)
            if elsewhere
            else ()
        )
        return BatchLookup(matches, batch_ids, open_elsewhere, index.classify)

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
    """One session's index and the highest question id it has seen. Use under ``lock``."""

    def __init__(self) -> None:
        self.index = SimilarityIndex()
        self.last_id = 0
        self.lock = threading.Lock()
        self.warming = False

    def sync(self, session_id: int, skip: frozenset[int] = frozenset()) -> None:
        """Index the session's questions stored since the last sync (``skip``: ids the
        caller indexes itself)."""
        rows = (
            Question.objects.filter(session_id=session_id, pk__gt=self.last_id)
            .values_list("pk", "text", "visibility", "state")
            .order_by("pk")
            .iterator(chunk_size=2000)
        )
        for pk, text, visibility, state in rows:
            self.last_id = pk
            if pk in skip:
                continue
            # The question being taken in is indexed too (only left out of its own
            # results), so that the next one can be merged into it.
            if visibility == Visibility.PUBLIC and state in OPEN_TARGETS:
                self.index.add(pk, text)


@dataclass(frozen=True)
class NewQuestion:
    """A question of a batch for :meth:`SessionIndexes.lookup_batch`: ``indexed`` when it
    may be found by later ones (public and open), ``look_up`` when it is to be compared
    with the questions before it (see ``moderation.actions.find_same_questions``)."""

    question_id: int
    text: str
    indexed: bool
    look_up: bool


@dataclass(frozen=True)
class BatchLookup:
    """What :meth:`SessionIndexes.lookup_batch` found: per looked-up question, the stored
    questions most like it (best first, itself and later questions of the batch left out,
    one more than asked for, as :meth:`SessionIndexes.candidates` fetches), and which of
    those outside the batch were open public questions when looked up."""

    matches: dict[int, list[Match]]
    batch_ids: frozenset[int]
    open_elsewhere: frozenset[int]
    classify: Callable[[float], Verdict]

    def candidates(
        self, question_id: int, open_in_batch: Container[int], *, limit: int = 5
    ) -> list[Candidate]:
        """Like :meth:`SessionIndexes.candidates` for one question of the batch, given
        which questions of the batch are open now (not merged by an earlier decision)."""
        found = []
        for match in self.matches.get(question_id, ()):
            pk = match.question_id
            is_open = pk in open_in_batch if pk in self.batch_ids else pk in self.open_elsewhere
            if is_open:
                found.append(Candidate(pk, match.score, self.classify(match.score)))
        return found[:limit]


def _classify_none(score: float) -> Verdict:
    return "none"


session_indexes = SessionIndexes()
