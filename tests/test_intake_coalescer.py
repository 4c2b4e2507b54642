"""Web questions taken in together (hub.intake.coalescer): the outcomes of one at a time,
batches formed by what arrives meanwhile, nothing lost to a cancelled request or a failed
batch."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError, connections

from hub.errors import IntakeRejected
from hub.intake import coalescer as coalescer_module
from hub.intake.coalescer import IntakeCoalescer
from hub.intake.pipeline import IntakeItem, IntakeResult
from hub.models import Question
from tests.test_intake_batch import _describe, _mixed_items, _one_at_a_time, _store_earlier

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("lexicon")]

T = TypeVar("T")


def _run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``main`` in an event loop of its own, as Daphne runs the async views; the
    database work happens in asgiref's thread for synchronous code (closed after)."""

    async def wrapped() -> T:
        try:
            return await main()
        finally:
            await sync_to_async(connections.close_all)()

    return asyncio.run(wrapped())


def _item(session_id: int, text: str, ref: str) -> IntakeItem:
    return IntakeItem(session_id=session_id, channel="web", text=text, asker_ref=f"bid:{ref}")


class _Gate:
    """Wraps the pipeline: the first batch waits until :meth:`open`; every batch is seen."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.opened = threading.Event()
        self.entered = threading.Event()
        self.batches: list[list[str]] = []
        self.fail_batch: int | None = None
        real = coalescer_module.do_intake_batch

        def gated(items: list[IntakeItem]) -> list[IntakeResult | IntakeRejected]:
            self.batches.append([item.text for item in items])
            self.entered.set()
            assert self.opened.wait(10)
            if self.fail_batch == len(self.batches):
                raise OperationalError("the database went away")
            return real(items)

        monkeypatch.setattr(coalescer_module, "do_intake_batch", gated)

    async def wait_entered(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, 10)

    def open(self) -> None:
        self.opened.set()


async def _settled(*waiting: Awaitable[Any]) -> list[Any]:
    return list(await asyncio.gather(*waiting, return_exceptions=True))


def test_web_questions_submitted_together_have_the_outcomes_of_one_at_a_time(
    make_session: Callable[..., Any],
) -> None:
    one, together = make_session("live"), make_session("live")
    earlier_one = _store_earlier(one.pk, "A-")
    earlier_together = _store_earlier(together.pk, "B-")
    single = _describe(_one_at_a_time(_mixed_items(one.pk, "A-")), earlier_one)
    coalescer = IntakeCoalescer()
    items = _mixed_items(together.pk, "B-")

    async def main() -> list[Any]:
        return await _settled(*(coalescer.submit(item) for item in items))

    outcomes = _run(main)

    assert coalescer.batch_sizes == [len(items)]  # all arrived before the first batch
    assert _describe(outcomes, earlier_together) == single


def test_questions_arriving_during_a_batch_go_together_in_the_next_one(
    live_session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = _Gate(monkeypatch)
    coalescer = IntakeCoalescer(max_batch=2)
    texts = [f"第{n}个问题：公交线路什么时候调整到小区门口？" for n in range(1, 6)]

    async def main() -> list[Any]:
        first = asyncio.ensure_future(coalescer.submit(_item(live_session.pk, texts[0], "a")))
        await gate.wait_entered()  # the first one goes alone, at once
        rest = [
            asyncio.ensure_future(coalescer.submit(_item(live_session.pk, text, f"r{n}")))
            for n, text in enumerate(texts[1:])
        ]
        await asyncio.sleep(0.05)
        gate.open()
        return await _settled(first, *rest)

    outcomes = _run(main)

    assert gate.batches == [texts[:1], texts[1:3], texts[3:5]]
    assert coalescer.batch_sizes == [1, 2, 2]
    assert [o.question.text for o in outcomes] == texts  # each request gets its own
    assert all(o.created for o in outcomes)
    assert Question.objects.filter(session=live_session).count() == 5


def test_a_question_whose_request_gives_up_is_still_taken_in(
    live_session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = _Gate(monkeypatch)
    coalescer = IntakeCoalescer()

    async def main() -> None:
        first = asyncio.ensure_future(
            coalescer.submit(_item(live_session.pk, "夜市噪音扰民谁来管？", "a"))
        )
        await gate.wait_entered()
        impatient = asyncio.ensure_future(
            coalescer.submit(_item(live_session.pk, "学区划分什么时候公布？", "b"))
        )
        await asyncio.sleep(0.05)
        impatient.cancel()  # the browser went away while the question waited
        gate.open()
        await first
        assert coalescer._draining is not None
        await coalescer._draining

    _run(main)

    assert sorted(Question.objects.values_list("text", flat=True)) == [
        "夜市噪音扰民谁来管？",
        "学区划分什么时候公布？",
    ]


def test_a_failed_batch_reaches_each_of_its_requests_and_the_next_batch_goes_ahead(
    live_session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = _Gate(monkeypatch)
    gate.fail_batch = 2
    coalescer = IntakeCoalescer(max_batch=2)

    async def main() -> list[Any]:
        first = asyncio.ensure_future(
            coalescer.submit(_item(live_session.pk, "医保报销流程能否简化？", "a"))
        )
        await gate.wait_entered()
        texts = ["学区划分何时公布？", "公交线路什么时候调整？", "路灯坏了三个月谁来修？"]
        rest = [
            asyncio.ensure_future(coalescer.submit(_item(live_session.pk, text, f"r{n}")))
            for n, text in enumerate(texts)
        ]
        await asyncio.sleep(0.05)
        gate.open()
        return await _settled(first, *rest)

    first, failed_a, failed_b, after = _run(main)

    assert isinstance(first, IntakeResult) and isinstance(after, IntakeResult)
    assert isinstance(failed_a, OperationalError) and failed_b is failed_a
    assert sorted(Question.objects.values_list("text", flat=True)) == sorted(
        [first.question.text, after.question.text]
    )


def test_a_web_question_refused_by_validation_answers_its_request_only(
    live_session: Any,
) -> None:
    coalescer = IntakeCoalescer()

    async def main() -> list[Any]:
        return await _settled(
            coalescer.submit(_item(live_session.pk, "好", "a")),
            coalescer.submit(_item(live_session.pk, "加装电梯怎么申请补贴？", "b")),
        )

    refused, taken = _run(main)

    assert isinstance(refused, IntakeRejected) and refused.code == "too_short"
    assert isinstance(taken, IntakeResult) and taken.question.state == "pending"
