"""The queue's state machine: every transition, its guard, its permission and its audit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from django.db import IntegrityError, transaction

from hub.actions.sessions import do_end_session, do_go_live, do_open_collection
from hub.errors import ActionForbidden, DomainError, IllegalTransition
from hub.models import AuditEntry, Question, QuestionState
from moderation import actions as m

pytestmark = pytest.mark.django_db(transaction=True)

S = QuestionState


def _state(question: Question) -> str:
    question.refresh_from_db()
    return question.state


def _to(state: str, host: Any, question: Question) -> Question:
    """Walk a fresh pending question to ``state`` through the real actions."""
    sid = question.session_id
    path = {
        S.PENDING: [],
        S.APPROVED: [m.do_approve_question],
        S.QUEUED: [m.do_approve_question, m.do_queue_question],
        S.ON_AIR: [m.do_approve_question, m.do_queue_question, m.do_put_on_air],
    }[state]
    for step in path:
        step(host, sid, question.pk)
    question.refresh_from_db()
    return question


def test_question_goes_from_intake_to_answered_with_an_audit_row_per_step(
    host: Any, users: dict[str, Any], ask: Callable[..., Question], frames: Any
) -> None:
    question = ask("请问公交线路什么时候调整？", asker_name="小王")
    assert question.state == S.PENDING
    sid = question.session_id
    m.do_approve_question(host, sid, question.pk)
    m.do_queue_question(host, sid, question.pk)
    m.do_put_on_air(host, sid, question.pk)
    m.do_set_live_answer(users["leader"], sid, question.pk, "下月起调整")
    m.do_mark_answered(users["leader"], sid, question.pk, "下月起调整三条线路")

    question.refresh_from_db()
    assert question.state == S.ANSWERED
    assert question.live_answer.summary == "下月起调整三条线路"
    assert question.live_answer.answered_by == users["leader"]
    assert question.live_answer.answered_at is not None
    trail = list(
        AuditEntry.objects.filter(question=question).values_list(
            "action", "from_state", "to_state", "actor_label"
        )
    )
    assert trail == [
        ("intake", "", "received", "intake:web"),
        ("screen", "received", "pending", "screening"),
        ("approve", "pending", "approved", "host"),
        ("queue", "approved", "queued", "host"),
        ("on_air", "queued", "on_air", "host"),
        ("answered", "on_air", "answered", "leader"),
    ]
    assert [f["type"] for f in frames.viewer][-4:] == [
        "question_published",
        "question_on_air",
        "answer_live",
        "question_answered",
    ]
    answered = frames.viewer[-1]["data"]
    assert answered["answer"]["summary"] == "下月起调整三条线路"


def test_viewer_event_seqs_strictly_increase_per_session(
    host: Any, ask: Callable[..., Question], make_session: Callable[..., Any], frames: Any
) -> None:
    other = make_session("live")
    texts = [
        "公交线路什么时候调整？",
        "夜市噪音扰民谁来管？",
        "学区划分何时公布？",
        "医保报销流程能否简化？",
    ]
    for session, text in zip((None, other, None, other), texts, strict=True):
        q = ask(text, session=session)
        m.do_approve_question(host, q.session_id, q.pk)
    by_session: dict[int, list[int]] = {}
    for frame, event in zip(
        frames.viewer,
        __import__("hub.models").models.SessionEvent.objects.order_by("id"),
        strict=True,
    ):
        assert frame["seq"] == event.seq
        by_session.setdefault(event.session_id, []).append(event.seq)
    for seqs in by_session.values():
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


def test_audit_rows_carry_the_frozen_clock_time(host: Any, ask: Callable[..., Question]) -> None:
    question = ask()
    instant = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    with time_machine.travel(instant, tick=False):
        m.do_approve_question(host, question.session_id, question.pk)
    question.refresh_from_db()
    assert question.published_at == instant
    assert AuditEntry.objects.get(question=question, action="approve").at == instant


def test_rejected_question_keeps_reason_and_is_never_deleted(
    host: Any, ask: Callable[..., Question]
) -> None:
    question = ask("广告：低价办证 加微信")
    m.do_reject_question(host, question.session_id, question.pk, "advertising", "推销")
    question.refresh_from_db()
    assert (question.state, question.rejection_reason, question.rejection_note) == (
        S.REJECTED,
        "advertising",
        "推销",
    )
    entry = AuditEntry.objects.get(question=question, action="reject")
    assert (entry.reason, entry.note, entry.from_state) == ("advertising", "推销", "pending")
    assert Question.objects.filter(pk=question.pk).exists()


def test_rejecting_a_published_question_withdraws_it_from_viewers(
    host: Any, ask: Callable[..., Question], frames: Any
) -> None:
    question = _to(S.QUEUED, host, ask())
    m.do_reject_question(host, question.session_id, question.pk, "duplicate")
    assert frames.viewer[-1]["type"] == "question_withdrawn"
    assert frames.viewer[-1]["data"] == {"id": question.pk}
    assert question.is_public is True and _state(question) == S.REJECTED
    question.refresh_from_db()
    assert question.is_public is False
    assert question.queue_position is None


def test_rejection_needs_a_known_reason_and_a_note_for_other(
    host: Any, ask: Callable[..., Question]
) -> None:
    question = ask()
    with pytest.raises(DomainError) as unknown:
        m.do_reject_question(host, question.session_id, question.pk, "boring")
    assert unknown.value.code == "bad_reason"
    with pytest.raises(DomainError) as no_note:
        m.do_reject_question(host, question.session_id, question.pk, "other", "   ")
    assert no_note.value.code == "note_required"
    assert _state(question) == S.PENDING


@pytest.mark.parametrize(
    ("start", "action"),
    [
        (S.APPROVED, "approve"),
        (S.QUEUED, "approve"),
        (S.PENDING, "queue"),
        (S.QUEUED, "queue"),
        (S.PENDING, "on_air"),
        (S.ON_AIR, "on_air"),
        (S.QUEUED, "off_air"),
        (S.QUEUED, "answered"),
        (S.APPROVED, "live_answer"),
        (S.ON_AIR, "reject"),
        (S.ON_AIR, "defer"),
    ],
)
def test_illegal_transitions_are_refused_with_a_clear_message(
    host: Any, ask: Callable[..., Question], start: str, action: str
) -> None:
    question = _to(start, host, ask())
    sid, qid = question.session_id, question.pk
    call = {
        "approve": lambda: m.do_approve_question(host, sid, qid),
        "queue": lambda: m.do_queue_question(host, sid, qid),
        "on_air": lambda: m.do_put_on_air(host, sid, qid),
        "off_air": lambda: m.do_take_off_air(host, sid, qid),
        "answered": lambda: m.do_mark_answered(host, sid, qid, "x"),
        "live_answer": lambda: m.do_set_live_answer(host, sid, qid, "x"),
        "reject": lambda: m.do_reject_question(host, sid, qid, "off_topic"),
        "defer": lambda: m.do_defer_question(host, sid, qid),
    }[action]
    audit_before = AuditEntry.objects.count()
    with pytest.raises(IllegalTransition) as refused:
        call()
    assert f"#{qid}" in refused.value.message
    assert _state(question) == start
    assert AuditEntry.objects.count() == audit_before


# Which roles may take each action (superusers aside). Everything else must be refused.
ALLOWED = {
    "approve": {"host"},
    "reject": {"host"},
    "queue": {"host"},
    "on_air": {"host"},
    "off_air": {"host"},
    "defer": {"host"},
    "live_answer": {"host", "leader"},
    "answered": {"host", "leader"},
}


@pytest.mark.django_db  # no frames asserted: the faster rolled-back transaction is enough
@pytest.mark.parametrize("action", sorted(ALLOWED))
@pytest.mark.parametrize(
    "username", ["host", "leader", "screener", "observer", "staff", "dept", "nobody", None]
)
def test_every_action_checks_the_actors_role(
    users: dict[str, Any], ask: Callable[..., Question], action: str, username: str | None
) -> None:
    host = users["host"]
    actor = users[username] if username else None
    start = {
        "approve": S.PENDING,
        "reject": S.PENDING,
        "queue": S.APPROVED,
        "on_air": S.QUEUED,
        "off_air": S.ON_AIR,
        "defer": S.PENDING,
        "live_answer": S.ON_AIR,
        "answered": S.ON_AIR,
    }[action]
    question = _to(start, host, ask())
    sid, qid = question.session_id, question.pk
    call = {
        "approve": lambda: m.do_approve_question(actor, sid, qid),
        "reject": lambda: m.do_reject_question(actor, sid, qid, "off_topic"),
        "queue": lambda: m.do_queue_question(actor, sid, qid),
        "on_air": lambda: m.do_put_on_air(actor, sid, qid),
        "off_air": lambda: m.do_take_off_air(actor, sid, qid),
        "defer": lambda: m.do_defer_question(actor, sid, qid),
        "live_answer": lambda: m.do_set_live_answer(actor, sid, qid, "回答要点"),
        "answered": lambda: m.do_mark_answered(actor, sid, qid, "回答要点"),
    }[action]
    if username in ALLOWED[action]:
        call()
    else:
        with pytest.raises(ActionForbidden):
            call()
        assert _state(question) == start


def test_observer_can_change_nothing_even_as_session_owner(
    users: dict[str, Any], live_session: Any
) -> None:
    with pytest.raises(ActionForbidden):
        do_end_session(users["observer"], live_session.pk)
    with pytest.raises(ActionForbidden):
        m.do_reorder_queue(users["observer"], live_session.pk, [])


def test_only_one_question_is_on_air_per_session(host: Any, ask: Callable[..., Question]) -> None:
    first = _to(S.ON_AIR, host, ask("第一个问题内容"))
    second = _to(S.QUEUED, host, ask("第二个问题内容"))
    with pytest.raises(IllegalTransition) as refused:
        m.do_put_on_air(host, second.session_id, second.pk)
    assert refused.value.code == "already_on_air"
    assert f"#{first.pk}" in refused.value.message
    # The database refuses it too, should a future code path forget the guard.
    with pytest.raises(IntegrityError), transaction.atomic():
        Question.objects.filter(pk=second.pk).update(state=S.ON_AIR)


def test_on_air_needs_a_live_session(
    host: Any, make_session: Callable[..., Any], ask: Callable[..., Question]
) -> None:
    collecting = make_session("collecting")
    question = ask(session=collecting)
    m.do_approve_question(host, collecting.pk, question.pk)
    with pytest.raises(IllegalTransition) as refused:
        m.do_put_on_air(host, collecting.pk, question.pk)
    assert refused.value.code == "not_live"


def test_private_question_is_handled_but_never_approved_published_or_aired(
    host: Any, ask: Callable[..., Question], frames: Any
) -> None:
    question = ask("我家的具体地址是……请私下联系", private=True, contact="13812345678")
    frames.viewer.clear()  # session_state frames from setting up the live session
    for action in (m.do_approve_question, m.do_queue_question, m.do_put_on_air):
        with pytest.raises(IllegalTransition) as refused:
            action(host, question.session_id, question.pk)
        assert refused.value.code == "private"
    m.do_defer_question(host, question.session_id, question.pk, "转交住建局")
    assert _state(question) == S.DEFERRED
    assert frames.viewer == []


def test_host_reorders_the_queue_and_a_stale_order_is_refused(
    host: Any, ask: Callable[..., Question]
) -> None:
    a, b, c = (_to(S.QUEUED, host, ask(f"排队问题{i}号")) for i in range(3))
    sid = a.session_id
    m.do_reorder_queue(host, sid, [c.pk, a.pk, b.pk])
    order = list(
        Question.objects.filter(state=S.QUEUED)
        .order_by("queue_position")
        .values_list("pk", flat=True)
    )
    assert order == [c.pk, a.pk, b.pk]
    d = _to(S.QUEUED, host, ask("后来加入的问题"))
    with pytest.raises(DomainError) as stale:
        m.do_reorder_queue(host, sid, [a.pk, b.pk, c.pk])
    assert stale.value.code == "stale_queue"
    with pytest.raises(DomainError):
        m.do_reorder_queue(host, sid, [a.pk, a.pk, b.pk, c.pk])
    assert Question.objects.get(pk=d.pk).queue_position == 4


def test_taking_a_question_off_air_puts_it_back_at_the_head_of_the_queue(
    host: Any, ask: Callable[..., Question], frames: Any
) -> None:
    waiting = _to(S.QUEUED, host, ask("等待中的问题"))
    aired = _to(S.ON_AIR, host, ask("正在直播的问题"))
    m.do_take_off_air(host, aired.session_id, aired.pk)
    aired.refresh_from_db()
    waiting.refresh_from_db()
    assert (aired.state, aired.queue_position, waiting.queue_position) == (S.QUEUED, 1, 2)
    assert frames.viewer[-1]["type"] == "question_off_air"


def test_ending_the_session_turns_every_open_question_unanswered(
    host: Any, users: dict[str, Any], ask: Callable[..., Question], frames: Any
) -> None:
    pending = ask("还没审核的问题")
    approved = _to(S.APPROVED, host, ask("已经公开的问题"))
    queued = _to(S.QUEUED, host, ask("排队中的问题"))
    deferred = ask("延后处理的问题")
    m.do_defer_question(host, deferred.session_id, deferred.pk)
    rejected = ask("被拒绝的问题内容")
    m.do_reject_question(host, rejected.session_id, rejected.pk, "off_topic")
    answered = _to(S.ON_AIR, host, ask("已经回答的问题"))
    m.do_mark_answered(users["leader"], answered.session_id, answered.pk, "已答复")
    on_air = _to(S.ON_AIR, host, ask("结束时还在直播的问题"))

    do_end_session(host, pending.session_id)

    for question in (pending, approved, queued, deferred, on_air):
        assert _state(question) == S.UNANSWERED
    assert _state(rejected) == S.REJECTED
    assert _state(answered) == S.ANSWERED
    unanswered = [f for f in frames.viewer if f["type"] == "questions_unanswered"][-1]
    assert sorted(unanswered["data"]["ids"]) == sorted([approved.pk, queued.pk, on_air.pk])
    assert AuditEntry.objects.filter(action="session_end").count() == 5
    with pytest.raises(IllegalTransition):
        m.do_approve_question(host, pending.session_id, pending.pk)


def test_session_moves_only_forward(host: Any, make_session: Callable[..., Any]) -> None:
    session = make_session("announced")
    with pytest.raises(IllegalTransition):
        do_end_session(host, session.pk)
    do_open_collection(host, session.pk)
    with pytest.raises(IllegalTransition):
        do_open_collection(host, session.pk)
    do_go_live(host, session.pk)
    do_end_session(host, session.pk)
    with pytest.raises(IllegalTransition):
        do_go_live(host, session.pk)
    session.refresh_from_db()
    assert session.status == "ended" and session.started_at and session.ended_at


def test_observer_flags_a_question_which_raises_its_priority_and_changes_no_state(
    users: dict[str, Any], ask: Callable[..., Question], frames: Any
) -> None:
    question = ask("一直没人回应的问题")
    before = [f for f in frames.console if f["type"] == "question"][-1]["data"]
    m.do_flag_question(users["observer"], question.session_id, question.pk, "被忽略太久")
    m.do_flag_question(users["observer"], question.session_id, question.pk, "仍被忽略")
    after = [f for f in frames.console if f["type"] == "question"][-1]["data"]
    assert after["observer_flags"] == 1 and after["state"] == "pending"
    assert after["priority"] >= before["priority"] + 2
    entry = AuditEntry.objects.filter(question=question, action="flag").last()
    assert entry is not None and (entry.actor_label, entry.note) == ("observer", "仍被忽略")
    with pytest.raises(ActionForbidden):
        m.do_flag_question(users["leader"], question.session_id, question.pk)
