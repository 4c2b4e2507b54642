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


@dataclass(frozen=True)
class Candidate:
    question_id: int
    score: float
    verdict: str  # "merge" | "suggest" | "none"


class SessionIndexes:
    """The per-process indexes, least recently used sessions dropped past MAX_SESSIONS."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._indexes: OrderedDict[int, tuple[SimilarityIndex, int, threading.Lock]] = OrderedDict()

    def _entry(self, session_id: int) -> tuple[SimilarityIndex, int, threading.Lock]:
        with self._lock:
            entry = self._indexes.get(session_id)
            if entry is None:
                entry = (SimilarityIndex(), 0, threading.Lock())
                self._indexes[session_id] = entry
            self._indexes.move_to_end(session_id)
            while len(self._indexes) > MAX_SESSIONS:
                self._indexes.popitem(last=False)
            return entry

    def candidates(
        self, session_id: int, text: str, *, exclude: int | None = None, limit: int = 5
    ) -> list[Candidate]:
        """Open public questions of the session most like ``text``, best first."""
        index, _, session_lock = self._entry(session_id)
        with session_lock:
            index, last_id, _ = self._indexes.get(session_id, (index, 0, session_lock))
            rows = (
                Question.objects.filter(session_id=session_id, pk__gt=last_id)
                .values_list("pk", "text", "visibility", "state")
                .order_by("pk")
            )
            for pk, question_text, visibility, state in rows:
                last_id = pk
                # The question being taken in is indexed too (only left out of its own
                # results), so that the next one can be merged into it.
                if visibility == Visibility.PUBLIC and state in OPEN_TARGETS:
                    index.add(pk, question_text)
            with self._lock:
                self._indexes[session_id] = (index, last_id, session_lock)
            matches = [
                m for m in index.candidates(text, limit=limit + 1) if m.question_id != exclude
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
            Candidate(m.question_id, m.score, index.classify(m.score))
            for m in matches
            if m.question_id in open_ids
        ][:limit]

    def forget(self, session_id: int) -> None:
        with self._lock:
            self._indexes.pop(session_id, None)


session_indexes = SessionIndexes()
