"""The batched intake path: the same outcomes as one item at a time, one console frame per
batch, idempotent redelivery, and races between batches decided by the source id."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from django.db import connection

from hub.errors import IntakeRejected
from hub.intake.pipeline import IntakeItem, IntakeResult, do_intake_batch, do_intake_question
from hub.models import AuditEntry, Question

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("lexicon")]

QUESTION_FRAMES = ("question", "questions_batch")
BASE = "老旧小区改造什么时候轮到我们幸福花园小区？楼道灯坏了半年没人修。"
STORED_HOTLINE = "医保报销流程能不能简化？在外地住院回来报销要跑好几趟。"
STORED_WEB = "夜市噪音扰民，晚上吵到十二点，谁来管？"


def _mixed_items(session_id: int, prefix: str) -> list[IntakeItem]:
    """Every kind of item a channel sends; source ids are unique per ``prefix``."""

    def item(channel: str, text: Any, source: str | None = None, **kw: Any) -> IntakeItem:
        return IntakeItem(
            session_id=kw.pop("session_id", session_id),
            channel=channel,
            text=text,
            source_id=f"{prefix}{source}" if source else None,
            **kw,
        )

    return [
        item("web", BASE, asker_ref="bid:a", asker_name="市民小张"),
        item("microblog", f"#市长热线面对面# {BASE} @宿迁之声", "status:1", asker_ref="weibo:1"),
        item("radio", f"听众来电：{BASE}", asker_ref="tel:1"),
        item("web", "长" * 501, asker_ref="bid:b"),
        item(
            "microblog", "同一条微博再次送达，内容不同也不算新问题", "status:1", asker_ref="weibo:1"
        ),
        item("hotline", STORED_HOTLINE, "order-100", asker_ref="tel:100"),
        item("web", "狗官不作为，小区门口的路灯坏了三个月谁来修？", asker_ref="bid:c"),
        item("web", "代办假证，价格优惠，有需要的联系", asker_ref="bid:d"),
        item(
            "hotline",
            "我的手机13812345678，我们小区物业费乱涨价谁管？",
            "order-8",
            asker_ref="tel:13812345678",
            contact="13812345678",
        ),
        item("web", BASE + "（请勿公开）", asker_ref="bid:e", private=True),
        item("web", BASE, asker_ref="bid:a"),  # the same asker again: held as a repeat
        item("fax", "传真来的问题内容", asker_ref="fax:1"),
        item("web", "好", asker_ref="bid:f"),
        item("web", "发到一个不存在的场次的问题", asker_ref="bid:g", session_id=session_id + 9999),
        item(
            "web",
            "老舊小區改造什麼時候輪到我們幸福花園小區？樓道燈壞了半年沒人修。",
            asker_ref="bid:h",
        ),
        item(
            "radio",
            "听众来电：我想问一下，幸福花园小区老旧小区改造什么时候轮到我们，楼道里的灯坏了半年了",
            asker_ref="tel:2",
        ),
        item("microblog", f"#市长热线面对面# {STORED_WEB}", "status:2", asker_ref="weibo:2"),
        item("web", "ｗｗｗ．ｅｘａｍｐｌｅ．ｃｏｍ 扫码领红包", asker_ref="bid:i"),
    ]


def _store_earlier(session_id: int, prefix: str) -> list[Question]:
    """Questions in the session before the batch: one with a source id the batch repeats,
    one the batch asks again on another channel."""
    hotline = do_intake_question(
        IntakeItem(
            session_id=session_id,
            channel="hotline",
            text=STORED_HOTLINE,
            source_id=f"{prefix}order-100",
            asker_ref="tel:100",
        )
    ).question
    web = do_intake_question(
        IntakeItem(session_id=session_id, channel="web", text=STORED_WEB, asker_ref="bid:z")
    ).question
    return [hotline, web]


def _describe(
    outcomes: list[IntakeResult | IntakeRejected], earlier: list[Question]
) -> tuple[list[Any], list[Any]]:
    """The outcomes and audit rows with ids replaced by positions, fresh from the database,
    so that two sessions taking in the same items can be compared."""
    names: dict[int, str] = {q.pk: f"earlier{i}" for i, q in enumerate(earlier)}
    for position, outcome in enumerate(outcomes):
        if isinstance(outcome, IntakeResult) and outcome.question.pk not in names:
            names[outcome.question.pk] = f"item{position}"

    def name(pk: int | None) -> str | None:
        return None if pk is None else names.get(pk, "elsewhere")

    def note(text: str) -> str:
        return re.sub(r"#(\d+)", lambda m: f"#{name(int(m.group(1)))}", text)

    described: list[Any] = []
    audits: list[Any] = []
    for outcome in outcomes:
        if isinstance(outcome, IntakeRejected):
            described.append(("refused", outcome.code))
            continue
        q = Question.objects.get(pk=outcome.question.pk)
        described.append(
            (
                outcome.created,
                name(q.pk),
                q.state,
                q.text,
                q.original_text,
                q.channel,
                q.asker_name,
                q.contact,
                q.visibility,
                q.screening_flags,
                q.sector,
                q.rejection_reason,
                q.rejection_note,
                name(q.merged_into_id),
                q.merge_score,
                [(name(ref["id"]), ref["score"]) for ref in q.similar],
            )
        )
        if outcome.created:
            audits.append(
                [
                    (a.action, a.actor_label, a.from_state, a.to_state, a.reason, note(a.note))
                    for a in AuditEntry.objects.filter(question=q).order_by("id")
                ]
            )
    return described, audits


def _one_at_a_time(items: list[IntakeItem]) -> list[IntakeResult | IntakeRejected]:
    outcomes: list[IntakeResult | IntakeRejected] = []
    for item in items:
        try:
            outcomes.append(do_intake_question(item))
        except IntakeRejected as refused:
            outcomes.append(refused)
    return outcomes


def test_a_mixed_batch_has_the_same_outcomes_as_taking_its_items_one_at_a_time(
    make_session: Callable[..., Any], frames: Any
) -> None:
    one, batched = make_session("live"), make_session("live")
    earlier_one = _store_earlier(one.pk, "A-")
    earlier_batched = _store_earlier(batched.pk, "B-")

    single = _describe(_one_at_a_time(_mixed_items(one.pk, "A-")), earlier_one)
    outcomes = do_intake_batch(_mixed_items(batched.pk, "B-"))
    batch = _describe(outcomes, earlier_batched)

    assert batch == single
    described = batch[0]
    state = {i: row[2] for i, row in enumerate(described) if row[0] != "refused"}
    assert state[0] == "pending"
    # The same question from three channels, in traditional characters too, is merged into
    # the first; a close paraphrase is suggested; the private one is left alone.
    assert [described[i][13] for i in (1, 2, 14)] == ["item0"] * 3
    assert {state[i] for i in (1, 2, 14)} == {"merged"}
    assert described[15][15][0][0] == "item0" and state[15] == "pending"
    assert state[9] == "pending" and described[9][13] is None
    # Repeats of a source id: within the batch and already stored.
    assert described[4][:2] == (False, "item1")
    assert described[5][:2] == (False, "earlier0")
    # Screening: abuse held, illegal rejected with its reason, personal data masked,
    # a link held, the same asker's repeat held.
    assert state[6] == "pending" and described[6][9][0]["action"] == "hold"
    assert (state[7], described[7][11]) == ("rejected", "illegal")
    assert "13812345678" not in described[8][3] and "138****5678" in described[8][3]
    assert described[8][7] == "13812345678"  # the staff-only contact keeps the number
    assert {f["kind"] for f in described[17][9]} == {"link", "lexicon"}
    assert [f["kind"] for f in described[10][9]] == ["repeat"]
    # Validation refusals keep their codes; a refused item never stops the others.
    assert [described[i] for i in (3, 11, 12, 13)] == [
        ("refused", "too_long"),
        ("refused", "bad_channel"),
        ("refused", "too_short"),
        ("refused", "unknown_session"),
    ]
    # A repeat of a question from before the batch is merged into it.
    assert (state[16], described[16][13]) == ("merged", "earlier1")

    batch_frames = [f for f in frames.console if f["type"] == "questions_batch"]
    assert len(batch_frames) == 1
    shown = {q["id"]: q for q in batch_frames[0]["data"]["questions"]}
    created = [o.question.pk for o in outcomes if isinstance(o, IntakeResult) and o.created]
    assert set(shown) == {*created, earlier_batched[1].pk}
    assert shown[created[0]]["sources"] == {"web": 2, "microblog": 1, "radio": 1}
    assert shown[created[0]]["askers"] == 4  # web twice (the traditional copy), blog, radio
    assert shown[earlier_batched[1].pk]["sources"] == {"web": 1, "microblog": 1}
    assert "13812345678" not in str(batch_frames)


def test_redelivering_a_whole_batch_changes_nothing(live_session: Any, frames: Any) -> None:
    items = [
        IntakeItem(
            session_id=live_session.pk,
            channel="microblog",
            text=f"微博第{n}条提问内容",
            source_id=f"status:{n}",
        )
        for n in range(5)
    ]
    first = do_intake_batch(items)
    questions, audits = Question.objects.count(), AuditEntry.objects.count()
    heard = len(frames.console)
    again = do_intake_batch(items)
    assert [r.created for r in first] == [True] * 5  # type: ignore[union-attr]
    assert [r.created for r in again] == [False] * 5  # type: ignore[union-attr]
    assert [r.question.pk for r in again] == [r.question.pk for r in first]  # type: ignore[union-attr]
    assert (Question.objects.count(), AuditEntry.objects.count()) == (questions, audits)
    assert len(frames.console) == heard


def test_an_empty_batch_or_one_of_refusals_stores_and_sends_nothing(
    live_session: Any, frames: Any
) -> None:
    assert do_intake_batch([]) == []
    refused = do_intake_batch(
        [IntakeItem(session_id=live_session.pk, channel="web", text=t) for t in ("", "好")]
    )
    assert [r.code for r in refused] == ["too_short", "too_short"]  # type: ignore[union-attr]
    assert Question.objects.count() == 0
    assert [f for f in frames.console if f["type"] in QUESTION_FRAMES] == []


def test_a_batch_of_one_or_two_tells_the_console_with_question_frames(
    live_session: Any, frames: Any
) -> None:
    do_intake_batch([IntakeItem(session_id=live_session.pk, channel="web", text=BASE)])
    do_intake_batch(
        [
            IntakeItem(session_id=live_session.pk, channel="radio", text="医保报销流程能否简化？"),
            IntakeItem(session_id=live_session.pk, channel="web", text="夜市噪音扰民谁来管？"),
        ]
    )
    sent = [f for f in frames.console if f["type"] in QUESTION_FRAMES]
    assert [f["type"] for f in sent] == ["question"] * 3
    # The microblog repeat is merged into the first question, which gains an asker; the
    # other question stands alone. Three changed views: one frame.
    do_intake_batch(
        [
            IntakeItem(session_id=live_session.pk, channel="microblog", text=BASE, source_id="s:1"),
            IntakeItem(
                session_id=live_session.pk, channel="web", text="公交站台什么时候加装遮雨棚？"
            ),
        ]
    )
    sent = [f for f in frames.console if f["type"] in QUESTION_FRAMES]
    assert [f["type"] for f in sent[3:]] == ["questions_batch"]
    assert len(sent[3]["data"]["questions"]) == 3


def test_a_batch_into_a_session_that_stopped_collecting_refuses_only_new_items(
    make_session: Callable[..., Any],
) -> None:
    ended = make_session("ended")
    item = IntakeItem(
        session_id=ended.pk, channel="hotline", text="会后的新工单内容", source_id="x"
    )
    [outcome] = do_intake_batch([item])
    assert isinstance(outcome, IntakeRejected) and outcome.code == "not_accepting"


@pytest.mark.skipif(connection.vendor == "sqlite", reason="needs row locking (PostgreSQL)")
def test_batches_racing_with_overlapping_source_ids_store_each_id_once(
    live_session: Any,
) -> None:
    def items(numbers: range) -> list[IntakeItem]:
        return [
            IntakeItem(
                session_id=live_session.pk,
                channel="microblog",
                text=f"并发送达的第{n}条微博提问",
                source_id=f"status:{n}",
            )
            for n in numbers
        ]

    # The last one inserts in the opposite order: PostgreSQL may find a deadlock and roll
    # one delivery back, which is then planned again.
    deliveries = [
        items(range(0, 60)),
        items(range(30, 90)),
        items(range(0, 90, 3)),
        items(range(89, -1, -1)),
    ]
    results: list[list[Any]] = [[] for _ in deliveries]
    barrier = threading.Barrier(len(deliveries))

    def deliver(index: int) -> None:
        from django.db import connections

        barrier.wait()
        try:
            results[index] = do_intake_batch(deliveries[index])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(len(deliveries))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Question.objects.count() == 90
    by_source: dict[str, set[int]] = {}
    created: dict[str, int] = {}
    for delivery, outcomes in zip(deliveries, results, strict=True):
        assert len(outcomes) == len(delivery)
        for item, outcome in zip(delivery, outcomes, strict=True):
            assert isinstance(outcome, IntakeResult)
            assert outcome.question.channel_source_id == item.source_id
            by_source.setdefault(item.source_id or "", set()).add(outcome.question.pk)
            created[item.source_id or ""] = created.get(item.source_id or "", 0) + outcome.created
    assert all(len(pks) == 1 for pks in by_source.values())
    assert set(created.values()) == {1}
    assert AuditEntry.objects.filter(action="intake").count() == 90


def test_one_bad_item_in_a_microblog_delivery_loses_none_of_the_others(
    live_session: Any, frames: Any
) -> None:
    from hub.intake.channels import intake_microblog

    outcome = intake_microblog(
        {
            "session": live_session.slug,
            "statuses": [
                {"id": 1, "text": "第一条微博提问的内容", "user": {"id": 7}},
                {"id": 2, "text": "长" * 600, "user": {"id": 8}},
                {"id": 3, "text": None, "user": {"id": 9}},
                {"id": 1, "text": "第一条微博提问的内容", "user": {"id": 7}},
                {"id": 4, "text": "第四条微博提问的内容", "user": {"id": 10}},
                {"id": 5, "text": "第五条微博提问的内容", "user": {"id": 11}},
            ],
        }
    )
    assert [a["source_id"] for a in outcome.accepted] == ["status:1", "status:4", "status:5"]
    assert [d["source_id"] for d in outcome.duplicates] == ["status:1"]
    assert [(r["source_id"], r["code"]) for r in outcome.rejected] == [
        ("status:2", "too_long"),
        ("status:3", "bad_text"),
    ]
    assert [f["type"] for f in frames.console if f["type"] in QUESTION_FRAMES] == [
        "questions_batch"
    ]


def test_items_keep_their_order_and_each_source_id_its_first_text(live_session: Any) -> None:
    base = IntakeItem(session_id=live_session.pk, channel="hotline", text="工单", source_id="o-1")
    outcomes = do_intake_batch(
        [
            replace(base, text="第一次送达的工单内容"),
            replace(base, text="重发时内容被改过的工单"),
            replace(base, source_id="o-2", text="另一张工单的内容"),
        ]
    )
    first, repeat, other = outcomes
    assert isinstance(first, IntakeResult) and isinstance(repeat, IntakeResult)
    assert repeat.question is first.question and not repeat.created
    assert Question.objects.get(channel_source_id="o-1").text == "第一次送达的工单内容"
    assert isinstance(other, IntakeResult) and other.question.pk > first.question.pk


# --- the speed-ups change no result -----------------------------------------------------------


def test_the_fast_traditional_to_simplified_converter_gives_opencc_s_output() -> None:
    import random

    from opencc import OpenCC

    from hub.intake.samples import SampleStream
    from hub.t2s import TraditionalToSimplified

    reference, fast, s2t = OpenCC("t2s"), TraditionalToSimplified(), OpenCC("s2t")
    texts = [s.text for s in SampleStream(5).take(800)]
    texts += [s2t.convert(t) for t in texts[:400]]
    # The dictionaries' own phrases glued together and overlapping: where longest-match
    # choices matter.
    reference._init_dict()
    (_, _, phrases), (_, _, characters) = reference._dict_chain_data[0]
    pieces = [*phrases, *list(characters)[:300], "，", " ", "a", "的", "了"]
    rng = random.Random(1)
    for _ in range(1500):
        texts.append("".join(rng.choice(pieces) for _ in range(rng.randint(1, 10))))
        word = rng.choice(list(phrases))
        texts.append(word[:-1] + rng.choice(list(phrases)))
    assert [fast.convert(t) for t in texts] == [reference.convert(t) for t in texts]


def test_minhash_signatures_are_datasketch_s_and_preselection_keeps_every_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hub.intake.samples import SampleStream
    from hub.text import normalise_text
    from moderation import similarity

    stream = SampleStream(11)
    stored = [normalise_text(s.text) for s in stream.take(3000)]
    queries = [normalise_text(s.text) for s in stream.take(400)]
    index = similarity.SimilarityIndex.rebuild(enumerate(stored))
    for question_id in range(0, 3000, 7):
        index.remove(question_id)  # dead groups are left out too
    for text in queries[:200]:
        features = index.analyzer.features(text)
        if features:
            assert (index.signature(features) == index.minhash(features).hashvalues).all()
    calls = []
    preselect = similarity._GroupColumns.preselect

    def counted(self: Any, *args: Any, **kwargs: Any) -> list[int]:
        calls.append(1)
        return preselect(self, *args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(similarity._GroupColumns, "preselect", counted)
        preselected = [index.candidates(t, limit) for t in queries for limit in (1, 5, 6)]
    assert len(calls) > len(queries)  # most lookups went through the NumPy preselection
    monkeypatch.setattr(similarity, "_PRESELECT_ABOVE", 10**9)  # score every group exactly
    exact = [index.candidates(t, limit) for t in queries for limit in (1, 5, 6)]
    assert preselected == exact
    assert sum(1 for found in exact if found) > len(exact) // 2


async def test_a_busy_session_s_console_snapshot_continues_in_frames_that_fit_a_websocket_message(
    users: dict[str, Any], live_session: Any
) -> None:
    """Daphne refuses to send a WebSocket message over 1 MiB: the console of a session with
    thousands of questions still opens, its snapshot continued in questions_batch frames."""
    import json as json_module

    from channels.db import database_sync_to_async
    from channels.routing import URLRouter
    from channels.testing import WebsocketCommunicator
    from django.urls import path

    from hub import protocol
    from hub.consumers import ConsoleConsumer

    long_text = "老旧小区改造进度问题，" * 40  # 440 characters, ~1.3 kB a question in UTF-8
    items = [
        IntakeItem(
            session_id=live_session.pk,
            channel="microblog",
            text=f"{long_text}第{n}条",
            source_id=f"status:{n}",
        )
        for n in range(900)
    ]
    await database_sync_to_async(do_intake_batch)(items)

    app = URLRouter([path("ws/sessions/<slug:slug>/console", ConsoleConsumer.as_asgi())])
    console = WebsocketCommunicator(app, "/ws/sessions/live/console")
    console.scope["user"] = users["observer"]
    assert (await console.connect())[0]
    seen: dict[int, dict[str, Any]] = {}
    sizes = []
    while len(seen) < 900:
        text = await console.receive_from(timeout=10)
        protocol.console_frame_adapter.validate_json(text)
        frame = json_module.loads(text)
        if frame["type"] in ("snapshot", "questions_batch"):
            sizes.append(len(text.encode()))
            seen.update((q["id"], q) for q in frame["data"]["questions"])
    await console.disconnect()
    assert len(sizes) > 1 and max(sizes) < 1024 * 1024
