"""Text folding shared by intake, screening and similarity: widths, invisible characters,
whitespace and traditional → simplified; and the cleaning every piece of text, name, id
and JSON arriving from outside goes through first (:func:`unstorable`,
:func:`strip_unsafe`, :func:`is_clean_id`, :func:`loads_json`). A leaf module: it imports
no models.

The policy at the boundary (ask API, webhooks, console commands):

* a lone surrogate (a broken encoder) or NUL (binary data) is never text anybody wrote,
  and PostgreSQL cannot store either (SQLite cannot encode a surrogate): a field holding
  one is refused with code ``bad_characters`` (the item alone, in a batch);
* in free text (a question, a name, a note) other control characters (C0 but tab, line
  feed and carriage return; DEL; C1), noncharacters (U+FFFE, U+FFFF, U+FDD0–FDEF, …)
  and the bidirectional overrides, embeddings, isolates and marks (which can make a text
  read differently on a moderation console than it is) are removed; carriage returns
  become line feeds;
* in an id or another structural field (source ids, user ids, order ids, slugs, console
  actions) any of these characters, tab and line breaks included, refuses the item.
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

# Full-width ASCII (！ to ～) → half-width, ideographic space → space. CJK punctuation such
# as ，。？ is left alone: it is correct Chinese, not a width variant of a Latin sign.
WIDTH_TABLE = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
WIDTH_TABLE[0x3000] = 0x20
for _cjk_punct in "，。？！：；（）":
    WIDTH_TABLE.pop(ord(_cjk_punct), None)
_INVISIBLE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")

#: Never text anybody wrote, and not storable in PostgreSQL (see the module docstring).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_NONCHARACTERS = "\ufdd0-\ufdef\ufffe\uffff" + "".join(
    f"{chr(plane << 16 | 0xFFFE)}{chr(plane << 16 | 0xFFFF)}" for plane in range(1, 17)
)
_BIDI_CONTROLS = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
#: Removed from free text: control characters but tab and line breaks, noncharacters,
#: bidirectional controls (and the unstorable ones, for callers that only clean).
_UNSAFE_IN_TEXT = re.compile(
    f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff{_NONCHARACTERS}{_BIDI_CONTROLS}]"
)
#: Refuse an id: everything removed from text, and tab and line breaks.
_UNSAFE_IN_ID = re.compile(f"[\x00-\x1f\x7f-\x9f\ud800-\udfff{_NONCHARACTERS}{_BIDI_CONTROLS}]")
_LINE_BREAKS = re.compile(r"\r\n?")


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


def unstorable(text: str) -> bool:
    """Whether ``text`` holds a lone surrogate or NUL: refused wherever it arrives."""
    return _UNSTORABLE.search(text) is not None


def strip_unsafe(text: str) -> str:
    """``text`` without the characters free text loses at the boundary (see the module
    docstring), carriage returns turned into line feeds; nothing else changes (for the
    original text kept as received). Idempotent; never raises."""
    return _UNSAFE_IN_TEXT.sub("", _LINE_BREAKS.sub("\n", text))


def is_clean_id(value: str) -> bool:
    """Whether an id or other structural field is free of control, unstorable,
    noncharacter and bidirectional characters (tab and line breaks included)."""
    return _UNSAFE_IN_ID.search(value) is None


def escape_unsafe(value: str) -> str:
    """``value`` with each character an id may not hold written as ``\\uXXXX``: safe to
    echo in a response or a log, and still recognisable by the sender."""
    return _UNSAFE_IN_ID.sub(lambda found: f"\\u{ord(found.group()):04x}", value)


def normalise_text(text: str, *, to_simplified: bool | None = None) -> str:
    """Fold widths, drop control and invisible characters, collapse runs of spaces and
    blank lines, trim; optionally convert traditional to simplified characters.

    Never raises on any ``str``; the result holds no control character but line feeds
    (no surrogate, no NUL, no format character such as a bidirectional override) and
    normalising it again changes nothing."""
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


#: JSON from outside nests at most this deep (a microblog status with its retweet and
#: user objects needs about 6): deeper input is refused before it is parsed.
MAX_JSON_DEPTH = 32
#: Digits an integer in JSON from outside may have (ids of 30 digits are fine; Python
#: refuses to convert more than 4,300 at all).
MAX_JSON_INT_DIGITS = 100
_JSON_TOKENS = re.compile(r'["\\\[\]{}]')


class UnreadableJSON(ValueError):
    """JSON from outside that is refused before or while parsing: ``code`` is one of
    ``bad_json`` (not UTF-8, or not JSON), ``too_deep``, ``bad_number``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def json_depth(text: str, limit: int = MAX_JSON_DEPTH) -> int:
    """The nesting depth of arrays and objects in ``text`` (brackets inside strings do
    not count), or ``limit + 1`` as soon as it is deeper than ``limit``. Iterative: one
    regular-expression pass finds quotes, backslashes and brackets, and only those are
    looked at, so the cost does not depend on the depth."""
    depth = deepest = 0
    in_string = False
    escaped_at = -1  # the position a backslash inside a string escapes
    for token in _JSON_TOKENS.finditer(text):
        position, char = token.start(), token.group()
        if in_string:
            if position == escaped_at:
                continue
            if char == "\\":
                escaped_at = position + 1
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif char in "]}":
            depth -= 1
    return deepest


def _refuse_constant(name: str) -> Any:
    raise UnreadableJSON("bad_number", _("%(name)s is not a JSON number") % {"name": name})


def _parse_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_JSON_INT_DIGITS:
        raise UnreadableJSON(
            "bad_number",
            _("An integer has more than %(n)s digits") % {"n": MAX_JSON_INT_DIGITS},
        )
    return int(digits)


def _parse_float(literal: str) -> float:
    value = float(literal)
    if value in (float("inf"), float("-inf")):
        raise UnreadableJSON(
            "bad_number", _("The number %(n)s is out of range") % {"n": literal[:20]}
        )
    return value


def loads_json(data: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON that arrived from outside, or raise :class:`UnreadableJSON`: bytes that
    are not UTF-8, invalid JSON, nesting deeper than ``max_depth`` (checked before
    parsing, without recursion), integers of more than :data:`MAX_JSON_INT_DIGITS`
    digits, numbers out of the range of a float, and ``NaN`` / ``Infinity``. Strings may
    still hold ``\\ud800`` escapes or NUL: each field is checked where it is read."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise UnreadableJSON(
                "bad_json", _("The text is not UTF-8 (byte %(n)s)") % {"n": error.start}
            ) from None
    else:
        text = data
    if json_depth(text, max_depth) > max_depth:
        raise UnreadableJSON(
            "too_deep", _("The JSON is nested deeper than %(n)s levels") % {"n": max_depth}
        )
    try:
        return json.loads(
            text,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_refuse_constant,
        )
    except json.JSONDecodeError as error:
        raise UnreadableJSON(
            "bad_json", _("The text is not valid JSON: %(e)s") % {"e": error}
        ) from None
    except RecursionError:  # not reached under the depth limit; kept as a last guard
        raise UnreadableJSON(
            "too_deep", _("The JSON is nested deeper than %(n)s levels") % {"n": max_depth}
        ) from None


#: The largest integer a console command may carry: the range of a database integer
#: (SQLite refuses larger ones outright).
MAX_COMMAND_INT = 2**63 - 1


def unfit_json_value(value: Any, *, max_int: int = MAX_COMMAND_INT) -> str | None:
    """Why a parsed JSON value cannot be used as it is, or None: ``bad_characters`` if
    any string in it (object keys included) holds a lone surrogate or NUL,
    ``bad_number`` if an integer is out of ±``max_int``. Iterative (a stack, no
    recursion)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if unstorable(item):
                return "bad_characters"
        elif isinstance(item, bool):
            continue
        elif isinstance(item, int):
            if abs(item) > max_int:
                return "bad_number"
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None
