"""Signed channel webhooks: the official microblog and the 12345 hotline system.

A batch is never all-or-nothing: each item is accepted, reported as a duplicate, or
rejected with a code, and nothing accepted is lost. The payload as a whole is refused
(400/401/413, ``{"code", "message"}``) only when it cannot be trusted or read.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from django.conf import settings as django_settings

from hub.actions.sessions import do_end_session
from hub.intake.signing import sign
from hub.models import AuditEntry, Channel, Question, Visibility

MICROBLOG = "/api/intake/microblog"
HOTLINE = "/api/intake/hotline"
NOW = datetime(2026, 11, 22, 6, 30, tzinfo=UTC)


# --- helpers ----------------------------------------------------------------------------


def encode(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()


def deliver(
    client: Any,
    path: str,
    payload: Any = None,
    *,
    raw: bytes | None = None,
    secret: str | None = None,
    timestamp: Any = None,
    signature: str | None = None,
    omit: tuple[str, ...] = (),
) -> Any:
    """POST a body signed the way the channel systems sign it (overridable per test)."""
    body = raw if raw is not None else encode(payload)
    if secret is None:
        secret = (
            django_settings.HOTLINE_SECRET if path == HOTLINE else django_settings.MICROBLOG_SECRET
        )
    headers = {
        "X-Hub-Signature-256": signature if signature is not None else sign(secret, body),
        "X-Hub-Timestamp": str(timestamp if timestamp is not None else int(time.time())),
    }
    for name in omit:
        headers.pop(name)
    return client.post(path, body, content_type="application/json", headers=headers)


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"], body


def refs(items: list[dict[str, Any]]) -> list[tuple[str | None, int | None]]:
    return [(i["source_id"], i.get("question")) for i in items]


def codes(items: list[dict[str, Any]]) -> list[tuple[str | None, str]]:
    return [(i["source_id"], i["code"]) for i in items]


def status(
    status_id: int, text: str = "请问市区公交线路什么时候调整？", name: str = "宿迁市民"
) -> dict[str, Any]:
    """A Weibo status (mention) as the microblog API delivers it."""
    return {
        "id": status_id,
        "idstr": str(status_id),
        "text": text,
        "created_at": "Sun Nov 22 14:30:00 +0800 2026",
        "user": {"id": 1_900_000 + status_id % 1000, "screen_name": name},
    }


def comment(
    comment_id: int, text: str = "评论里问：小区停车难怎么解决？", name: str = "评论网友"
) -> dict[str, Any]:
    return {
        "id": comment_id,
        "idstr": str(comment_id),
        "text": text,
        "created_at": "Sun Nov 22 14:31:00 +0800 2026",
        "user": {"id": 2_800_000, "screen_name": name},
    }


def order(order_id: str, **fields: Any) -> dict[str, Any]:
    return {"order_id": order_id, "content": "来电反映：小区门口路灯坏了一个月没人修。", **fields}


# --- microblog: statuses and comments -----------------------------------------------------


def test_signed_statuses_become_pending_microblog_questions(client, live_session):
    first, second = status(5012345678901234, name="宿迁小王"), status(5012345678901235)

    response = deliver(client, MICROBLOG, {"session": "live", "statuses": [first, second]})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["duplicates"] == [] and body["rejected"] == []
    assert [a["source_id"] for a in body["accepted"]] == [
        "status:5012345678901234",
        "status:5012345678901235",
    ]
    question = Question.objects.get(pk=body["accepted"][0]["question"])
    assert question.session_id == live_session.pk
    assert question.channel == Channel.MICROBLOG
    assert question.channel_source_id == "status:5012345678901234"
    assert question.asker_name == "宿迁小王"
    assert question.state == "pending"
    assert question.text == "请问市区公交线路什么时候调整？"
    assert question.visibility == Visibility.PUBLIC
    assert Question.objects.filter(channel=Channel.MICROBLOG).count() == 2


def test_status_with_only_a_numeric_id_is_accepted(client, live_session):
    item = status(77)
    del item["idstr"]

    response = deliver(client, MICROBLOG, {"session": "live", "statuses": [item]})

    assert [a["source_id"] for a in response.json()["accepted"]] == ["status:77"]


def test_comments_are_taken_like_statuses(client, live_session):
    response = deliver(
        client, MICROBLOG, {"session": "live", "comments": [comment(4400112233, name="热心网友")]}
    )

    assert response.status_code == 200, response.content
    accepted = response.json()["accepted"]
    assert [a["source_id"] for a in accepted] == ["comment:4400112233"]
    question = Question.objects.get(pk=accepted[0]["question"])
    assert question.channel == Channel.MICROBLOG
    assert question.asker_name == "热心网友"
    assert question.state == "pending"


def test_status_and_comment_with_the_same_id_are_two_questions(client, live_session):
    response = deliver(
        client,
        MICROBLOG,
        {"session": "live", "statuses": [status(42)], "comments": [comment(42)]},
    )

    assert [a["source_id"] for a in response.json()["accepted"]] == ["status:42", "comment:42"]
    assert Question.objects.count() == 2


def test_hashtag_routes_a_status_to_its_session(client, make_session):
    make_session("live", slug="other")
    hotline_day = make_session("live", slug="mayor", microblog_hashtag="市长热线")

    response = deliver(
        client, MICROBLOG, {"statuses": [status(9001, text="#市长热线# 请问菜市场什么时候改造？")]}
    )

    assert response.status_code == 200, response.content
    accepted = response.json()["accepted"]
    assert [a["source_id"] for a in accepted] == ["status:9001"]
    assert Question.objects.get(pk=accepted[0]["question"]).session_id == hotline_day.pk


def test_hashtag_of_a_session_not_taking_questions_does_not_route(client, make_session):
    make_session("announced", slug="later", microblog_hashtag="下周访谈")

    payload = {"statuses": [status(9002, text="#下周访谈# 提前问一下")]}

    response = deliver(client, MICROBLOG, payload)

    assert codes(response.json()["rejected"]) == [("status:9002", "no_session")]
    assert Question.objects.count() == 0


def test_status_without_session_or_known_hashtag_is_rejected(client, make_session):
    make_session("live", slug="mayor", microblog_hashtag="市长热线")

    response = deliver(
        client,
        MICROBLOG,
        {"statuses": [status(9003, text="没有话题的微博"), status(9004, text="#别的话题# 问题")]},
    )

    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == []
    assert codes(body["rejected"]) == [("status:9003", "no_session"), ("status:9004", "no_session")]
    assert Question.objects.count() == 0


def test_same_status_twice_is_stored_once(client, live_session):
    payload = {"session": "live", "statuses": [status(123456)]}

    first = deliver(client, MICROBLOG, payload).json()
    again = deliver(client, MICROBLOG, payload).json()

    assert refs(first["accepted"]) == [("status:123456", Question.objects.get().pk)]
    assert again["accepted"] == [] and again["rejected"] == []
    assert refs(again["duplicates"]) == refs(first["accepted"])
    assert Question.objects.count() == 1


def test_same_status_twice_in_one_batch_is_stored_once(client, live_session):
    response = deliver(
        client, MICROBLOG, {"session": "live", "statuses": [status(31), status(31)]}
    ).json()

    question = Question.objects.get()
    assert refs(response["accepted"]) == [("status:31", question.pk)]
    assert refs(response["duplicates"]) == [("status:31", question.pk)]


def test_mixed_batch_keeps_the_good_item_and_names_each_refusal(client, live_session):
    no_id = status(1)
    del no_id["id"], no_id["idstr"]
    payload = {
        "session": "live",
        "statuses": [no_id, status(2, text=""), status(3, text="长" * 10_000), status(4), "junk"],
    }

    response = deliver(client, MICROBLOG, payload)

    assert response.status_code == 200, response.content
    body = response.json()
    good = Question.objects.get()
    assert refs(body["accepted"]) == [("status:4", good.pk)]
    assert sorted(codes(body["rejected"]), key=str) == sorted(
        [
            (None, "missing_id"),
            ("status:2", "too_short"),
            ("status:3", "too_long"),
            (None, "bad_item"),
        ],
        key=str,
    )
    assert all(r["message"] for r in body["rejected"])
    assert len(body["accepted"]) + len(body["duplicates"]) + len(body["rejected"]) == 5


def test_items_for_an_ended_session_are_rejected_not_accepting(client, live_session, host):
    do_end_session(host, live_session.pk)

    response = deliver(client, MICROBLOG, {"session": "live", "statuses": [status(55)]})

    assert response.status_code == 200
    assert codes(response.json()["rejected"]) == [("status:55", "not_accepting")]
    assert Question.objects.count() == 0


def test_over_long_screen_name_is_truncated_not_refused(client, live_session, settings):
    name = "名" * (settings.HUB_NAME_MAX_CHARS + 10)

    response = deliver(client, MICROBLOG, {"session": "live", "statuses": [status(66, name=name)]})

    assert len(response.json()["accepted"]) == 1
    assert Question.objects.get().asker_name == name[: settings.HUB_NAME_MAX_CHARS]


# --- console frames and audit -------------------------------------------------------------


def test_each_accepted_item_reaches_the_console_and_is_audited(
    client, live_session, frames, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(
            client,
            MICROBLOG,
            {
                "session": "live",
                "statuses": [status(71), status(72, text="")],
                "comments": [comment(73)],
            },
        )
    accepted = [a["question"] for a in response.json()["accepted"]]
    assert len(accepted) == 2

    staff = [f["data"] for f in frames.console if f["type"] == "question"]
    assert sorted(f["id"] for f in staff) == sorted(accepted)
    assert {f["state"] for f in staff} == {"pending"}
    assert {f["channel"] for f in staff} == {"microblog"}
    assert frames.viewer == []  # nothing is public before a host approves it
    for qid in accepted:
        actions = list(AuditEntry.objects.filter(question_id=qid).values_list("action", "to_state"))
        assert actions == [("intake", "received"), ("screen", "pending")]


# --- signatures and timestamps ------------------------------------------------------------

PAYLOAD = {"session": "live", "statuses": [status(800)]}


def test_missing_signature_is_refused(client, live_session):
    response = deliver(client, MICROBLOG, PAYLOAD, omit=("X-Hub-Signature-256",))

    assert_error(response, 401, "missing_signature")
    assert Question.objects.count() == 0


def test_wrong_signature_is_refused(client, live_session):
    response = deliver(client, MICROBLOG, PAYLOAD, signature="sha256=" + "0" * 64)

    assert_error(response, 401, "bad_signature")
    assert Question.objects.count() == 0


def test_body_altered_after_signing_is_refused(client, live_session):
    body = encode(PAYLOAD)
    signature = sign(django_settings.MICROBLOG_SECRET, body)
    altered = body.replace("公交".encode(), "地铁".encode())
    assert altered != body

    response = deliver(client, MICROBLOG, raw=altered, signature=signature)

    assert_error(response, 401, "bad_signature")
    assert Question.objects.count() == 0


def test_missing_timestamp_is_refused(client, live_session):
    response = deliver(client, MICROBLOG, PAYLOAD, omit=("X-Hub-Timestamp",))

    assert_error(response, 401, "missing_timestamp")
    assert Question.objects.count() == 0


@pytest.mark.parametrize("timestamp", ["yesterday", "1.7e9", "17634 12345", "0x10"])
def test_non_numeric_timestamp_is_refused(client, live_session, timestamp):
    response = deliver(client, MICROBLOG, PAYLOAD, timestamp=timestamp)

    assert_error(response, 401, "bad_timestamp")
    assert Question.objects.count() == 0


@pytest.mark.parametrize("offset", [-301, 301, -3600, 86_400])
def test_timestamp_outside_the_window_is_refused(client, live_session, time_machine, offset):
    time_machine.move_to(NOW, tick=False)

    response = deliver(client, MICROBLOG, PAYLOAD, timestamp=int(NOW.timestamp()) + offset)

    assert_error(response, 401, "stale_timestamp")
    assert Question.objects.count() == 0


@pytest.mark.parametrize("offset", [-299, 0, 299])
def test_timestamp_inside_the_window_is_accepted(client, live_session, time_machine, offset):
    time_machine.move_to(NOW, tick=False)

    response = deliver(client, MICROBLOG, PAYLOAD, timestamp=int(NOW.timestamp()) + offset)

    assert response.status_code == 200, response.content
    assert len(response.json()["accepted"]) == 1
    assert Question.objects.count() == 1


def test_tolerance_follows_the_setting(client, live_session, time_machine, settings):
    time_machine.move_to(NOW, tick=False)
    settings.HUB_SIGNATURE_TOLERANCE_SECONDS = 10

    late = deliver(client, MICROBLOG, PAYLOAD, timestamp=int(NOW.timestamp()) - 11)
    fresh = deliver(client, MICROBLOG, PAYLOAD, timestamp=int(NOW.timestamp()) - 9)

    assert_error(late, 401, "stale_timestamp")
    assert fresh.status_code == 200


def test_hotline_secret_is_refused_on_the_microblog_endpoint(client, live_session):
    response = deliver(client, MICROBLOG, PAYLOAD, secret=django_settings.HOTLINE_SECRET)

    assert_error(response, 401, "bad_signature")
    assert Question.objects.count() == 0


def test_microblog_secret_is_refused_on_the_hotline_endpoint(client, live_session):
    payload = {"session": "live", "orders": [order("H-1")]}

    response = deliver(client, HOTLINE, payload, secret=django_settings.MICROBLOG_SECRET)

    assert_error(response, 401, "bad_signature")
    assert Question.objects.count() == 0


# --- unusable payloads --------------------------------------------------------------------


def test_invalid_json_is_refused_even_when_signed(client, live_session):
    assert_error(deliver(client, MICROBLOG, raw=b'{"statuses": ['), 400, "bad_json")
    assert_error(deliver(client, MICROBLOG, raw=b"\xff\xfe{}"), 400, "bad_json")


@pytest.mark.parametrize(
    "payload", [[status(1)], "statuses", 42, None], ids=["array", "string", "number", "null"]
)
def test_payload_that_is_not_an_object_is_refused(client, live_session, payload):
    assert_error(deliver(client, MICROBLOG, payload), 400, "bad_payload")
    assert Question.objects.count() == 0


@pytest.mark.parametrize(
    "payload",
    [
        {"session": "live"},
        {"session": "live", "statuses": []},
        {"session": "live", "statuses": [], "comments": []},
    ],
)
def test_payload_without_statuses_or_comments_is_refused(client, live_session, payload):
    assert_error(deliver(client, MICROBLOG, payload), 400, "empty")


def test_statuses_that_are_not_a_list_are_refused(client, live_session):
    response = deliver(client, MICROBLOG, {"session": "live", "statuses": {"id": 1}})

    assert_error(response, 400, "bad_payload")


def test_too_many_items_are_refused_as_a_whole(client, live_session, settings):
    settings.HUB_INTAKE_MAX_ITEMS = 3
    payload = {
        "session": "live",
        "statuses": [status(i) for i in range(1, 3)],
        "comments": [comment(i) for i in range(1, 3)],
    }

    assert_error(deliver(client, MICROBLOG, payload), 400, "too_many_items")
    assert Question.objects.count() == 0

    payload["comments"] = payload["comments"][:1]
    assert len(deliver(client, MICROBLOG, payload).json()["accepted"]) == 3


def test_body_over_the_size_limit_is_refused_before_anything_else(client, live_session, settings):
    settings.HUB_INTAKE_MAX_BODY_BYTES = 4096
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    payload = {"session": "live", "statuses": [status(i, text="问" * 400) for i in range(1, 5)]}
    assert len(encode(payload)) > 4096

    assert_error(deliver(client, MICROBLOG, payload), 413, "too_large")
    # Checked before the signature: an unsigned oversized body is also just "too large".
    assert_error(
        deliver(client, MICROBLOG, payload, omit=("X-Hub-Signature-256",)), 413, "too_large"
    )
    assert Question.objects.count() == 0


def test_body_over_django_upload_limit_is_also_too_large(client, live_session, settings):
    settings.HUB_INTAKE_MAX_BODY_BYTES = 8192
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    payload = {"session": "live", "statuses": [status(i, text="问" * 400) for i in range(1, 5)]}
    assert 4096 < len(encode(payload)) < 8192

    assert_error(deliver(client, MICROBLOG, payload), 413, "too_large")
    assert Question.objects.count() == 0


def test_body_under_the_size_limit_is_accepted(client, live_session, settings):
    settings.HUB_INTAKE_MAX_BODY_BYTES = 4096
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096

    response = deliver(client, MICROBLOG, {"session": "live", "statuses": [status(1)]})

    assert response.status_code == 200
    assert Question.objects.count() == 1


def test_unknown_session_slug_is_refused(client, live_session):
    response = deliver(client, MICROBLOG, {"session": "no-such", "statuses": [status(1)]})

    assert_error(response, 400, "unknown_session")
    assert Question.objects.count() == 0


@pytest.mark.parametrize("slug", ["", None, 7])
def test_session_that_is_not_a_slug_is_refused(client, live_session, slug):
    response = deliver(client, MICROBLOG, {"session": slug, "statuses": [status(1)]})

    assert_error(response, 400, "bad_session")


# --- hotline ------------------------------------------------------------------------------


def test_hotline_orders_are_stored_with_channel_contact_and_visibility(client, live_session):
    payload = {
        "session": "live",
        "orders": [
            order(
                "12345-0001", caller_name="王女士", caller_phone="138-1234-5678", channel="hotline"
            ),
            order(
                "12345-0002",
                content="电台连线：农民工工资被拖欠怎么办？",
                caller_name="李先生",
                caller_phone="+86 139 0000 1111",
                channel="radio",
                private=True,
            ),
            order("12345-0003", content="没有说明渠道的工单内容"),
        ],
    }

    response = deliver(client, HOTLINE, payload)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["rejected"] == [] and body["duplicates"] == []
    assert [a["source_id"] for a in body["accepted"]] == ["12345-0001", "12345-0002", "12345-0003"]
    hotline, radio, default = (Question.objects.get(pk=a["question"]) for a in body["accepted"])
    assert (hotline.channel, hotline.contact, hotline.visibility) == (
        Channel.HOTLINE,
        "13812345678",
        Visibility.PUBLIC,
    )
    assert hotline.asker_name == "王女士"
    assert hotline.state == "pending"
    assert (radio.channel, radio.contact, radio.visibility) == (
        Channel.RADIO,
        "13900001111",
        Visibility.PRIVATE,
    )
    assert radio.text == "电台连线：农民工工资被拖欠怎么办？"
    assert default.channel == Channel.HOTLINE
    assert default.contact == ""
    assert {q.session_id for q in (hotline, radio, default)} == {live_session.pk}


def test_single_hotline_order_may_be_sent_at_the_top_level(client, live_session):
    payload = {"session": "live", **order("12345-0100", caller_phone="0527-84361234")}

    response = deliver(client, HOTLINE, payload)

    assert response.status_code == 200, response.content
    accepted = response.json()["accepted"]
    assert [a["source_id"] for a in accepted] == ["12345-0100"]
    question = Question.objects.get(pk=accepted[0]["question"])
    assert question.channel == Channel.HOTLINE
    assert question.contact == "052784361234"


def test_hotline_order_on_an_unknown_channel_is_rejected(client, live_session):
    payload = {"session": "live", "orders": [order("F-1", channel="fax"), order("F-2")]}

    body = deliver(client, HOTLINE, payload).json()

    assert codes(body["rejected"]) == [("F-1", "bad_channel")]
    assert [a["source_id"] for a in body["accepted"]] == ["F-2"]
    assert list(Question.objects.values_list("channel_source_id", flat=True)) == ["F-2"]


def test_hotline_order_sent_twice_is_a_duplicate(client, live_session):
    payload = {"session": "live", "orders": [order("D-1")]}

    first = deliver(client, HOTLINE, payload).json()
    again = deliver(client, HOTLINE, payload).json()

    assert again["accepted"] == []
    assert refs(again["duplicates"]) == refs(first["accepted"])
    assert Question.objects.count() == 1


def test_hotline_batch_rejects_bad_orders_and_keeps_good_ones(client, live_session):
    payload = {
        "session": "live",
        "orders": [
            order("B-1"),
            {"content": "没有工单号的内容"},
            order("B-3", caller_phone="not a phone"),
            order("B-4", content="啊"),
            "junk",
        ],
    }

    body = deliver(client, HOTLINE, payload).json()

    assert [a["source_id"] for a in body["accepted"]] == ["B-1"]
    assert codes(body["rejected"]) == [
        (None, "missing_id"),
        ("B-3", "bad_contact"),
        ("B-4", "too_short"),
        (None, "bad_item"),
    ]
    assert Question.objects.count() == 1


def test_hotline_without_session_is_refused(client, live_session):
    assert_error(deliver(client, HOTLINE, {"orders": [order("X-1")]}), 400, "bad_session")
    assert_error(
        deliver(client, HOTLINE, {"session": "nope", "orders": [order("X-1")]}),
        400,
        "unknown_session",
    )
    assert Question.objects.count() == 0


def test_hotline_empty_and_oversized_batches_are_refused(client, live_session, settings):
    settings.HUB_INTAKE_MAX_ITEMS = 2

    assert_error(deliver(client, HOTLINE, {"session": "live", "orders": []}), 400, "empty")
    three = {"session": "live", "orders": [order(f"M-{i}") for i in range(3)]}
    assert_error(deliver(client, HOTLINE, three), 400, "too_many_items")
    assert_error(deliver(client, HOTLINE, [order("A-1")]), 400, "bad_payload")
    assert Question.objects.count() == 0


def test_hotline_phone_never_reaches_viewers(
    client, live_session, host, frames, django_capture_on_commit_callbacks
):
    from moderation.actions import do_approve_question

    with django_capture_on_commit_callbacks(execute=True):
        body = deliver(
            client,
            HOTLINE,
            {
                "session": "live",
                "orders": [
                    order("P-1", caller_phone="13812345678", caller_name="张先生"),
                ],
            },
        ).json()
    qid = body["accepted"][0]["question"]
    with django_capture_on_commit_callbacks(execute=True):
        do_approve_question(host, live_session.pk, qid)

    listing = client.get("/api/sessions/live/questions").content.decode()
    viewer = json.dumps(frames.viewer, ensure_ascii=False)
    assert str(qid) in listing and "question_published" in viewer
    for public in (listing, viewer):
        assert "13812345678" not in public and "138****5678" not in public
    assert {f["data"]["contact"] for f in frames.console if f["type"] == "question"} == {
        "138****5678"
    }
