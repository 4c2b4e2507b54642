"""Hot words (热词) of a session, ranked by a heat weight.

Over the published questions of the session (and the questions merged into them, each
one another asker), jieba's TF-IDF keyword extraction (its own IDF table, our stop words)
gives up to 8 keywords. A keyword's heat is the sum, over the questions that contain it,
of

    tfidf weight × (1 + ln(1 + supports)) × 0.5 ^ (age / 30 minutes)

so a word rises with how often it is asked, how much it is supported, and how recent it
is. The top words are returned with their heat normalised to the hottest (1.0).
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from hub.models import Question, QuestionState, Visibility

HALF_LIFE_MINUTES = 30.0
KEYWORDS_PER_QUESTION = 8
_extractor_lock = threading.Lock()
_extractor: Any = None


def _tfidf() -> Any:
    global _extractor
    with _extractor_lock:
        if _extractor is None:
            import jieba.analyse

            from moderation.similarity import STOPWORDS_PATH, get_analyzer

            extractor = jieba.analyse.TFIDF()
            extractor.tokenizer = get_analyzer().tokenizer
            extractor.set_stop_words(str(STOPWORDS_PATH))
            _extractor = extractor
        return _extractor


def published_and_merged(session_id: int) -> QuerySet[Question]:
    """Published public questions, and those merged into one (counted as more askers)."""
    return Question.objects.filter(
        Q(published_at__isnull=False)
        | Q(state=QuestionState.MERGED, merged_into__published_at__isnull=False),
        session_id=session_id,
        visibility=Visibility.PUBLIC,
    ).exclude(state=QuestionState.REJECTED)


def keywords(text: str) -> list[tuple[str, float]]:
    return [
        (w, float(s))
        for w, s in _tfidf().extract_tags(text, topK=KEYWORDS_PER_QUESTION, withWeight=True)
        if len(w) > 1
    ]


def hot_words(
    session_id: int, *, limit: int = 30, now: datetime | None = None
) -> list[tuple[str, float]]:
    now = now or timezone.now()
    # Only what the public may see: words of unreviewed or rejected questions never show.
    visible = published_and_merged(session_id)
    heat: Counter[str] = Counter()
    for text, supports, received_at in visible.values_list(
        "text", "supports", "received_at"
    ).iterator():
        age = max(0.0, (now - received_at).total_seconds() / 60.0)
        boost = (1 + math.log1p(supports)) * 0.5 ** (age / HALF_LIFE_MINUTES)
        for word, weight in keywords(text):
            heat[word] += weight * boost
    top = heat.most_common(limit)
    if not top:
        return []
    hottest = top[0][1] or 1.0
    return [(word, round(value / hottest, 3)) for word, value in top]
