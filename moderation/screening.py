"""Screening of incoming questions: lexicon, personal data, spam.

Contract: :func:`screen` reads the question's normalised text and returns the public text
(with masks applied) and a list of :class:`Flag`. It never drops anything: the caller
(``moderation.actions.apply_screening``) stores the flags, rejects with the recorded
reason, holds for the host, or lets the question through, and the original text stays in
``Question.original_text`` for staff.

Matching resists the usual evasions: the text and every lexicon term are *folded* the same
way (full-width → half-width, traditional → simplified, lower case, and every space,
punctuation mark, symbol or invisible character between characters dropped), so "敏 感",
"敏-感" and "敏．感" all match 敏感. A position map from the folded text back to the
public text lets a match be masked in place.

Personal data is found and masked by the one policy, :mod:`hub.lib.personal_data`
(mobiles and landlines in any written form, ID numbers, bank cards, e-mail addresses,
contact handles); each finding is a flag whose ``match`` is the masked form, and the
``personal_data`` category's policy may also hold or reject the question. A link's flag
shows the link with personal data masked, and ends where the URL ends.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import ahocorasick
from django.conf import settings

from hub.lib.personal_data import find_personal_data, mask_personal_data
from hub.text import WIDTH_TABLE, to_simplified
from moderation.models import (
    CATEGORY_REASONS,
    DEFAULT_ACTIONS,
    CategoryPolicy,
    LexiconEntry,
    ScreeningAction,
    ScreeningCategory,
)
from moderation.versioned import VersionedBuild

LEXICON_VERSION_KEY = "moderation:lexicon-version"


@dataclass(frozen=True)
class Flag:
    """One finding. ``match`` never holds raw personal data (it is the masked form)."""

    category: str
    action: str
    #: lexicon | link | flood | repeat, or a personal-data kind (PersonalDataKind:
    #: mobile | landline | id_number | bank_card | email | handle)
    kind: str
    match: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class Screening:
    text: str
    flags: list[Flag]

    @property
    def rejecting(self) -> Flag | None:
        return next((f for f in self.flags if f.action == ScreeningAction.REJECT), None)

    @property
    def held(self) -> bool:
        return any(f.action == ScreeningAction.HOLD for f in self.flags)

    @property
    def rejection_reason(self) -> str:
        flag = self.rejecting
        return CATEGORY_REASONS[ScreeningCategory(flag.category)] if flag else ""


# --- folding -----------------------------------------------------------------------------


def _dropped(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch)[0] in "PSZC"


def fold_with_map(text: str) -> tuple[str, list[int]]:
    """Fold ``text`` for matching; ``positions[i]`` is the index in ``text`` of folded[i]."""
    simplified = to_simplified(text)
    base = simplified if len(simplified) == len(text) else text
    folded: list[str] = []
    positions: list[int] = []
    for index, ch in enumerate(base.translate(WIDTH_TABLE)):
        if _dropped(ch):
            continue
        folded.append(ch.lower())
        positions.append(index)
    return "".join(folded), positions


def fold(text: str) -> str:
    return fold_with_map(text)[0]


# --- lexicon automaton (one per process, rebuilt when staff change the lexicon) ----------


@dataclass(frozen=True)
class _Matcher:
    automaton: Any  # ahocorasick.Automaton, or None when the lexicon is empty
    policies: dict[str, str]


def _build_matcher() -> _Matcher:
    policies = {str(c): str(a) for c, a in DEFAULT_ACTIONS.items()}
    policies.update(dict(CategoryPolicy.objects.values_list("category", "action")))
    automaton: Any = ahocorasick.Automaton()
    for term, category in LexiconEntry.objects.filter(active=True).values_list("term", "category"):
        folded = fold(term)
        if folded:
            automaton.add_word(folded, (len(folded), term, category))
    if len(automaton):
        automaton.make_automaton()
    else:
        automaton = None
    return _Matcher(automaton, policies)


#: This process's matcher; rebuilt whenever staff change the lexicon or a policy.
matcher = VersionedBuild(LEXICON_VERSION_KEY, _build_matcher)


def bump_lexicon_version() -> None:
    """Tell every process that the lexicon or a policy changed."""
    matcher.bump()


# --- links --------------------------------------------------------------------------------

# A URL is ASCII: it ends at the first CJK character, full-width mark or space, so the text
# after it ("http://t.cn/x有事打我电话1587…") is never taken into the link.
_URL_CHARS = r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]"
_LINK = re.compile(
    rf"(?:https?://|www\.){_URL_CHARS}+"
    r"|(?<![A-Za-z0-9\-@.])(?:[a-z0-9][a-z0-9-]{0,60}\.)+(?:com|cn|net|org|top|xyz|vip|cc|me)"
    r"(?![A-Za-z0-9\-])",
    re.IGNORECASE,
)
_LINK_TRAILING = ".,;:!?)]'\""


def find_link(text: str) -> str | None:
    """The first link in ``text`` (full-width forms folded), trailing punctuation dropped;
    None when there is none. Read from the text with its personal data masked, so a link
    never shows a number or an address glued to it (http://t.cn/x13812345678)."""
    m = _LINK.search(mask_personal_data(text).translate(WIDTH_TABLE))
    if m is None:
        return None
    return m.group(0).rstrip(_LINK_TRAILING)


# --- the screening -----------------------------------------------------------------------


def screen(
    text: str,
    *,
    session_id: int | None = None,
    asker_ref: str = "",
    exclude_question: int | None = None,
    now: datetime | None = None,
) -> Screening:
    """Screen one question's normalised text. Reads the lexicon; with ``session_id`` and
    ``asker_ref`` also checks for flooding and repeated text by the same asker."""
    history = None
    if session_id is not None and asker_ref:
        history = AskerHistory.load(
            [(session_id, asker_ref)], [text], now=now, exclude_question=exclude_question
        )
    return Screener(history=history).screen(text, session_id=session_id, asker_ref=asker_ref)


class Screener:
    """Screens many texts against one reading of the lexicon (its version is checked once,
    when the screener is made) and, with an :class:`AskerHistory`, of the askers' earlier
    questions. :func:`screen` is a screener of one text."""

    def __init__(self, history: AskerHistory | None = None) -> None:
        self.current = matcher.get()
        self.history = history

    def screen(self, text: str, *, session_id: int | None = None, asker_ref: str = "") -> Screening:
        automaton, policies = self.current.automaton, self.current.policies
        flags: list[Flag] = []
        spans: list[tuple[int, int, str]] = []

        pd_action = policies.get(ScreeningCategory.PERSONAL_DATA, ScreeningAction.MASK)
        for start, end, kind, masked in find_personal_data(text):
            # Personal data is always masked in public text; a stricter policy also holds or
            # rejects the question.
            spans.append((start, end, masked))
            flags.append(Flag(ScreeningCategory.PERSONAL_DATA, pd_action, kind, masked))

        if automaton is not None:
            folded, positions = fold_with_map(text)
            seen: set[str] = set()
            for end, (length, term, category) in automaton.iter(folded):
                start = positions[end - length + 1]
                stop = positions[end] + 1
                action = policies.get(category, ScreeningAction.HOLD)
                if action == ScreeningAction.MASK:
                    spans.append((start, stop, "*" * (stop - start)))
                if term not in seen:
                    seen.add(term)
                    shown = "*" * len(term) if action == ScreeningAction.MASK else term
                    flags.append(Flag(category, action, "lexicon", shown))

        link = find_link(text)
        if link is not None:
            action = policies.get(ScreeningCategory.SPAM, ScreeningAction.HOLD)
            flags.append(Flag(ScreeningCategory.SPAM, action, "link", link[:60]))

        if self.history is not None and session_id is not None and asker_ref:
            flags += self.history.flags(text, session_id, asker_ref)

        # Once more over the result: masked forms next to other digits can read as a new
        # number, and the public text must hold nothing the finder finds.
        public = mask_personal_data(_mask_spans(text, _merge_spans(spans)))
        return Screening(public, flags)


def _mask_spans(text: str, spans: list[tuple[int, int, str]]) -> str:
    for start, end, replacement in sorted(spans, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def _merge_spans(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Drop spans that overlap an earlier one (personal data wins over lexicon masks)."""
    kept: list[tuple[int, int, str]] = []
    for start, end, replacement in spans:
        if all(end <= s or start >= e for s, e, _ in kept):
            kept.append((start, end, replacement))
    return kept


class AskerHistory:
    """What the flood and repeat checks know of askers' earlier questions in a session:
    how many each asked within ``HUB_FLOOD_WINDOW_SECONDS`` and which of the given texts
    each asked before. Read with one query for a whole batch (:meth:`load`); a batch
    screened in order :meth:`record`s each question it keeps, so the next one from the
    same asker counts it, exactly as if they had been taken in one after the other.

    Rules: ``HUB_FLOOD_MAX_QUESTIONS`` or more questions in the window → the next is held
    ("flood"); the same text asked before by the same asker in the session → held
    ("repeat"). An empty ``asker_ref`` (unknown asker) is never checked.
    """

    def __init__(self, recent: Counter[tuple[int, str]], asked: set[tuple[int, str, str]]) -> None:
        self.recent = recent
        self.asked = asked

    @classmethod
    def load(
        cls,
        askers: Iterable[tuple[int, str]],
        texts: Iterable[str],
        *,
        now: datetime | None = None,
        exclude_question: int | None = None,
    ) -> AskerHistory:
        """The history of the (session id, asker ref) pairs, for checking ``texts``."""
        from django.db.models import Q
        from django.utils import timezone

        from hub.models import Question

        refs: dict[int, set[str]] = {}
        for session_id, asker_ref in askers:
            if asker_ref:
                refs.setdefault(session_id, set()).add(asker_ref)
        if not refs:
            return cls(Counter(), set())
        now = now or timezone.now()
        condition = Q()
        for session_id, asker_refs in refs.items():
            condition |= Q(session_id=session_id, asker_ref__in=sorted(asker_refs))
        mine = Question.objects.filter(condition)
        if exclude_question is not None:
            mine = mine.exclude(pk=exclude_question)
        since = now - timedelta(seconds=settings.HUB_FLOOD_WINDOW_SECONDS)
        # Stored questions hold their public text: compare with the texts masked the same way.
        wanted = {mask_personal_data(text) for text in texts}
        recent: Counter[tuple[int, str]] = Counter()
        asked: set[tuple[int, str, str]] = set()
        # One query: the askers' questions in the window, and any with one of the texts.
        rows = mine.filter(Q(received_at__gte=since) | Q(text__in=sorted(wanted))).values_list(
            "session_id", "asker_ref", "text", "received_at"
        )
        for session_id, asker_ref, text, received_at in rows:
            if received_at >= since:
                recent[(session_id, asker_ref)] += 1
            if text in wanted:
                asked.add((session_id, asker_ref, text))
        return cls(recent, asked)

    def flags(self, text: str, session_id: int, asker_ref: str) -> list[Flag]:
        flags: list[Flag] = []
        recent = self.recent[(session_id, asker_ref)]
        if recent >= settings.HUB_FLOOD_MAX_QUESTIONS:
            flags.append(
                Flag(ScreeningCategory.SPAM, ScreeningAction.HOLD, "flood", str(recent + 1))
            )
        public = mask_personal_data(text)
        if (session_id, asker_ref, public) in self.asked:
            # Masked before it is cut: a number cut in half is no longer found.
            shown = public[:30]
            flags.append(Flag(ScreeningCategory.SPAM, ScreeningAction.HOLD, "repeat", shown))
        return flags

    def record(self, session_id: int, asker_ref: str, stored_text: str) -> None:
        """A question of this batch was kept (with ``stored_text``, its public text)."""
        if asker_ref:
            self.recent[(session_id, asker_ref)] += 1
            self.asked.add((session_id, asker_ref, stored_text))
