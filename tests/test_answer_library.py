"""The answer library (咨询答问库): built from answers given on air and by staff, shared by
every session, matched against incoming questions, and able to answer a question at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hub.errors import ActionForbidden, DomainError, IllegalTransition
from hub.models import AuditEntry, LiveAnswer, Question
from moderation import actions as m
from moderation import answers
from moderation.models import LibraryEntry, LibrarySource

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("lexicon")]

PARKING = "幸福花园小区停车难的问题什么时候能解决？"
PARKING_ANSWER = "住建局：幸福花园北侧新建立体停车场，明年六月投入使用。"


def _answer_on_air(host: Any, session: Any, question: Question, summary: str) -> Question:
    m.do_approve_question(host, session.pk, question.pk)
    m.do_put_on_air(host, session.pk, question.pk)
    return m.do_mark_answered(host, session.pk, question.pk, summary)


def _staff_entry(users: dict[str, Any], **kw: Any) -> LibraryEntry:
    return answers.do_add_library_entry(
        users["staff"],
        question_text=kw.pop("question_text", PARKING),
        answer_text=kw.pop("answer_text", PARKING_ANSWER),
        **kw,
    )


def test_a_question_answered_on_air_joins_the_library_as_a_published_entry(
    ask: Callable[..., Question], host: Any, live_session: Any
) -> None:
    question = ask(PARKING)
    _answer_on_air(host, live_session, question, PARKING_ANSWER)
    entry = LibraryEntry.objects.get(source_question=question)
    assert (entry.question_text, entry.answer_text) == (question.text, PARKING_ANSWER)
    assert entry.source == LibrarySource.LIVE and entry.published


def test_an_answer_without_summary_or_a_private_question_adds_nothing(
    ask: Callable[..., Question], host: Any, live_session: Any
) -> None:
    _answer_on_air(host, live_session, ask(PARKING), "")
    private = ask("我家的低保申请为什么被退回了？", private=True)
    with pytest.raises(IllegalTransition):  # never approved, so never answered on air
        _answer_on_air(host, live_session, private, PARKING_ANSWER)
    assert not LibraryEntry.objects.exists()


def test_a_question_in_other_words_and_traditional_characters_finds_the_entry_in_another_session(
    users: dict[str, Any], make_session: Callable[..., Any], ask: Callable[..., Question]
) -> None:
    entry = _staff_entry(users, sector="housing")
    other = make_session("live", slug="another")
    question = ask("請問幸福花園小區停車難什麼時候解決？", session=other)
    matches = answers.library_matches(question.text)
    assert [match.entry.pk for match in matches] == [entry.pk]
    assert matches[0].score >= answers.SUGGEST_MIN_SCORE
    assert answers.library_matches("医保异地报销怎么办理？") == []


def test_a_retired_entry_is_no_longer_suggested_in_any_process(users: dict[str, Any]) -> None:
    entry = _staff_entry(users)
    assert answers.library_matches(PARKING)
    answers.do_update_library_entry(users["staff"], entry.pk, retired=True)
    assert answers.library_matches(PARKING) == []


def test_an_edited_question_text_is_matched_by_its_new_words(users: dict[str, Any]) -> None:
    entry = _staff_entry(users)
    answers.do_update_library_entry(
        users["staff"], entry.pk, question_text="医保异地报销需要哪些材料？"
    )
    assert [x.entry.pk for x in answers.library_matches("医保异地报销要准备什么材料")] == [entry.pk]


def test_the_host_answers_a_waiting_question_from_the_library_and_viewers_see_the_answer(
    users: dict[str, Any], ask: Callable[..., Question], live_session: Any, frames: Any
) -> None:
    entry = _staff_entry(users)
    question = ask("幸福花园停车难，什么时候解决？")
    answered = answers.do_answer_from_library(users["host"], live_session.pk, question.pk, entry.pk)
    assert answered.state == "answered" and answered.published_at is not None
    live = LiveAnswer.objects.get(question=question)
    assert (live.summary, live.library_entry_id) == (PARKING_ANSWER, entry.pk)
    audit = AuditEntry.objects.get(question=question, action="answer_from_library")
    assert (audit.from_state, audit.to_state, audit.actor_label) == ("pending", "answered", "host")
    entry.refresh_from_db()
    assert entry.times_used == 1
    public = [f for f in frames.viewer if f["type"] == "question_answered"]
    assert public[-1]["data"]["answer"]["library_entry"] == entry.pk
    assert public[-1]["data"]["answer"]["summary"] == PARKING_ANSWER


def test_a_private_question_answered_from_the_library_stays_private(
    users: dict[str, Any], ask: Callable[..., Question], live_session: Any, frames: Any
) -> None:
    entry = _staff_entry(users)
    question = ask(PARKING, private=True)
    answers.do_answer_from_library(users["screener"], live_session.pk, question.pk, entry.pk)
    question.refresh_from_db()
    assert question.state == "answered" and question.published_at is None
    assert not [f for f in frames.viewer if f["type"] == "question_answered"]


@pytest.mark.parametrize("role", ["leader", "observer", "staff", "dept", "nobody"])
def test_only_hosts_and_screeners_answer_from_the_library(
    role: str, users: dict[str, Any], ask: Callable[..., Question], live_session: Any
) -> None:
    entry = _staff_entry(users)
    question = ask(PARKING)
    with pytest.raises(ActionForbidden):
        answers.do_answer_from_library(users[role], live_session.pk, question.pk, entry.pk)
    question.refresh_from_db()
    assert question.state == "pending"


@pytest.mark.parametrize("role", ["leader", "observer", "screener", "dept", "nobody"])
def test_only_staff_and_hosts_write_library_entries(role: str, users: dict[str, Any]) -> None:
    with pytest.raises(ActionForbidden):
        _staff_entry(users | {"staff": users[role]})
    entry = _staff_entry(users)
    with pytest.raises(ActionForbidden):
        answers.do_update_library_entry(users[role], entry.pk, published=True)


def test_a_question_on_air_or_already_answered_cannot_be_answered_from_the_library(
    users: dict[str, Any], ask: Callable[..., Question], live_session: Any
) -> None:
    entry = _staff_entry(users)
    question = ask(PARKING)
    m.do_approve_question(users["host"], live_session.pk, question.pk)
    m.do_put_on_air(users["host"], live_session.pk, question.pk)
    with pytest.raises(IllegalTransition, match=f"#{question.pk}"):
        answers.do_answer_from_library(users["host"], live_session.pk, question.pk, entry.pk)
    m.do_mark_answered(users["host"], live_session.pk, question.pk, "")
    with pytest.raises(IllegalTransition):
        answers.do_answer_from_library(users["host"], live_session.pk, question.pk, entry.pk)
    assert LiveAnswer.objects.get(question=question).library_entry_id is None


def test_a_retired_entry_cannot_answer_and_bad_entries_are_refused_clearly(
    users: dict[str, Any], ask: Callable[..., Question], live_session: Any
) -> None:
    entry = _staff_entry(users)
    answers.do_update_library_entry(users["staff"], entry.pk, retired=True)
    question = ask(PARKING)
    with pytest.raises(IllegalTransition) as retired:
        answers.do_answer_from_library(users["host"], live_session.pk, question.pk, entry.pk)
    assert retired.value.code == "retired"
    with pytest.raises(DomainError) as empty:
        _staff_entry(users, answer_text="  ")
    assert empty.value.code == "empty"
    with pytest.raises(DomainError) as sector:
        _staff_entry(users, sector="astrology")
    assert sector.value.code == "bad_sector"
    with pytest.raises(DomainError) as field:
        answers.do_update_library_entry(users["staff"], entry.pk, times_used=99)
    assert field.value.code == "invalid"


def test_the_public_searches_published_entries_only_and_staff_see_all(
    users: dict[str, Any], client: Any
) -> None:
    published = _staff_entry(users, published=True)
    _staff_entry(users, question_text="幸福花园停车收费标准是多少？", answer_text="按物价局标准。")
    public = client.get("/api/library", {"q": "幸福花园停车"}).json()
    assert [e["id"] for e in public] == [published.pk]
    client.login(username="staff", password="pw-staff")
    assert len(client.get("/api/library", {"q": "幸福花园停车"}).json()) == 2


def test_the_console_gets_scored_suggestions_for_a_question_over_http(
    users: dict[str, Any], ask: Callable[..., Question], client: Any
) -> None:
    entry = _staff_entry(users)
    question = ask("请问幸福花园小区停车难，什么时候能解决？")
    url = f"/api/library/suggestions/live/{question.pk}"
    assert client.get(url).status_code == 403
    client.login(username="screener", password="pw-screener")
    body = client.get(url).json()
    assert body[0]["id"] == entry.pk and body[0]["score"] >= answers.SUGGEST_MIN_SCORE


def test_staff_add_and_publish_an_entry_over_http_with_coded_errors(
    users: dict[str, Any], client: Any
) -> None:
    client.login(username="staff", password="pw-staff")
    created = client.post(
        "/api/library",
        {"question": PARKING, "answer": PARKING_ANSWER, "sector": "housing"},
        content_type="application/json",
    )
    assert created.status_code == 201
    entry_id = created.json()["id"]
    changed = client.patch(
        f"/api/library/{entry_id}", {"published": True}, content_type="application/json"
    )
    assert changed.status_code == 200 and changed.json()["published"] is True
    bad = client.post(
        "/api/library",
        {"question": PARKING, "answer": "", "sector": "housing"},
        content_type="application/json",
    )
    assert (bad.status_code, bad.json()["code"]) == (400, "empty")
    missing = client.patch(
        "/api/library/999999", {"published": True}, content_type="application/json"
    )
    assert missing.status_code == 404


def test_the_public_library_page_lists_published_answers_and_searches_them(
    users: dict[str, Any], client: Any
) -> None:
    _staff_entry(users, published=True, sector="housing")
    _staff_entry(
        users,
        question_text="医保异地报销需要哪些材料？",
        answer_text="身份证和发票。",
        sector="health",
    )
    page = client.get("/library/").content.decode()
    assert PARKING_ANSWER in page and "身份证和发票" not in page  # unpublished stays staff-only
    found = client.get("/library/", {"q": "幸福花园停车难什么时候解决"}).content.decode()
    assert PARKING_ANSWER in found
    other_sector = client.get("/library/", {"q": "停车", "sector": "health"}).content.decode()
    assert PARKING_ANSWER not in other_sector and 'data-testid="library-no-results"' in other_sector
    english = client.get("/library/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Answer library" in english
