"""Text folding shared by intake, screening and similarity: widths, invisible characters,
whitespace and traditional → simplified. A leaf module: it imports no models."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

from django.conf import settings

# Full-width ASCII (！ to ～) → half-width, ideographic space → space. CJK punctuation such
# as ，。？ is left alone: it is correct Chinese, not a width variant of a Latin sign.
WIDTH_TABLE = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
WIDTH_TABLE[0x3000] = 0x20
for _cjk_punct in "，。？！：；（）":
    WIDTH_TABLE.pop(ord(_cjk_punct), None)
_INVISIBLE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


@lru_cache(maxsize=1)
def _t2s() -> Any:
    # OpenCC's t2s conversion, same output, ~10x faster than the library's own converter.
    from hub.t2s import TraditionalToSimplified

    return TraditionalToSimplified()


@lru_cache(maxsize=4096)
def to_simplified(text: str) -> str:
    """Traditional → simplified characters (OpenCC's t2s tables, loaded once). Recent
    texts are remembered: intake, screening and the similarity engine fold the same
    question's text in turn."""
    return str(_t2s().convert(text))


def normalise_text(text: str, *, to_simplified: bool | None = None) -> str:
    """Fold widths, drop control and invisible characters, collapse runs of spaces and
    blank lines, trim; optionally convert traditional to simplified characters."""
    text = text.translate(WIDTH_TABLE)
    text = _INVISIBLE.sub("", text)
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    text = text.replace("\r", "")
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    text = _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
    if to_simplified if to_simplified is not None else settings.HUB_TRADITIONAL_TO_SIMPLIFIED:
        text = _to_simplified(text)  # the parameter shadows the module's to_simplified()
    return text


_to_simplified = to_simplified
