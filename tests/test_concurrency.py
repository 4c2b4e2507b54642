"""The locking contract under real concurrency (PostgreSQL row locks; SQLite serialises
writers with IMMEDIATE transactions, so the same properties hold there too)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections

from hub.errors import DomainError
from hub.models import Question, SessionEvent
from moderation import actions as m

pytestmark = pytest.mark.django_db(transaction=True)


def race(functions: list[Callable[[], Any]]) -> list[Any]:
    """Run the callables at the same moment in threads; return results or exceptions."""
    barrier = threading.Barrier(len(functions))
    results: list[Any] = [None] * len(functions)

    def run(index: int, function: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[index] = function()
        except Exception as exc:
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, f)) for i, f in enumerate(functions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_racing_hosts_put_exactly_one_question_on_air(
    host: Any, ask: Callable[..., Question]
) -> None:
    questions = [ask(f"同时抢直播的问题{i}") for i in range(6)]
    for q in questions:
        m.do_approve_question(host, q.session_id, q.pk)
    results = race([lambda q=q: m.do_put_on_air(host, q.session_id, q.pk) for q in questions])
    winners = [r for r in results if isinstance(r, Question)]
    losers = [r for r in results if isinstance(r, DomainError)]
    assert len(winners) == 1 and len(losers) == 5, results
    assert {e.code for e in losers} == {"already_on_air"}
    assert Question.objects.filter(state="on_air").count() == 1


def test_concurrent_actions_give_contiguous_unique_seqs(
    host: Any, ask: Callable[..., Question], frames: Any
) -> None:
    questions = [ask(f"并发审核的问题{i}") for i in range(8)]
    before = SessionEvent.objects.count()
    results = race([lambda q=q: m.do_approve_question(host, q.session_id, q.pk) for q in questions])
    assert all(isinstance(r, Question) for r in results), results
    seqs = sorted(SessionEvent.objects.values_list("seq", flat=True))[before:]
    assert seqs == list(range(seqs[0], seqs[0] + 8))
    published = [f["seq"] for f in frames.viewer if f["type"] == "question_published"]
    assert sorted(published) == seqs


def test_a_question_approved_twice_at_once_is_approved_once(
    host: Any, ask: Callable[..., Question]
) -> None:
    question = ask("两位主持人同时点了通过")
    results = race([lambda: m.do_approve_question(host, question.session_id, question.pk)] * 4)
    assert sum(isinstance(r, Question) for r in results) == 1
    assert SessionEvent.objects.filter(type="question_published").count() == 1
