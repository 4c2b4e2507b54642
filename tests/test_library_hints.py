"""Every incoming question is matched against the answer library (咨询答问库) at intake:
the queue shows host and screeners which questions the library may already answer."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from hub import protocol
from hub.intake.pipeline import IntakeItem, do_intake_batch
from hub.models import Question
from hub.queries import console_snapshot
from moderation import answers
from moderation.models import LibraryEntry

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("lexicon")]

PARKING = "幸福花园小区停车难的问题什么时候能解决？"
PARKING_ANSWER = "住建局：幸福花园北侧新建立体停车场，明年六月投入使用。"
NOISE = "夜间施工噪音扰民怎么投诉？"
NOISE_ANSWER = "未经许可夜间施工可拨打 12345 投诉，城管执法部门 2 小时内到场处置。"
UNRELATED = "医保异地报销需要准备哪些材料？"


def _entry(users: dict[str, Any], question: str = PARKING, answer: str = PARKING_ANSWER) -> Any:
    return answers.do_add_library_entry(users["staff"], question_text=question, answer_text=answer)


def _views(frames: Any, question_id: int) -> list[protocol.StaffQuestion]:
    """The staff views of a question in the console frames, each frame round-tripped through
    JSON and validated against the protocol schema."""
    views = []
    for frame in frames.console:
        if frame["type"] not in ("question", "questions_batch"):
            continue
        parsed = protocol.console_frame_adapter.validate_json(json.dumps(frame))
        data = parsed.data
        for view in data.questions if frame["type"] == "questions_batch" else [data]:
            if view.id == question_id:
                views.append(view)
    return views


def _library_queries(captured: CaptureQueriesContext) -> list[str]:
    table = LibraryEntry._meta.db_table
    return [q["sql"] for q in captured.captured_queries if table in q["sql"]]


def test_a_question_like_a_library_entry_is_stored_and_shown_with_the_entry_as_hint(
    users: dict[str, Any], ask: Callable[..., Question], frames: Any
) -> None:
    entry = _entry(users)
    question = ask("請問幸福花園小區停車難什麼時候解決？")
    stored = Question.objects.get(pk=question.pk)
    assert stored.library_hint_id == entry.pk
    assert stored.library_hint_score is not None
    assert answers.SUGGEST_MIN_SCORE <= stored.library_hint_score <= 1
    (view,) = _views(frames, question.pk)
    assert view.library_hint is not None
    assert (view.library_hint.entry, view.library_hint.score) == (
        entry.pk,
        stored.library_hint_score,
    )
    assert view.library_hint.question == PARKING


def test_a_question_unlike_every_entry_has_no_hint(
    users: dict[str, Any], ask: Callable[..., Question], frames: Any
) -> None:
    _entry(users)
    question = ask(UNRELATED)
    assert Question.objects.get(pk=question.pk).library_hint_id is None
    (view,) = _views(frames, question.pk)
    assert view.library_hint is None
    assert json.loads(view.model_dump_json())["library_hint"] is None


def test_a_retired_entry_is_not_hinted_and_a_hint_retired_later_is_no_longer_shown(
    users: dict[str, Any], ask: Callable[..., Question], live_session: Any
) -> None:
    parking = _entry(users)
    noise = _entry(users, NOISE, NOISE_ANSWER)
    answers.do_update_library_entry(users["staff"], parking.pk, retired=True)
    assert ask(PARKING).library_hint_id is None
    hinted = ask("半夜施工噪音扰民应该怎么投诉？")
    assert hinted.library_hint_id == noise.pk
    answers.do_update_library_entry(users["staff"], noise.pk, retired=True)
    views = {q.id: q for q in console_snapshot(live_session.pk).questions}
    assert views[hinted.pk].library_hint is None


def test_a_rejected_question_gets_no_hint_and_a_held_one_does(
    users: dict[str, Any], ask: Callable[..., Question]
) -> None:
    entry = _entry(users)
    rejected = ask(f"{PARKING}代办假证")
    held = ask(f"狗官不作为，{PARKING}")
    assert rejected.state == "rejected" and rejected.library_hint_id is None
    assert Question.objects.get(pk=rejected.pk).library_hint_id is None
    assert held.state == "pending" and Question.objects.get(pk=held.pk).library_hint_id == entry.pk


@pytest.mark.parametrize("size", [3, 30])
def test_a_batch_syncs_the_library_once_and_reads_its_entries_with_one_query(
    size: int, users: dict[str, Any], ask: Callable[..., Question], live_session: Any, frames: Any
) -> None:
    parking, noise = _entry(users), _entry(users, NOISE, NOISE_ANSWER)
    ask(UNRELATED)  # this process's library index is built
    phrasings = [
        PARKING,
        "請問幸福花園小區停車難什麼時候解決？",
        NOISE,
        "半夜施工噪音扰民应该怎么投诉？",
    ]
    texts = [phrasings[n % len(phrasings)] for n in range(size)]  # repeats are merged
    items = [
        IntakeItem(session_id=live_session.pk, channel="web", text=text, asker_ref=f"bid:{n}")
        for n, text in enumerate(texts)
    ]
    with CaptureQueriesContext(connection) as captured:
        results = do_intake_batch(items)
    # The index's sync (entries added since), then the entries hinted: whatever the size,
    # and the console frames read nothing more.
    assert len(_library_queries(captured)) == 2
    stored = Question.objects.filter(pk__in=[r.question.pk for r in results])  # type: ignore[union-attr]
    assert len(stored) == size
    expected = {PARKING: parking.pk, NOISE: noise.pk}
    for question in stored:
        topic = PARKING if "停車" in question.text or "停车" in question.text else NOISE
        assert question.library_hint_id == expected[topic], question.text
    for result in results:
        for view in _views(frames, result.question.pk):  # type: ignore[union-attr]
            assert view.library_hint is not None
            assert view.library_hint.entry in (parking.pk, noise.pk)


def test_the_console_snapshot_reads_the_hints_without_a_query_per_question(
    users: dict[str, Any], ask: Callable[..., Question], live_session: Any
) -> None:
    entry = _entry(users)

    def snapshot_queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            snapshot = console_snapshot(live_session.pk)
        hinted = [q for q in snapshot.questions if q.library_hint is not None]
        assert all(q.library_hint.entry == entry.pk for q in hinted)  # type: ignore[union-attr]
        assert len(hinted) == Question.objects.filter(library_hint=entry).count()
        return len(captured.captured_queries)

    ask(PARKING, asker_ref="bid:1")
    few = snapshot_queries()
    for n in range(2, 8):
        ask(f"{PARKING}（第{n}次问）", asker_ref=f"bid:{n}")
    assert Question.objects.filter(library_hint=entry).count() >= 6
    assert snapshot_queries() == few


def test_a_library_failure_still_stores_the_question_without_a_hint(
    users: dict[str, Any],
    ask: Callable[..., Question],
    frames: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _entry(users)

    def broken(texts: Any, **kw: Any) -> Any:
        raise RuntimeError("library index broken")

    monkeypatch.setattr(answers, "library_hints", broken)
    question = ask(PARKING)
    stored = Question.objects.get(pk=question.pk)
    assert stored.state == "pending" and stored.library_hint_id is None
    (view,) = _views(frames, question.pk)
    assert view.library_hint is None
    assert "answer library failed" in caplog.text


def test_the_hint_shows_a_short_form_of_a_long_entry_question(
    users: dict[str, Any], ask: Callable[..., Question], frames: Any
) -> None:
    long_question = PARKING + "北侧空地能不能改建停车场，" * 10
    entry = _entry(users, long_question)
    question = ask(long_question)
    (view,) = _views(frames, question.pk)
    assert view.library_hint is not None and view.library_hint.entry == entry.pk
    assert len(view.library_hint.question) <= 80
    assert view.library_hint.question.endswith("…")
    assert long_question.startswith(view.library_hint.question[:-1])
