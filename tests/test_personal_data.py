"""The personal-data policy (hub.lib.personal_data): every written form is found and masked,
masking is idempotent and final, ordinary text with numbers is left alone."""

from __future__ import annotations

import ast
import random
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.lib import personal_data
from hub.lib.personal_data import (
    PersonalDataKind,
    contains_personal_data,
    digit_value,
    find_personal_data,
    mask_personal_data,
    public_name,
)
from tests.pii_forms import (
    KINDS,
    digit_runs,
    leaked,
    random_number,
    render,
    render_forms,
    sweep,
)

PROPERTY = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def kinds_in(text: str) -> list[str]:
    return [kind for _, _, kind, _ in find_personal_data(text)]


# --- one table per form ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("13973075507", "139****5507"),
        ("139-7307-5507", "139****5507"),
        ("139.7308.5508", "139****5508"),
        ("139 7308 5508", "139****5508"),
        ("139·7308·5508", "139****5508"),
        ("139／7308／5508", "139****5508"),
        ("139_7308_5508", "139****5508"),
        ("139\u30007308\u30005508", "139****5508"),
        ("(139)7308-5508", "139****5508"),
        ("139 7308-5508", "139****5508"),
        ("139，7308，5508", "139****5508"),
        ("139,7308,5508", "139****5508"),
        ("139、7308、5508", "139****5508"),
        ("139。7308。5508", "139****5508"),
        ("1 3 9 7 3 0 7 5 5 0 7", "139****5507"),
        ("１３９７３０８５５０８", "139****5508"),
        ("一三九七三〇九五五〇九", "139****5509"),
        ("幺三九七三零九五五零九", "139****5509"),
        ("一三九 七三〇九 五五〇九", "139****5509"),
        ("壹叁玖柒叁零柒伍伍零柒", "139****5507"),
        ("一三九7308五五〇八", "139****5508"),
        ("一５８两三四五六七八九", "158****6789"),
        ("+86 13812345678", "138****5678"),
        ("+86-138-1234-5678", "138****5678"),
        ("0086 13812345678", "138****5678"),
        ("(+86)13812345678", "138****5678"),
        ("86-13812345678", "138****5678"),
        ("013812345678", "138****5678"),
        ("138OO138OOO", "138****8000"),
        ("l38-l234-5678", "138****5678"),
    ],
)
def test_a_mobile_number_is_found_in_every_written_form(text: str, masked: str) -> None:
    assert kinds_in(f"有事打我{text}谢谢") == ["mobile"]
    assert mask_personal_data(f"有事打我{text}谢谢") == f"有事打我{masked}谢谢"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("0527-88886666", "0527-****6666"),
        ("0527-8888 6666", "0527-****6666"),
        ("(0527)88886666", "0527-****6666"),
        ("（0527）8888-6666", "0527-****6666"),
        ("0527 8888666", "0527-****8666"),
        ("010-12345678", "010-****5678"),
        ("021 6123 4567", "021-****4567"),
        ("+86 10 12345678", "010-****5678"),
        ("０５２７－８８８８６６６６", "0527-****6666"),
        ("〇五二七八八八八六六六六", "0527-****6666"),
    ],
)
def test_a_landline_with_its_area_code_is_found_in_every_written_form(
    text: str, masked: str
) -> None:
    assert mask_personal_data(f"办公室{text}。") == f"办公室{masked}。"


def test_a_landline_extension_stays_and_the_number_is_masked() -> None:
    assert mask_personal_data("0527-88886666转801") == "0527-****6666转801"
    assert public_name("0527-88886666 ext. 801") == ""


def test_a_local_number_is_masked_only_after_a_contact_word() -> None:
    assert mask_personal_data("电话：8888 6666") == "电话：****6666"
    assert mask_personal_data("座机88886666找我") == "座机****6666找我"
    assert mask_personal_data("共有88886666元资金") == "共有88886666元资金"


@pytest.mark.parametrize(
    "text", ["400-820-8820", "800-810-8888", "95588", "12345", "110", "4008208820"]
)
def test_service_numbers_are_not_personal_and_stay(text: str) -> None:
    assert mask_personal_data(f"请拨打{text}咨询") == f"请拨打{text}咨询"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("11010519491231002X", "110105********002X"),
        ("11010519491231002x", "110105********002X"),
        ("110105 19491231 002X", "110105********002X"),
        ("110105-19491231-002X", "110105********002X"),
        ("１１０１０５１９４９１２３１００２Ｘ", "110105********002X"),
        ("321302 19900101 1234", "321302********1234"),
        ("321302-19900101-123X", "321302********123X"),
        ("110105194912310021", "110105********0021"),  # check character mistyped
        ("110105491231002", "110105*****1002"),  # 15-digit ID of 1949-12-31
        ("110105 491231 002", "110105*****1002"),
    ],
)
def test_an_id_number_is_found_with_and_without_separators(text: str, masked: str) -> None:
    assert kinds_in(f"身份证{text}。") == ["id_number"]
    assert mask_personal_data(f"身份证{text}。") == f"身份证{masked}。"


@pytest.mark.parametrize(
    "text",
    [
        "202612041234567890",  # order number: starts with a year, no province
        "110105194913310021",  # month 13
        "110105209912310021",  # born in the future
        "991231491231002",  # 15 digits, no province 99
        "110105491331002",  # 15 digits, month 13
    ],
)
def test_a_number_shaped_like_an_id_without_a_province_or_a_birth_date_stays(text: str) -> None:
    assert mask_personal_data(f"编号{text}") == f"编号{text}"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("6222021234567890128", "****0128"),
        ("6222 0212 3456 7890 128", "****0128"),
        ("4111-1111-1111-1111", "****1111"),
        ("４１１１ １１１１ １１１１ １１１１", "****1111"),
    ],
)
def test_a_bank_card_is_found_when_it_passes_luhn(text: str, masked: str) -> None:
    assert mask_personal_data(f"卡号{text}。") == f"卡号{masked}。"
    assert mask_personal_data("卡号4111111111111112。") == "卡号4111111111111112。"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("zhang.san@example.com", "z***@example.com"),
        ("zhangsan＠qq.com", "z***@qq.com"),
        ("zhangsan @ 163.com", "z***@163.com"),
        ("zhangsan(at)example.com", "z***@example.com"),
        ("zhangsan at example dot com", "z***@example.com"),
        ("zhangsan艾特qq点com", "z***@qq.com"),
        ("ＺＨＡＮＧ＠ＱＱ．ＣＯＭ", "Z***@QQ.COM"),
    ],
)
def test_an_email_address_is_found_also_when_obfuscated(text: str, masked: str) -> None:
    assert mask_personal_data(f"邮箱：{text}，谢谢") == f"邮箱：{masked}，谢谢"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("QQ:123456789", "QQ:****"),
        ("QQ 123456789", "QQ ****"),
        ("qq号：123456789", "qq号：****"),
        ("扣扣123456", "扣扣****"),
        ("企鹅号 123456789", "企鹅号 ****"),
        ("ＱＱ：１２３４５６", "ＱＱ：****"),
        ("微信：abc_123", "微信：****"),
        ("微信号 zhangsan1990", "微信号 ****"),
        ("威信abc_123", "威信****"),
        ("VX：abc-123", "VX：****"),
        ("V信 abc_123", "V信 ****"),
        ("wx: abc_123", "wx: ****"),
        ("加我vx abc_123", "加我vx ****"),
        ("wxid_abc123def", "wxid_****"),
    ],
)
def test_a_contact_handle_offered_as_contact_is_masked(text: str, masked: str) -> None:
    assert mask_personal_data(f"有事{text}，晚上在") == f"有事{masked}，晚上在"


@pytest.mark.parametrize(
    "text",
    ["微信公众号关注一下", "QQ音乐的会员", "加我们的群", "wxyz", "用微信支付100元", "QQ群里"],
)
def test_contact_words_without_an_id_are_left_alone(text: str) -> None:
    assert mask_personal_data(text) == text


def test_several_numbers_in_one_text_are_all_found_in_order() -> None:
    text = "张三13812345678，李四 139 1234 5678，身份证11010519491231002X，办公室0527-88886666"
    assert kinds_in(text) == ["mobile", "mobile", "id_number", "landline"]
    assert mask_personal_data(text) == (
        "张三138****5678，李四 139****5678，身份证110105********002X，办公室0527-****6666"
    )


@pytest.mark.parametrize(
    "text",
    [
        "13,800,000,000元",
        "第1、3、5、7、9、11、13、15条",
        "13:30:15",
        "1,380,123,4567",
        "COVID19 and iPhone13 Pro, GO1234567890",
    ],
)
def test_commas_and_colons_join_no_thousands_lists_or_times_into_a_number(text: str) -> None:
    assert mask_personal_data(text) == text


def test_two_numbers_separated_only_by_a_space_are_two_numbers() -> None:
    assert mask_personal_data("13812345678 13912345678") == "138****5678 139****5678"


def test_a_name_ending_in_a_numeral_does_not_hide_the_number_after_it() -> None:
    assert mask_personal_data("张三一三九七三〇九五五〇九") == "张三139****5509"
    assert mask_personal_data("张三321302199001011234") == "张三321302********1234"


def test_a_number_inside_a_longer_unbroken_run_of_digits_is_not_a_mobile() -> None:
    assert mask_personal_data("订单2026120413812345678") == "订单2026120413812345678"
    assert mask_personal_data("订单20261204 13812345678") == "订单20261204 138****5678"


def test_a_phone_number_in_a_link_is_masked() -> None:
    assert mask_personal_data("http://t.cn/x?tel=15879848235有事") == (
        "http://t.cn/x?tel=158****8235有事"
    )


def test_the_kinds_found_are_the_policy_kinds() -> None:
    text = "13812345678 0527-88886666 11010519491231002X 4111111111111111 a@b.cn QQ123456"
    assert set(kinds_in(text)) == {k.value for k in PersonalDataKind}
    assert contains_personal_data(text) and not contains_personal_data("路灯坏了")


# --- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("张三", "张三"),
        ("张三13973105510", "张三139****5510"),
        ("13973105510", ""),
        ("一三九七三〇九五五〇九", ""),
        ("139 7310 5510", ""),
        ("  ", ""),
        ("", ""),
        ("Li Lei", "Li Lei"),
        ("QQ:123456789", ""),
        ("zhangsan@example.com", ""),
        ("张三 QQ:123456789", "张三 QQ:****"),
        ("123", ""),
    ],
)
def test_a_public_name_is_masked_and_a_number_alone_is_no_name(name: str, shown: str) -> None:
    assert public_name(name) == shown


# --- ordinary text --------------------------------------------------------------------------

ORDINARY = [
    "2026年12月4日上午9:30的会议改到几点？",
    "我家小区2019年交房，到现在3年了还没办下房产证。",
    "去年物业费从每平方米1.5元涨到2.8元，涨幅86.7%，合理吗？",
    "补贴标准是每人每月3,000元还是2,500元？",
    "全市财政预算13,800,000,000元用在了哪些方面？",
    "G318国道K1234+500处路面塌陷，请尽快修复。",
    "幸福路128号到135号之间的路灯坏了10多盏。",
    "12345热线打了5次都没人处理。",
    "请问2026-12-04 13:30到15:00之间的停电范围？",
    "公交12路和108路什么时候恢复？",
    "我们村有1200户4800多人，只有一个卫生室。",
    "第3、5、7、9、11、13条规定怎么理解？",
    "今年第1季度GDP增长5.2%，第2季度增长4.8%。",
    "学校操场面积约6000平方米，能否开放？",
    "房子是120㎡，契税按1%还是1.5%？",
    "请拨打400-820-8820或者800-810-8888咨询。",
    "客服热线95588一直占线。",
    "火警119、急救120、报警110都能打通。",
    "2025年至2026年的补贴什么时候发放？",
    "从1月1日到3月31日共90天没有供暖。",
    "住在3栋2单元1502室，楼上漏水。",
    "水费从3.45元/吨涨到4.1元/吨。",
    "《民法典》第1165条第1款怎么适用？",
    "网址是https://www.gov.cn/zhengce/2026-12/04/content_5123.htm吗？",
    "一二三四五六七八九十，孩子数学题不会。",
    "一年到头没有休息，三班倒，七八个人挤一间宿舍。",
    "高速公路G15沈海高速1500公里处有事故。",
    "我是2008年入职的，工龄18年，退休金多少？",
    "共收到投诉1,234件，办结1,198件，办结率97.1%。",
    "温度从-5℃降到-15℃，暖气只有16℃。",
    "车牌号苏F12345的车辆长期占用消防通道。",
    "编号2026-0012号文件什么时候公开？",
    "今年1—11月新增就业12.3万人。",
    "电费每度0.5283元，阶梯电价第二档是多少？",
    "8:00-17:30上班，中午12:00-13:30休息。",
    "社保缴费基数从4,000元调到4,500元。",
    "123路公交车 7:30 8:00 8:30 三班都没来。",
    "地铁1号线、2号线、3号线和10号线换乘不方便。",
    "我们小区有3000多户，1万多人，只有2个出口。",
    "去年12月15日递交材料，至今已经350天了。",
    "第十四届全国人大第三次会议提到的一揽子政策。",
    "2026.12.04 会议纪要第2页第3段。",
    "微信公众号上说的办事指南和12345说的不一样。",
    "QQ群里有人说要交100元报名费，是真的吗？",
    "手机信号太差，5G基站什么时候建？",
    "电话打了三次，12345说转给了街道。",
    "四个小区分别有1200，3500，4800，6000户居民。",
    "三年的涨幅分别为0.5，1.25，3.5个百分点。",
    "补贴分三档：3500、4800、6000元。",
    "会议时间13:30:00至15:45:00。",
    "全年预算1,380,000,000元，已支出960,000,000元。",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_an_ordinary_question_with_numbers_is_left_alone(text: str) -> None:
    assert find_personal_data(text) == []
    assert mask_personal_data(text) == text


# --- properties -----------------------------------------------------------------------------

_CONTEXT = [
    ch
    for ch in "的了是在有我他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家"
    "学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开用主行方又如前所本见经头面"
    "公同已老从动长路灯坏修请问区街道社居委办理房补贴，。！？、 "
    if digit_value(ch) is None
]
context = st.text(alphabet=_CONTEXT, max_size=20)


@PROPERTY
@given(kind=st.sampled_from(KINDS), rng=st.randoms(use_true_random=False), before=context)
def test_a_number_in_any_supported_form_is_found_and_no_seven_of_its_digits_survive(
    kind: str, rng: random.Random, before: str
) -> None:
    number = random_number(kind, rng)
    form = render(number, kind, rng)
    text = f"{before}{form}{rng.choice(_CONTEXT)}{before[::-1]}"
    assert find_personal_data(text), (kind, number, text)
    masked = mask_personal_data(text)
    assert not leaked(number, kind, masked), (kind, number, text, masked)
    assert find_personal_data(masked) == []


@PROPERTY
@given(
    kinds=st.lists(st.sampled_from(KINDS), min_size=2, max_size=4),
    rng=st.randoms(use_true_random=False),
    glue=st.lists(context, min_size=5, max_size=5),
)
def test_several_numbers_in_one_text_are_all_masked(
    kinds: list[str], rng: random.Random, glue: list[str]
) -> None:
    numbers = [(kind, random_number(kind, rng)) for kind in kinds]
    parts = [glue[0]]
    for index, (kind, number) in enumerate(numbers):
        # A character that is not a separator between them: each one stays a number alone.
        parts += [render(number, kind, rng), "，" + glue[index + 1]]
    masked = mask_personal_data("".join(parts))
    for kind, number in numbers:
        assert not leaked(number, kind, masked), (kind, number, masked)


@PROPERTY
@given(st.text(max_size=120))
def test_masking_any_text_is_idempotent_and_final(text: str) -> None:
    masked = mask_personal_data(text)
    assert mask_personal_data(masked) == masked
    assert find_personal_data(masked) == []


@PROPERTY
@given(st.lists(st.sampled_from(KINDS), min_size=1, max_size=5), st.randoms(use_true_random=False))
def test_masking_text_full_of_numbers_side_by_side_is_idempotent(
    kinds: list[str], rng: random.Random
) -> None:
    seps = ["", " ", "-", "*", "，", "1", "0"]
    text = "".join(render(random_number(k, rng), k, rng) + rng.choice(seps) for k in kinds)
    masked = mask_personal_data(text)
    assert mask_personal_data(masked) == masked
    assert find_personal_data(masked) == []


def _short_number(draw: st.DrawFn) -> str:
    digits = draw(st.text(alphabet="0123456789", min_size=1, max_size=4))
    decimal = draw(st.sampled_from(["", ".5", ".25"]))
    return digits + decimal


@st.composite
def ordinary_sentences(draw: st.DrawFn) -> str:
    """Chinese text with short numbers, each followed by a unit, a date part or a mark that
    is not a separator: nothing in it can join into a personal number."""
    units = [
        "年",
        "月",
        "日",
        "元",
        "%",
        "号",
        "路",
        "栋",
        "户",
        "人",
        "天",
        "条",
        "，",
        "、",
        "：",
        "万",
    ]
    parts = []
    for _ in range(draw(st.integers(1, 8))):
        parts.append(draw(context))
        parts.append(_short_number(draw) + draw(st.sampled_from(units)))
    return "".join(parts)


@PROPERTY
@given(ordinary_sentences())
def test_ordinary_text_with_short_numbers_is_never_changed(text: str) -> None:
    assert mask_personal_data(text) == text


# --- the fixed list of forms other tests plant ------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_every_form_the_planting_helper_renders_is_found_and_masked(kind: str) -> None:
    rng = random.Random(kind)
    for _ in range(5):
        number = random_number(kind, rng)
        for form in render_forms(number, kind):
            text = f"我的{form}。"
            masked = mask_personal_data(text)
            assert find_personal_data(text) and not leaked(number, kind, masked), (form, masked)


def test_the_leak_check_sees_a_number_across_separators_and_scripts() -> None:
    assert leaked("13812345678", "mobile", "打 138-1234 五六七八")
    assert not leaked("13812345678", "mobile", "打 138****5678")
    assert digit_runs("138****5678 12") == ["138", "567812"]


# --- layering -------------------------------------------------------------------------------


def test_the_policy_module_imports_only_the_standard_library() -> None:
    tree = ast.parse(Path(personal_data.__file__).read_text(encoding="utf-8"))
    imported = {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    } | {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}


def test_brackets_around_a_whole_number_stay_balanced() -> None:
    assert mask_personal_data("(13812345678)") == "(138****5678)"
    assert mask_personal_data("（+86）13812345678") == "138****5678"


@PROPERTY
@given(
    kind=st.sampled_from([k for k in KINDS if k != "handle"]),
    rng=st.randoms(use_true_random=False),
)
def test_a_name_that_is_only_a_number_or_an_address_in_any_form_is_no_name(
    kind: str, rng: random.Random
) -> None:
    number = random_number(kind, rng)
    assert public_name(render(number, kind, rng)) == ""
    # 三 is a numeral too: glued to a number in Chinese numerals it may read as its first
    # digit (张三一一〇一… → 张****…). The name may lose it; the number never shows.
    named = public_name(f"张三{render(number, kind, rng)}")
    assert named.startswith("张") and not leaked(number, kind, named)


def test_a_small_sweep_of_every_form_misses_and_leaks_nothing() -> None:
    counts = sweep(numbers_per_kind=3, random_forms=5, seed=7)
    assert counts["texts"] > 1000
    assert (counts["missed"], counts["leaked"], counts["not_final"]) == (0, 0, 0)
