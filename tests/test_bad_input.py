"""Bad input never loses anybody else's question (issue 10 §2).

A lone surrogate or NUL in any field is refused (400 ``bad_characters``, or the item
alone in a delivery); other control, noncharacter and bidirectional characters are
removed from free text and refuse an id. One bad item or question among many is refused
by itself: every other one is stored exactly as if it had come alone. Deep JSON and huge
numbers are refused with a code, on the webhooks and on the console socket, which stays
open. Source ids longer than the column are stored hashed, so they never collide.

Runs on PostgreSQL (the test default) and, for the web asks and the console, against a
real server on SQLite.
"""

from __future__ import annotations

import asyncio
import json
import os
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.db import connections
from django.urls import path
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hub import protocol
from hub.consumers import ConsoleConsumer, parse_command
from hub.errors import DomainError
from hub.intake import pipeline
from hub.intake.channels import intake_hotline, intake_microblog
from hub.intake.coalescer import IntakeCoalescer
from hub.intake.pipeline import (
    BadCharacters,
    IntakeItem,
    IntakeResult,
    NotStored,
    do_intake_batch,
)
from hub.models import Question
from hub.text import (
    MAX_JSON_DEPTH,
    UnreadableJSON,
    is_clean_id,
    loads_json,
    normalise_text,
    strip_unsafe,
    unstorable,
)
from tests.live import Browserless, HubServer, next_frame, prepare_database
from tests.services import postgres_url
from tests.test_webhooks import HOTLINE, MICROBLOG, deliver, order, status

pytestmark = pytest.mark.usefixtures("lexicon")

#: Each class of character the boundary handles, in the middle of a question: the two
#: that refuse the question, and the ones removed from it.
REFUSED = {"lone surrogate": "\ud800", "NUL": "\x00"}
REMOVED = {
    "C0 control": "\x07\x1b",
    "DEL and C1 controls": "\x7f\x85\x9b",
    "bidi override": "\u202e\u2066",
    "noncharacters": "\ufffe\uffff\ufdd0",
}


def _texts(poison: str, bad: int = 5) -> list[str]:
    """Twelve distinct questions; the one at ``bad`` carries ``poison``."""
    texts = [f"第{n}位市民：请问{n}号路口的红绿灯什么时候调整？" for n in range(12)]
    texts[bad] = f"第{bad}位市民：请问{poison}路口的红绿灯什么时候调整？"
    return texts


def _body(text: str) -> bytes:
    # ensure_ascii: a lone surrogate travels as a "\ud800" escape, as attackers send it.
    return json.dumps({"text": text}).encode()


# --- web asks through the coalescer (PostgreSQL) -------------------------------------------


def _submit_together(session_id: int, texts: list[str]) -> tuple[list[Any], list[int]]:
    """Twelve web questions handed to a coalescer at once, as twelve requests arriving
    together do: their outcomes, and the batch sizes."""
    coalescer = IntakeCoalescer()

    async def main() -> list[Any]:
        items = [
            IntakeItem(session_id=session_id, channel="web", text=text, asker_ref=f"bid:b{n}")
            for n, text in enumerate(texts)
        ]
        try:
            return list(await asyncio.gather(*(coalescer.submit(item) for item in items)))
        finally:
            await sync_to_async(connections.close_all)()

    return asyncio.run(main()), coalescer.batch_sizes


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("poison", REFUSED.values(), ids=REFUSED.keys())
def test_a_refused_character_among_twelve_web_questions_in_one_batch_loses_no_other(
    live_session: Any, poison: str
) -> None:
    texts = _texts(poison)
    outcomes, batches = _submit_together(live_session.pk, texts)

    assert batches == [12]
    bad = outcomes[5]
    assert isinstance(bad, BadCharacters) and (bad.http_status, bad.code) == (400, "bad_characters")
    others = [outcome for n, outcome in enumerate(outcomes) if n != 5]
    assert all(isinstance(o, IntakeResult) and o.created for o in others), others
    stored = {q.pk: q.text for q in Question.objects.filter(session=live_session)}
    assert sorted(stored.values()) == sorted(t for n, t in enumerate(texts) if n != 5)
    assert sorted(stored) == sorted(o.question.pk for o in others)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("poison", REMOVED.values(), ids=REMOVED.keys())
def test_a_removed_character_among_twelve_web_questions_is_dropped_from_that_question(
    live_session: Any, poison: str
) -> None:
    texts = _texts(poison)
    outcomes, batches = _submit_together(live_session.pk, texts)

    assert batches == [12]
    assert all(isinstance(o, IntakeResult) and o.created for o in outcomes), outcomes
    cleaned = normalise_text(texts[5])
    assert not any(char in cleaned for char in poison)
    stored = Question.objects.get(pk=outcomes[5].question.pk)
    assert stored.text == cleaned
    assert stored.original_text == strip_unsafe(texts[5])
    assert not any(char in stored.original_text for char in poison)
    assert Question.objects.filter(session=live_session).count() == 12


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "field, value, status, code",
    [
        ("nickname", "张\x00三", 400, "bad_characters"),
        ("contact", "138\x0012345678", 400, "bad_characters"),
        # The schema bounds their length, which a lone surrogate already fails: the
        # request does not match the schema.
        ("nickname", "张\ud800三", 422, "invalid"),
        ("contact", "138\ud80012345678", 422, "invalid"),
    ],
)
def test_a_refused_character_in_the_nickname_or_contact_refuses_that_ask_only(
    client: Any, live_session: Any, field: str, value: str, status: int, code: str
) -> None:
    body = json.dumps({"text": "请问公交线路什么时候调整？", field: value}).encode()
    response = client.post(
        f"/api/sessions/{live_session.slug}/questions", body, content_type="application/json"
    )

    assert response.status_code == status, response.content
    assert response.json()["code"] == code
    assert Question.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_nickname_loses_its_control_and_bidi_characters(client: Any, live_session: Any) -> None:
    body = json.dumps({"text": "请问公交线路什么时候调整？", "nickname": "张\u202e\x07三\x85"})
    response = client.post(
        f"/api/sessions/{live_session.slug}/questions", body, content_type="application/json"
    )

    assert response.status_code == 201, response.content
    assert Question.objects.get().asker_name == "张三"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "raw, status, code",
    [
        (b'{"text": "\xff\xfe\xed\xa0\x80"}', 400, "bad_json"),
        # Every API body is read by hub.text.loads_json (hub.wire.BodyParser).
        (b"[" * 100_000, 400, "too_deep"),
        (b'{"text": "x", "n": ' + b"7" * 5000 + b"}", 400, "bad_number"),
        # Brackets inside a string are text: a question too long.
        (b'{"text": "' + b"[" * 100_000 + b'"}', 422, "too_long"),
    ],
    ids=["invalid UTF-8", "deep JSON", "5000 digits", "brackets inside a string"],
)
def test_an_unreadable_or_deep_ask_body_is_refused_with_a_code(
    client: Any, live_session: Any, raw: bytes, status: int, code: str
) -> None:
    response = client.post(
        f"/api/sessions/{live_session.slug}/questions", raw, content_type="application/json"
    )

    assert (response.status_code, response.json()["code"]) == (status, code), response.content
    assert Question.objects.count() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("key", ["k\x01ey", "k\x7fey", "k\x85ey"])
def test_an_idempotency_key_with_a_control_character_is_refused(
    client: Any, live_session: Any, key: str
) -> None:
    response = client.post(
        f"/api/sessions/{live_session.slug}/questions",
        _body("请问公交线路什么时候调整？"),
        content_type="application/json",
        headers={"Idempotency-Key": key},
    )

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "bad_idempotency_key"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("slug", ["li%00ve", "li%ED%A0%80ve", "li%0Ave", "li%E2%80%AEve"])
def test_a_session_slug_with_a_refused_character_is_refused_before_any_lookup(
    client: Any, live_session: Any, slug: str
) -> None:
    response = client.post(
        f"/api/sessions/{slug}/questions",
        _body("请问公交线路什么时候调整？"),
        content_type="application/json",
    )

    # NUL and bytes that are not UTF-8 are refused for the whole site by the address
    # check (hub.middleware, 400); whatever reaches the view is no session's slug (404).
    assert (response.status_code, response.json()["code"]) in {
        (400, "invalid_characters"),
        (404, "not_found"),
    }, response.content
    assert Question.objects.count() == 0


# --- a batch that fails for one item's reason (PostgreSQL) ----------------------------------


def _items(session_id: int, texts: list[str]) -> list[IntakeItem]:
    return [
        IntakeItem(session_id=session_id, channel="hotline", text=text, source_id=f"o-{n}")
        for n, text in enumerate(texts)
    ]


@pytest.mark.django_db(transaction=True)
def test_a_batch_the_database_refuses_for_one_item_stores_every_other_item(
    live_session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What validation might miss one day: the checks are switched off, the database itself
    refuses the item (a lone surrogate cannot be encoded, on PostgreSQL and SQLite), the
    batch is taken in again one item at a time."""
    monkeypatch.setattr(pipeline, "unstorable", lambda text: False)
    monkeypatch.setattr(pipeline, "strip_unsafe", lambda text: text)
    monkeypatch.setattr(pipeline, "normalise_text", lambda text, **kw: text)
    texts = _texts("\ud800")
    outcomes = do_intake_batch(_items(live_session.pk, texts))

    assert isinstance(outcomes[5], NotStored) and outcomes[5].code == "not_stored"
    good = [outcome for n, outcome in enumerate(outcomes) if n != 5]
    assert all(isinstance(o, IntakeResult) and o.created for o in good)
    assert sorted(Question.objects.values_list("channel_source_id", flat=True)) == sorted(
        f"o-{n}" for n in range(12) if n != 5
    )
    again = do_intake_batch(_items(live_session.pk, texts))
    assert [isinstance(o, IntakeResult) and not o.created for o in again] == [
        n != 5 for n in range(12)
    ]


@pytest.mark.django_db(transaction=True)
def test_a_batch_that_fails_alone_raises_as_before(
    live_session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import OperationalError

    def gone(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("the database went away")

    monkeypatch.setattr(pipeline, "_store", gone)
    with pytest.raises(OperationalError):
        do_intake_batch(_items(live_session.pk, _texts("")))


# --- webhooks: the bad item alone is rejected, with its reason ------------------------------


def _deliver(client: Any, endpoint: str, payload: Any) -> Any:
    # ensure_ascii: lone surrogates and NUL travel as escapes, as a sender's JSON has them.
    return deliver(client, endpoint, raw=json.dumps(payload).encode())


def _bad_status_items() -> list[tuple[str, dict[str, Any], str]]:
    return [
        ("text", status(9001, text="请问\ud800公交线路什么时候调整？"), "bad_characters"),
        ("text", status(9002, text="请问\x00公交线路什么时候调整？"), "bad_characters"),
        ("id", {**status(9003), "idstr": "90\ud80003"}, "bad_id"),
        ("id", {**status(9004), "idstr": None, "id": "90\x0004"}, "bad_id"),
        ("id", {**status(9005), "idstr": "90\u202e05"}, "bad_id"),
        ("user.id", {**status(9006), "user": {"id": "u\x00", "screen_name": "甲"}}, "bad_user_id"),
        (
            "user.id",
            {**status(9007), "user": {"id": "u\ud800", "screen_name": "甲"}},
            "bad_user_id",
        ),
        ("screen_name", status(9008, name="张\ud800三"), "bad_characters"),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "field, bad, code",
    _bad_status_items(),
    ids=[f"{field}-{n}" for n, (field, _, _) in enumerate(_bad_status_items())],
)
def test_one_bad_microblog_item_is_rejected_alone_and_a_retry_finds_the_others_stored(
    client: Any, live_session: Any, field: str, bad: dict[str, Any], code: str
) -> None:
    good = [status(n, text=f"请问{n}号线公交什么时候调整？") for n in range(1, 6)]
    payload = {"session": live_session.slug, "statuses": [*good[:2], bad, *good[2:]]}

    first = _deliver(client, MICROBLOG, payload)

    assert first.status_code == 200, first.content
    body = first.json()
    assert [item["source_id"] for item in body["accepted"]] == [f"status:{n}" for n in range(1, 6)]
    [rejected] = body["rejected"]
    assert rejected["code"] == code and rejected["message"]
    assert rejected["item"] == "/statuses/2"  # named even when its id is refused
    assert [i["item"] for i in body["accepted"]] == ["/statuses/0", "/statuses/1"] + [
        f"/statuses/{n}" for n in (3, 4, 5)
    ]
    json.dumps(body, ensure_ascii=False).encode()  # echoed ids are escaped: UTF-8 safe
    stored = {q.channel_source_id: q.text for q in Question.objects.all()}
    assert stored == {f"status:{n}": f"请问{n}号线公交什么时候调整？" for n in range(1, 6)}

    retry = _deliver(client, MICROBLOG, payload).json()
    assert retry["accepted"] == []
    assert [i["question"] for i in retry["duplicates"]] == [i["question"] for i in body["accepted"]]
    assert [i["code"] for i in retry["rejected"]] == [code]


def _bad_orders() -> list[tuple[str, dict[str, Any], str]]:
    return [
        ("content", order("B-1", content="我家\ud800门口的路灯坏了"), "bad_characters"),
        ("content", order("B-2", content="我家\x00门口的路灯坏了"), "bad_characters"),
        ("order_id", order("B-\ud8003"), "bad_id"),
        ("order_id", order("B-\x004"), "bad_id"),
        ("order_id", order("B-\t5"), "bad_id"),
        ("caller_name", order("B-6", caller_name="王\ud800"), "bad_characters"),
        ("caller_name", order("B-7", caller_name="王\x00五"), "bad_characters"),
        ("caller_phone", order("B-8", caller_phone="138\x0012345678"), "bad_characters"),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "field, bad, code",
    _bad_orders(),
    ids=[f"{field}-{n}" for n, (field, _, _) in enumerate(_bad_orders())],
)
def test_one_bad_hotline_order_is_rejected_alone_and_a_retry_finds_the_others_stored(
    client: Any, live_session: Any, field: str, bad: dict[str, Any], code: str
) -> None:
    good = [order(f"G-{n}", content=f"{n}号楼门口的路灯坏了，请尽快修理") for n in range(4)]
    payload = {"session": live_session.slug, "orders": [good[0], bad, *good[1:]]}

    first = _deliver(client, HOTLINE, payload)

    assert first.status_code == 200, first.content
    body = first.json()
    assert [item["source_id"] for item in body["accepted"]] == [f"G-{n}" for n in range(4)]
    assert [(item["item"], item["code"]) for item in body["rejected"]] == [("/orders/1", code)]
    json.dumps(body, ensure_ascii=False).encode()
    assert Question.objects.count() == 4
    retry = _deliver(client, HOTLINE, payload).json()
    assert (len(retry["accepted"]), len(retry["duplicates"])) == (0, 4)
    assert [item["code"] for item in retry["rejected"]] == [code]


@pytest.mark.django_db
def test_a_hotline_order_loses_control_and_bidi_characters_from_its_text_and_caller_name(
    client: Any, live_session: Any
) -> None:
    payload = {
        "session": live_session.slug,
        "orders": [
            order("C-1", content="门口\x07的路灯\u202e坏了\r\n请修理", caller_name="王\x85五")
        ],
    }

    body = _deliver(client, HOTLINE, payload).json()

    assert len(body["accepted"]) == 1, body
    question = Question.objects.get()
    assert (question.text, question.asker_name) == ("门口的路灯坏了\n请修理", "王五")
    assert question.original_text == "门口的路灯坏了\n请修理"


@pytest.mark.django_db
def test_an_order_id_with_surrounding_whitespace_is_the_same_order(
    client: Any, live_session: Any
) -> None:
    first = _deliver(client, HOTLINE, {"session": live_session.slug, **order("T-1")}).json()
    again = _deliver(client, HOTLINE, {"session": live_session.slug, **order(" T-1\n")}).json()

    assert [i["question"] for i in again["duplicates"]] == [first["accepted"][0]["question"]]
    assert Question.objects.count() == 1


@pytest.mark.django_db
def test_two_long_order_ids_that_differ_only_at_the_end_are_two_questions(
    client: Any, live_session: Any
) -> None:
    first_id, second_id = "X" * 499 + "1", "X" * 499 + "2"
    payload = {
        "session": live_session.slug,
        "orders": [
            order(first_id, content="第一张工单：小区电梯坏了"),
            order(second_id, content="第二张工单：小区停车难"),
        ],
    }

    body = _deliver(client, HOTLINE, payload).json()

    assert [item["source_id"] for item in body["accepted"]] == [first_id, second_id], body
    assert Question.objects.count() == 2
    assert all(
        source_id.startswith("sha256:") and len(source_id) <= 120
        for source_id in Question.objects.values_list("channel_source_id", flat=True)
    )
    retry = _deliver(client, HOTLINE, payload).json()
    assert [item["source_id"] for item in retry["duplicates"]] == [first_id, second_id]


@pytest.mark.django_db
def test_an_order_id_that_looks_like_a_stored_hash_is_not_the_long_order(
    client: Any, live_session: Any
) -> None:
    long_id = "Y" * 300
    _deliver(client, HOTLINE, {"session": live_session.slug, **order(long_id)})
    [stored] = Question.objects.values_list("channel_source_id", flat=True)

    body = _deliver(client, HOTLINE, {"session": live_session.slug, **order(stored)}).json()

    assert [item["item"] for item in body["accepted"]] == [""], body  # the top-level order
    assert Question.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    "raw, code",
    [
        (b'{"session": "live", "orders": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "too_deep"),
        (b'{"session": "live", "orders": [' + b'{"a":' * 40 + b"1" + b"}" * 40 + b"]}", "too_deep"),
        (b'{"session": "live", "order_id": 1e999999, "content": "x"}', "bad_number"),
        (b'{"session": "live", "order_id": ' + b"7" * 5000 + b', "content": "x"}', "bad_number"),
        (b'{"session": "live", "order_id": NaN, "content": "x"}', "bad_number"),
        (b'{"session": "live", "orders": [{"order_id": "\xff"}]}', "bad_json"),
    ],
    ids=["100k levels", "41 levels", "1e999999", "5000 digits", "NaN", "invalid UTF-8"],
)
def test_deep_json_and_huge_numbers_in_a_webhook_are_a_400(
    client: Any, live_session: Any, raw: bytes, code: str
) -> None:
    response = deliver(client, HOTLINE, raw=raw)

    assert response.status_code == 400, response.content
    assert response.json()["code"] == code


@pytest.mark.django_db
def test_json_as_deep_as_a_real_delivery_is_accepted(client: Any, live_session: Any) -> None:
    nested: Any = "深"
    for _ in range(25):
        nested = {"retweeted_status": nested}
    item = {**status(77), "extra": nested}

    body = _deliver(client, MICROBLOG, {"session": live_session.slug, "statuses": [item]}).json()

    assert len(body["accepted"]) == 1, body


@pytest.mark.django_db
@pytest.mark.parametrize("slug", ["li\x00ve", "li\ud800ve", "live\n"])
def test_a_webhook_session_slug_with_control_characters_is_a_bad_session(
    client: Any, live_session: Any, slug: str
) -> None:
    response = _deliver(client, HOTLINE, {"session": slug, **order("S-1")})

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "bad_session"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "header, value, code",
    [
        ("signature", "sha256=\xe9t\xe9", "bad_signature"),
        ("signature", "sha256=\x85", "bad_signature"),
        ("timestamp", "\u0661\u0667\u0666\u0663", "bad_timestamp"),
        ("timestamp", "9" * 5000, "bad_timestamp"),
        ("timestamp", "--17", "bad_timestamp"),
    ],
)
def test_odd_signature_headers_are_refused_as_401(
    client: Any, live_session: Any, header: str, value: str, code: str
) -> None:
    body = json.dumps({"session": live_session.slug, **order("H-1")}).encode()
    kwargs: dict[str, Any] = {"raw": body}
    if header == "signature":
        kwargs["signature"] = value
    else:
        kwargs["timestamp"] = value
    response = deliver(client, HOTLINE, **kwargs)

    assert response.status_code == 401, response.content
    assert response.json()["code"] == code


# --- console socket (in process, PostgreSQL) -------------------------------------------------

console_app = URLRouter([path("ws/sessions/<slug:slug>/console", ConsoleConsumer.as_asgi())])


async def _frame(communicator: WebsocketCommunicator, type_: str) -> dict[str, Any]:
    while True:
        frame = json.loads(await communicator.receive_from(timeout=5))
        if frame["type"] == type_:
            return frame


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "payload, code",
    [
        ("[" * 60_000, "too_deep"),
        ('{"id": "d", "action": "approve", "question": ' + "[" * 40 + "]" * 40 + "}", "too_deep"),
        ('{"id": "n", "action": "approve", "question": 1e999999}', "bad_number"),
        ('{"id": "n", "action": "approve", "question": 99999999999999999999999}', "bad_number"),
        ('{"id": "s", "action": "defer", "question": 1, "note": "\\ud800"}', "bad_characters"),
        ('{"id": "z", "action": "defer", "question": 1, "note": "a\\u0000b"}', "bad_characters"),
        ('{"id": "\\ud800", "action": "approve", "question": 1}', "bad_characters"),
    ],
    ids=["60k levels", "41 levels", "1e999999", "23 digits", "surrogate", "NUL", "surrogate id"],
)
async def test_a_deep_or_unfit_console_frame_gets_an_error_frame_and_the_socket_stays_open(
    users: dict[str, Any], live_session: Any, payload: str, code: str
) -> None:
    console = WebsocketCommunicator(console_app, f"/ws/sessions/{live_session.slug}/console")
    console.scope["user"] = users["host"]
    assert (await console.connect())[0]
    await _frame(console, "snapshot")

    await console.send_to(text_data=payload)

    error = await _frame(console, "error")
    assert error["data"]["code"] == code
    await console.send_json_to({"id": "still", "action": "set_status", "status": "ended"})
    assert (await _frame(console, "ack"))["data"]["result"] == {"status": "ended"}
    await console.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_typed_call_in_loses_control_and_bidi_characters(
    users: dict[str, Any], live_session: Any
) -> None:
    console = WebsocketCommunicator(console_app, f"/ws/sessions/{live_session.slug}/console")
    console.scope["user"] = users["screener"]
    assert (await console.connect())[0]
    await _frame(console, "snapshot")

    await console.send_json_to(
        {
            "id": "c",
            "action": "submit_call",
            "channel": "hotline",
            "text": "门口\u202e的路灯\x07坏了",
            "name": "王\x85五",
        }
    )

    ack = await _frame(console, "ack")
    question = await sync_to_async(Question.objects.get)(pk=ack["data"]["result"]["question"])
    assert (question.text, question.asker_name) == ("门口的路灯坏了", "王五")
    await console.disconnect()


# --- a real server on SQLite --------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The product under Daphne on a database of its own: SQLite (the embedded default)
    and a fresh PostgreSQL database."""
    folder = tmp_path_factory.mktemp(f"bad-input-{request.param}")
    database = folder / "hub.sqlite3"
    extra: dict[str, str] = {}
    dropping: Callable[[], None] | None = None
    if request.param == "postgresql":
        extra["HUB_DATABASE_URL"], dropping = _fresh_postgres_database()
    prepare_database(database, **extra)
    hub = HubServer(database, folder / "server.log", **extra)
    hub.count_texts = partial(_count_texts, extra.get("HUB_DATABASE_URL"), database)  # type: ignore[attr-defined]
    yield hub
    hub.stop()
    if dropping is not None:
        dropping()


def _fresh_postgres_database() -> tuple[str, Callable[[], None]]:
    import psycopg

    base = postgres_url()
    if base is None:
        pytest.fail("PostgreSQL is not running at 127.0.0.1:5432 (HUB_TEST_DATABASE_URL)")
    name = f"hub_bad_input_{os.getpid()}"
    admin = base.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}"')
        db.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return base.rsplit("/", 1)[0] + "/" + name, drop


def _count_texts(url: str | None, database: Path, prefix: str) -> list[str]:
    """The texts of the stored questions starting with ``prefix``, sorted."""
    if url is None:
        import sqlite3

        with sqlite3.connect(database) as db:
            rows = db.execute("SELECT text FROM hub_question WHERE text LIKE ?", (prefix + "%",))
            return sorted(text for (text,) in rows)
    import psycopg

    with psycopg.connect(url) as db:
        rows = db.execute("SELECT text FROM hub_question WHERE text LIKE %s", (prefix + "%",))
        return sorted(text for (text,) in rows)


@pytest.mark.liveserver
@pytest.mark.parametrize(
    "poison", [*REFUSED.values(), REMOVED["C0 control"]], ids=["surrogate", "NUL", "C0"]
)
def test_a_real_server_takes_in_the_other_eleven_of_twelve_concurrent_asks(
    server: Any, poison: str
) -> None:
    prefix = f"真机{len(server.count_texts('真机'))}"
    texts = [f"{prefix}-{n}：请问{n}号路口的红绿灯什么时候调整？" for n in range(12)]
    texts[5] = f"{prefix}-5：请问{poison}路口的红绿灯什么时候调整？"

    def ask(text: str) -> tuple[int, Any]:
        return Browserless(server).request("POST", "/api/sessions/demo/questions", raw=_body(text))

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(ask, texts))

    statuses = [status for status, _ in answers]
    others = [t for n, t in enumerate(texts) if n != 5]
    if poison in REFUSED.values():
        assert statuses[5] == 400 and answers[5][1]["code"] == "bad_characters", answers[5]
        assert server.count_texts(prefix) == sorted(others)
    else:
        assert statuses[5] == 201, answers[5]
        assert server.count_texts(prefix) == sorted([*others, normalise_text(texts[5])])
    assert [s for n, s in enumerate(statuses) if n != 5] == [201] * 11, answers


@pytest.mark.liveserver
async def test_a_real_console_socket_survives_a_frame_nested_60000_deep(server: Any) -> None:
    host = Browserless(server)
    host.login("host")
    async with host.console() as console:
        await next_frame(console, "snapshot")
        await console.send("[" * 60_000)
        assert (await next_frame(console, "error"))["data"]["code"] == "too_deep"
        await console.send("[" * 30_000 + "]" * 30_000)
        assert (await next_frame(console, "error"))["data"]["code"] == "too_deep"
        # Still open: the next command is answered (here refused: no such question).
        await console.send(json.dumps({"id": "after", "action": "approve", "question": 10**9}))
        refusal = await next_frame(console, "error")
        assert (refusal["data"]["id"], refusal["data"]["code"]) == ("after", "not_found")


# --- properties (hypothesis): the normaliser, the webhook parsers, the console parser -------

#: Any character (lone surrogates included), and often the ones the boundary handles.
ANY_CHAR = st.one_of(
    st.characters(exclude_categories=()),
    st.sampled_from(
        [*REFUSED.values(), *"".join(REMOVED.values()), "\r", "\n", "\t", "\u3000", "　", "＃"]
    ),
    st.sampled_from("請問臺灣為什麼这个问题十三九七"),
)
ANY_TEXT = st.text(ANY_CHAR, max_size=60)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | ANY_TEXT,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(ANY_TEXT, children, max_size=4),
    max_leaves=12,
)
PROPERTIES = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
DATABASE_PROPERTIES = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _clean_text(text: str) -> bool:
    return all(char == "\n" or unicodedata.category(char)[0] != "C" for char in text)


@PROPERTIES
@given(text=ANY_TEXT, simplify=st.booleans())
def test_normalised_text_holds_no_control_character_and_normalising_again_changes_nothing(
    text: str, simplify: bool
) -> None:
    once = normalise_text(text, to_simplified=simplify)

    assert _clean_text(once)
    assert not unstorable(once)
    assert normalise_text(once, to_simplified=simplify) == once


@PROPERTIES
@given(text=ANY_TEXT)
def test_stripped_text_keeps_only_what_free_text_may_hold(text: str) -> None:
    stripped = strip_unsafe(text)

    assert strip_unsafe(stripped) == stripped
    assert not unstorable(stripped) and "\r" not in stripped
    assert is_clean_id(stripped.replace("\n", "").replace("\t", ""))
    # Nothing but the unsafe characters goes: the safe ones keep their order.
    assert all(char in text or char == "\n" for char in stripped)


@PROPERTIES
@given(data=st.one_of(st.binary(max_size=200), ANY_TEXT, JSON_VALUES.map(json.dumps)))
def test_json_from_outside_parses_or_is_refused_with_a_code(data: Any) -> None:
    try:
        value = loads_json(data)
    except UnreadableJSON as refused:
        assert refused.code in {"bad_json", "too_deep", "bad_number"} and refused.message
        return
    json.dumps(value)  # a parsed value is plain JSON again


@PROPERTIES
@given(depth=st.integers(min_value=0, max_value=3000), opener=st.sampled_from("[{"))
def test_json_deeper_than_the_limit_is_refused_however_deep(depth: int, opener: str) -> None:
    if opener == "[":
        text = "[" * depth + "1" + "]" * depth
    else:
        text = '{"k": ' * depth + "1" + "}" * depth
    try:
        loads_json(text)
    except UnreadableJSON as refused:
        assert depth > MAX_JSON_DEPTH and refused.code == "too_deep"
    else:
        assert depth <= MAX_JSON_DEPTH


IDS = st.one_of(st.text("abc123-_", min_size=1, max_size=8), st.integers(min_value=0))


def _usually(good: Any, odd: Any) -> Any:
    """Mostly well-formed values (so that items are stored), sometimes anything."""
    return st.one_of(good, good, good, odd)


def _order() -> Any:
    return st.fixed_dictionaries(
        {
            "order_id": _usually(IDS, st.one_of(ANY_TEXT, JSON_VALUES)),
            "content": _usually(
                ANY_TEXT.map(lambda t: "请问路灯什么时候修" + t), st.one_of(ANY_TEXT, JSON_VALUES)
            ),
        },
        optional={
            "caller_name": st.one_of(ANY_TEXT, JSON_VALUES),
            "caller_phone": st.one_of(
                st.sampled_from(["13812345678", "138\x0012345678", "+86 139-1234-5678"]),
                JSON_VALUES,
            ),
            "channel": st.one_of(st.sampled_from(["hotline", "radio", "web"]), JSON_VALUES),
            "private": JSON_VALUES,
        },
    )


def _status() -> Any:
    return st.fixed_dictionaries(
        {
            "id": _usually(IDS, st.one_of(ANY_TEXT, JSON_VALUES)),
            "text": _usually(
                ANY_TEXT.map(lambda t: "请问公交什么时候调整" + t), st.one_of(ANY_TEXT, JSON_VALUES)
            ),
        },
        optional={
            "idstr": st.one_of(ANY_TEXT, JSON_VALUES),
            "user": st.one_of(
                st.fixed_dictionaries(
                    {}, optional={"id": JSON_VALUES, "idstr": ANY_TEXT, "screen_name": JSON_VALUES}
                ),
                JSON_VALUES,
            ),
        },
    )


def _payloads(items: Any, key: str) -> Any:
    return _usually(
        st.fixed_dictionaries(
            {
                "session": _usually(st.just("live"), ANY_TEXT),
                key: st.lists(items, min_size=1, max_size=5),
            }
        ),
        st.one_of(
            JSON_VALUES,
            st.fixed_dictionaries({key: st.lists(st.one_of(items, JSON_VALUES), max_size=5)}),
        ),
    )


def _check_outcome(run: Callable[[Any], Any], payload: Any) -> None:
    try:
        outcome = run(payload)
    except DomainError as refused:
        assert refused.code and refused.message
        event(f"refused as a whole: {refused.code}")
        return
    answer = outcome.as_dict()
    event("some item stored" if answer["accepted"] or answer["duplicates"] else "items rejected")
    json.dumps(answer, ensure_ascii=False).encode()  # the response can be sent
    for item in answer["accepted"] + answer["duplicates"]:
        assert isinstance(item["question"], int)
    for item in answer["rejected"]:
        assert item["code"] and item["message"]


@pytest.mark.django_db
@DATABASE_PROPERTIES
@given(payload=_payloads(_order(), "orders"))
def test_any_hotline_payload_gives_per_item_outcomes_or_a_clear_refusal(
    live_session: Any, payload: Any
) -> None:
    _check_outcome(intake_hotline, payload)


@pytest.mark.django_db
@DATABASE_PROPERTIES
@given(payload=st.one_of(_payloads(_status(), "statuses"), _payloads(_status(), "comments")))
def test_any_microblog_payload_gives_per_item_outcomes_or_a_clear_refusal(
    live_session: Any, payload: Any
) -> None:
    _check_outcome(intake_microblog, payload)


#: Text without the refused characters (the removed ones often): what commands carry.
STORABLE_TEXT = st.text(
    st.one_of(
        st.characters(exclude_categories=("Cs",), exclude_characters="\x00"),
        st.sampled_from([*"".join(REMOVED.values()), "\r", "\n", "\t", "请", "问"]),
    ),
    max_size=40,
)


def _commands() -> Any:
    """Console commands of every action, their free text from any character."""
    free = _usually(STORABLE_TEXT, ANY_TEXT)
    question = _usually(st.integers(min_value=1, max_value=10**6), JSON_VALUES)
    shapes = [
        st.fixed_dictionaries(
            {"action": st.sampled_from(["approve", "queue", "on_air", "off_air", "unmerge"])},
            optional={"question": question},
        ),
        st.fixed_dictionaries(
            {"action": st.just("reject"), "question": question},
            optional={"reason": st.sampled_from(["abusive", "other", "nope"]), "note": free},
        ),
        st.fixed_dictionaries(
            {"action": st.sampled_from(["defer", "flag"]), "question": question},
            optional={"note": free},
        ),
        st.fixed_dictionaries(
            {"action": st.sampled_from(["live_answer", "answered"]), "question": question},
            optional={"summary": free},
        ),
        st.fixed_dictionaries(
            {
                "action": st.just("submit_call"),
                "channel": st.sampled_from(["hotline", "radio", "onsite", "web"]),
                "text": free,
            },
            optional={"name": free, "phone": free, "private": st.booleans()},
        ),
        st.fixed_dictionaries(
            {"action": st.just("reorder"), "order": st.lists(st.integers(), max_size=4)}
        ),
        st.fixed_dictionaries({"action": _usually(STORABLE_TEXT, ANY_TEXT)}),
    ]
    with_id = st.tuples(st.one_of(*shapes), st.one_of(st.none(), ANY_TEXT, st.integers()))
    return with_id.map(lambda pair: json.dumps({**pair[0], "id": pair[1]}))


@PROPERTIES
@given(frame=st.one_of(_commands(), JSON_VALUES.map(json.dumps), ANY_TEXT, st.none()))
def test_any_console_frame_is_a_command_or_an_error_frame(frame: Any) -> None:
    parsed = parse_command(frame)

    if isinstance(parsed, protocol.Refusal):
        assert parsed.code and parsed.message
        json.dumps(parsed.model_dump(mode="json"), ensure_ascii=False).encode()
        event(f"refused: {parsed.code}")
        return
    event(f"command: {parsed.action}")
    for field, value in parsed:
        if isinstance(value, str) and field != "id":
            assert strip_unsafe(value) == value and not unstorable(value)
