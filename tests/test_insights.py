"""Hot words and sectors: what the public sees, ranked, and improved by corrections."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hub.errors import ActionForbidden, DomainError
from hub.lib.personal_data import is_number_like
from hub.models import Question
from moderation import actions as m
from moderation.hotwords import is_public_word, keywords
from moderation.sectors import classify

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("lexicon")]


@pytest.mark.parametrize(
    ("text", "sector"),
    [
        ("孩子明年上小学，学区划片什么时候公布？", "education"),
        ("小区物业费上涨没有公示，业主委员会也不知情", "housing"),
        ("农民工工资被拖欠三个月了，找谁维权？", "labour"),
        ("早高峰公交车太挤，能不能增开区间车？", "transport"),
        ("工地夜间施工噪音扰民", "environment"),
        ("社区卫生服务中心挂号太难", "health"),
        ("超市卖过期食品，食品安全谁来管？", "market"),
        ("今天天气不错", "other"),
    ],
)
def test_questions_get_a_sector_from_their_words(text: str, sector: str) -> None:
    assert classify(text) == sector


def test_a_staff_correction_teaches_the_classifier(
    ask: Callable[..., Question], users: dict[str, Any]
) -> None:
    text = "电动车飞线充电堵住了楼道"
    first = ask(text)
    wrong = first.sector
    m.do_set_question_sector(users["staff"], first.session_id, first.pk, "civil")
    first.refresh_from_db()
    assert (first.sector, first.sector_source) == ("civil", "staff")
    assert wrong != "civil"
    later = ask("电动车飞线充电的问题还是没人管")
    assert later.sector == "civil"
    with pytest.raises(ActionForbidden):
        m.do_set_question_sector(users["observer"], first.session_id, first.pk, "housing")
    with pytest.raises(DomainError):
        m.do_set_question_sector(users["staff"], first.session_id, first.pk, "space")


def test_hot_words_rank_what_is_published_and_never_leak_unreviewed_words(
    ask: Callable[..., Question], host: Any, client: Any
) -> None:
    for text in [
        "停车难的问题什么时候解决",
        "小区停车位严重不足",
        "停车收费太贵了",
        "公交站台没有遮雨棚",
    ]:
        q = ask(text)
        m.do_approve_question(host, q.session_id, q.pk)
    ask("机密词汇应该不会出现在热词里")  # pending, never approved
    body = client.get("/api/sessions/live/insights").json()
    words = [w["word"] for w in body["hot_words"]]
    assert "停车" in words[0] and body["hot_words"][0]["heat"] == 1.0
    assert "机密" not in words and "机密词汇" not in words
    assert body["sectors"] == {"transport": 4}


CONTACT = {"联系电话", "电话", "手机", "手机号", "身份证", "身份证号", "微信", "qq", "邮箱"}


def test_hot_words_never_show_numbers_pieces_of_numbers_or_contact_words(
    ask: Callable[..., Question], host: Any, client: Any
) -> None:
    texts = [
        "停车难的问题，联系电话18512345678",
        "小区停车位不足，我的手机号15098765432",
        "停车收费太贵，身份证号110105194912310021",
        "停车乱象没人管，微信abc_12345，QQ 123456789",
        "停车场的邮箱 zhang@example.com 没人回",
        "停车问题，电话 一九一 二三四五 六七八九",
        "停车位被占，手机 191-2345-6789",
    ]
    questions = [ask(text) for text in texts]
    for q in questions:
        m.do_approve_question(host, q.session_id, q.pk)
    # A row stored before the policy knew a form: hot words mask it again when they read it.
    Question.objects.filter(pk=questions[0].pk).update(
        text="停车问题，身份证 321302900101123，电话191.2345.6789"
    )
    words = [w["word"] for w in client.get("/api/sessions/live/insights").json()["hot_words"]]
    assert "停车" in words
    for word in words:
        assert not is_number_like(word), word
        assert word.lower() not in CONTACT, word


@pytest.mark.parametrize(
    "word", ["185", "150", "191", "321302900101123", "1234", "一三九", "G318", "138****5678"]
)
def test_a_number_or_a_piece_of_one_is_never_a_hot_word(word: str) -> None:
    assert not is_public_word(word)


@pytest.mark.parametrize("word", sorted(CONTACT | {"QQ", "手机号码", "电话号码", "微信号"}))
def test_a_contact_word_is_never_a_hot_word(word: str) -> None:
    assert not is_public_word(word)


def test_keywords_are_read_from_the_masked_text() -> None:
    words = [w for w, _ in keywords("路灯坏了，打我电话幺三九七三〇九五五〇九或者 0527-8888 6666")]
    assert "路灯" in words
    assert not [w for w in words if is_number_like(w) or w in CONTACT]


def test_a_masked_address_leaves_no_word_behind() -> None:
    words = [w for w, _ in keywords("停车场的邮箱 zhangsan@zhangsanhome.com 没人回，停车难")]
    assert words and not [w for w in words if "zhangsan" in w.lower() or w.lower() == "com"]
