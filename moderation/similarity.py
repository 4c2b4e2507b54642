"""Finding the same question asked again, across channels (issue 3, section 1).

The web form, the microblog and the radio/hotline screener all feed one queue. The same
question arrives many times in different clothes::

    web        老旧小区改造什么时候轮到幸福花园小区？
    microblog  #市长热线# @宿迁之声 幸福花园小区的老旧小区改造什么时候能轮到啊？？
    radio      喂，主持人你好，我是幸福花园小区的居民，我想问一下，就是我们小区的
               老旧小区改造，啥时候能轮到我们啊？

This module scores how alike two questions are and finds, among the questions of a live
session, the few most like a new one. It is pure Python (no models, no database): the
caller decides what a "merge" means. :class:`SimilarityIndex` is the one to use;
:class:`NaiveIndex` compares against every stored question and is the benchmark's baseline.

Text → features
---------------
1. **Fold** (:func:`hub.intake.pipeline.normalise_text` with ``to_simplified=True``, always,
   whatever ``HUB_TRADITIONAL_TO_SIMPLIFIED`` says: 繁體 and ＦＵＬＬ-width variants of a
   question must meet), lower-case, drop channel noise: URLs, ``@mentions`` (``//@a:``
   retweet chains and ``回复@a:`` included), microblog emoticon codes such as ``[微笑]``;
   hashtag markers ``#`` fall away as punctuation, their words stay. Reduplicated verbs
   fold: ``管一管``/``管管`` → ``管``.
2. **Question intent.** The question word says what is asked: *when* (什么时候, 啥时候,
   何时, 多久 …), *how* (怎么, 如何, 咋 …), *where / which office* (哪里, 在哪, 哪个部门 …),
   *why* (为什么, 凭什么 …), *how much / how many* (多少, 几个 …). Each class found becomes
   one feature (``?when`` …), so "加装电梯什么时候开始" and "加装电梯怎么申请" differ
   although both question words are stop words, while 什么时候 and 啥时候 agree.
3. **Segment** with jieba, precise mode, **HMM off**, on a dedicated ``jieba.Tokenizer``
   that has the government-domain user dictionary ``data/gov_userdict.txt`` (老旧小区改造,
   加装电梯, 公积金, 12345热线 …). HMM off makes segmentation context-free: an unknown
   name (a housing estate, a road) always splits into the same dictionary pieces, where the
   HMM would glue it differently depending on its neighbours (seen: 幸福花 / 园老舊).
4. **Content words**: drop tokens made only of punctuation, symbols or spaces, and the stop
   words of ``data/stopwords.txt`` (particles, pronouns, question fillers such as 请问 and
   能不能, radio fillers such as 喂 and 主持人你好, appeal boilerplate such as 希望相关部门
   尽快解决, microblog boilerplate).
5. **Names.** A place or organisation name is the few short content tokens before a name
   suffix (路, 大道, 花园, 苑, 小区, 村, 公司, 小学, 医院, 号 …, at most four characters
   before it): 幸福 + 花园 → ``@幸福花园``, 西湖 + 大道 → ``@西湖大道``, 2 + 号 → ``@2号``.
   The name *replaces* its pieces as one feature. Without it, "幸福花园" and "阳光小区"
   differ by one common word each and two questions differing only in the place scored as
   merges; with its pieces kept as well, one place counted three times and two different
   questions about the same estate scored as suggestions.
6. **Features** = the *set* of content words ∪ names ∪ intent features. Word bigrams were
   tried and rejected: each extra word a channel adds (a hashtag, 那个, 天天) breaks two
   bigrams as well as adding a word, so cross-channel copies of one question scored lower
   while different questions were not separated better (on the hand-made pairs of
   ``tests/test_similarity.py``).

Score
-----
Weighted Jaccard of two feature sets, exact (not the MinHash estimate)::

    score(A, B) = w(A ∩ B) / w(A ∪ B)            in [0, 1]; 0 when either set is empty

where ``w(S)`` sums the weights of the features in S. A word's weight is its information
content in jieba's dictionary, ``ln(total / (freq + 1))`` clipped to
[:data:`MIN_WEIGHT`, :data:`MAX_WEIGHT`] = [4, 14] (the user dictionary's frequencies
count), so a rare word (物业费, 额度) counts more than a common one (开始, 申请); words
missing from the dictionary (numbers, odd characters) get :data:`MAX_WEIGHT`; a name
:data:`NAME_WEIGHT` (= the maximum), an intent feature :data:`INTENT_WEIGHT` (6). The
weights are static (no corpus statistics), so a pair always gets the same score, in every
session and process. When both texts name places or organisations and share none of those
names (幸福花园 vs 阳光小区, 西湖大道 vs 学院大道), the score is multiplied by
:data:`NAME_CONFLICT_FACTOR` = 0.8: however alike the rest, such a pair stays below 0.8
and is never merged automatically (at the default thresholds); the host can still merge.

Thresholds (:meth:`SimilarityIndex.classify`, configurable per index):

* ``score ≥ 0.8`` (:data:`MERGE_THRESHOLD`) → ``"merge"``: merge automatically (undoable).
* ``0.5 ≤ score < 0.8`` (:data:`SUGGEST_THRESHOLD`) → ``"suggest"``: show "similar to #123".
* below → ``"none"``.

On the hand-made pairs of the tests: one question across web, microblog and radio with
only channel noise and fillers 1.0; copies that also add or change words (交警, 天天;
开始 for 轮到) 0.44–0.9; paraphrases 0.58–0.87; different questions in the same sector
0–0.22; the same question about another place 0.46–0.62, another building of the same
estate 0.75 (suggestions: the host decides). Known limits of a lexical score: a
paraphrase in other words (遗失 for 丢了, 出台 for 公布) scores low; a copy with another
verb can fall to "suggest" (轮到 vs 开始: 0.64); numbers are not normalised (三个月 ≠
3个月).

Candidate search (MinHash LSH)
------------------------------
Questions with identical feature sets (the same question again, differing only in stop
words, noise or folding) share one entry: one signature, one score, all their ids.

Every feature set gets a MinHash signature (datasketch :class:`~datasketch.MinHash`,
``num_perm`` = 120, one permutation set shared by all signatures of the index, features
hashed with ``blake2b(digest_size=4)``: stable across processes, unlike ``hash()``, and
faster than datasketch's default SHA-1). Each feature enters the MinHash repeated by its
weight (:meth:`SimilarityIndex.shingles`: a name 3 times, a common word once), so the
signature estimates a weighted Jaccard similarity close to the exact score. The signature
is cut into ``bands`` = 40 bands of ``rows`` = 3 values; two sets of (shingle) Jaccard
similarity s share at least one band with probability ``1 - (1 - s**3) ** 40``
(:func:`candidate_probability`): 0.995 at s = 0.5, 0.93 at 0.4, 0.67 at 0.3, 0.04 at 0.1 —
a low enough threshold for "suggest". The entries sharing a band with the text are
counted; at most ``max_candidates`` (200), those sharing the most bands, are scored
exactly; the best are returned. Above a couple of dozen candidates, one NumPy pass over the
groups' features (numbered, kept in columns) first sets aside those that cannot be among
the best, so only a handful are scored with ``math.fsum``: the results are the same.
MinHash signatures are computed with datasketch's formula in one NumPy expression (the
same values as :meth:`SimilarityIndex.minhash`), and the analysis of recent texts and the
band keys of recent feature sets are remembered: intake looks a question up and adds it
with the same features.

The bands live in NumPy arrays: the distinct band keys, sorted, with where each key's
entries start in a third array (compressed rows), plus a dict of recent insertions merged
into the arrays every ``buffer_docs`` (2,048) new entries; a lookup is one
``searchsorted`` call for its 40 keys. A question whose exact features are already held
by at least ``limit`` stored questions (the same question asked again in the same words,
after folding) is answered from that group without a search: it is what the search gives.
datasketch's ``MinHashLSH`` keeps a Python ``set`` per bucket instead: with these 40 bands
it took 43.5 MB for 4,837 feature sets where the arrays took 3.5 MB (``python -m
tests.bench.intake_similarity`` measures both), i.e. about 0.45 GB for the ~50,000
distinct feature sets of a 100,000-question session.

Performance (``python -m tests.bench.intake_pipeline``, 2 vCPU AMD EPYC, 100,000
questions of ``hub.intake.samples`` in the session): lookup p50 ≈ 0.45 ms, p99 ≈ 1.1–1.4
ms (text analysis included), against p50 ≈ 90 ms for the naive scan; ``rebuild`` ≈ 0.2 ms
per question (mostly jieba and the traditional→simplified folding). An index of 100,000
questions is about 360,000 Python objects: ``moderation.merging`` takes them out of the
garbage collector's full collections after a warm-up (``gc.freeze()``); without that, a
full collection took 430 ms and lookup p99 rose to 8.9 ms.

Threads and lifetime
--------------------
jieba's dictionary (~1 s, ~60 MB) is loaded once per process, on first use, under a lock,
into a tokenizer of its own (the global ``jieba`` tokenizer is left alone). Nothing is
downloaded; jieba may write its usual prefix-dictionary cache to the temporary directory.
An index is meant to live in memory for one live session; rebuild it after a restart with
:meth:`SimilarityIndex.rebuild`. Its methods may be called from several threads: one lock
serialises changes and lookups; the text analysis runs outside it.
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import math
import re
import sys
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

import numpy as np

if TYPE_CHECKING:
    import jieba

__all__ = [
    "INTENT_WEIGHT",
    "MAX_WEIGHT",
    "MERGE_THRESHOLD",
    "MIN_WEIGHT",
    "NAME_CONFLICT_FACTOR",
    "NAME_WEIGHT",
    "STOPWORDS_PATH",
    "SUGGEST_THRESHOLD",
    "USERDICT_PATH",
    "Analyzer",
    "Features",
    "Match",
    "NaiveIndex",
    "SimilarityIndex",
    "Verdict",
    "candidate_probability",
    "get_analyzer",
    "similarity",
]

DATA_DIR = Path(__file__).resolve().parent / "data"
USERDICT_PATH = DATA_DIR / "gov_userdict.txt"
STOPWORDS_PATH = DATA_DIR / "stopwords.txt"

MERGE_THRESHOLD = 0.8
"""Default: a score at or above this merges automatically."""
SUGGEST_THRESHOLD = 0.5
"""Default: a score at or above this (and below the merge threshold) is suggested to the host."""

MIN_WEIGHT = 4.0
"""Lowest weight of a content word (very common words)."""
MAX_WEIGHT = 14.0
"""Highest weight of a content word; also the weight of words missing from the dictionary."""
INTENT_WEIGHT = 6.0
"""Weight of a question-intent feature (about that of a common content word)."""
NAME_WEIGHT = MAX_WEIGHT
"""Weight of a place or organisation name feature (``@幸福花园``)."""
NAME_CONFLICT_FACTOR = 0.8
"""Score factor when both texts name places and no name is shared: such a pair scores
below 0.8, so it is never merged automatically at the default thresholds."""

DEFAULT_NUM_PERM = 120
DEFAULT_BANDS = 40
DEFAULT_ROWS = 3
DEFAULT_SEED = 1
DEFAULT_MAX_CANDIDATES = 200
DEFAULT_BUFFER_DOCS = 2048

Verdict = Literal["merge", "suggest", "none"]

# --- text preparation -------------------------------------------------------------------

_URL = re.compile(r"(?:https?://|www\.)[0-9a-z\-._~:/?#\[\]@!$&'()*+,;=%]*", re.IGNORECASE)
# @name ends at whitespace, punctuation or another marker; microblog names are short.
_MENTION = re.compile(
    r"(?://|回复)?@[^\s@#:：,，.。!！?？、;；()（）\[\]【】<>《》\"“”']{1,20}[:：]?"
)
_EMOTICON = re.compile(r"\[[\u4e00-\u9fffa-z]{1,5}\]")
_REDUPLICATED_YI = re.compile(r"([\u4e00-\u9fff])一\1")
_INTENTS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (f"?{name}", re.compile(pattern))
    for name, pattern in (
        ("when", r"什么时候|啥时候|什么时间|啥时|何时|几时|多久|多长时间|哪天|哪一天|几月|几号"),
        ("how", r"怎么|怎样|如何|咋"),
        ("where", r"哪里|哪儿|在哪|去哪|到哪|何处|哪个部门|哪个单位|哪家"),
        ("why", r"为什么|为啥|凭什么|为何|干嘛"),
        ("howmuch", r"多少|多大|多高|多远|多贵|几个|几年|几天|几次|几成"),
    )
)
_INTENT_FEATURES = frozenset(name for name, _ in _INTENTS)
# Words that end a place or organisation name → how the name feature spells the ending.
_NAME_SUFFIXES: dict[str, str] = {
    word: word
    for word in (
        "路 街 巷 桥 大道 大街 街道 社区 小区 花园 家园 新村 新城 苑 府 园 庭 居 邸 公寓 名邸 "
        "嘉园 华庭 雅居 广场 大厦 村 庄 镇 乡 公司 集团 学校 小学 中学 实验学校 幼儿园 医院 "
        "卫生院 市场 超市 初级中学 高级中学 号 号楼 楼 栋 幢 单元 室"
    ).split()
}
_NAME_SUFFIXES.update({"路上": "路", "街上": "街"})
_NAME_MAX_CHARS = 4  # of the part before the suffix
_MAX_WEIGHT_CACHE = 500_000  # distinct features whose weight is remembered
_ANALYSIS_CACHE = 8192  # texts whose analysis and features are remembered (LRU)


def _name_length(run: list[str]) -> int:
    """How many tokens at the end of ``run`` form the name before a suffix: each at most
    three characters, together at most :data:`_NAME_MAX_CHARS` characters."""
    count = chars = 0
    for token in reversed(run):
        if len(token) > 3 or chars + len(token) > _NAME_MAX_CHARS:
            break
        count += 1
        chars += len(token)
    return count


def _default_fold(text: str) -> str:
    # Imported here, not at module level: the intake pipeline will import this module.
    from hub.text import normalise_text

    return normalise_text(text, to_simplified=True)


def _is_noise(token: str) -> bool:
    """True when the token has no letter, digit or ideograph (punctuation, symbols, spaces)."""
    return all(unicodedata.category(ch)[0] in "PSZC" for ch in token)


def _read_stopwords(path: Path) -> frozenset[str]:
    words = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        word = line.strip()
        if word and not word.startswith("#"):
            words.add(word)
    return frozenset(words)


_NO_NAMES: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Features:
    """The features of one text: ``items`` (content words, ``@names`` and ``?intents``, see
    the module docstring) and ``weight``, the sum of their weights. Empty for a text with
    no content words (e.g. "你好？"): such a text matches nothing."""

    items: frozenset[str]
    weight: float
    names: frozenset[str] = _NO_NAMES  # the ``@name`` items

    def __bool__(self) -> bool:
        return bool(self.items)


class Analyzer:
    """Turns a text into :class:`Features` (see the module docstring for the steps).

    The jieba dictionary, the user dictionary and the stop words are loaded lazily, once,
    thread-safely, on the first call that needs them. Use the shared instance from
    :func:`get_analyzer`; build your own only to try another dictionary or stop-word list.
    ``fold`` replaces the width / traditional→simplified folding (default: the intake
    pipeline's ``normalise_text`` with ``to_simplified=True``, which needs Django settings
    configured, as in the app, the tests and the benchmark).
    """

    def __init__(
        self,
        userdict: Path = USERDICT_PATH,
        stopwords: Path = STOPWORDS_PATH,
        *,
        fold: Callable[[str], str] | None = None,
    ) -> None:
        self.userdict = userdict
        self.stopwords_path = stopwords
        self._fold = fold or _default_fold
        self._lock = threading.Lock()
        self._tokenizer: jieba.Tokenizer | None = None
        self._stopwords: frozenset[str] = frozenset()
        self._weights: dict[str, float] = {}
        self._log_total = 0.0
        # Intake analyses each question's text up to three times (its sector, adding it to
        # the index, looking it up); the analysis is a pure function of the text.
        self._analysed = lru_cache(maxsize=_ANALYSIS_CACHE)(self._analyse_text)
        self._features = lru_cache(maxsize=_ANALYSIS_CACHE)(self._features_of)

    # -- loading ---------------------------------------------------------------------------

    def load(self) -> None:
        """Load the dictionaries now (otherwise done on first use). Idempotent."""
        self._ensure_loaded()

    @property
    def loaded(self) -> bool:
        return self._tokenizer is not None

    def _ensure_loaded(self) -> jieba.Tokenizer:
        tokenizer = self._tokenizer
        if tokenizer is not None:
            return tokenizer
        with self._lock:
            if self._tokenizer is None:
                import jieba

                new = jieba.Tokenizer()  # the default dictionary shipped inside jieba
                new.initialize()
                with self.userdict.open("rb") as fh:
                    new.load_userdict(fh)
                self._stopwords = _read_stopwords(self.stopwords_path)
                self._log_total = math.log(new.total)
                self._tokenizer = new  # published last: readers never see half a load
            return self._tokenizer

    @property
    def tokenizer(self) -> jieba.Tokenizer:
        """The analyzer's own jieba tokenizer (loaded on first access), with the user
        dictionary: for other jieba tools (keyword extraction) that should cut alike."""
        return self._ensure_loaded()

    @property
    def stopwords(self) -> frozenset[str]:
        self._ensure_loaded()
        return self._stopwords

    # -- analysis --------------------------------------------------------------------------

    def prepare(self, text: str) -> str:
        """Fold and strip channel noise (step 1); no segmentation."""
        text = self._fold(text).lower()
        text = _URL.sub(" ", text)
        text = _MENTION.sub(" ", text)
        text = _EMOTICON.sub(" ", text)
        return _REDUPLICATED_YI.sub(r"\1", text)

    def tokens(self, text: str) -> list[str]:
        """The content words of ``text`` in order, duplicates kept (steps 1, 3, 4 and 5:
        the pieces of a name are left out, see :meth:`features`)."""
        return list(self._analysed(text)[1])

    def _analyse_text(self, text: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
        """(prepared text, content words, names) of a text; cached by :attr:`_analysed`."""
        prepared = self.prepare(text)
        words, names = self._analyse(prepared)
        return prepared, tuple(words), tuple(names)

    def _analyse(self, prepared: str) -> tuple[list[str], list[str]]:
        """(content words, place/organisation names) of a prepared text."""
        tokenizer = self._ensure_loaded()
        stop = self._stopwords
        words: list[str] = []
        names: list[str] = []
        run: list[str] = []  # content tokens since the last break, for names
        for raw in tokenizer.cut(prepared, cut_all=False, HMM=False):
            token = raw.strip()
            if not token or _is_noise(token):
                run = []
                continue
            suffix = _NAME_SUFFIXES.get(token)
            if suffix is not None:
                used = _name_length(run)
                run, name_tokens = [], run[len(run) - used :]
                if name_tokens:
                    # The name replaces its pieces: 幸福 + 花园 → one feature, @幸福花园.
                    del words[len(words) - used :]
                    names.append(sys.intern("".join(name_tokens) + suffix))
                    continue
            if token in stop:
                run = []
                continue
            if len(token) == 2 and token[0] == token[1] and "\u4e00" <= token[0] <= "\u9fff":
                token = token[0]  # 管管 → 管, 问问 → 问
                if token in stop:
                    run = []
                    continue
            words.append(sys.intern(token))
            if suffix is None:
                run.append(token)
        return words, names

    def features(self, text: str) -> Features:
        """The :class:`Features` of ``text`` (never raises for any ``str``, empty or not)."""
        return self._features(text)

    def _features_of(self, text: str) -> Features:
        prepared, words, names = self._analysed(text)
        items = set(words)
        items.update("@" + name for name in names)
        for name, pattern in _INTENTS:
            if pattern.search(prepared):
                items.add(name)
        frozen = frozenset(items)
        named = frozenset(item for item in frozen if item.startswith("@"))
        return Features(
            frozen,
            math.fsum(self.weight(item) for item in frozen),
            named or _NO_NAMES,  # most texts name nothing: one shared empty set, not one each
        )

    def weight(self, feature: str) -> float:
        """Weight of one feature (see the module docstring). Deterministic."""
        cached = self._weights.get(feature)
        if cached is not None:
            return cached
        if feature in _INTENT_FEATURES:
            value = INTENT_WEIGHT
        elif feature.startswith("@"):
            value = NAME_WEIGHT
        else:
            tokenizer = self._ensure_loaded()
            freq = tokenizer.FREQ.get(feature) or 0
            value = min(MAX_WEIGHT, max(MIN_WEIGHT, self._log_total - math.log(freq + 1)))
        if len(self._weights) >= _MAX_WEIGHT_CACHE:
            self._weights.clear()
        self._weights[feature] = value
        return value

    def score(self, a: Features, b: Features) -> float:
        """Exact weighted Jaccard similarity of two feature sets, in [0, 1], rounded to six
        decimals. Symmetric; every path that scores a pair gets the same number."""
        return self.scorer(a)(b)

    def scorer(self, query: Features) -> Callable[[Features], float]:
        """``score(query, ·)`` as a function, for scoring many stored questions."""
        raw = self.raw_scorer(query)
        return lambda doc: round(raw(doc), 6)

    def raw_scorer(self, query: Features) -> Callable[[Features], float]:
        """Like :meth:`scorer`, unrounded (what the indexes rank by)."""
        items, total, names = query.items, query.weight, query.names
        weight_of = {item: self.weight(item) for item in items}.__getitem__
        fsum = math.fsum

        def score(doc: Features) -> float:
            common = items.intersection(doc.items)
            if not common:
                return 0.0
            shared = fsum(map(weight_of, common))  # exact, so independent of set order
            value = shared / (total + doc.weight - shared)
            if names and doc.names and names.isdisjoint(doc.names):
                value *= NAME_CONFLICT_FACTOR
            return value

        return score


_shared_analyzer: Analyzer | None = None
_shared_lock = threading.Lock()


def get_analyzer() -> Analyzer:
    """The process-wide :class:`Analyzer` (created on first call; dictionaries load lazily)."""
    global _shared_analyzer
    if _shared_analyzer is None:
        with _shared_lock:
            if _shared_analyzer is None:
                _shared_analyzer = Analyzer()
    return _shared_analyzer


def similarity(a: str, b: str) -> float:
    """Score two texts directly (see the module docstring), with the shared analyzer."""
    analyzer = get_analyzer()
    return analyzer.score(analyzer.features(a), analyzer.features(b))


def candidate_probability(s: float, bands: int = DEFAULT_BANDS, rows: int = DEFAULT_ROWS) -> float:
    """Probability that two sets of Jaccard similarity ``s`` share at least one LSH band."""
    return 1.0 - (1.0 - s**rows) ** bands


# --- indexes ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Match:
    """A stored question similar to the one looked up; ``score`` in [0, 1], exact."""

    question_id: int
    score: float


def _ranked(scored: Iterable[tuple[float, int]], limit: int) -> list[Match]:
    """Best first; equal scores by question id (older first), so results are deterministic.
    Ranks by the unrounded score; reports it rounded to six decimals."""
    best = heapq.nsmallest(limit, scored, key=lambda pair: (-pair[0], pair[1]))
    return [Match(question_id, round(score, 6)) for score, question_id in best]


class _Index:
    """What both indexes share: thresholds, classification, analysis, rebuild."""

    def __init__(
        self,
        *,
        merge_threshold: float = MERGE_THRESHOLD,
        suggest_threshold: float = SUGGEST_THRESHOLD,
        analyzer: Analyzer | None = None,
    ) -> None:
        if not 0.0 < suggest_threshold <= merge_threshold <= 1.0:
            raise ValueError("need 0 < suggest_threshold <= merge_threshold <= 1")
        self.merge_threshold = merge_threshold
        self.suggest_threshold = suggest_threshold
        self.analyzer = analyzer or get_analyzer()
        self._lock = threading.RLock()

    def empty_like(self) -> Self:
        """A new, empty index of the same kind and options (thresholds, analyzer, shape)."""
        return type(self)(**self._options())

    def _options(self) -> dict[str, Any]:
        return {
            "merge_threshold": self.merge_threshold,
            "suggest_threshold": self.suggest_threshold,
            "analyzer": self.analyzer,
        }

    def classify(self, score: float) -> Verdict:
        """``"merge"`` at or above the merge threshold, ``"suggest"`` at or above the
        suggest threshold, else ``"none"``."""
        if score >= self.merge_threshold:
            return "merge"
        if score >= self.suggest_threshold:
            return "suggest"
        return "none"

    @classmethod
    def rebuild(cls, pairs: Iterable[tuple[int, str]], **options: Any) -> Self:
        """A new index (constructor ``options``) holding every ``(question_id, text)``,
        e.g. a session's open questions read back from the database after a restart.
        A repeated id keeps its last text."""
        index = cls(**options)
        index.add_many(pairs)
        return index

    def add_many(self, pairs: Iterable[tuple[int, str]]) -> None:
        """``add`` each ``(question_id, text)`` in turn."""
        for question_id, text in pairs:
            self.add(question_id, text)

    def add(self, question_id: int, text: str) -> None:
        raise NotImplementedError

    @staticmethod
    def _check_limit(limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")


class NaiveIndex(_Index):
    """Same interface as :class:`SimilarityIndex`, but every lookup scores every stored
    question: exact, and O(n) per lookup. The benchmark's baseline and the tests' oracle."""

    def __init__(
        self,
        *,
        merge_threshold: float = MERGE_THRESHOLD,
        suggest_threshold: float = SUGGEST_THRESHOLD,
        analyzer: Analyzer | None = None,
    ) -> None:
        super().__init__(
            merge_threshold=merge_threshold,
            suggest_threshold=suggest_threshold,
            analyzer=analyzer,
        )
        self._docs: dict[int, Features] = {}

    def add(self, question_id: int, text: str) -> None:
        """Store ``text`` under ``question_id`` (replacing what the id held)."""
        features = self.analyzer.features(text)
        with self._lock:
            self._docs[question_id] = features

    def remove(self, question_id: int) -> None:
        """Forget a question. Raises :class:`KeyError` for an id that is not stored."""
        with self._lock:
            del self._docs[question_id]

    def __len__(self) -> int:
        return len(self._docs)

    def __contains__(self, question_id: object) -> bool:
        return question_id in self._docs

    def candidates(self, text: str, limit: int = 5) -> list[Match]:
        """Up to ``limit`` stored questions with a score above 0, best first (ties: lower
        id first)."""
        self._check_limit(limit)
        query = self.analyzer.features(text)
        if not query:
            return []
        score = self.analyzer.raw_scorer(query)
        with self._lock:
            scored = [(score(doc), question_id) for question_id, doc in self._docs.items()]
        return _ranked((pair for pair in scored if pair[0] > 0.0), limit)


def _h32(feature: str) -> int:
    """Stable 32-bit hash of a feature (the range datasketch's permutations expect).
    Remembered for up to :data:`_H32_MEMO` features in a plain ``dict`` of ``str`` →
    ``int``: unlike an ``lru_cache`` (a list per entry) it is no work for the garbage
    collector, and the vocabulary of a session is far smaller than the bound."""
    value = _h32_memo.get(feature)
    if value is None:
        if len(_h32_memo) >= _H32_MEMO:
            _h32_memo.clear()  # an odd vocabulary: start again rather than grow
        value = _h32_memo[feature] = int.from_bytes(
            hashlib.blake2b(feature.encode("utf-8"), digest_size=4).digest(), "little"
        )
    return value


_H32_MEMO = 1 << 17
_h32_memo: dict[str, int] = {}


@lru_cache(maxsize=8)
def _permutations(num_perm: int, seed: int) -> Any:
    # datasketch (and with it scipy) is imported on first use, not with this module.
    from datasketch import MinHash

    return MinHash(num_perm=num_perm, seed=seed, hashfunc=_h32).permutations


_SHINGLE_UNIT = 4.5
_MERSENNE_PRIME = np.uint64((1 << 61) - 1)  # datasketch's MinHash constants
_MAX_HASH = np.uint64((1 << 32) - 1)
_BAND_KEYS_CACHE = 8192
_MIX = np.uint64(0x9E3779B97F4A7C15)
_SHIFT = np.uint64(31)


class _Group:
    """The questions of an index that have exactly the same features (the same question
    asked again in words that differ only in stop words, noise or folding). ``members``
    is kept sorted."""

    __slots__ = ("features", "members")

    def __init__(self, features: Features, first: int) -> None:
        self.features = features
        self.members = [first]


def _band_keys_cached(index: SimilarityIndex, shape: tuple[Any, ...], features: Features) -> Any:
    """``index._band_keys(features)``, remembered per index shape and feature set."""
    key = (shape, features)
    with _band_keys_lock:
        keys = _band_keys_memo.get(key)
        if keys is not None:
            _band_keys_memo.move_to_end(key)
            return keys
    keys = index._band_keys(features)
    with _band_keys_lock:
        _band_keys_memo[key] = keys
        if len(_band_keys_memo) > _BAND_KEYS_CACHE:
            _band_keys_memo.popitem(last=False)
    return keys


_band_keys_memo: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_band_keys_lock = threading.Lock()

_PRESELECT_ABOVE = 24  # candidate groups: above this, preselect with NumPy first
_PRESELECT_MARGIN = 1e-9  # far above the rounding error of the NumPy scores (~1e-15)


class _GroupColumns:
    """The groups' feature sets again, as NumPy columns (features numbered), so that a
    lookup can score its ~200 candidate groups in a few vectorised operations instead of
    one Python set intersection each. Used only to *preselect*: the groups that can be
    among the best are then scored exactly as before (``math.fsum``), so results do not
    change. Append-only, like group numbers; a dead group is marked in ``alive``."""

    def __init__(self) -> None:
        self.vocabulary: dict[str, int] = {}
        self.feature_weight = np.zeros(64)
        self.feature_is_name = np.zeros(64, dtype=bool)
        self.flat = np.zeros(256, dtype=np.int32)  # feature numbers of every group, in turn
        self.size = 0  # used length of ``flat``
        self.start = np.zeros(64, dtype=np.int64)
        self.length = np.zeros(64, dtype=np.int32)
        self.weight = np.zeros(64)
        self.has_names = np.zeros(64, dtype=bool)
        self.alive = np.zeros(64, dtype=bool)
        self.groups = 0
        # Per feature number, the weight of that feature in the current query (else 0)
        # and whether it is one of the query's names: set and cleared by each lookup.
        self._query_weight = np.zeros(64)
        self._query_name = np.zeros(64, dtype=np.int32)

    @staticmethod
    def _grown(array: np.ndarray, needed: int) -> np.ndarray:
        if needed <= len(array):
            return array
        bigger = np.zeros(max(needed, 2 * len(array)), dtype=array.dtype)
        bigger[: len(array)] = array
        return bigger

    def append(self, features: Features, weight: Callable[[str], float]) -> None:
        numbers = []
        vocabulary = self.vocabulary
        for item in features.items:
            number = vocabulary.get(item)
            if number is None:
                number = vocabulary[item] = len(vocabulary)
                self.feature_weight = self._grown(self.feature_weight, number + 1)
                self.feature_is_name = self._grown(self.feature_is_name, number + 1)
                self._query_weight = self._grown(self._query_weight, number + 1)
                self._query_name = self._grown(self._query_name, number + 1)
                self.feature_weight[number] = weight(item)
                self.feature_is_name[number] = item.startswith("@")
            numbers.append(number)
        group = self.groups
        for name in ("start", "length", "weight", "has_names", "alive"):
            setattr(self, name, self._grown(getattr(self, name), group + 1))
        self.flat = self._grown(self.flat, self.size + len(numbers))
        self.flat[self.size : self.size + len(numbers)] = numbers
        self.start[group] = self.size
        self.length[group] = len(numbers)
        self.weight[group] = features.weight
        self.has_names[group] = bool(features.names)
        self.alive[group] = True
        self.size += len(numbers)
        self.groups += 1

    def preselect(
        self,
        numbers: list[int],
        query: Features,
        weight_of: Callable[[str], float],
        limit: int,
    ) -> list[int]:
        """The candidate groups that can be among the ``limit`` best: their NumPy score
        is within a margin of the ``limit``-th best NumPy score. Every group left out
        scores exactly less than ``limit`` groups kept, so the exact ranking of the kept
        ones gives the same answer as ranking them all (each group is at least one
        question)."""
        groups = np.asarray(numbers, dtype=np.int64)
        groups = groups[self.alive[groups]]
        if len(groups) == 0:
            return []
        known = [(self.vocabulary[i], i) for i in query.items if i in self.vocabulary]
        if not known:
            return []
        ids = np.array([number for number, _ in known], dtype=np.int64)
        self._query_weight[ids] = [weight_of(item) for _, item in known]
        names = [number for number, item in known if item in query.names]
        self._query_name[names] = 1
        try:
            lengths = self.length[groups]
            ends = np.cumsum(lengths)
            offsets = ends - lengths
            positions = np.arange(ends[-1]) + np.repeat(self.start[groups] - offsets, lengths)
            features = self.flat[positions]
            shared = np.add.reduceat(self._query_weight[features], offsets)
            shared_names = np.add.reduceat(self._query_name[features], offsets)
        finally:
            self._query_weight[ids] = 0.0
            self._query_name[names] = 0
        hit = shared > 0.0
        groups, shared, shared_names = groups[hit], shared[hit], shared_names[hit]
        if len(groups) <= limit:
            return groups.tolist()
        value = shared / (query.weight + self.weight[groups] - shared)
        if query.names:
            conflict = self.has_names[groups] & (shared_names == 0)
            value[conflict] *= NAME_CONFLICT_FACTOR
        bar = np.partition(value, len(value) - limit)[len(value) - limit]
        return groups[value >= bar - _PRESELECT_MARGIN].tolist()


class SimilarityIndex(_Index):
    """The questions of one live session, in memory, searchable by similarity.

    ``candidates`` finds the stored questions most like a text by MinHash LSH and scores
    them exactly (module docstring). Questions with identical features share one entry
    (one signature, one score), so a question asked a thousand times costs one entry.

    Options:

    * ``merge_threshold``/``suggest_threshold``: for :meth:`classify` (0.8 / 0.5).
    * ``num_perm``, ``bands``, ``rows``, ``seed``: MinHash LSH shape; ``bands * rows`` must
      not exceed ``num_perm``. Indexes with the same values give the same signatures.
    * ``max_candidates``: at most this many distinct feature sets are scored per lookup,
      those sharing the most bands with the text first (this bounds the time of a lookup
      that falls into crowded buckets; the band count is the MinHash estimate of the
      similarity, so the ones left out are the least similar).
    * ``buffer_docs``: new entries held in a dict before being merged into the sorted
      arrays (a merge costs one pass over the arrays).
    """

    def __init__(
        self,
        *,
        merge_threshold: float = MERGE_THRESHOLD,
        suggest_threshold: float = SUGGEST_THRESHOLD,
        analyzer: Analyzer | None = None,
        num_perm: int = DEFAULT_NUM_PERM,
        bands: int = DEFAULT_BANDS,
        rows: int = DEFAULT_ROWS,
        seed: int = DEFAULT_SEED,
        max_candidates: int = DEFAULT_MAX_CANDIDATES,
        buffer_docs: int = DEFAULT_BUFFER_DOCS,
    ) -> None:
        super().__init__(
            merge_threshold=merge_threshold,
            suggest_threshold=suggest_threshold,
            analyzer=analyzer,
        )
        if bands < 1 or rows < 1 or bands * rows > num_perm:
            raise ValueError("need bands >= 1, rows >= 1 and bands * rows <= num_perm")
        if max_candidates < 1 or buffer_docs < 1:
            raise ValueError("max_candidates and buffer_docs must be at least 1")
        self.num_perm = num_perm
        self.bands = bands
        self.rows = rows
        self.seed = seed
        self.max_candidates = max_candidates
        self.buffer_docs = buffer_docs
        salt = np.random.default_rng(seed).integers(0, 2**63, size=bands, dtype=np.uint64)
        self._salt = salt | np.uint64(1)
        # Group numbers index _groups; None once a group lost its last member. Never reused.
        self._groups: list[_Group | None] = []
        self._group_of_items: dict[frozenset[str], int] = {}
        self._group_of: dict[int, int] = {}  # question id → group number
        self._dead = 0  # groups emptied since the last compaction
        # The merged buckets: distinct band keys, sorted; the groups of key i are
        # _slots[_starts[i]:_starts[i + 1]] (in the order they were added).
        self._keys = np.empty(0, dtype=np.uint64)
        self._starts = np.zeros(1, dtype=np.int64)
        self._slots = np.empty(0, dtype=np.int32)
        # Band key → group (or groups, when several share the key), not yet in the arrays.
        # A plain int for the usual single group: a list per key would be tens of thousands
        # of objects for the garbage collector to walk.
        self._pending: dict[int, int | list[int]] = {}
        self._pending_groups = 0
        self._shape = (num_perm, bands, rows, seed, self.analyzer)
        self._columns = _GroupColumns()

    def _options(self) -> dict[str, Any]:
        return {
            **super()._options(),
            "num_perm": self.num_perm,
            "bands": self.bands,
            "rows": self.rows,
            "seed": self.seed,
            "max_candidates": self.max_candidates,
            "buffer_docs": self.buffer_docs,
        }

    # -- signatures ------------------------------------------------------------------------

    def minhash(self, features: Features) -> Any:
        """The datasketch ``MinHash`` of a feature set (this index's permutations)."""
        from datasketch import MinHash

        mh = MinHash(
            num_perm=self.num_perm,
            seed=self.seed,
            hashfunc=_h32,
            permutations=_permutations(self.num_perm, self.seed),
        )
        mh.update_batch(self.shingles(features))
        return mh

    def shingles(self, features: Features) -> list[str]:
        """What the MinHash is computed over: each feature, repeated by its weight
        (``round(weight / 4.5)`` copies, at least one: a name or rare word 3, a common
        word or an intent 1-2), so that the MinHash estimates a *weighted* Jaccard
        similarity, close to the exact score, and ranking candidates by shared bands puts
        the ones that will score best first."""
        weight = self.analyzer.weight
        out = []
        for item in features.items:
            out.append(item)
            for copy in range(1, max(1, round(weight(item) / _SHINGLE_UNIT))):
                out.append(f"{item}\x00{copy}")
        return out

    def signature(self, features: Features) -> np.ndarray:
        """The MinHash values of a feature set: exactly ``minhash(features).hashvalues``
        (datasketch's formula, ``(a·h + b) mod (2^61 − 1) & (2^32 − 1)`` minimised over
        the shingles), computed in one NumPy expression without the ``MinHash`` object."""
        shingles = self.shingles(features)
        hashed = np.fromiter(map(_h32, shingles), dtype=np.uint64, count=len(shingles))
        a, b = _permutations(self.num_perm, self.seed)
        values: np.ndarray = ((hashed[:, None] * a + b) % _MERSENNE_PRIME & _MAX_HASH).min(axis=0)
        return values

    def band_keys(self, features: Features) -> np.ndarray:
        """One 64-bit key per band (``bands`` keys): a hash of the band's ``rows`` MinHash
        values, distinct per band. Remembered for the last few thousand feature sets, for
        every index of the same shape (a question is looked up, then added, with the same
        features); the array returned is read-only."""
        return _band_keys_cached(self, self._shape, features)

    def _band_keys(self, features: Features) -> np.ndarray:
        values = self.signature(features)[: self.bands * self.rows]
        grid = values.reshape(self.bands, self.rows)
        keys = self._salt.copy()
        for column in range(self.rows):
            keys = (keys ^ grid[:, column]) * _MIX
            keys ^= keys >> _SHIFT
        keys.flags.writeable = False
        return keys

    # -- changes ---------------------------------------------------------------------------

    def add(self, question_id: int, text: str) -> None:
        """Store ``text`` under ``question_id``, replacing what the id held. A text without
        content words is stored (it counts in ``len``) but never found."""
        features = self.analyzer.features(text)
        with self._lock:
            known = self._group_of_items.get(features.items)
        keys = None if known is not None or not features else self.band_keys(features)
        with self._lock:
            self._add_locked(question_id, features, keys)
            if self._pending_groups >= self.buffer_docs:
                self._compact()

    def _add_locked(self, question_id: int, features: Features, keys: np.ndarray | None) -> None:
        if question_id in self._group_of:
            self._remove_locked(question_id)
        number = self._group_of_items.get(features.items)
        if number is not None:
            group = self._groups[number]
            assert group is not None
            members = group.members
            if members and question_id < members[-1]:
                bisect.insort(members, question_id)
            else:
                members.append(question_id)
            self._group_of[question_id] = number
            return
        number = len(self._groups)
        self._groups.append(_Group(features, question_id))
        self._group_of_items[features.items] = number
        self._group_of[question_id] = number
        self._columns.append(features, self.analyzer.weight)
        if not features:
            return
        if keys is None:  # the group existed while we analysed and was emptied since
            keys = self.band_keys(features)
        pending = self._pending
        for key in keys.tolist():
            bucket = pending.get(key)
            if bucket is None:
                pending[key] = number
            elif isinstance(bucket, int):
                pending[key] = [bucket, number]
            else:
                bucket.append(number)
        self._pending_groups += 1

    def remove(self, question_id: int) -> None:
        """Forget a question. Raises :class:`KeyError` for an id that is not stored."""
        with self._lock:
            self._remove_locked(question_id)

    def _remove_locked(self, question_id: int) -> None:
        number = self._group_of.pop(question_id)
        group = self._groups[number]
        assert group is not None
        group.members.remove(question_id)
        if not group.members:
            self._groups[number] = None
            self._columns.alive[number] = False
            del self._group_of_items[group.features.items]
            self._dead += 1

    def add_many(self, pairs: Iterable[tuple[int, str]]) -> None:
        """``add`` each ``(question_id, text)``; the sorted arrays are merged once, at the end."""
        for question_id, text in pairs:
            features = self.analyzer.features(text)
            known = features.items in self._group_of_items
            keys = None if known or not features else self.band_keys(features)
            with self._lock:
                self._add_locked(question_id, features, keys)
        with self._lock:
            self._compact()

    def compact(self) -> None:
        """Merge pending entries into the sorted arrays and drop emptied groups now
        (otherwise done automatically)."""
        with self._lock:
            self._compact()

    def _compact(self) -> None:
        # One band key per slot while merging; distinct keys and their starts again after.
        keys = np.repeat(self._keys, np.diff(self._starts))
        slots = self._slots
        alive = None
        if self._dead:
            alive = np.fromiter(
                (group is not None for group in self._groups), dtype=bool, count=len(self._groups)
            )
            if len(keys):
                keep = alive[slots]
                keys, slots = keys[keep], slots[keep]
        if self._pending:
            pairs = [
                (key, number)
                for key, bucket in self._pending.items()
                for number in ((bucket,) if isinstance(bucket, int) else bucket)
            ]
            new_keys = np.fromiter((key for key, _ in pairs), dtype=np.uint64, count=len(pairs))
            new_slots = np.fromiter((n for _, n in pairs), dtype=np.int32, count=len(pairs))
            if alive is not None:
                keep = alive[new_slots]
                new_keys, new_slots = new_keys[keep], new_slots[keep]
            order = np.argsort(new_keys, kind="stable")
            new_keys, new_slots = new_keys[order], new_slots[order]
            if len(keys):
                where = np.searchsorted(keys, new_keys, side="right")
                keys = np.insert(keys, where, new_keys)
                slots = np.insert(slots, where, new_slots)
            else:
                keys, slots = new_keys, new_slots
        if len(keys):
            first = np.flatnonzero(np.diff(keys)) + 1  # where a new key starts
            self._starts = np.concatenate(([0], first, [len(keys)])).astype(np.int64)
            self._keys = keys[self._starts[:-1]]
        else:
            self._starts = np.zeros(1, dtype=np.int64)
            self._keys = keys
        self._slots = slots
        self._pending = {}
        self._pending_groups = 0
        self._dead = 0

    # -- lookups ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._group_of)

    def __contains__(self, question_id: object) -> bool:
        return question_id in self._group_of

    def candidates(self, text: str, limit: int = 5) -> list[Match]:
        """Up to ``limit`` stored questions with a score above 0, best first (ties: lower
        id first). The scores are exact; which questions are considered is decided by LSH,
        so a stored question with a low similarity may be missed (module docstring)."""
        self._check_limit(limit)
        query = self.analyzer.features(text)
        if not query:
            return []
        items, total, names = query.items, query.weight, query.names
        with self._lock:
            # The same question asked again in the same words (after folding and stop
            # words): a group with these very features scores exactly 1.0, and no other
            # group can (a score of 1 needs equal weighted sets); with ``limit`` members
            # or more, its lowest ids are the whole answer the search below would give.
            same = self._group_of_items.get(items)
            group = self._groups[same] if same is not None else None
            if group is not None and len(group.members) >= limit:
                return [Match(question_id, 1.0) for question_id in group.members[:limit]]
        qkeys = self.band_keys(query)
        weight_of = {item: self.analyzer.weight(item) for item in items}.__getitem__
        fsum = math.fsum
        with self._lock:
            numbers = self._candidate_groups(qkeys)
            if len(numbers) > _PRESELECT_ABOVE:
                numbers = self._columns.preselect(numbers, query, weight_of, limit)
            groups = self._groups
            scored = []
            for number in numbers:  # analyzer.raw_scorer, inlined: this is the hot loop
                group = groups[number]
                if group is None:
                    continue
                doc = group.features
                common = items.intersection(doc.items)
                if common:
                    shared = fsum(map(weight_of, common))
                    value = shared / (total + doc.weight - shared)
                    if names and doc.names and names.isdisjoint(doc.names):
                        value *= NAME_CONFLICT_FACTOR
                    scored.append((value, group.members))
            return self._expand(scored, limit)

    @staticmethod
    def _expand(scored: list[tuple[float, list[int]]], limit: int) -> list[Match]:
        """Matches from (score, members) pairs: best groups first, members by id."""
        scored.sort(key=itemgetter(0), reverse=True)
        chosen: list[tuple[float, int]] = []
        for value, members in scored:
            if len(chosen) >= limit and value < chosen[-1][0]:
                break  # groups tied with the last chosen one are still considered
            # The lowest ids: members are sorted.
            chosen.extend(zip(repeat(value), members[:limit]))
        return _ranked(chosen, limit)

    def _candidate_groups(self, qkeys: np.ndarray) -> list[int]:
        parts = []
        keys = self._keys
        if len(keys):
            at = np.searchsorted(keys, qkeys)
            at[at == len(keys)] = 0  # past the end: cannot match (checked next)
            at = at[keys[at] == qkeys]
            starts, slots = self._starts, self._slots
            parts = [
                slots[a:b]
                for a, b in zip(starts[at].tolist(), starts[at + 1].tolist(), strict=True)
            ]
        if self._pending:
            extra: list[int] = []
            for key in qkeys.tolist():
                bucket = self._pending.get(key)
                if bucket is None:
                    continue
                if isinstance(bucket, int):
                    extra.append(bucket)
                else:
                    extra.extend(bucket)
            if extra:
                parts.append(np.array(extra, dtype=np.int32))
        if not parts:
            return []
        found = np.concatenate(parts) if len(parts) > 1 else parts[0]
        if len(found) <= self.max_candidates:
            return np.unique(found).tolist()
        unique, shared_bands = np.unique(found, return_counts=True)
        if len(unique) > self.max_candidates:
            best = np.argpartition(-shared_bands, self.max_candidates - 1)
            unique = unique[best[: self.max_candidates]]
        return unique.tolist()
