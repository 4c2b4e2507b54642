"""Screening: lexicon with evasion folding, personal data, spam; every outcome recorded."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.lib.personal_data import (
    find_personal_data,
    luhn_valid,
    mask_personal_data,
    valid_id_number,
)
from hub.models import AuditEntry, Question
from moderation.models import CategoryPolicy, LexiconEntry
from moderation.screening import fold, screen
from tests.pii_forms import KINDS, leaked, random_number, render

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("lexicon")]

VALID_ID = "11010519491231002X"  # the standard's own example, valid checksum
CARD = "4111 1111 1111 1111"  # Luhn-valid test card number


@pytest.mark.parametrize(
    "evasion",
    [
        "你去死吧",
        "你 去 死吧",
        "你去-死吧",
        "你去．死吧",
        "你去\u200b死吧",
        "你去_死吧",
        "你去 · 死吧",
    ],
)
def test_separators_between_characters_do_not_hide_a_lexicon_word(evasion: str) -> None:
    flags = screen(evasion).flags
    assert [(f.category, f.kind, f.match) for f in flags] == [("abuse", "lexicon", "去死")]


@pytest.mark.parametrize("variant", ["滾蛋", "滚 蛋", "ＸＸ滚蛋", "加Ｖ", "加 v", "加V"])
def test_traditional_full_width_and_case_variants_are_caught(variant: str) -> None:
    assert screen(f"前面的话{variant}后面的话").flags


def test_folding_keeps_letters_digits_and_chinese_only() -> None:
    assert fold("加 Ｖ－信：ABC 123！") == "加v信abc123"


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        (VALID_ID, True),
        ("110105194912310021", False),  # wrong check character
        ("11010519491331002X", False),  # month 13
        ("11010518001231002X", False),  # born before 1900 (and wrong checksum anyway)
        ("1101051949123100", False),  # too short
    ],
)
def test_id_numbers_are_validated_by_their_checksum_and_birth_date(
    number: str, valid: bool
) -> None:
    assert valid_id_number(number) is valid


def test_luhn_separates_card_numbers_from_other_long_digit_runs() -> None:
    assert luhn_valid(CARD.replace(" ", ""))
    assert not luhn_valid("4111111111111112")


def test_personal_data_is_masked_and_lookalikes_are_left_alone() -> None:
    text = (
        f"我叫张三，身份证{VALID_ID}，手机 138-1234-5678，银行卡{CARD}。"
        "工单号 202612041234567890 和订单 4111111111111112 不是个人信息。"
    )
    masked = mask_personal_data(text)
    assert VALID_ID not in masked and "110105********002X" in masked
    assert "138****5678" in masked and "1234-5678" not in masked
    assert "****1111" in masked and CARD not in masked
    assert "202612041234567890" in masked and "4111111111111112" in masked
    kinds = sorted(kind for _, _, kind, _ in find_personal_data(text))
    assert kinds == ["bank_card", "id_number", "mobile"]


def test_a_mistyped_id_number_with_a_real_birth_date_is_masked_all_the_same() -> None:
    # Wrong check character, but a province code and a birth date: someone's ID, mistyped.
    assert not valid_id_number("110105194912310021")
    assert mask_personal_data("身份证110105194912310021") == "身份证110105********0021"


def test_mobile_with_country_code_is_masked_whole() -> None:
    assert mask_personal_data("电话+86 13812345678找我") == "电话138****5678找我"


def test_question_with_a_phone_number_is_published_masked_and_the_original_kept(
    ask: Callable[..., Question], host: Any, client: Any, frames: Any
) -> None:
    from moderation.actions import do_approve_question

    question = ask("我家电话13812345678，小区门口的路灯坏了")
    assert question.text == "我家电话138****5678，小区门口的路灯坏了"
    assert "13812345678" in question.original_text
    assert question.screening_flags == [
        {"category": "personal_data", "action": "mask", "kind": "mobile", "match": "138****5678"}
    ]
    do_approve_question(host, question.session_id, question.pk)
    public = client.get("/api/sessions/live/questions").content.decode()
    everything_public = public + json.dumps(frames.viewer, ensure_ascii=False)
    assert "13812345678" not in everything_public and "138****5678" in public
    staff_view = [f for f in frames.console if f["type"] == "question"][-1]["data"]
    assert "13812345678" not in json.dumps(staff_view, ensure_ascii=False)
    assert staff_view["original_text"].startswith("我家电话138****5678")


def test_illegal_content_is_rejected_automatically_with_its_reason_kept(
    ask: Callable[..., Question], frames: Any
) -> None:
    question = ask("出售枪支，价格面议")
    assert question.state == "rejected"
    assert question.rejection_reason == "illegal"
    assert "出售枪支" in question.rejection_note
    entry = AuditEntry.objects.get(question=question, action="screen")
    assert (entry.actor_label, entry.to_state, entry.reason) == ("screening", "rejected", "illegal")
    staff = [f for f in frames.console if f["type"] == "question"][-1]["data"]
    assert staff["state"] == "rejected" and staff["flags"][0]["category"] == "illegal"
    assert Question.objects.filter(pk=question.pk).exists()


def test_abuse_is_held_for_the_host_who_may_still_approve(
    ask: Callable[..., Question], host: Any, frames: Any
) -> None:
    from moderation.actions import do_approve_question

    question = ask("这帮废物什么时候修路？")
    assert question.state == "pending"
    staff = [f for f in frames.console if f["type"] == "question"][-1]["data"]
    assert staff["held"] is True and staff["flags"][0]["match"] == "废物"
    do_approve_question(host, question.session_id, question.pk)
    question.refresh_from_db()
    assert question.state == "approved"


def test_staff_changing_a_policy_takes_effect_on_the_next_question(
    ask: Callable[..., Question],
) -> None:
    CategoryPolicy.objects.filter(category="abuse").update(action="mask")
    from moderation.screening import bump_lexicon_version

    bump_lexicon_version()  # .update() sends no signal; the admin's save does
    masked = ask("这帮废物什么时候修路？")
    assert masked.text == "这帮**什么时候修路？" and masked.state == "pending"
    policy = CategoryPolicy.objects.get(category="abuse")
    policy.action = "reject"
    policy.save()  # as the admin does: the signal bumps the version
    rejected = ask("你们都是废物，什么时候修路？")
    assert rejected.state == "rejected" and rejected.rejection_reason == "abusive"


def test_a_new_lexicon_entry_is_matched_at_once(ask: Callable[..., Question]) -> None:
    assert not ask("这个小区的黑心物业不管事").screening_flags
    LexiconEntry.objects.create(term="黑心物业", category="abuse")
    flagged = ask("这个小区的黑 心 物 业还是不管事")
    assert [f["match"] for f in flagged.screening_flags] == ["黑心物业"]


def test_links_are_held_as_spam(ask: Callable[..., Question]) -> None:
    question = ask("详情见 www.example-ads.com 优惠多多")
    assert question.state == "pending"
    assert [(f["category"], f["kind"]) for f in question.screening_flags] == [("spam", "link")]


def test_a_link_ends_where_the_url_ends_and_the_phone_after_it_is_masked(
    ask: Callable[..., Question],
) -> None:
    question = ask("链接: http://t.cn/gnxvp7x有事打我电话15879848235")
    assert question.text == "链接: http://t.cn/gnxvp7x有事打我电话158****8235"
    flags = {f["kind"]: f["match"] for f in question.screening_flags}
    assert flags == {"mobile": "158****8235", "link": "http://t.cn/gnxvp7x"}


@pytest.mark.parametrize(
    ("text", "link"),
    [
        ("看这里：https://example.com/a?b=1，谢谢", "https://example.com/a?b=1"),
        ("网址 www.example-ads.com。优惠", "www.example-ads.com"),
        ("去ｗｗｗ．ｅｘａｍｐｌｅ．ｃｏｍ看看", "www.example.com"),
        ("打开 example.com有惊喜", "example.com"),
        ("(见 http://x.cn/p?tel=13812345678)", "http://x.cn/p?tel=138****5678"),
    ],
)
def test_a_link_flag_holds_only_the_url_with_personal_data_masked(text: str, link: str) -> None:
    flags = [f for f in screen(text).flags if f.kind == "link"]
    assert [f.match for f in flags] == [link]


def test_no_flag_match_ever_holds_the_raw_number(ask: Callable[..., Question]) -> None:
    text = "我的电话是 139 7308 5508，微信abc_1234，邮箱zhang.san@example.com，别外传"
    first = ask(text, asker_ref="bid:repeater")
    again = ask(text, asker_ref="bid:repeater")
    for question in (first, again):
        shown = json.dumps(question.screening_flags, ensure_ascii=False)
        for secret in ("13973085508", "7308 5508", "abc_1234", "zhang.san"):
            assert secret not in shown
    assert {f["kind"] for f in again.screening_flags} >= {"mobile", "handle", "email", "repeat"}


def test_one_asker_flooding_is_held_with_a_reason(
    ask: Callable[..., Question], settings: Any
) -> None:
    settings.HUB_FLOOD_MAX_QUESTIONS = 3
    questions = [ask(f"第{i}个不同的问题内容", asker_ref="bid:flooder") for i in range(5)]
    kinds = [[f["kind"] for f in q.screening_flags] for q in questions]
    assert kinds == [[], [], [], ["flood"], ["flood"]]
    assert ask("别人的正常问题", asker_ref="bid:someone-else").screening_flags == []


def test_the_same_text_twice_from_one_asker_is_held_as_a_repeat(
    ask: Callable[..., Question],
) -> None:
    ask("路灯坏了请尽快修", asker_ref="tel:13800000000")
    again = ask("路灯坏了请尽快修", asker_ref="tel:13800000000")
    assert [f["kind"] for f in again.screening_flags] == ["repeat"]
    assert again.state == "pending"


@settings(
    max_examples=100,
    deadline=None,
    database=None,
    # The fixtures only load the lexicon: nothing a generated example changes.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(kind=st.sampled_from(KINDS), rng=st.randoms(use_true_random=False))
def test_screening_never_shows_a_planted_number_in_its_text_or_its_flags(
    kind: str, rng: random.Random
) -> None:
    number = random_number(kind, rng)
    text = f"链接 http://t.cn/abc{render(number, kind, rng)}，麻烦尽快处理"
    result = screen(text)
    assert not leaked(number, kind, result.text), result.text
    for flag in result.flags:
        assert not leaked(number, kind, flag.match), flag
    assert any(f.category == "personal_data" for f in result.flags)
