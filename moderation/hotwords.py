"""Hot words (热词) of a session, ranked by a heat weight.

Over the published questions of the session (and the questions merged into them, each
one another asker), jieba's TF-IDF keyword extraction (its own IDF table, our stop words)
gives up to 8 keywords. A keyword's heat is the sum, over the questions that contain it,
of

    tfidf weight × (1 + ln(1 + supports)) × 0.5 ^ (age / 30 minutes)

so a word rises with how often it is asked, how much it is supported, and how recent it
is. The top words are returned with their heat normalised to the hottest (1.0).

Hot words are public: keywords are taken from the text with personal data masked
(:func:`hub.lib.personal_data.mask_personal_data`, also over text stored before the policy
found a form), and a keyword is never a number or a piece of one (any token with a digit
in any script or a mask character, or made only of Chinese numerals: 185, 1234, 一三九),
nor a contact word (:data:`CONTACT_WORDS`: 电话, 手机号, 身份证号, 微信, QQ, 邮箱 …), which
would only tell that people left their numbers.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from hub.lib.personal_data import is_number_like, mask_personal_data
from hub.models import Question, QuestionState, Visibility

HALF_LIFE_MINUTES = 30.0
KEYWORDS_PER_QUESTION = 8
#: Words about contacting someone: never a hot word (compared in lower case).
CONTACT_WORDS = frozenset(
    """
    电话 联系电话 电话号码 电话号 号码 手机 手机号 手机号码 座机 固话 固定电话 联系方式 联系人 来电
    打电话 致电 身份证 身份证号 身份证号码 证件号 证件号码 身份证件 银行卡 银行卡号 卡号 账号 帐号
    微信 微信号 威信 薇信 扣扣 企鹅 企鹅号 qq qq号 vx wx wxid 加我 加微信 邮箱 电子邮箱 邮箱地址
    邮件 email mail tel com cn net org
    """.split()
)
_MASKED = re.compile(r"[A-Za-z0-9_.@\-]*[*＊]+[A-Za-z0-9_.@\-*＊]*")
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
    """Up to :data:`KEYWORDS_PER_QUESTION` (word, TF-IDF weight) of ``text``, read with its
    personal data masked; never a number, a piece of one or a contact word."""
    # A masked datum goes whole, with what is glued to it (the domain of a***@example.com).
    public = _MASKED.sub(" ", mask_personal_data(text))
    tags = _tfidf().extract_tags(public, topK=KEYWORDS_PER_QUESTION * 2, withWeight=True)
    return [(w, float(s)) for w, s in tags if is_public_word(w)][:KEYWORDS_PER_QUESTION]


def is_public_word(word: str) -> bool:
    """A keyword that may be shown as a hot word (see the module docstring)."""
    return len(word) > 1 and not is_number_like(word) and word.lower() not in CONTACT_WORDS


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
