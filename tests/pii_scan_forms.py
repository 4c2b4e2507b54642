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

import functools
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
    "battery",
    "chunks",
    "normalise",
    "scan",
    "seen",
    "text_of",
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
    # Glued to a link (a link chip must not swallow the text after it).
    Form("mobile_after_link", lambda d: f"http://t.cn/gnxvp7x有事打我电话{d.mobile}", _m),
    Form("mobile_mixed_numerals", lambda d: d.mobile[:5] + _map(d.mobile[5:], _CN), _m, True),
    Form("mobile_zero_width", lambda d: "\u200b".join(d.mobile), _m, True),
    Form(
        "mobile_brackets",
        lambda d: f"【{d.mobile[:3]}】{d.mobile[3:7]}【{d.mobile[7:]}】",
        _m,
        True,
    ),
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
    Form(
        "email_fullwidth_at",
        lambda d: f"{d.email_local}＠qq．com",
        lambda d: (d.email_local,),
        True,
    ),
    Form("qq", lambda d: f"QQ:{d.qq}", lambda d: (d.qq,), True),
    Form("qq_kou", lambda d: f"扣扣 {d.qq}", lambda d: (d.qq,), True),
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
        self.markers: dict[tuple[str, str], str] = {}

    def marked(self, field: str, form: str) -> str:
        """``value`` preceded by a marker, a text of its own (letters only, so that no
        masking touches it) that shows where the plant's object reached an output."""
        value = self.value(field, form)
        f, k = 11 + self.fields.index(field), FORM_KEYS.index(form)
        marker = "样本" + "".join(chr(ord("a") + d) for d in (f // 26, f % 26, k // 26, k % 26))
        self.markers[(field, form)] = marker
        return f"〔{marker}〕{value}"

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


# --- H1a's renderer: every fixed written form it knows ---------------------------------------


def battery(plants: Plants, field: str) -> list[tuple[tuple[str, str], str]]:
    """Every fixed form of every kind that ``tests/pii_forms.render_forms`` (the renderer
    the personal-data finder is developed against) writes, each of a number of its own,
    registered in ``plants`` under ``field``; returns (plant key, fragment) pairs."""
    from datetime import date, timedelta

    from tests.pii_forms import render_forms

    if field not in plants.fields:
        plants.fields.append(field)
    f = 11 + plants.fields.index(field)
    fragments = []
    j = 0

    def numbers(j: int) -> list[tuple[str, str, tuple[str, ...]]]:
        born = date(1950 + f % 50, 1, 1) + timedelta(days=j)
        id18 = f"321302{born:%Y%m%d}3{f % 10}{j % 10}"
        id18 += id_check(id18)
        id15 = f"321302{born:%y%m%d}9{f % 10}{j % 10}"
        card = f"622202{f:02d}{j:03d}1234"
        card += luhn_check(card)
        local = f"8{f:02d}{j:03d}66"
        return [
            ("mobile", f"13{f:02d}{j:03d}5508", (f"13{f:02d}{j:03d}5508",)),
            ("landline", f"0527-{local}", (local,)),
            ("id_number", id18, (id18[6:17],)),
            ("id_number_15", id15, (id15[6:15],)),
            ("bank_card", card, (card,)),
            ("email", f"chen{f:02d}{j:03d}mail@163.com", (f"chen{f:02d}{j:03d}mail",)),
            ("handle", f"7{f:02d}{j:03d}441", (f"7{f:02d}{j:03d}441",)),
            ("handle", f"hz_{f:02d}{j:03d}ab", (f"hz_{f:02d}{j:03d}ab",)),
        ]

    for kind_index, (kind, _number, _cores) in enumerate(numbers(0)):
        count = len(render_forms(_number, kind))
        for i in range(count):
            kind_, number, cores = numbers(j)[kind_index]
            key = f"pii_forms:{kind_}{'_qq' if kind_ == 'handle' and number.isdigit() else ''}#{i}"
            marker = "样本" + "".join(chr(ord("a") + d) for d in (f // 26, f % 26, j // 26, j % 26))
            value = f"〔{marker}〕{render_forms(number, kind_)[i]}"
            plants.planted[(field, key)] = Plant(field, key, value, cores)
            plants.markers[(field, key)] = marker
            fragments.append(((field, key), value))
            j += 1
    return fragments


def chunks(
    pairs: list[tuple[tuple[str, str], str]], budget: int
) -> list[list[tuple[tuple[str, str], str]]]:
    """The pairs in order, cut into runs whose fragments total at most ``budget`` chars."""
    out: list[list[tuple[tuple[str, str], str]]] = [[]]
    size = 0
    for pair in pairs:
        if out[-1] and size + len(pair[1]) + 1 > budget:
            out.append([])
            size = 0
        out[-1].append(pair)
        size += len(pair[1]) + 1
    return [c for c in out if c]


def text_of(run: list[tuple[tuple[str, str], str]]) -> str:
    return "；".join(value for _, value in run)


# --- the scanner ---------------------------------------------------------------------------

_U_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_CN_DIGITS = str.maketrans(
    "〇零一幺二两三四五六七八九壹贰叁肆伍陆柒捌玖", "00112234567891234567 89".replace(" ", "")
)
# What people (and attackers) put between the digits of one number.
_BETWEEN_DIGITS = re.compile(
    r"(?<=\d)[\s\u200b-\u200f\u2060-\u2064\ufeff\u00ad\-‐‑‒–—―.·•・_/\\()（）\[\]【】{},，、。:：;；+'\"|~]+(?=\d)"
)
_SEPARATOR = "\n§\n"  # between decoded variants: never a separator between digits


@functools.lru_cache(maxsize=4)  # scan() and seen() read the same output one after the other
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


_DIGIT_RUN = re.compile(r"\d{8,}")
_TOKEN = re.compile(r"[a-z0-9_]{6,}")


class _Index:
    """The plants by core, and the core lengths, built once per plant set."""

    def __init__(self, plants: list[Plant]) -> None:
        self.by_core: dict[str, Plant] = {}
        for plant in plants:
            for core in plant.cores:
                self.by_core.setdefault(core.lower(), plant)
        self.lengths = sorted({len(c) for c in self.by_core})


_last: list[tuple[list[Plant], _Index]] = []  # the index of the last list scanned for


def _index(plants: list[Plant]) -> _Index:
    if not _last or _last[0][0] is not plants:
        _last[:] = [(plants, _Index(plants))]
    return _last[0][1]


def scan(output: str, text: str, plants: Iterable[Plant]) -> list[Hit]:
    """Every plant whose core can be read in ``text`` (one hit per plant).

    A core is a run of digits or a word token, so it can only be read inside a long digit
    run or a token of the normalised text: every piece of those of a core's length is
    looked up among the cores (the same answer as searching the text for each core)."""
    plants = plants if isinstance(plants, list) else list(plants)
    index = _index(plants)
    normal = normalise(text)
    found: dict[tuple[str, str], Hit] = {}
    for piece in _DIGIT_RUN.findall(normal) + _TOKEN.findall(normal):
        for size in index.lengths:
            for start in range(len(piece) - size + 1):
                plant = index.by_core.get(piece[start : start + size])
                if plant is not None and (plant.field, plant.form) not in found:
                    core = piece[start : start + size]
                    at = normal.find(core)
                    excerpt = normal[max(0, at - 40) : at + len(core) + 20].replace("\n", " ")
                    found[(plant.field, plant.form)] = Hit(plant.field, plant.form, output, excerpt)
    return list(found.values())


_MARKER = re.compile(r"样本[a-z]{4}")


def seen(text: str, markers: dict[tuple[str, str], str]) -> set[tuple[str, str]]:
    """The plants whose marker (a text carried next to the number) shows in ``text``: their
    object reached this output, masked or not."""
    shown = set(_MARKER.findall(normalise(text)))
    return {key for key, marker in markers.items() if marker in shown}
