"""Planted personal data for the global plant-and-scan test (issue 10 §1), and the scanner
that looks for it in any output.

A *plant* is one personal number written in one *form* for one *field*: every (field,
form) pair gets its own number, so a hit in an output names the field it was typed into
and the form that got through. Numbers are built from the field's and the form's index,
so they never coincide with each other or with the ids, counts and dates a page shows.

The scanner normalises an output the way a reader's eye does (HTML entities, ``\\uXXXX``
escapes, percent-encoding, NFKC so full-width digits become ASCII, Chinese numerals
including 幺 and 〇 become digits, and separators between digits are dropped) and then
looks for each plant's *cores*: the digit strings (or, for e-mail and handles, the
identifying text) whose presence means the datum is readable. A masked form such as
``139****5508`` or ``321302********1234`` keeps no core and is not a hit.
"""

from __future__ import annotations

import html
import re
import unicodedata
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = [
    "FORMS",
    "FORM_KEYS",
    "Hit",
    "Plant",
    "Plants",
    "normalise",
    "scan",
]

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_check(first17: str) -> str:
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def luhn_check(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


_CN = dict(zip("0123456789", "〇一二三四五六七八九", strict=True))
_CN_YAO = dict(zip("0123456789", "零幺二三四五六七八九", strict=True))
_FULL = {str(d): chr(0xFF10 + d) for d in range(10)}


@dataclass(frozen=True)
class Datum:
    """The numbers of one (field, form) pair, before rendering."""

    f: int
    k: int

    @property
    def mobile(self) -> str:
        return f"139{self.f:02d}{self.k:02d}5508"

    @property
    def id18(self) -> str:
        year = 1950 + self.f % 50
        month = 1 + self.k % 12
        day = 10 + self.k // 12
        first17 = f"321302{year}{month:02d}{day:02d}3{self.f % 10}{self.k % 10}"
        return first17 + id_check(first17)

    @property
    def id15(self) -> str:
        return f"321302{50 + self.f % 50:02d}{1 + self.k % 12:02d}{20 + self.k // 12:02d}9{self.f % 10}{self.k % 10}"

    @property
    def landline_local(self) -> str:
        return f"8{self.f:02d}{self.k:02d}666"

    @property
    def card(self) -> str:
        first15 = f"622202{self.f:02d}{self.k:02d}12345"
        return first15 + luhn_check(first15)

    @property
    def qq(self) -> str:
        return f"7{self.f:02d}{self.k:02d}4417"

    @property
    def email_local(self) -> str:
        return f"chen{self.f:02d}{self.k:02d}mail"

    @property
    def handle(self) -> str:
        return f"hz_{self.f:02d}{self.k:02d}ab"

    @property
    def vx(self) -> str:
        return f"lz{self.f:02d}{self.k:02d}mm"


def _spaced(digits: str) -> str:
    return " ".join(digits)


def _map(digits: str, table: dict[str, str]) -> str:
    return "".join(table.get(ch, ch) for ch in digits)


@dataclass(frozen=True)
class Form:
    key: str
    render: Callable[[Datum], str]
    cores: Callable[[Datum], tuple[str, ...]]
    phone_like: bool = False  # a form a phone/contact field might reasonably accept


def _m(d: Datum) -> tuple[str, ...]:
    return (d.mobile,)


# Every written form the issue names (and a few neighbours); see the module docstring.
FORMS: tuple[Form, ...] = (
    Form("mobile_plain", lambda d: d.mobile, _m, True),
    Form("mobile_dotted", lambda d: f"{d.mobile[:3]}.{d.mobile[3:7]}.{d.mobile[7:]}", _m, True),
    Form("mobile_spaced_digits", lambda d: _spaced(d.mobile), _m, True),
    Form("mobile_dashes", lambda d: f"{d.mobile[:3]}-{d.mobile[3:7]}-{d.mobile[7:]}", _m, True),
    Form("mobile_fullwidth", lambda d: _map(d.mobile, _FULL), _m, True),
    Form("mobile_chinese", lambda d: _map(d.mobile, _CN), _m, True),
    Form("mobile_chinese_yao", lambda d: _map(d.mobile, _CN_YAO), _m, True),
    Form(
        "mobile_plus86",
        lambda d: f"+86 {d.mobile[:3]} {d.mobile[3:7]} {d.mobile[7:]}",
        _m,
        True,
    ),
    Form("mobile_0086", lambda d: f"0086-{d.mobile}", _m, True),
    Form("mobile_glued_to_name", lambda d: f"张三{d.mobile}", _m),
    Form("id18_plain", lambda d: d.id18, lambda d: (d.id18[6:17],)),
    Form(
        "id18_split",
        lambda d: f"{d.id18[:6]} {d.id18[6:14]} {d.id18[14:]}",
        lambda d: (d.id18[6:17],),
    ),
    Form("id15_old", lambda d: d.id15, lambda d: (d.id15[6:15],)),
    Form(
        "landline_dash",
        lambda d: f"0527-{d.landline_local[:4]} {d.landline_local[4:]}",
        lambda d: (d.landline_local,),
        True,
    ),
    Form(
        "landline_paren", lambda d: f"(0527){d.landline_local}", lambda d: (d.landline_local,), True
    ),
    Form(
        "bank_card_grouped",
        lambda d: " ".join(d.card[i : i + 4] for i in range(0, 16, 4)),
        lambda d: (d.card,),
    ),
    Form("bank_card_plain", lambda d: d.card, lambda d: (d.card,)),
    Form("email", lambda d: f"{d.email_local}@163.com", lambda d: (d.email_local,), True),
    Form("qq", lambda d: f"QQ:{d.qq}", lambda d: (d.qq,), True),
    Form("wechat", lambda d: f"微信 {d.handle}", lambda d: (d.handle,), True),
    Form("vx", lambda d: f"VX：{d.vx}", lambda d: (d.vx,), True),
)
FORM_KEYS = tuple(f.key for f in FORMS)


@dataclass(frozen=True)
class Plant:
    field: str
    form: str
    value: str  # the text as typed (a name, a contact, or a fragment of a longer text)
    cores: tuple[str, ...]


class Plants:
    """The registry of every plant: ``value(field, form)`` hands out a fresh one."""

    def __init__(self) -> None:
        self.fields: list[str] = []
        self.planted: dict[tuple[str, str], Plant] = {}
        self.refused: dict[tuple[str, str], str] = {}  # refused at input, with the reason

    def value(self, field: str, form: str) -> str:
        if field not in self.fields:
            self.fields.append(field)
        f = 11 + self.fields.index(field)  # two digits, never a run of zeros
        k = FORM_KEYS.index(form)
        spec = FORMS[k]
        datum = Datum(f, k)
        plant = Plant(field, form, spec.render(datum), spec.cores(datum))
        self.planted[(field, form)] = plant
        self.refused.pop((field, form), None)  # planted again (another attempt)
        return plant.value

    def refuse(self, field: str, form: str, reason: str) -> None:
        """The input refused this plant (a 4xx with a code): it is not counted as planted."""
        self.planted.pop((field, form), None)
        self.refused[(field, form)] = reason

    def __iter__(self) -> Iterable[Plant]:  # type: ignore[override]
        return iter(list(self.planted.values()))

    def __len__(self) -> int:
        return len(self.planted)


# --- the scanner ---------------------------------------------------------------------------

_U_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_CN_DIGITS = str.maketrans("〇零一幺二三四五六七八九", "001123456789")
# What people (and attackers) put between the digits of one number.
_BETWEEN_DIGITS = re.compile(
    r"(?<=\d)[\s\-‐‑‒–—―.·•・_/\\()（）\[\]【】{},，、:：;；+'\"|~]+(?=\d)"
)
_SEPARATOR = "\n\u2063\n"  # between decoded variants: never a separator between digits


def normalise(text: str) -> str:
    """``text`` and its decoded variants, NFKC-folded, numerals as digits, separators
    between digits removed, lower case. Variants are joined by a character that is not
    a separator, so digits of two variants never run together."""
    variants = [text]
    unescaped = html.unescape(_U_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text))
    if unescaped != text:
        variants.append(unescaped)
    unquoted = urllib.parse.unquote_plus(unescaped)
    if unquoted != unescaped:
        variants.append(unquoted)
    out = []
    for variant in variants:
        folded = unicodedata.normalize("NFKC", variant).translate(_CN_DIGITS).lower()
        out.append(_BETWEEN_DIGITS.sub("", folded))
    return _SEPARATOR.join(out)


@dataclass(frozen=True)
class Hit:
    field: str
    form: str
    output: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.output} × {self.field} × {self.form}: …{self.excerpt}…"


def scan(output: str, text: str, plants: Iterable[Plant]) -> list[Hit]:
    """Every plant whose core can be read in ``text`` (one hit per plant)."""
    normal = normalise(text)
    hits = []
    for plant in plants:
        for core in plant.cores:
            at = normal.find(core.lower())
            if at >= 0:
                excerpt = normal[max(0, at - 40) : at + len(core) + 20].replace("\n", " ")
                hits.append(Hit(plant.field, plant.form, output, excerpt))
                break
    return hits
