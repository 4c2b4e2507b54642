"""The one personal-data policy: find and mask personal data in any text.

Every output a non-staff eye can see (viewer pages and streams, public APIs, Open311,
follow-up pages, exports, replay chapters, the FAQ, hot words, the observer console) passes
its free text through :func:`mask_personal_data` and its names through :func:`public_name`.
This module is the bottom layer: plain Python, no Django, no domain imports.

What is found (:class:`PersonalDataKind`) and how it is shown:

========== ================================================== =======================
kind       what                                               masked
========== ================================================== =======================
mobile     mainland mobile ``1[3-9]`` + 9 digits, optionally  ``138****5678``
           after +86 / 0086 / (+86) / 86- / a leading 0
landline   0 + area code (010, 02x, 0[3-9]xx) + 7–8 digit    ``0527-****6666``
           local number (or +86 and the area code without its
           0); a 7–8 digit local number right after a contact ``电话：****6666``
           word (电话, 座机, 联系方式, tel …)
id_number  18-digit resident ID (province, birth date; see     ``110105********123X``
           below on the check character); 15-digit old ID    ``321302*****1234`` (15)
           (province, YYMMDD of the 1900s)
bank_card  16–19 digits passing Luhn, starting 3–6 or 9        ``****1234``
email      local@domain.tld, also with ＠, (at), [at], " at ",  ``a***@example.com``
           艾特 and (dot) / 点 obfuscations
handle     QQ / 扣扣 / 企鹅 / 微信 / 威信 / VX / V信 / wx / 加我 …    ``QQ:****``
           followed by an id (5+ digits, or a WeChat id of 6–20
           letters, digits, _ and - starting with a letter),
           and bare ``wxid_…`` ids
========== ================================================== =======================

Written forms: a "digit" is an ASCII, full-width or other Unicode decimal digit, a
circled / superscript digit, or a Chinese numeral (〇零○ 一幺壹 二两贰貳 三叁參 四肆 五伍
六陆陸 七柒 八捌 九玖). Between two digits up to four separator characters may stand
(spaces incl. the ideographic space, - – — . · ・ / ／ _ ( ) （ ） [ ] 【 】 ~ + # | quotes,
zero-width and combining characters, keycaps). Commas, 、, 。, colons and semicolons join
only groups of three or more digits that together have a mobile's, a landline's or an ID
number's length, so "138，1234，5678" is a number while money (13,800,000,000元), lists of
figures (1200，3500，4800，6000户), decimals and times (13:30) are not.

A number must start and end where the digit run starts or ends, at a separator, where
the script changes (ASCII ↔ full-width ↔ Chinese numerals), or anywhere among Chinese
numerals: a mobile number hidden inside a longer unbroken run of digits (an order number
``2026120413812345678``) is not one, while 张三 + 一三九… is 张三 and a mobile. Among the
readings of a run of digits, the one that covers the most digits wins.

O / o and l / I right next to a digit and not inside a word read as 0 and 1 (138OO138OOO).

Not found (known limits): numbers written with words between their parts (138转1234转5678),
letters for digits away from any digit (OOl38…), digits as HTML character references.

Decisions (a data-protection officer's reading of the issue):

- An 18-digit number whose province code and birth date are valid but whose check
  character is wrong is masked too (a mistyped ID is still someone's ID). The structure
  check keeps order and work-order numbers out: they start with a year (20…, not a
  province code) or carry no valid birth date at positions 7–14.
- 400 / 800 / 95xxx service numbers, 12345, 110 and other short or public numbers are
  not personal and stay as written; so do local numbers without an area code unless a
  contact word stands right before them.
- URLs are not exempt: a phone number in a link's query is masked like any other.

Masking is idempotent and leaves nothing the finder finds again: :func:`mask_personal_data`
masks until the finder finds nothing (at most a few rounds), and masked forms keep at most
six original digits in a row.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from datetime import date
from enum import StrEnum
from itertools import pairwise
from typing import NamedTuple

__all__ = [
    "PersonalDataKind",
    "contains_personal_data",
    "digit_value",
    "find_personal_data",
    "is_number_like",
    "luhn_valid",
    "mask_personal_data",
    "public_name",
    "valid_id_number",
]


class PersonalDataKind(StrEnum):
    MOBILE = "mobile"
    LANDLINE = "landline"
    ID_NUMBER = "id_number"
    BANK_CARD = "bank_card"
    EMAIL = "email"
    HANDLE = "handle"


# --- digits in every written form ---------------------------------------------------------

_CHINESE_DIGITS = {
    "0": "〇零○◯",
    "1": "一幺壹",
    "2": "二两贰貳",
    "3": "三叁參叄",
    "4": "四肆",
    "5": "五伍",
    "6": "六陆陸",
    "7": "七柒",
    "8": "八捌",
    "9": "九玖",
}
_CHINESE_VALUE = {ch: d for d, chars in _CHINESE_DIGITS.items() for ch in chars}
_CHINESE_CLASS = "".join(_CHINESE_VALUE)
# Unicode decimal digits (ASCII, full-width, Arabic-Indic …) and the digit-valued symbols
# people type to dodge filters (circled, parenthesised, superscript, subscript).
_DIGIT_CLASS = rf"\d{_CHINESE_CLASS}⓪①-⑨⑴-⑼⒈-⒐❶-❾➀-➈➊-➒¹²³⁰⁴-⁹₀-₉"
_SEPARATOR_CLASS = (
    # spaces, zero-width characters, combining marks (1̶3̶8̶), keycaps (1️⃣) and variation selectors
    r"\s\u3000\u00ad\u200b-\u200f\u2060-\u2064\ufeff\u0300-\u036f\u20d0-\u20ff\ufe00-\ufe0f"
    r"\-‐‑‒–—―−﹣－.．·・•‧∙/／\\_＿()（）\[\]【】〔〕{}<>《》~～+＋#＃|｜"
    "'\"“”‘’「」"
)
_X_CLASS = "XxＸｘ"
_MAX_GAP = 4
_MIN_NUMBER = 11  # the fewest digits of a number found without a keyword (mobile, landline)
# Commas, 、, 。, colons and semicolons join digits only as a number's groups would (see
# _WeakGroups): "138，1234，5678" is a number; "13,800,000,000元", "第3、5、7条", "13:30" are not.
_WEAK_CLASS = ",，、。:：;；"
_CHAIN = re.compile(
    rf"[{_DIGIT_CLASS}](?:[{_SEPARATOR_CLASS}{_WEAK_CLASS}]{{0,{_MAX_GAP}}}[{_DIGIT_CLASS}])"
    rf"{{{_MIN_NUMBER - 1},}}"
    rf"(?:[{_SEPARATOR_CLASS}]{{0,{_MAX_GAP}}}[{_X_CLASS}])?"
)
_WEAK = re.compile(rf"[{_WEAK_CLASS}]")
_SEPARATORS = re.compile(rf"[{_SEPARATOR_CLASS}]")


def digit_value(ch: str) -> str | None:
    """The ASCII digit ``ch`` stands for in any supported written form, else None."""
    if "0" <= ch <= "9":
        return ch
    if ch in _CHINESE_VALUE:
        return _CHINESE_VALUE[ch]
    value = unicodedata.digit(ch, None)
    return None if value is None else str(value)


_CHINESE_SCRIPT = 1


def _script(ch: str) -> int:
    if "0" <= ch <= "9":
        return 0
    if ch in _CHINESE_VALUE:
        return _CHINESE_SCRIPT
    if "０" <= ch <= "９":
        return 2
    return 3


def is_number_like(token: str) -> bool:
    """True when ``token`` holds any digit (in any written form) or a mask character, or is
    made only of Chinese numerals and separators (一三九, 幺三九): such a token is a number
    or a piece of one, never a word."""
    if any(ch.isdigit() or ch in "*＊" for ch in token):
        return True
    stripped = _SEPARATORS.sub("", token)
    return bool(stripped) and all(digit_value(ch) is not None for ch in stripped)


# --- validation -----------------------------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
#: The first two digits of a resident ID: the province (GB/T 2260), 71 Taiwan, 81 Hong Kong,
#: 82 Macao, 83 residence permits of Taiwan residents.
_PROVINCES = frozenset(
    int(code)
    for code in "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54"
    " 61 62 63 64 65 71 81 82 83".split()
)


def id_check_character(first17: str) -> str:
    """The GB 11643-1999 check character of the first 17 digits of an ID number."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def _plausible_birth(year: int, month: int, day: int) -> bool:
    try:
        born = date(year, month, day)
    except ValueError:
        return False
    return 1900 <= year and born <= date.today()


def _id18_structure(number: str) -> bool:
    """Province code and birth date of an 18-character ID are plausible."""
    if len(number) != 18 or not number[:17].isdigit() or number[17] not in "0123456789X":
        return False
    if int(number[:2]) not in _PROVINCES:
        return False
    return _plausible_birth(int(number[6:10]), int(number[10:12]), int(number[12:14]))


def valid_id_number(number: str) -> bool:
    """GB 11643-1999: 17 digits, a check character, a province code, a plausible birth date."""
    number = number.upper()
    return _id18_structure(number) and id_check_character(number[:17]) == number[17]


def _valid_id15(number: str) -> bool:
    if len(number) != 15 or not number.isdigit() or int(number[:2]) not in _PROVINCES:
        return False
    return _plausible_birth(1900 + int(number[6:8]), int(number[8:10]), int(number[10:12]))


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


# --- numbers in digit chains ----------------------------------------------------------------


class _Number(NamedTuple):
    length: int  # symbols of the chain the number takes, prefix included
    kind: PersonalDataKind
    masked: str


def _landline_local(local: str) -> bool:
    return len(local) in (7, 8) and local[0] != "0"


def _landline(digits: str) -> str | None:
    """The masked form of ``0`` + area code + local number, else None."""
    if not digits.isdigit():
        return None
    if digits[:2] in ("01", "02"):
        area = digits[:3] if digits[:3] == "010" or digits[1] == "2" else ""
        if area and len(digits) == 11 and _landline_local(digits[3:]):
            return f"{area}-****{digits[-4:]}"
        return None
    if len(digits) in (11, 12) and digits[0] == "0" and digits[1] in "3456789":
        if _landline_local(digits[4:]):
            return f"{digits[:4]}-****{digits[-4:]}"
    return None


def _mobile(digits: str) -> str | None:
    if len(digits) == 11 and digits[0] == "1" and digits[1] in "3456789" and digits.isdigit():
        return f"{digits[:3]}****{digits[7:]}"
    return None


def _numbers_at(symbols: str, i: int, cut: list[bool]) -> Iterator[_Number]:
    """Every personal number that starts at symbol ``i`` and ends at a cut, most likely
    reading first (a valid ID before a Luhn-valid card before a mistyped ID …)."""
    n = len(symbols)

    def ends(length: int) -> str | None:
        j = i + length
        return symbols[i:j] if j <= n and cut[j] else None

    if (s := ends(18)) is not None and valid_id_number(s):
        yield _Number(18, PersonalDataKind.ID_NUMBER, f"{s[:6]}********{s[14:]}")
    if symbols[i] in "34569":
        for length in (19, 18, 17, 16):
            if (s := ends(length)) is not None and s.isdigit() and luhn_valid(s):
                yield _Number(length, PersonalDataKind.BANK_CARD, f"****{s[-4:]}")
    if (s := ends(18)) is not None and _id18_structure(s) and not valid_id_number(s):
        yield _Number(18, PersonalDataKind.ID_NUMBER, f"{s[:6]}********{s[14:]}")
    if (s := ends(15)) is not None and _valid_id15(s):
        yield _Number(15, PersonalDataKind.ID_NUMBER, f"{s[:6]}*****{s[11:]}")
    for prefix in ("0086", "86", "0"):
        if symbols.startswith(prefix, i):
            p = len(prefix)
            if (s := ends(p + 11)) is not None and (masked := _mobile(s[p:])):
                yield _Number(p + 11, PersonalDataKind.MOBILE, masked)
            if prefix != "0":
                for length in (10, 11):
                    s = ends(p + length)
                    if s is not None and s[p] != "0" and (masked := _landline("0" + s[p:])):
                        yield _Number(p + length, PersonalDataKind.LANDLINE, masked)
    for length in (11, 12):
        if (s := ends(length)) is not None and (masked := _landline(s)):
            yield _Number(length, PersonalDataKind.LANDLINE, masked)
    if (s := ends(11)) is not None and (masked := _mobile(s)):
        yield _Number(11, PersonalDataKind.MOBILE, masked)


def _pieces(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The chain ``text[start:end]``, cut at every weak mark when it is thousands grouping
    (13,800,000,000: a first group of 1–3 digits, then groups of exactly three)."""
    marks = [m.start() for m in _WEAK.finditer(text, start, end)]
    if not marks:
        return [(start, end)]
    bounds = [start, *marks, end]
    counts = [sum(_is_symbol(ch) for ch in text[a:b]) for a, b in pairwise(bounds)]
    if 1 <= counts[0] <= 3 and all(count == 3 for count in counts[1:]):
        return [(a + (a != start), b) for a, b in pairwise(bounds)]
    return [(start, end)]


def _is_symbol(ch: str) -> bool:
    return ch in _X_CLASS or digit_value(ch) is not None


class _WeakGroups:
    """Where a chain's weak marks (， 、 。 : ;) fall between its symbols. A number may span
    weak marks only as a number's groups do: every group it touches has three or more of
    its digits, no decimal point stands among them, and it is no card (a list of figures,
    1200，3500，4800，6000, reads like one)."""

    def __init__(self, text: str, starts: list[int]) -> None:
        self.text, self.starts = text, starts
        self.group = [0]
        for k in range(1, len(starts)):
            between = _WEAK.search(text, starts[k - 1] + 1, starts[k]) is not None
            self.group.append(self.group[-1] + between)
        self.first = {g: k for k, g in reversed(list(enumerate(self.group)))}
        self.size = {g: self.group.count(g) for g in self.first}

    def allow(self, i: int, j: int, kind: PersonalDataKind) -> bool:
        gi, gj = self.group[i], self.group[j - 1]
        if gi == gj:
            return True
        if kind == PersonalDataKind.BANK_CARD:
            return False
        sizes = [self.first[gi + 1] - i, j - self.first[gj]]
        sizes += [self.size[g] for g in range(gi + 1, gj)]
        if min(sizes) < 3:
            return False
        return _DECIMAL.search(self.text, self.starts[i], self.starts[j - 1] + 1) is None


_DECIMAL = re.compile(rf"[{_DIGIT_CLASS}][.．][{_DIGIT_CLASS}]")


_CLOSING = re.compile("[)）]")
_EXTENSION = re.compile(r"\s?(?:转|分机|ext\.?\s?|x)\s?[0-9]{1,6}(?![0-9])", re.IGNORECASE)
# O / o for 0 and l / I for 1, right next to a digit and not part of a word.
_LOOKALIKE = re.compile(r"(?<=[0-9０-９])[OolI]+(?![A-Za-z])|(?<![A-Za-z])[OolI]+(?=[0-9０-９])")
_LOOKALIKE_TABLE = str.maketrans("OolI", "0011")


def _has_lookalike(text: str) -> bool:
    return "O" in text or "o" in text or "l" in text or "I" in text  # 20x faster than a regex


def _as_digits(m: re.Match[str]) -> str:
    return m.group(0).translate(_LOOKALIKE_TABLE)


def _chain_numbers(text: str, start: int, end: int) -> list[tuple[int, int, str, str]]:
    symbols: list[str] = []
    starts: list[int] = []
    for index in range(start, end):
        ch = text[index]
        value = "X" if ch in _X_CLASS else digit_value(ch)
        if value is not None:
            symbols.append(value)
            starts.append(index)
    # The X of an ID number is only one when no letter follows it ("…1234 Xiamen").
    if symbols[-1] == "X" and end < len(text) and text[end].isascii() and text[end].isalpha():
        symbols.pop()
        starts.pop()
    # cut[k]: a number may start before symbol k and end after symbol k - 1: at either end
    # of the chain, at a separator, where the script changes (ASCII ↔ full-width ↔ Chinese
    # numerals), and anywhere among Chinese numerals (no order number is written in them,
    # while names are: 张三 + 一三九… must still find the mobile after 张三).
    cut = [True]
    for k in range(1, len(symbols)):
        a, b = starts[k - 1], starts[k]
        sa, sb = _script(text[a]), _script(text[b])
        cut.append(b != a + 1 or sa != sb or sa == _CHINESE_SCRIPT)
    cut.append(True)
    joined = "".join(symbols)
    n = len(joined)
    weak = _WeakGroups(text, starts) if _WEAK.search(text, start, end) else None
    # The readings that cover the most digits win (张三 + an ID number: the ID, not a
    # shorter number that starts at 三); on a tie the earlier-listed reading, then the later
    # start. A reading that starts or ends with a lone Chinese numeral glued to other digits
    # (三 in 张三310104…) counts 1.5 digits less, so 三 + a card never beats the ID after it.
    # best[i]: (digits covered from symbol i on, the number chosen at i or None).
    chinese = [_script(text[k]) == _CHINESE_SCRIPT for k in starts]

    def glued(a: int, b: int) -> bool:
        return chinese[a] and not chinese[b] and abs(starts[a] - starts[b]) == 1

    best: list[tuple[float, _Number | None]] = [(0.0, None)] * (n + 1)
    for i in range(n - 1, -1, -1):
        choice: tuple[float, _Number | None] = (best[i + 1][0], None)
        if cut[i] and joined[i] != "X":
            for reading in _numbers_at(joined, i, cut):
                j = i + reading.length
                if weak is not None and not weak.allow(i, j, reading.kind):
                    continue
                covered = reading.length - 1.5 * (glued(i, i + 1) + glued(j - 1, j - 2))
                covered += best[j][0]
                if covered > choice[0]:
                    choice = (covered, reading)
        best[i] = choice
    found: list[tuple[int, int, str, str]] = []
    i = 0
    while i < n:
        chosen = best[i][1]
        if chosen is None:
            i += 1
            continue
        number = chosen
        first, last = starts[i], starts[i + number.length - 1] + 1
        if number.kind in (PersonalDataKind.MOBILE, PersonalDataKind.LANDLINE):
            # +86, (+86), (0527): the plus, and a bracket closed inside the number, go with it.
            if first > 0 and text[first - 1] in "+＋":
                first -= 1
            if first > 0 and text[first - 1] in "(（" and _CLOSING.search(text, first, last):
                first -= 1
        masked = number.masked
        if number.kind == PersonalDataKind.LANDLINE and (ext := _EXTENSION.match(text, last)):
            masked += ext.group(0)  # 转801: the extension goes with its number, as written
            last = ext.end()
        found.append((first, last, str(number.kind), masked))
        i += number.length
    return found


# --- e-mail addresses and contact handles ---------------------------------------------------

_WIDE = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_WIDE[0x3000] = 0x20
_AT = (
    r"(?:@|\((?:at|AT)\)|\[(?:at|AT)\]|\{(?:at|AT)\}|<(?:at|AT)>|（(?:at|AT)）"
    r"|\s+(?:at|AT)\s+|艾特)"
)
_DOT = r"(?:\.|\((?:dot|DOT)\)|\[(?:dot|DOT)\]|\s+(?:dot|DOT)\s+|点|。)"
_EMAIL = re.compile(
    rf"(?<![A-Za-z0-9._%+\-])([A-Za-z0-9][A-Za-z0-9._%+\-]{{0,63}})\s*{_AT}\s*"
    rf"((?:[A-Za-z0-9](?:[A-Za-z0-9\-]{{0,61}}[A-Za-z0-9])?\s*{_DOT}\s*)+[A-Za-z]{{2,12}})"
    r"(?![A-Za-z0-9\-])"
)
# Full-width forms the e-mail and handle patterns need as ASCII (letters, digits, ＠ ．－＿
# and the ideographic space); the CJK marks every question has (，。：) are not among them.
_HAS_WIDE = re.compile("[\uff0d\uff0e\uff10-\uff19\uff20-\uff3a\uff3f\uff41-\uff5a\u3000]")
_EMAIL_HINT = re.compile(r"@|(?i:at)|艾特")
_DOT_WORD = re.compile(rf"\s*{_DOT}\s*")

_HANDLE_WORDS = (
    # No word boundary before the ASCII words: "abcQQ12345" offers a QQ number all the same,
    # and an id masked by mistake inside a word costs nothing.
    "qq|vx|wx|wechat|weixin|v信|q号|v号|扣扣|抠抠|蔻蔻|企鹅|微信|威信|薇信|徽信|维信|加我|加v|加微"
)
_PHONE_WORDS = "(?<![a-z])(?:tel|call)|电话|座机|手机|联系方式|联系电话"
_ID_AFTER = r"(?:号码|号|账号|帐号|id(?![a-z0-9_])|[\s:：=是为]){0,6}"
# Each pattern starts by looking ahead for the first characters of its keywords: a text
# without them is scanned at the speed of a character class.
_HANDLE_FIRST = "(?=[qvwQVW扣抠蔻企微威薇徽维加])"
_PHONE_FIRST = "(?=[tcTC电座手联])"
_HANDLE = re.compile(
    rf"{_HANDLE_FIRST}(?:(?<![a-z0-9_])(?P<wxid>wxid_[a-z0-9_\-]{{4,30}})"
    rf"|(?P<word>{_HANDLE_WORDS}){_ID_AFTER}"
    rf"(?P<id>[a-z][a-z0-9_\-]{{5,19}}(?![a-z0-9_\-])"
    rf"|[{_DIGIT_CLASS}](?:[{_SEPARATOR_CLASS}]{{0,2}}[{_DIGIT_CLASS}]){{4,}}))",
    re.IGNORECASE,
)
_PHONE_WORD = re.compile(
    rf"{_PHONE_FIRST}(?:{_PHONE_WORDS}){_ID_AFTER}"
    rf"(?P<id>[{_DIGIT_CLASS}](?:[{_SEPARATOR_CLASS}]{{0,2}}[{_DIGIT_CLASS}]){{6,7}})"
    rf"(?![{_SEPARATOR_CLASS}]{{0,2}}[{_DIGIT_CLASS}])",
    re.IGNORECASE,
)


def _emails(wide: str) -> list[tuple[int, int, str, str]]:
    found = []
    for m in _EMAIL.finditer(wide):
        domain = _DOT_WORD.sub(".", m.group(2))
        if "." not in domain:
            continue
        found.append(
            (m.start(), m.end(), str(PersonalDataKind.EMAIL), f"{m.group(1)[0]}***@{domain}")
        )
    return found


def _handles(text: str, wide: str) -> list[tuple[int, int, str, str]]:
    found = []
    for m in _HANDLE.finditer(wide):
        if m.group("wxid"):
            found.append((m.start(), m.end(), str(PersonalDataKind.HANDLE), "wxid_****"))
        else:
            found.append(
                (
                    m.start(),
                    m.end(),
                    str(PersonalDataKind.HANDLE),
                    text[m.start() : m.start("id")] + "****",
                )
            )
    for m in _PHONE_WORD.finditer(wide):
        local = "".join(v for ch in m.group("id") if (v := digit_value(ch)) is not None)
        if _landline_local(local):
            masked = text[m.start() : m.start("id")] + "****" + local[-4:]
            found.append((m.start(), m.end(), str(PersonalDataKind.LANDLINE), masked))
    return found


# --- the policy -----------------------------------------------------------------------------


def find_personal_data(text: str) -> list[tuple[int, int, str, str]]:
    """``(start, end, kind, masked)`` for every piece of personal data in ``text``, in
    order, never overlapping; ``kind`` is a :class:`PersonalDataKind` value and ``masked``
    the form that replaces ``text[start:end]`` on any non-staff output."""
    if not text:
        return []
    found: list[tuple[int, int, str, str]] = []
    # Letters standing for digits (138OO138OOO, l38…) read as digits, one for one.
    digits = _LOOKALIKE.sub(_as_digits, text) if _has_lookalike(text) else text
    for m in _CHAIN.finditer(digits):
        for start, end in _pieces(digits, m.start(), m.end()):
            if end - start >= _MIN_NUMBER:
                found += _chain_numbers(digits, start, end)
    # Full-width letters and marks as ASCII, one code point for one: positions stay.
    wide = text.translate(_WIDE) if _HAS_WIDE.search(text) else text
    if "@" in wide or _EMAIL_HINT.search(wide):
        found += _emails(wide)
    found += _handles(text, wide)
    if not found:
        return []
    found.sort(key=lambda f: (f[0], -f[1]))
    kept: list[tuple[int, int, str, str]] = []
    for item in found:
        if not kept or item[0] >= kept[-1][1]:
            kept.append(item)
    return kept


def contains_personal_data(text: str) -> bool:
    return bool(find_personal_data(text))


def _apply(text: str, found: list[tuple[int, int, str, str]]) -> str:
    parts: list[str] = []
    position = 0
    for start, end, _, masked in found:
        parts.append(text[position:start])
        parts.append(masked)
        position = end
    parts.append(text[position:])
    return "".join(parts)


def mask_personal_data(text: str) -> str:
    """``text`` with every piece of personal data replaced by its masked form.

    Idempotent, and the result holds nothing :func:`find_personal_data` finds: masked
    forms next to other digits can form a new number ("138****5678" then a 12-digit run
    may read as a card), so masking repeats until nothing is found."""
    for _ in range(5):
        found = find_personal_data(text)
        if not found:
            break
        text = _apply(text, found)
    return text


def public_name(name: str) -> str:
    """A name as a non-staff output shows it: personal data masked; a name that is only
    a number or only personal data (13973105510, QQ:123456, a@b.cn) becomes "" so the page
    shows its own word (网友)."""
    name = (name or "").strip()
    found = find_personal_data(name)
    rest = _apply(name, [(start, end, kind, "") for start, end, kind, _ in found])
    if not any(ch.isalpha() for ch in rest):
        return ""
    return mask_personal_data(name)
