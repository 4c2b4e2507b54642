"""The tone check of a reply: rude, evasive, preachy or cold phrases (雷人回复).

The staff-edited :class:`hub.followup.models.ToneTerm` list is matched by one
Aho-Corasick automaton over *folded* text, exactly as the question screening does (same
:func:`moderation.screening.fold`: widths, traditional → simplified, case, and every
space or punctuation mark between characters dropped, so "另 谋·高就" still matches).
The automaton is built once per process and rebuilt when staff change the list (a
version in the shared cache, :class:`moderation.versioned.VersionedBuild`).

The check never edits a reply: it reports what it found; the reply workflow blocks
publication until the text is edited or staff override the block with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ahocorasick

from moderation.screening import fold
from moderation.versioned import VersionedBuild

TONE_VERSION_KEY = "followup:tone-version"


@dataclass(frozen=True)
class ToneFlag:
    term: str
    category: str

    def as_dict(self) -> dict[str, str]:
        return {"term": self.term, "category": self.category}


def _build() -> Any:
    from hub.followup.models import ToneTerm

    automaton: Any = ahocorasick.Automaton()
    for term, category in ToneTerm.objects.filter(active=True).values_list("term", "category"):
        folded = fold(term)
        if folded:
            automaton.add_word(folded, (len(folded), term, category))
    if not len(automaton):
        return None
    automaton.make_automaton()
    return automaton


#: This process's automaton (None when the list is empty).
tone_matcher: VersionedBuild[Any] = VersionedBuild(TONE_VERSION_KEY, _build)


def bump_tone_version() -> None:
    """Tell every process that the tone list changed."""
    tone_matcher.bump()


def check_tone(text: str) -> list[ToneFlag]:
    """Every listed phrase found in ``text``, once each, in order of appearance. A phrase
    found only inside a longer listed phrase (不归我们管 within 此事不归我们管) is not
    reported separately."""
    automaton = tone_matcher.get()
    if automaton is None:
        return []
    spans = [
        (end - length + 1, end, term, category)
        for end, (length, term, category) in automaton.iter(fold(text))
    ]
    found: list[ToneFlag] = []
    seen: set[str] = set()
    for start, end, term, category in sorted(spans):
        inside = any(s <= start and end <= e and (e - s) > (end - start) for s, e, _t, _c in spans)
        if not inside and term not in seen:
            seen.add(term)
            found.append(ToneFlag(term, category))
    return found
