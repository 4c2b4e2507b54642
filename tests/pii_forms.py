"""Personal data in the many ways people write it: generators for tests that plant it.

- ``random_number(kind, rng)`` makes a valid number of a kind (a mobile with a real prefix,
  an ID number with its GB 11643 check character and a real birth date, a Luhn-valid card,
  a landline with a real-shaped area code, an e-mail address, a contact handle).
- ``render_forms(number, kind)`` gives a fixed list of written forms of it (separators,
  spacing, full-width digits, Chinese numerals, +86 prefixes, obfuscated ``at`` …).
- ``render(number, kind, rng)`` gives one random form: random separators between random
  digits, a random script per digit, a random prefix.
- ``leaked(number, kind, text)`` tells whether ``text`` still shows the number: 7 or more of
  its digits in a row (across separators, in any script), or the e-mail's local part, or the
  handle's id.

``number`` is the canonical form: digits (and a final X) for mobile / id_number / bank_card,
``"area-local"`` for a landline (``"0527-88886666"``), the address for an e-mail, the id for
a handle (digits for QQ, letters for WeChat).
"""

from __future__ import annotations

import random
import re
import unicodedata
from datetime import date, timedelta

from hub.lib.personal_data import (
    digit_value,
    find_personal_data,
    id_check_character,
    luhn_valid,
    mask_personal_data,
)

KINDS = ("mobile", "landline", "id_number", "id_number_15", "bank_card", "email", "handle")

SEPARATORS = [" ", "-", ".", "·", "／", "/", "_", "\u3000", "—", "－", "．", "  ", " - ", "\u200b"]
#: Marks that join digits only as a number's groups (never one by one, never a card's).
GROUP_SEPARATORS = [*SEPARATORS, "，", ",", "。", "、", ":"]
LOWER = "〇一二三四五六七八九"
LOWER_VARIANTS = {"0": "〇零", "1": "一幺", "2": "二两"}
CAPITAL = "零壹贰叁肆伍陆柒捌玖"
FULL = "０１２３４５６７８９"
MOBILE_PREFIXES = [
    "+86",
    "+86 ",
    "+86-",
    "0086",
    "0086 ",
    "(+86)",
    "（+86）",
    "86-",
    "86 ",
    "+８６",
]
AREA_CODES = ["010", "020", "021", "022", "023", "024", "025", "027", "028", "029"]
AREA_CODES += ["0527", "0311", "0371", "0431", "0551", "0591", "0731", "0871", "0991"]
PROVINCE_AREAS = ["110105", "310104", "440305", "321302", "510107", "650102", "370202"]
MOBILE_HEADS = ["130", "135", "138", "139", "147", "150", "158", "166", "177", "185", "191"]
CARD_HEADS = ["6222", "6228", "6217", "4111", "5399", "6212"]
HANDLE_WORDS_QQ = ["QQ", "qq", "QQ号", "QQ号码", "扣扣", "企鹅号", "Q号", "ＱＱ"]
HANDLE_WORDS_WX = ["微信", "微信号", "威信", "VX", "vx", "V信", "wx", "WX号", "加我vx", "加微信"]
HANDLE_GLUES = ["", ":", "：", " ", "：", " : ", "是", "号 ", "号："]


# --- valid numbers ------------------------------------------------------------------------


def random_mobile(rng: random.Random) -> str:
    return rng.choice(MOBILE_HEADS) + "".join(rng.choice("0123456789") for _ in range(8))


def random_id18(rng: random.Random) -> str:
    born = date(1930, 1, 1) + timedelta(days=rng.randrange(0, 365 * 90))
    first17 = rng.choice(PROVINCE_AREAS) + born.strftime("%Y%m%d") + f"{rng.randrange(1000):03d}"
    return first17 + id_check_character(first17)


def random_id15(rng: random.Random) -> str:
    born = date(1930, 1, 1) + timedelta(days=rng.randrange(0, 365 * 69))
    return rng.choice(PROVINCE_AREAS) + born.strftime("%y%m%d") + f"{rng.randrange(1000):03d}"


def random_landline(rng: random.Random) -> str:
    area = rng.choice(AREA_CODES)
    length = 8 if len(area) == 3 else rng.choice((7, 8))
    local = rng.choice("23456789") + "".join(rng.choice("0123456789") for _ in range(length - 1))
    return f"{area}-{local}"


def random_card(rng: random.Random) -> str:
    length = rng.choice((16, 17, 18, 19))
    body = rng.choice(CARD_HEADS) + "".join(rng.choice("0123456789") for _ in range(length - 5))
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


def random_email(rng: random.Random) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    local = rng.choice(letters) + "".join(
        rng.choice(letters + "0123456789._") for _ in range(rng.randrange(3, 12))
    )
    local = local.rstrip("._") or "user"
    domain = rng.choice(["qq.com", "163.com", "example.com", "gov.cn", "mail.example.org"])
    return f"{local}@{domain}"


def random_handle(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return rng.choice("123456789") + "".join(
            rng.choice("0123456789") for _ in range(rng.randrange(5, 10))
        )
    letters = "abcdefghijklmnopqrstuvwxyz"
    return rng.choice(letters) + "".join(
        rng.choice(letters + "0123456789_") for _ in range(rng.randrange(5, 15))
    )


def random_number(kind: str, rng: random.Random) -> str:
    return {
        "mobile": random_mobile,
        "landline": random_landline,
        "id_number": random_id18,
        "id_number_15": random_id15,
        "bank_card": random_card,
        "email": random_email,
        "handle": random_handle,
    }[kind](rng)


# --- written forms --------------------------------------------------------------------------


def full_width(digits: str) -> str:
    return "".join(FULL[int(ch)] if ch.isdigit() else ch for ch in digits)


def chinese(digits: str, table: str = LOWER) -> str:
    return "".join(table[int(ch)] if ch.isdigit() else ch for ch in digits)


def grouped(digits: str, sizes: list[int], sep: str) -> str:
    parts, position = [], 0
    for size in sizes:
        parts.append(digits[position : position + size])
        position += size
    if position < len(digits):
        parts.append(digits[position:])
    return sep.join(p for p in parts if p)


def _digit_forms(digits: str, groups: list[int], commas: bool = True) -> list[str]:
    forms = [digits]
    forms += [
        grouped(digits, groups, sep) for sep in GROUP_SEPARATORS if commas or sep in SEPARATORS
    ]
    forms.append(" ".join(digits))
    forms.append(".".join(digits))
    forms.append("-".join(digits))
    forms.append(full_width(digits))
    forms.append(grouped(full_width(digits), groups, "\u3000"))
    forms.append(chinese(digits))
    forms.append(chinese(digits).replace("〇", "零"))
    forms.append(chinese(digits).replace("一", "幺").replace("二", "两"))
    forms.append(chinese(digits, CAPITAL))
    forms.append(grouped(chinese(digits), groups, " "))
    half = len(digits) // 2
    forms.append(chinese(digits[:half]) + digits[half:])
    forms.append(digits[:half] + full_width(digits[half:]))
    forms.append(grouped(digits, groups, "-").replace("-", " ", 1))  # mixed separators
    return forms


def render_forms(number: str, kind: str) -> list[str]:
    """Many written forms of ``number`` (see the module docstring for its canonical form)."""
    if kind == "mobile":
        forms = _digit_forms(number, [3, 4, 4])
        forms.append(f"({number[:3]}){number[3:7]}-{number[7:]}")
        forms.append(f"（{number[:3]}）{number[3:7]} {number[7:]}")
        forms += [prefix + number for prefix in MOBILE_PREFIXES]
        forms.append(f"+86 {number[:3]} {number[3:7]} {number[7:]}")
        forms.append("0" + number)
        return forms
    if kind == "landline":
        area, local = number.split("-")
        digits = area + local
        forms = [number, f"{area} {local}", f"({area}){local}", f"（{area}）{local}"]
        forms += [f"{area}-{local[:-4]} {local[-4:]}", f"{area}-{local[:-4]}-{local[-4:]}"]
        forms += [f"{area}.{local}", f"{area}/{local}", f"{area}—{local}", digits]
        forms += [f"+86 {area[1:]} {local}", f"+86-{area[1:]}-{local}", f"0086{area[1:]}{local}"]
        forms += [f"{area}-{local}转801", f"{area}-{local}-801"]
        forms += [full_width(number), " ".join(digits), chinese(number), chinese(digits, CAPITAL)]
        forms.append(f"{area}\u3000{full_width(local)}")
        return forms
    if kind == "id_number":
        forms = _digit_forms(number, [6, 8, 4])
        forms += [f"{number[:6]}-{number[6:14]}-{number[14:]}", number.lower()]
        forms.append(f"{number[:6]} {number[6:10]} {number[10:14]} {number[14:]}")
        forms.append(number[:-1] + ("Ｘ" if number[-1] == "X" else FULL[int(number[-1])]))
        return forms
    if kind == "id_number_15":
        return [*_digit_forms(number, [6, 6, 3]), f"{number[:6]}-{number[6:12]}-{number[12:]}"]
    if kind == "bank_card":
        # Not with commas: "6222，0212，3456，7890" reads like a list of figures.
        return _digit_forms(number, [4, 4, 4, 4], commas=False)
    if kind == "email":
        local, domain = number.split("@")
        name, _, tld = domain.rpartition(".")
        return [
            number,
            f"{local}＠{domain}",
            f"{local} @ {domain}",
            f"{local}(at){domain}",
            f"{local}[at]{domain}",
            f"{local} at {name} dot {tld}",
            f"{local}艾特{domain}",
            f"{local}@{name}点{tld}",
            f"{local}@{name}。{tld}",
            number.upper(),
            "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in number),
        ]
    if kind == "handle":
        words = HANDLE_WORDS_QQ if number.isdigit() else HANDLE_WORDS_WX
        forms = [word + glue + number for word in words for glue in HANDLE_GLUES]
        if number.isdigit():
            forms += [
                f"QQ：{full_width(number)}",
                f"扣扣 {chinese(number)}",
                f"QQ {' '.join(number)}",
            ]
        return forms
    raise ValueError(f"unknown kind {kind!r}")


def render(number: str, kind: str, rng: random.Random) -> str:
    """One random written form: a fixed form, or (for digit kinds) random separators between
    random digits, a random script per stretch of digits and, for mobiles, a random prefix."""
    if kind in ("email", "handle", "landline") or rng.random() < 0.3:
        return rng.choice(render_forms(number, kind))
    digits = number
    out: list[str] = []
    script = rng.choice("afcCm")
    for index, ch in enumerate(digits):
        if index and rng.random() < 0.35:
            out.append(rng.choice(SEPARATORS))
            if rng.random() < 0.3:
                script = rng.choice("afcCm")
        out.append(_in_script(ch, script, rng))
    form = "".join(out)
    if kind == "mobile" and rng.random() < 0.3:
        form = rng.choice(MOBILE_PREFIXES) + form
    return form


def _in_script(ch: str, script: str, rng: random.Random) -> str:
    if not ch.isdigit():
        return ch if rng.random() < 0.5 else ch.lower()
    if script == "f":
        return FULL[int(ch)]
    if script == "c":
        return rng.choice(LOWER_VARIANTS.get(ch, LOWER[int(ch)]))
    if script == "C":
        return CAPITAL[int(ch)]
    if script == "m":
        return rng.choice([ch, FULL[int(ch)], LOWER[int(ch)], CAPITAL[int(ch)]])
    return ch


# --- leak check -----------------------------------------------------------------------------

_MASK = "*＊"


def digit_runs(text: str, max_gap: int = 4) -> list[str]:
    """Runs of digits (any script, as ASCII) in ``text``, joined across up to ``max_gap``
    separator characters (spaces, punctuation, symbols; never a mask character or a letter).
    Deliberately generous: a leak check should see more than the finder joins."""
    runs: list[str] = []
    current: list[str] = []
    gap = 0
    for ch in text:
        value = digit_value(ch)
        if value is not None:
            current.append(value)
            gap = 0
            continue
        if ch not in _MASK and unicodedata.category(ch)[0] in "PZSC" and gap < max_gap and current:
            gap += 1
            continue
        if current:
            runs.append("".join(current))
        current, gap = [], 0
    if current:
        runs.append("".join(current))
    return runs


def leaked(number: str, kind: str, text: str, window: int = 7) -> bool:
    """True when ``text`` still shows ``number`` (see the module docstring)."""
    if kind == "email":
        local = number.split("@")[0].lower()
        return len(local) >= 2 and local in text.lower().translate(_HALF)
    if kind == "handle" and not number.isdigit():
        return number.lower() in text.lower().translate(_HALF)
    digits = re.sub(r"\D", "", number)
    if kind == "handle":
        window = min(window, len(digits))
    windows = {digits[i : i + window] for i in range(len(digits) - window + 1)}
    return any(run[i : i + window] in windows for run in digit_runs(text) for i in range(len(run)))


_HALF = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}


def sweep(numbers_per_kind: int = 40, random_forms: int = 20, seed: int = 1) -> dict[str, int]:
    """Plant every fixed form and ``random_forms`` random forms of ``numbers_per_kind``
    numbers of each kind in four contexts; count the texts the finder misses, those whose
    masked text still shows the number, and those whose masking is not final.
    ``python -m tests.pii_forms`` prints the counts."""
    rng = random.Random(seed)
    counts = {"texts": 0, "missed": 0, "leaked": 0, "not_final": 0}
    contexts = ("{}", "我的号码是{}请联系", "张三{}。", "地址在幸福路{}号")
    for kind in KINDS:
        for _ in range(numbers_per_kind):
            number = random_number(kind, rng)
            forms = render_forms(number, kind) + [
                render(number, kind, rng) for _ in range(random_forms)
            ]
            for form in forms:
                for context in contexts:
                    text = context.format(form)
                    masked = mask_personal_data(text)
                    counts["texts"] += 1
                    counts["missed"] += not find_personal_data(text)
                    counts["leaked"] += leaked(number, kind, masked)
                    counts["not_final"] += bool(find_personal_data(masked))
    return counts


if __name__ == "__main__":  # python -m tests.pii_forms
    print(sweep())
