"""Traditional → simplified Chinese, with OpenCC's ``t2s`` tables, about ten times faster
than ``opencc-python-reimplemented``'s own converter and with exactly its output.

That converter (``OpenCC("t2s").convert``) splits the text at separators, then in each
piece repeatedly takes the *longest* phrase of ``TSPhrases`` found anywhere in it (the
leftmost of equally long ones), converts it, and goes on in the pieces to its left and
right; what no phrase covers is converted character by character with ``TSCharacters``
(a value with several spaced alternatives gives its first). It tries every substring
length at every position, which costs ~100 µs for a 40-character question; intake and
the similarity engine convert each question several times.

:class:`TraditionalToSimplified` finds every phrase occurrence at once with an
Aho-Corasick automaton (``pyahocorasick``) and makes the same choices from that list, so
the result is identical (``tests/test_intake_batch.py`` compares both on many texts). It
reads the very dictionaries the library loads.
"""

from __future__ import annotations

import re
from typing import Any

import ahocorasick


class TraditionalToSimplified:
    """``convert(text)`` as ``opencc.OpenCC("t2s").convert`` (see the module docstring)."""

    def __init__(self) -> None:
        from opencc import OpenCC

        reference = OpenCC("t2s")
        reference._init_dict()  # loads the conversion chain: [[TSPhrases, TSCharacters]]
        [group] = reference._dict_chain_data
        (_, _, phrases), (_, _, characters) = group
        if any(len(key) != 1 for key in characters):
            raise ValueError("TSCharacters is expected to map single characters")
        self._separators: re.Pattern[str] = reference.split_chars_re
        self._characters = {key: value.split(" ")[0] for key, value in characters.items()}
        self._automaton: Any = ahocorasick.Automaton()
        for key, value in phrases.items():
            self._automaton.add_word(key, (len(key), value.split(" ")[0]))
        self._automaton.make_automaton()
        self._table = str.maketrans(self._characters)

    def convert(self, text: str) -> str:
        parts = self._separators.split(text)
        # Even parts are text, odd ones the separators the reference keeps as they are.
        for i in range(0, len(parts), 2):
            if parts[i]:
                parts[i] = self._convert_piece(parts[i])
        return "".join(parts)

    def _convert_piece(self, piece: str) -> str:
        # Every phrase occurrence: (start, length, replacement).
        found = [
            (end - length + 1, length, value)
            for end, (length, value) in self._automaton.iter(piece)
        ]
        if not found:
            return piece.translate(self._table)
        out: list[str] = []
        self._convert_span(piece, 0, len(piece), found, out)
        return "".join(out)

    def _convert_span(
        self, piece: str, lo: int, hi: int, found: list[tuple[int, int, str]], out: list[str]
    ) -> None:
        inside = [f for f in found if f[0] >= lo and f[0] + f[1] <= hi]
        if not inside:
            out.append(piece[lo:hi].translate(self._table))
            return
        # The longest phrase, the leftmost of equally long ones.
        start, length, value = min(inside, key=lambda f: (-f[1], f[0]))
        self._convert_span(piece, lo, start, inside, out)
        out.append(value)
        self._convert_span(piece, start + length, hi, inside, out)
