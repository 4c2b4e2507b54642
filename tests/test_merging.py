"""Merging the same question across channels: automatic above the threshold, suggested in
the middle band, by the host with one command, and always undoable."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from hub.actions.supports import support_coalescer
from hub.errors import ActionForbidden, DomainError
from hub.models import AuditEntry, Question
from moderation import actions as m

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("lexicon")]

BASE = "老旧小区改造什么时候轮到我们幸福花园小区？楼道灯坏了半年没人修。"


def _reload(question: Question) -> Question:
    question.refresh_from_db()
    return question


def test_one_question_from_three_channels_merges_into_one_with_counts_per_channel(
    ask: Callable[..., Question], host: Any, client: Any, frames: Any
) -> None:
    web = ask(BASE, asker_name="市民小张")
    blog = ask(
        f"#市长热线面对面# {BASE} @宿迁之声",
        channel="microblog",
        source_id="status:1",
        asker_name="微博网友",
    )
    radio = ask(f"听众来电：{BASE}", channel="radio", asker_name="刘师傅", submitted_by=None)
    assert (_reload(blog).state, _reload(radio).state) == ("merged", "merged")
    assert blog.merged_into_id == web.pk and radio.merged_into_id == web.pk
    assert blog.merge_score is not None and blog.merge_score >= 0.8
    staff = [f for f in frames.console if f["type"] == "question" and f["data"]["id"] == web.pk]
    assert staff[-1]["data"]["sources"] == {"web": 1, "microblog": 1, "radio": 1}
    assert staff[-1]["data"]["askers"] == 3
    merge = AuditEntry.objects.get(question=blog, action="merge")
    assert (merge.actor_label, merge.from_state, merge.to_state) == (
        "similarity",
        "pending",
        "merged",
    )

    m.do_approve_question(host, web.session_id, web.pk)
    listed = client.get("/api/sessions/live/questions").json()["items"]
    assert [(q["id"], q["askers"]) for q in listed] == [(web.pk, 3)]
    record = client.get("/api/sessions/live/record").json()
    assert record["by_channel"]["microblog"]["merged"] == 1
    assert record["total"]["received"] == 3


def test_a_merged_question_can_be_undone_and_stands_alone_again(
    ask: Callable[..., Question], host: Any, frames: Any
) -> None:
    web = ask(BASE)
    blog = ask(f"#市长热线面对面# {BASE}", channel="microblog", source_id="status:2")
    assert _reload(blog).state == "merged"
    m.do_unmerge_question(host, blog.session_id, blog.pk)
    blog = _reload(blog)
    assert (blog.state, blog.merged_into_id) == ("pending", None)
    staff = [f for f in frames.console if f["type"] == "question" and f["data"]["id"] == web.pk]
    assert staff[-1]["data"]["askers"] == 1
    assert list(AuditEntry.objects.filter(question=blog).values_list("action", flat=True)) == [
        "intake",
        "screen",
        "merge",
        "unmerge",
    ]


def test_close_questions_are_suggested_and_the_host_merges_with_one_command(
    ask: Callable[..., Question], users: dict[str, Any]
) -> None:
    first = ask(BASE)
    close = ask(
        "听众来电：我想问一下，幸福花园小区老旧小区改造什么时候轮到我们，楼道里的灯坏了半年了",
        channel="radio",
    )
    close = _reload(close)
    assert close.state == "pending"
    assert [ref["id"] for ref in close.similar] == [first.pk]
    with pytest.raises(ActionForbidden):
        m.do_merge_question(users["observer"], close.session_id, close.pk, first.pk)
    m.do_merge_question(users["host"], close.session_id, close.pk, first.pk)
    assert (_reload(close).state, close.merged_into_id) == ("merged", first.pk)


def test_unrelated_questions_are_not_merged(ask: Callable[..., Question]) -> None:
    first = ask(BASE)
    other = ask("幸福花园小区附近的公交站台什么时候加装遮雨棚？")
    assert _reload(other).state == "pending" and other.similar == []
    assert _reload(first).state == "pending"


def test_merging_a_published_question_withdraws_it_and_viewers_see_the_askers_grow(
    ask: Callable[..., Question], host: Any, frames: Any
) -> None:
    first = ask(BASE)
    second = ask("另外一个完全不同的问题：夜市噪音扰民谁来管？")
    for q in (first, second):
        m.do_approve_question(host, q.session_id, q.pk)
    m.do_merge_question(host, second.session_id, second.pk, first.pk)
    assert frames.viewer[-1]["type"] == "question_withdrawn"
    support_coalescer.flush()
    supports = frames.viewer[-1]
    assert supports["type"] == "supports"
    assert supports["data"]["questions"] == [{"id": first.pk, "supports": 0, "askers": 2}]


def test_merge_guards(ask: Callable[..., Question], host: Any) -> None:
    first = ask(BASE)
    with pytest.raises(DomainError) as itself:
        m.do_merge_question(host, first.session_id, first.pk, first.pk)
    assert itself.value.code == "self_merge"
    rejected = ask("这是一个会被拒绝的问题内容")
    m.do_reject_question(host, rejected.session_id, rejected.pk, "off_topic")
    other = ask("夜市噪音扰民谁来管？")
    with pytest.raises(DomainError) as bad_target:
        m.do_merge_question(host, other.session_id, other.pk, rejected.pk)
    assert bad_target.value.code == "bad_target"


def test_private_questions_are_never_merged_automatically(ask: Callable[..., Question]) -> None:
    ask(BASE)
    private = ask(BASE + "（请勿公开）", private=True)
    assert _reload(private).state == "pending"


def test_merged_questions_stay_merged_when_the_session_ends(
    ask: Callable[..., Question], host: Any
) -> None:
    from hub.actions.sessions import do_end_session

    first = ask(BASE)
    blog = ask(f"#市长热线面对面# {BASE}", channel="microblog", source_id="status:3")
    do_end_session(host, first.session_id)
    assert (_reload(first).state, _reload(blog).state) == ("unanswered", "merged")
    assert json.dumps(list(Question.objects.values_list("state", flat=True)))


def test_a_cold_index_never_makes_intake_wait_and_warms_in_the_background(
    ask: Callable[..., Question], monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from moderation import merging

    monkeypatch.setattr(merging.SessionIndexes, "SYNC_LIMIT", 3)
    monkeypatch.setattr(merging, "session_indexes", merging.SessionIndexes())
    monkeypatch.setattr(merging.session_indexes, "SYNC_LIMIT", 3)
    topics = [
        "夜市噪音扰民谁来管",
        "医保报销流程能否简化",
        "学区划分何时公布",
        "公交线路什么时候调整",
    ]
    with monkeypatch.context() as off:
        off.setattr("django.conf.settings.HUB_AUTO_MERGE", False)  # fill the session first
        first = ask(BASE)
        for text in topics:
            ask(text)
    # Cold start (a restart): five questions to index, above the limit of three.
    cold = ask(f"#市长热线面对面# {BASE}", channel="microblog", source_id="status:cold")
    assert _reload(cold).state == "pending"  # not merged: the lookup did not wait
    deadline = time.monotonic() + 10
    entry = merging.session_indexes._entry(first.session_id)
    while entry.last_id < cold.pk and time.monotonic() < deadline:
        time.sleep(0.05)
    warm = ask(f"听众来电：{BASE}", channel="radio")
    assert (_reload(warm).state, warm.merged_into_id) == ("merged", first.pk)


def test_every_console_hears_that_a_question_was_merged(
    ask: Callable[..., Question], host: Any, frames: Any
) -> None:
    first = ask(BASE)
    other = ask("夜市噪音扰民谁来管？")
    m.do_merge_question(host, other.session_id, other.pk, first.pk)
    mine = [
        f["data"] for f in frames.console if f["type"] == "question" and f["data"]["id"] == other.pk
    ]
    assert (mine[-1]["state"], mine[-1]["merged_into"]) == ("merged", first.pk)
    auto = ask(f"#市长热线面对面# {BASE}", channel="microblog", source_id="status:auto")
    seen = [
        f["data"] for f in frames.console if f["type"] == "question" and f["data"]["id"] == auto.pk
    ]
    assert seen[-1]["state"] == "merged"


def test_a_big_warm_up_keeps_the_index_out_of_full_collections(
    ask: Callable[..., Question], monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    from moderation import merging

    monkeypatch.setattr(merging, "_MANY", 3)  # "big" from four questions on
    with monkeypatch.context() as off:
        off.setattr("django.conf.settings.HUB_AUTO_MERGE", False)
        questions = [
            ask(f"{topic}什么时候解决？") for topic in ("夜市噪音", "学区划分", "公交线路")
        ]
    entry = merging._SessionIndex()
    gc.unfreeze()
    try:
        entry.sync(questions[0].session_id)  # three: not big
        assert gc.get_freeze_count() == 0
        assert len(entry.index) == 3
        ask("医保报销流程什么时候能简化？")
        entry.sync(questions[0].session_id)  # one more since: not big either
        assert gc.get_freeze_count() == 0
        cold = merging._SessionIndex()  # a restart: four at once
        cold.sync(questions[0].session_id)
        assert len(cold.index) == 4
        assert gc.get_freeze_count() > 0
        # Frozen: full collections (which walk what get_objects lists) no longer see it.
        assert not any(o is cold.index._groups for o in gc.get_objects())
        later: list[int] = []  # objects made since are collected as usual
        assert any(o is later for o in gc.get_objects())
    finally:
        gc.unfreeze()
