"""Personal data planted in every field a non-staff eye sees comes out masked, on every
output this part of issue 10 changed: the public questions API, the viewer stream
(snapshot, live frames, the stored log that ``since`` replays) and page, session guests,
agenda and guests on air, follow-up pages, task API and Open311, the FAQ library (page
and API), replay chapters, and the observer's console. Private questions: what the
observer, leader and screener consoles receive of them.

Planting: the text fields are written straight into the rows (``update()``), as if they
had been stored before the finder knew a form, so the test checks the output boundary,
not intake screening. Names go through intake as citizens type them.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import path
from django.utils import timezone

from hub import protocol
from hub.consumers import ConsoleConsumer
from hub.intake.pipeline import IntakeItem, do_intake_question
from hub.models import LiveAnswer, LiveSession, Question, SessionEvent
from hub.queries import viewer_snapshot
from hub.routing import websocket_application
from moderation import actions as m

pytestmark = pytest.mark.django_db(transaction=True)


def _id18(first17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(d) * w for d, w in zip(first17, weights, strict=True))
    return first17 + "10X98765432"[total % 11]


#: One number per written form; (form as typed, its digits).
ID18 = _id18("32130219900101123")
FORMS: dict[str, tuple[str, str]] = {
    "plain": ("13973105510", "13973105510"),
    "dotted": ("139.7308.5508", "13973085508"),
    "spaced": ("1 3 9 7 3 0 7 5 5 0 7", "13973075507"),
    "full_width": ("１３９７３０６５５０６", "13973065506"),
    "chinese": ("一三九七三〇九五五〇九", "13973095509"),
    "id18": (ID18, ID18[:17]),
    "landline": ("0527-8886 6616", "052788866616"),
}
#: A text with every form, separated by words (not by digit separators).
PLANTED = "请联系我：" + "；再如".join(f"号码{form}" for form, _ in FORMS.values()) + "。谢谢"
NAME = "张三13973105510"
LINK = "http://t.cn/gnxvp7x有事打我电话15879848235"
DIGITS = [digits for _, digits in FORMS.values()] + ["15879848235"]

_CN_DIGITS = str.maketrans("〇零一幺二两三四五六七八九", "0011223456789")
_BETWEEN_DIGITS = re.compile(r"(?<=\d)[\s.\-_·/]+(?=\d)")


def readable(text: str) -> str:
    """An output as a reader sees its digits: entities and full width undone, Chinese
    numerals as digits, spaces and separators between digits dropped."""
    text = unicodedata.normalize("NFKC", html.unescape(text)).translate(_CN_DIGITS)
    return _BETWEEN_DIGITS.sub("", text)


def leaks(output: Any) -> list[str]:
    """Every run of 7 or more planted digits readable in ``output`` (text or JSON)."""
    text = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)
    seen = readable(text)
    return sorted(
        {digits[i : i + 7] for digits in DIGITS for i in range(len(digits) - 6)} & _runs(seen)
    )


def leaks_by_output(outputs: dict[str, Any]) -> dict[str, list[str]]:
    """The outputs that leak, with what they leak ({} when none does)."""
    found = {name: leaks(output) for name, output in outputs.items()}
    return {name: runs for name, runs in found.items() if runs}


def _runs(seen: str) -> set[str]:
    found: set[str] = set()
    for run in re.findall(r"\d{7,}", seen):
        found |= {run[i : i + 7] for i in range(len(run) - 6)}
    return found


def test_the_scanner_sees_every_planted_form_unmasked() -> None:
    """The scanner itself: each form typed raw is a leak; its masked forms are not."""
    for form, _digits in FORMS.values():
        assert leaks(f"文字{form}文字"), form
    assert leaks("&#x31;3973105510") and not leaks("139****5510 321302********123X")
    assert not leaks("0527-****6616")


# --- the public question, its asker and its answers ------------------------------------


def _plant_public_question(
    host: Any, leader: Any, session: LiveSession, frames: Any, channel: str = "web"
) -> Question:
    """A question asked with a numbered name, published, its text replaced by the planted
    text, put on air, answered live and marked answered with planted summaries."""
    source_id = f"{channel}-1" if channel != "web" else None
    question = do_intake_question(
        IntakeItem(
            session_id=session.pk,
            channel=channel,
            text="老旧小区改造什么时候开始？",
            asker_name=NAME,
            source_id=source_id,
        )
    ).question
    Question.objects.filter(pk=question.pk).update(text=PLANTED, original_text=PLANTED)
    m.do_approve_question(host, session.pk, question.pk)
    m.do_put_on_air(host, session.pk, question.pk)
    m.do_set_live_answer(leader, session.pk, question.pk, "答复：" + PLANTED)
    m.do_mark_answered(leader, session.pk, question.pk, "总结：" + PLANTED)
    return Question.objects.get(pk=question.pk)


@pytest.mark.parametrize("channel", ["web", "microblog", "hotline"])
def test_planted_numbers_in_a_question_its_asker_and_its_answers_reach_no_viewer_output(
    users: dict[str, Any], live_session: LiveSession, frames: Any, client: Client, channel: str
) -> None:
    question = _plant_public_question(users["host"], users["leader"], live_session, frames, channel)
    assert LiveAnswer.objects.get(question=question).summary.startswith("总结：请联系我")
    api = client.get("/api/sessions/live/questions").json()
    [item] = api["items"]
    assert item["asker"] == "张三139****5510"
    assert item["text"].startswith("请联系我") and item["answer"]["summary"].startswith("总结")
    outputs = {
        "public API": api,
        "viewer snapshot": viewer_snapshot(live_session.pk).model_dump(mode="json"),
        "live viewer frames": frames.viewer,
        "stored log (since replay)": list(
            SessionEvent.objects.filter(session=live_session).values_list("data", flat=True)
        ),
        "viewer page": client.get("/s/live/").content.decode(),
    }
    assert {"answer_live", "question_answered"} <= set(frames.viewer_types())
    assert leaks_by_output(outputs) == {}


async def test_a_viewer_replaying_with_since_gets_no_planted_number(
    users: dict[str, Any], live_session: LiveSession, frames: Any
) -> None:
    await database_sync_to_async(_plant_public_question)(
        users["host"], users["leader"], live_session, frames
    )
    c = WebsocketCommunicator(websocket_application, "/ws/sessions/live/live?since=0")
    assert (await c.connect())[0]
    received = []
    while True:
        text = await c.receive_from(timeout=3)
        protocol.viewer_frame_adapter.validate_json(text)
        received.append(json.loads(text))
        if received[-1]["type"] == "question_answered":
            break
    await c.disconnect()
    assert "answer_live" in [f["type"] for f in received]
    assert leaks(received) == []


def test_events_stored_before_the_policy_knew_a_form_are_masked_by_mask_event_log(
    users: dict[str, Any], live_session: LiveSession, frames: Any
) -> None:
    from django.core.management import call_command

    from hub.actions.event_log import do_mask_event_log

    _plant_public_question(users["host"], users["leader"], live_session, frames)
    # As an older release stored them: the same events with the raw texts in them.
    for event in SessionEvent.objects.filter(session=live_session):
        raw = json.loads(
            json.dumps(event.data, ensure_ascii=False)
            .replace("张三139****5510", NAME)
            .replace("请联系我", "请联系我" + FORMS["plain"][0])
        )
        SessionEvent.objects.filter(pk=event.pk).update(data=raw)

    def stored() -> list[Any]:
        return list(
            SessionEvent.objects.filter(session=live_session).values_list("data", flat=True)
        )

    assert leaks(stored())
    dry = do_mask_event_log(dry_run=True)
    assert dry.changed >= 4 and leaks(stored())
    call_command("mask_event_log")
    assert leaks(stored()) == []
    again = do_mask_event_log()
    assert (again.scanned, again.changed, again.unreadable) == (dry.scanned, 0, [])


def test_a_name_that_is_only_a_number_is_shown_as_no_name(
    users: dict[str, Any], live_session: LiveSession, client: Client
) -> None:
    question = do_intake_question(
        IntakeItem(
            session_id=live_session.pk,
            channel="hotline",
            text="公交车能不能延长末班时间？",
            asker_name="139 7310 5510",
            source_id="order-7",
        )
    ).question
    m.do_approve_question(users["host"], live_session.pk, question.pk)
    [item] = client.get("/api/sessions/live/questions").json()["items"]
    assert item["asker"] == ""


# --- guests, agenda, guests on air -----------------------------------------------------


def test_planted_numbers_in_guests_agenda_and_guest_labels_reach_no_viewer_output(
    users: dict[str, Any], make_session: Callable[..., Any], client: Client, frames: Any
) -> None:
    from streaming import actions as a
    from streaming.models import AgendaItem

    host = users["host"]
    session = make_session(
        "live",
        slug="meeting",
        kind="meeting",
        guests=[{"name": NAME, "title": "办公电话" + FORMS["landline"][0]}],
        description="本期联系人：" + PLANTED,
        title="第" + FORMS["spaced"][0] + "期访谈",
    )
    a.do_edit_agenda(
        host,
        session.pk,
        [
            a.AgendaEntry("听取" + FORMS["dotted"][0] + "号来电的汇报"),
            a.AgendaEntry("研究" + FORMS["id18"][0] + "的任免", confidential=True),
        ],
    )
    first = AgendaItem.objects.filter(session=session).order_by("position")[0]
    a.do_set_agenda_item(host, session.pk, first.pk)
    invitation = a.do_invite_guest(host, session.pk, "张女士" + FORMS["full_width"][0], "caller")
    a.do_guest_connect(invitation.token, timezone.now())
    a.do_put_guest_on_air(host, session.pk, invitation.invite.pk)
    outputs = {
        "session API": client.get("/api/sessions/meeting").json(),
        "viewer snapshot": viewer_snapshot(session.pk).model_dump(mode="json"),
        "public stage API": client.get("/api/streaming/sessions/meeting/stage").json(),
        "live viewer frames": frames.viewer,
        "viewer page": client.get("/s/meeting/").content.decode(),
        "index page": client.get("/").content.decode(),
        "replay page": client.get("/s/meeting/replay/").content.decode(),
        "guest link status": client.get(f"/api/streaming/guests/{invitation.token}").json(),
        "guest join page": client.get(f"/guest/{invitation.token}/join").content.decode(),
    }
    assert {"agenda", "agenda_item", "guest_on_air"} <= set(frames.viewer_types())
    assert "本期联系人" in outputs["viewer page"]
    assert "张三139****5510" in outputs["viewer page"]
    assert leaks_by_output(outputs) == {}


def test_a_guest_named_only_by_a_number_is_left_out_of_the_session_and_the_page(
    make_session: Callable[..., Any], client: Client
) -> None:
    make_session(
        "live", slug="g", guests=[{"name": FORMS["dotted"][0]}, {"name": "王局长", "title": "局长"}]
    )
    assert client.get("/api/sessions/g").json()["guests"] == [{"name": "王局长", "title": "局长"}]
    page = client.get("/s/g/").content.decode()
    assert "王局长" in page and leaks(page) == [] and "139****5508" not in page


def test_the_observer_console_stage_has_no_confidential_title_and_no_planted_number(
    users: dict[str, Any], make_session: Callable[..., Any]
) -> None:
    from streaming import actions as a

    session = make_session("live", slug="meeting", kind="meeting")
    a.do_edit_agenda(
        users["host"],
        session.pk,
        [
            a.AgendaEntry("听取" + FORMS["dotted"][0] + "号来电的汇报"),
            a.AgendaEntry("研究任免", confidential=True),
        ],
    )
    a.do_invite_guest(users["host"], session.pk, "张女士" + FORMS["plain"][0], "caller")
    stages = {}
    for role in ("observer", "host"):
        browser = Client()
        browser.force_login(users[role])
        stages[role] = browser.get("/api/streaming/sessions/meeting/console").json()
    observed = stages["observer"]
    first, secret = observed["agenda"]
    assert first["title"].startswith("听取") and first["title"].endswith("号来电的汇报")
    assert (secret["confidential"], secret["title"]) == (True, "")
    assert leaks(observed) == []
    # The host runs the meeting: whole titles and labels.
    assert [item["title"] for item in stages["host"]["agenda"]][1] == "研究任免"
    assert leaks(stages["host"]["guests"])


# --- follow-up ----------------------------------------------------------------------------


def test_planted_numbers_in_a_task_and_its_department_reply_reach_no_public_follow_up_output(
    followup: Any, client: Client
) -> None:
    from hub.followup.models import FollowUpTask, TaskEvent
    from tests.followup_steps import accept, reply_and_publish

    task = accept(followup)
    reply_and_publish(followup, text="经核实，请拨打" + PLANTED)
    FollowUpTask.objects.filter(pk=task.pk).update(public_text="加装电梯" + PLANTED)
    TaskEvent.objects.filter(task=task, public=True).update(public_note="备注" + PLANTED)
    outputs = {
        "task list API": client.get("/api/followup/tasks").json(),
        "task API": client.get(f"/api/followup/tasks/{task.pk}").json(),
        "board page": client.get("/followup/").content.decode(),
        "task page": client.get(f"/followup/tasks/{task.pk}/").content.decode(),
        "Open311 requests": client.get("/open311/v2/requests.json").json(),
        "Open311 request": client.get(f"/open311/v2/requests/{task.pk}.json").json(),
    }
    [request] = outputs["Open311 request"]
    assert request["status_notes"].endswith("谢谢") and "经核实" in request["status_notes"]
    assert outputs["task API"]["replies"][0]["text"].startswith("经核实")
    assert leaks_by_output(outputs) == {}


def test_the_weekly_report_shows_task_texts_masked(followup: Any) -> None:
    from hub.followup.models import FollowUpTask
    from hub.followup.report import _text

    task = FollowUpTask.objects.get(pk=followup.tasks["lift"].pk)
    task.public_text = "加装电梯" + PLANTED
    task.is_public = True
    assert _text(task).startswith("加装电梯") and leaks(_text(task)) == []


# --- the answer library (FAQ) ----------------------------------------------------------------


def test_planted_numbers_in_a_library_entry_reach_neither_the_faq_page_nor_the_public_api(
    users: dict[str, Any], client: Client
) -> None:
    from moderation.answers import do_add_library_entry

    entry = do_add_library_entry(
        users["staff"],
        question_text="补贴怎么领" + FORMS["chinese"][0],
        answer_text="请拨打" + PLANTED,
        published=True,
    )
    public_api = client.get("/api/library").json()
    assert [e["id"] for e in public_api] == [entry.pk]
    outputs = {"FAQ page": client.get("/library/").content.decode(), "public API": public_api}
    assert leaks_by_output(outputs) == {}
    # Staff editing the library see what they wrote.
    staff = Client()
    staff.force_login(users["staff"])
    [edited] = staff.get("/api/library").json()
    assert edited["answer"] == "请拨打" + PLANTED


def test_searching_the_public_library_for_a_number_does_not_tell_whether_an_entry_holds_it(
    users: dict[str, Any], client: Client
) -> None:
    from moderation.answers import do_add_library_entry

    entry = do_add_library_entry(
        users["staff"],
        question_text="低保怎么申请？",
        answer_text="请联系社区干部，电话13973105510",
        published=True,
    )
    for typed in ("13973105510", "139 7310 5510", "１３９７３１０５５１０"):
        assert client.get("/api/library", {"q": typed}).json() == [], typed
        assert (
            f"library-result-{entry.pk}"
            not in client.get("/library/", {"q": typed}).content.decode()
        )
    staff = Client()
    staff.force_login(users["staff"])
    assert [e["id"] for e in staff.get("/api/library", {"q": "13973105510"}).json()] == [entry.pk]


def test_a_live_answer_that_flows_into_the_library_is_masked_on_the_faq_page(
    users: dict[str, Any], live_session: LiveSession, frames: Any, client: Client
) -> None:
    from moderation.models import LibraryEntry

    _plant_public_question(users["host"], users["leader"], live_session, frames)
    LibraryEntry.objects.update(published=True)
    assert LibraryEntry.objects.filter(answer_text__contains="13973105510").exists()
    page = client.get("/library/").content.decode()
    assert "总结" in page and leaks(page) == []


# --- replay chapters ---------------------------------------------------------------------------


def test_replay_chapters_show_no_planted_number(
    users: dict[str, Any], live_session: LiveSession, frames: Any, client: Client
) -> None:
    from hub.actions.sessions import do_end_session
    from streaming import actions as a

    t0 = timezone.now() - timedelta(minutes=5)
    a.do_recording_started(live_session.pk, "hls/live/r1.m3u8", t0)
    _plant_public_question(users["host"], users["leader"], live_session, frames)
    a.do_recording_finished(live_session.pk, "hls/live/r1.m3u8", timezone.now())
    do_end_session(users["host"], live_session.pk)
    body = client.get("/api/streaming/sessions/live/replay").json()
    assert [c["kind"] for c in body["chapters"]] == ["question"]
    assert leaks(body) == []


# --- consoles -----------------------------------------------------------------------------------

console_app = URLRouter([path("ws/sessions/<slug:slug>/console", ConsoleConsumer.as_asgi())])


async def open_console(user: Any) -> WebsocketCommunicator:
    c = WebsocketCommunicator(console_app, "/ws/sessions/live/console")
    c.scope["user"] = user
    assert (await c.connect())[0]
    return c


async def next_frame(c: WebsocketCommunicator, type_: str) -> dict[str, Any]:
    while True:
        text = await c.receive_from(timeout=3)
        protocol.console_frame_adapter.validate_json(text)
        frame = json.loads(text)
        if frame["type"] == type_:
            return frame


async def snapshot_questions(user: Any) -> tuple[WebsocketCommunicator, dict[int, Any]]:
    c = await open_console(user)
    snapshot = await next_frame(c, "snapshot")
    return c, {q["id"]: q for q in snapshot["data"]["questions"]}


def _plant_for_console(live_session: LiveSession) -> Question:
    question = do_intake_question(
        IntakeItem(
            session_id=live_session.pk,
            channel="web",
            text="小区停车难怎么解决？",
            asker_name=NAME,
            contact="13812345678",
        )
    ).question
    Question.objects.filter(pk=question.pk).update(
        text=PLANTED,
        original_text=PLANTED + LINK,
        screening_flags=[
            {"category": "spam", "action": "hold", "kind": "link", "match": LINK},
            {"category": "personal_data", "action": "mask", "kind": "mobile", "match": NAME},
        ],
    )
    return question


async def test_the_observer_console_shows_no_planted_number_in_snapshot_or_live_frames(
    users: dict[str, Any], live_session: LiveSession
) -> None:
    question = await database_sync_to_async(_plant_for_console)(live_session)
    c, questions = await snapshot_questions(users["observer"])
    seen = questions[question.pk]
    assert seen["asker"] == "张三139****5510" and seen["contact"] == "138****5678"
    assert seen["flags"][0]["match"] == "http://t.cn/gnxvp7x"
    assert seen["original_text"].startswith("请联系我")
    await database_sync_to_async(m.do_approve_question)(users["host"], live_session.pk, question.pk)
    live = await next_frame(c, "question")
    assert live["data"]["state"] == "approved" and live["data"]["asker"] == "张三139****5510"
    await c.disconnect()
    assert leaks(seen) == [] and leaks(live) == []


async def test_the_leaders_console_shows_names_as_the_public_does_and_no_contact(
    users: dict[str, Any], live_session: LiveSession
) -> None:
    question = await database_sync_to_async(_plant_for_console)(live_session)
    c, questions = await snapshot_questions(users["leader"])
    await c.disconnect()
    seen = questions[question.pk]
    assert (seen["asker"], seen["contact"]) == ("张三139****5510", "")
    assert leaks(seen) == []


async def test_the_hosts_console_keeps_the_name_given_and_masks_numbers_in_texts(
    users: dict[str, Any], live_session: LiveSession
) -> None:
    question = await database_sync_to_async(_plant_for_console)(live_session)
    c, questions = await snapshot_questions(users["host"])
    await c.disconnect()
    seen = questions[question.pk]
    assert seen["asker"] == NAME  # staff call the asker back
    assert seen["contact"] == "138****5678"
    assert seen["flags"][0]["match"] == "http://t.cn/gnxvp7x"
    assert leaks({k: v for k, v in seen.items() if k != "asker"}) == []


# --- private questions on the consoles ------------------------------------------------------


PRIVATE_TEXT = "我举报邻居违建占用消防通道，我是张三"


def _private_questions(live_session: LiveSession, screener: Any) -> tuple[Question, Question]:
    """A private web question, and a private call the screener typed in."""
    web = do_intake_question(
        IntakeItem(
            session_id=live_session.pk,
            channel="web",
            text=PRIVATE_TEXT,
            asker_name="张三",
            contact="13812345678",
            private=True,
        )
    ).question
    call = do_intake_question(
        IntakeItem(
            session_id=live_session.pk,
            channel="hotline",
            text="我想私下反映单位拖欠工资的问题",
            asker_name="李四",
            contact="13900001111",
            private=True,
            submitted_by=screener,
        )
    ).question
    return web, call


def _hidden(q: dict[str, Any]) -> bool:
    return (q["text"], q["original_text"], q["asker"], q["contact"]) == ("", "", "", "")


@pytest.mark.parametrize("role", ["observer", "leader"])
async def test_observer_and_leader_see_that_a_private_question_exists_but_not_what_it_says(
    users: dict[str, Any], live_session: LiveSession, role: str
) -> None:
    web, call = await database_sync_to_async(_private_questions)(live_session, users["screener"])
    c, questions = await snapshot_questions(users[role])
    for question in (web, call):
        seen = questions[question.pk]
        assert (seen["visibility"], seen["channel"], seen["state"]) == (
            "private",
            question.channel,
            question.state,
        )
        assert _hidden(seen) and seen["library_hint"] is None and seen["similar"] == []
    # A private question arriving while the console is open is cut the same way.
    later = await database_sync_to_async(do_intake_question)(
        IntakeItem(
            session_id=live_session.pk,
            channel="web",
            text="私下问一下低保怎么申请",
            contact="13700002222",
            private=True,
        )
    )
    frame = await next_frame(c, "question")
    await c.disconnect()
    assert frame["data"]["id"] == later.question.pk and _hidden(frame["data"])
    assert "低保" not in json.dumps(frame, ensure_ascii=False)


async def test_a_screener_sees_the_private_calls_they_typed_and_no_other_private_text(
    users: dict[str, Any], live_session: LiveSession
) -> None:
    web, call = await database_sync_to_async(_private_questions)(live_session, users["screener"])
    c, questions = await snapshot_questions(users["screener"])
    await c.disconnect()
    assert _hidden(questions[web.pk])
    own = questions[call.pk]
    assert (own["text"], own["asker"], own["contact"]) == (
        "我想私下反映单位拖欠工资的问题",
        "李四",
        "139****1111",
    )


async def test_the_host_sees_private_questions_whole_with_the_contact_masked(
    users: dict[str, Any], live_session: LiveSession
) -> None:
    web, _call = await database_sync_to_async(_private_questions)(live_session, users["screener"])
    c, questions = await snapshot_questions(users["host"])
    await c.disconnect()
    seen = questions[web.pk]
    assert (seen["text"], seen["asker"], seen["contact"]) == (
        PRIVATE_TEXT,
        "张三",
        "138****5678",
    )
