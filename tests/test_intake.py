"""The one intake pipeline: normalisation, limits, idempotency, contacts."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from hub.errors import IntakeRejected
from hub.intake.pipeline import IntakeItem, clean_contact, do_intake_question, normalise_text
from hub.models import AuditEntry, Question
from hub.presenters import mask_contact

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ＡＢＣ１２３", "ABC123"),  # full-width letters and digits fold to half-width
        ("问题　　一下", "问题 一下"),  # ideographic spaces collapse to one space
        ("  前后空白  ", "前后空白"),
        ("零\u200b宽\u200d字符\ufeff", "零宽字符"),  # invisible characters are dropped
        ("控制\x00字符\x07", "控制字符"),
        ("第一行\r\n\r\n\r\n\r\n第二行", "第一行\n\n第二行"),
        ("請問這個問題", "请问这个问题"),  # traditional → simplified
        ("你好，请问？", "你好，请问？"),  # Chinese punctuation stays Chinese
    ],
)
def test_normalise_text_folds_widths_spaces_and_script(raw: str, expected: str) -> None:
    assert normalise_text(raw) == expected


def test_traditional_conversion_can_be_switched_off(settings: Any) -> None:
    settings.HUB_TRADITIONAL_TO_SIMPLIFIED = False
    assert normalise_text("請問") == "請問"


def test_accepted_question_is_stored_normalised_with_its_original(
    ask: Callable[..., Question],
) -> None:
    question = ask("請問ＡＢＣ小區　什麼時候改造？", asker_name="  小王  ")
    assert question.text == "请问ABC小区 什么时候改造？"
    assert question.original_text == "請問ＡＢＣ小區　什麼時候改造？"
    assert question.asker_name == "小王"
    assert question.state == "pending"
    assert list(AuditEntry.objects.filter(question=question).values_list("action", flat=True)) == [
        "intake",
        "screen",
    ]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "too_short"),
        ("   \u3000 ", "too_short"),
        ("好", "too_short"),
        ("长" * 501, "too_long"),
        ("长" * 100_000, "too_long"),
    ],
)
def test_text_outside_the_limits_is_refused_with_a_clear_code(
    ask: Callable[..., Question], text: str, code: str
) -> None:
    with pytest.raises(IntakeRejected) as refused:
        ask(text)
    assert refused.value.code == code
    assert refused.value.message
    assert Question.objects.count() == 0


def test_limits_count_characters_after_normalisation(ask: Callable[..., Question]) -> None:
    ask("长" * 500 + "     ")  # trailing spaces do not count
    assert Question.objects.count() == 1


def test_same_channel_source_id_is_one_question(live_session: Any, frames: Any) -> None:
    item = IntakeItem(
        session_id=live_session.pk,
        channel="microblog",
        text="同一条微博的内容",
        source_id="status:4242",
    )
    first = do_intake_question(item)
    second = do_intake_question(item)
    assert first.created and not second.created
    assert first.question.pk == second.question.pk
    assert Question.objects.count() == 1
    assert len([f for f in frames.console if f["type"] == "question"]) == 1


def test_same_source_id_on_another_channel_is_another_question(live_session: Any) -> None:
    for channel in ("hotline", "radio"):
        do_intake_question(
            IntakeItem(
                session_id=live_session.pk, channel=channel, text="来电反映的问题", source_id="A-1"
            )
        )
    assert Question.objects.count() == 2


@pytest.mark.skipif("sqlite" in connection.vendor, reason="needs row locking (PostgreSQL)")
def test_concurrent_deliveries_of_one_item_store_it_once(live_session: Any) -> None:
    item = IntakeItem(
        session_id=live_session.pk, channel="hotline", text="并发送达的工单", source_id="12345-race"
    )
    results: list[Any] = []
    barrier = threading.Barrier(6)

    def deliver() -> None:
        from django.db import connections

        barrier.wait()
        try:
            results.append(do_intake_question(item))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Question.objects.filter(channel_source_id="12345-race").count() == 1
    assert len(results) == 6
    assert sum(r.created for r in results) == 1
    assert len({r.question.pk for r in results}) == 1


def test_a_duplicate_is_recognised_even_after_the_session_ended(
    live_session: Any, host: Any
) -> None:
    from hub.actions.sessions import do_end_session

    item = IntakeItem(
        session_id=live_session.pk, channel="hotline", text="会后重发的工单", source_id="late-1"
    )
    do_intake_question(item)
    do_end_session(host, live_session.pk)
    assert do_intake_question(item).created is False
    with pytest.raises(IntakeRejected) as refused:
        do_intake_question(
            IntakeItem(
                session_id=live_session.pk,
                channel="hotline",
                text="会后的新工单内容",
                source_id="late-2",
            )
        )
    assert refused.value.code == "not_accepting"


@pytest.mark.parametrize("status", ["announced", "ended"])
def test_a_session_not_collecting_refuses_questions(
    make_session: Callable[..., Any], status: str
) -> None:
    session = make_session(status)
    with pytest.raises(IntakeRejected) as refused:
        do_intake_question(IntakeItem(session_id=session.pk, channel="web", text="能提问吗？"))
    assert refused.value.code == "not_accepting"


def test_collecting_session_takes_questions_before_the_broadcast(
    make_session: Callable[..., Any],
) -> None:
    session = make_session("collecting")
    result = do_intake_question(
        IntakeItem(session_id=session.pk, channel="web", text="会前征集的问题")
    )
    assert result.created and result.question.state == "pending"


@pytest.mark.parametrize(
    ("raw", "digits"),
    [
        ("138 1234 5678", "13812345678"),
        ("+86 138-1234-5678", "13812345678"),
        ("１３８１２３４５６７８", "13812345678"),
        ("0527-88889999", "052788889999"),
        ("139.7308.5508", "13973085508"),
        ("139·7308·5508", "13973085508"),
        ("(0527) 8888/6666", "052788886666"),
        ("138–1234–5678", "13812345678"),
        ("", ""),
    ],
)
def test_contact_phone_numbers_are_cleaned_to_digits(raw: str, digits: str) -> None:
    assert clean_contact(raw) == digits


@pytest.mark.parametrize("raw", ["not a phone", "1381234567", "23812345678", "abc@example.com"])
def test_a_contact_that_is_no_phone_number_is_refused(raw: str) -> None:
    with pytest.raises(IntakeRejected) as refused:
        clean_contact(raw)
    assert refused.value.code == "bad_contact"


@pytest.mark.parametrize(
    ("contact", "masked"),
    [("13812345678", "138****5678"), ("052788889999", "052*******99"), ("1234", "****"), ("", "")],
)
def test_contacts_are_masked_outside_staff_views(contact: str, masked: str) -> None:
    assert mask_contact(contact) == masked


def test_web_name_too_long_is_refused_but_channel_names_are_truncated(
    live_session: Any, settings: Any
) -> None:
    settings.HUB_NAME_MAX_CHARS = 10
    with pytest.raises(IntakeRejected) as refused:
        do_intake_question(
            IntakeItem(
                session_id=live_session.pk,
                channel="web",
                text="名字太长的提问",
                asker_name="很" * 11,
            )
        )
    assert refused.value.code == "name_too_long"
    result = do_intake_question(
        IntakeItem(
            session_id=live_session.pk,
            channel="microblog",
            text="微博昵称很长的提问",
            asker_name="长" * 30,
            source_id="status:1",
            truncate_name=True,
        )
    )
    assert result.question.asker_name == "长" * 10


def test_the_console_hears_of_a_new_question_with_the_contact_masked(
    live_session: Any, frames: Any
) -> None:
    do_intake_question(
        IntakeItem(
            session_id=live_session.pk,
            channel="radio",
            text="广播来电的问题",
            asker_name="刘师傅",
            contact="13705275678",
        )
    )
    frame = [f for f in frames.console if f["type"] == "question"][-1]
    assert frame["data"]["contact"] == "137****5678"
    assert frame["data"]["state"] == "pending"
    assert "13705275678" not in str(frames.console)
