"""Hot words and sectors: what the public sees, ranked, and improved by corrections."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hub.errors import ActionForbidden, DomainError
from hub.models import Question
from moderation import actions as m
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
