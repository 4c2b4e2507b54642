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
from dataclasses import dataclass

from hub.models import Question, QuestionState, Visibility
from moderation.similarity import SimilarityIndex

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
                if not entry.warming:
                    entry.warming = True
                    threading.Thread(
                        target=self._warm,
                        args=(session_id, entry),
                        daemon=True,
                        name=f"similarity-warm-{session_id}",
                    ).start()
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

    def sync(self, session_id: int) -> None:
        rows = (
            Question.objects.filter(session_id=session_id, pk__gt=self.last_id)
            .values_list("pk", "text", "visibility", "state")
            .order_by("pk")
            .iterator(chunk_size=2000)
        )
        for pk, text, visibility, state in rows:
            self.last_id = pk
            # The question being taken in is indexed too (only left out of its own
            # results), so that the next one can be merged into it.
            if visibility == Visibility.PUBLIC and state in OPEN_TARGETS:
                self.index.add(pk, text)


session_indexes = SessionIndexes()
