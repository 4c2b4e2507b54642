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

Personal data is found with patterns and validated: mainland mobile numbers, 18-digit
resident ID numbers (GB 11643 checksum and a plausible birth date) and bank card numbers
(Luhn). Each is masked in the public text (138****5678, 110105********123X,
************1234).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import ahocorasick
from django.conf import settings

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
    kind: str  # lexicon | mobile | id_number | bank_card | link | flood | repeat
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


# --- personal data ------------------------------------------------------------------------

_ID = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx])(?![0-9A-Za-z])")
_CARD = re.compile(r"(?<![\d])(\d(?:[ -]?\d){15,18})(?![\d])")
_MOBILE = re.compile(r"(?<![\d])(?:\+?86[ -]?)?(1[3-9]\d)[ -]?(\d{4})[ -]?(\d{4})(?![\d])")
_LINK = re.compile(
    r"(https?://|www\.)\S+|\b[a-z0-9][a-z0-9-]{1,60}\.(?:com|cn|net|org|top|xyz|vip|cc|me)\b",
    re.IGNORECASE,
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def valid_id_number(number: str) -> bool:
    """GB 11643-1999: 17 digits, a check character, and a plausible birth date."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != number[17].upper():
        return False
    try:
        born = datetime.strptime(number[6:14], "%Y%m%d")
    except ValueError:
        return False
    return 1900 <= born.year <= datetime.now().year


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, ch in enumerate(reversed(digits)):
        n = int(ch)
        if index % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def _mask_spans(text: str, spans: list[tuple[int, int, str]]) -> str:
    for start, end, replacement in sorted(spans, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def find_personal_data(text: str) -> list[tuple[int, int, str, str]]:
    """(start, end, kind, masked) for every ID number, bank card and mobile number."""
    found: list[tuple[int, int, str, str]] = []
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in taken)

    for m in _ID.finditer(text):
        number = m.group(1)
        if valid_id_number(number):
            found.append((m.start(1), m.end(1), "id_number", f"{number[:6]}********{number[-4:]}"))
            taken.append((m.start(1), m.end(1)))
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group(1))
        if 16 <= len(digits) <= 19 and free(m.start(1), m.end(1)) and luhn_valid(digits):
            found.append((m.start(1), m.end(1), "bank_card", "*" * (len(digits) - 4) + digits[-4:]))
            taken.append((m.start(1), m.end(1)))
    for m in _MOBILE.finditer(text):
        if free(m.start(), m.end()):
            found.append((m.start(), m.end(), "mobile", f"{m.group(1)}****{m.group(3)}"))
            taken.append((m.start(), m.end()))
    return found


def mask_personal_data(text: str) -> str:
    """The text with every detected personal number masked (for any non-staff view)."""
    return _mask_spans(text, [(s, e, masked) for s, e, _, masked in find_personal_data(text)])


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
    current = matcher.get()
    automaton, policies = current.automaton, current.policies
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

    for m in _LINK.finditer(text.translate(WIDTH_TABLE)):
        action = policies.get(ScreeningCategory.SPAM, ScreeningAction.HOLD)
        flags.append(Flag(ScreeningCategory.SPAM, action, "link", m.group(0)[:60]))
        break

    if session_id is not None and asker_ref:
        flags += _asker_flags(text, session_id, asker_ref, exclude_question, now)

    return Screening(_mask_spans(text, _merge_spans(spans)), flags)


def _merge_spans(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Drop spans that overlap an earlier one (personal data wins over lexicon masks)."""
    kept: list[tuple[int, int, str]] = []
    for start, end, replacement in spans:
        if all(end <= s or start >= e for s, e, _ in kept):
            kept.append((start, end, replacement))
    return kept


def _asker_flags(
    text: str, session_id: int, asker_ref: str, exclude: int | None, now: datetime | None
) -> list[Flag]:
    from django.utils import timezone

    from hub.models import Question

    now = now or timezone.now()
    mine = Question.objects.filter(session_id=session_id, asker_ref=asker_ref)
    if exclude is not None:
        mine = mine.exclude(pk=exclude)
    flags: list[Flag] = []
    window = timedelta(seconds=settings.HUB_FLOOD_WINDOW_SECONDS)
    recent = mine.filter(received_at__gte=now - window).count()
    if recent >= settings.HUB_FLOOD_MAX_QUESTIONS:
        flags.append(Flag(ScreeningCategory.SPAM, ScreeningAction.HOLD, "flood", str(recent + 1)))
    if mine.filter(text=text).exists():
        flags.append(Flag(ScreeningCategory.SPAM, ScreeningAction.HOLD, "repeat", text[:30]))
    return flags
