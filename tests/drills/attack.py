"""The attacker's drill (issue 10, "Done when"): a real server per database, attacked over
HTTP and WebSocket only, and the figures printed as a table.

    .venv/bin/python -m tests.drills.attack --databases sqlite,postgres --out var/attack-report.txt

(``make drill-attack``). For each database the drill starts the product the way ``make run``
does — ``migrate``, ``load_demo`` and ``python -m hub.serve`` on a free 127.0.0.1 port — in a
temporary folder (SQLite) or a database of its own (PostgreSQL ``hub_attack_<pid>``, made
and dropped by the run, next to the test database of ``tests.services.postgres_url``). The
server runs with the product's settings except: the web-ask rates are high (every client
of the drill comes from 127.0.0.1, see ``tests.live.server_env``) and the WebRTC connect
deadline is short (``HUB_WEBRTC_CONNECT_TIMEOUT_SECONDS``), so that the slot attack ends in
seconds. The per-address caps under attack (WebSocket sockets, WHEP/WHIP/guest offer rates,
supports, votes, login failures) are the product's defaults.

It may log in with the demo accounts (as the pages do) to act as staff: the screener types
call-ins, the host approves and puts questions on air, the leader answers, staff write the
answer library. Then, as an outsider:

1. Personal data: every written form of :mod:`tests.pii_scan_forms` planted in the web ask
   (text, nickname, a private question), a signed microblog delivery (text, screen_name),
   a signed hotline delivery (content, caller name and phone), the screener's call-in, the
   leader's live answer and summary, library entries and guest labels; then every public
   GET route of the URL conf (:class:`tests.pii_scan_outputs.Crawler`, over HTTP, as an
   anonymous citizen and as the observer, plus the links those outputs offer), the viewer
   stream (live frames, snapshot, ``since=0`` replay) and the observer's console are
   scanned. Each planted field the public is meant to see must be seen (masked) somewhere,
   or the scan proved nothing about it.
2. Poison: twelve concurrent web asks, one holding a lone surrogate (then a NUL); signed
   microblog and hotline deliveries with one bad item (surrogate / NUL in the text, the id,
   the user id, the order id, the caller name), delivered twice.
3. 5xx: a bounded sweep of hostile values (NUL, lone surrogate, ``²``, 30 and 5,000 digits,
   extreme dates, negative, empty) in every path parameter, query parameter and JSON field
   of every route of the URL conf and of ``/api/openapi.json``, plus deep JSON, multipart
   without a boundary, invalid UTF-8, a 100 KB URL and a 100 KB header, hostile ``since``
   values on the viewer stream and hostile console frames; as anonymous and as the host.
4. Stuffing: cookieless supports, page-issued browser ids from one address, 109 votes,
   25 wrong admin passwords then the right one, a library write without the CSRF token.
5. Slots: eight WHEP offers that can never connect, then a real viewer after the deadline;
   500 viewer and 100 console sockets from one address.

Every figure has a target; the exit status is 1 when any target is missed. Nothing here is
timed: the figures are the server's answers. Counts are bounded (``--quick`` for the test
suite, ``tests/test_attack_drill.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import re
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The product's own settings (not the test suite's): the routes to scan come from its URL
# conf, the caps under attack are its defaults and the webhook secrets its demo ones.
os.environ["DJANGO_SETTINGS_MODULE"] = "hub.settings"

import django

django.setup()

import websockets  # noqa: E402
from django.conf import settings  # noqa: E402

from hub.intake.signing import sign  # noqa: E402
from tests.bench.attack_slots import post_sdp, sockets, whep_offer  # noqa: E402
from tests.live import (  # noqa: E402
    DEMO_PASSWORD,
    Browserless,
    HubServer,
    next_frame,
    prepare_database,
    viewer,
)
from tests.pii_scan_forms import FORM_KEYS, FORMS, Plants, scan, seen  # noqa: E402
from tests.pii_scan_outputs import Crawler, Output, fill, params_of, url_patterns  # noqa: E402
from tests.pii_scan_plant import name_value, subject_text  # noqa: E402
from tests.services import postgres_url  # noqa: E402

SLUG = "demo"
ASK = f"/api/sessions/{SLUG}/questions"
MICROBLOG = "/api/intake/microblog"
HOTLINE = "/api/intake/hotline"
CONNECT_TIMEOUT = 3.0  # HUB_WEBRTC_CONNECT_TIMEOUT_SECONDS for the drill's server
#: Fields the public is meant to see (masked): the scan must have seen each one's marker in
#: some output, else it proved nothing about that field.
MUST_BE_SEEN = (
    "web.text",
    "web.nickname",
    "microblog.text",
    "microblog.screen_name",
    "hotline.content",
    "callin.text",
    "leader.live_answer",
    "leader.summary",
    "library.question",
    "library.answer",
)
SURROGATE, NUL = "\ud800", "\x00"
#: The last line of a traceback in the server's log: the exception's type.
LOGGED_EXCEPTION = re.compile(r"^((?:\w+\.)*\w+(?:Error|Exception|Denied|Redirect)\w*):", re.M)


# --- counts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    forms: tuple[str, ...]
    cookieless_supports: int = 30
    issued_supports: int = 30
    votes: int = 109
    wrong_passwords: int = 25
    viewer_sockets: int = 500
    console_sockets: int = 100
    sweep_values: tuple[str, ...] = ()
    sweep_as_host: bool = True
    follow_links: bool = True  # also scan the links the public outputs offer


FULL = Counts(forms=FORM_KEYS)
QUICK = Counts(
    forms=FORM_KEYS[::7],
    cookieless_supports=25,
    issued_supports=25,
    votes=25,
    wrong_passwords=12,
    viewer_sockets=110,
    console_sockets=25,
    sweep_values=("NUL", "surrogate", "5000 digits"),
    sweep_as_host=False,
    follow_links=False,
)


# --- figures ------------------------------------------------------------------------------


@dataclass
class Figure:
    section: str
    attempt: str
    before: str  # what issue 10 found on the old main
    result: str
    target: str
    met: bool


@dataclass
class Run:
    database: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # details behind a missed target
    seconds: float = 0.0

    def add(self, *args: Any) -> None:
        self.figures.append(Figure(*args))

    @property
    def met(self) -> bool:
        return bool(self.figures) and all(f.met for f in self.figures)


# --- raw HTTP -----------------------------------------------------------------------------


@dataclass
class Reply:
    """An HTTP answer as :class:`tests.pii_scan_outputs.Crawler` reads one (the Django test
    client's response interface); ``status_code`` 0 is a dropped connection."""

    status_code: int
    headers: dict[str, str]
    content: bytes
    streaming = False

    def get(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    def __getitem__(self, name: str) -> str:
        return self.headers[name.lower()]

    def items(self) -> Any:
        """The headers, as the Crawler scans them with the body (a Location or a
        Content-Disposition is an output too)."""
        return self.headers.items()

    def json(self) -> Any:
        try:
            return json.loads(self.content or b"null")
        except ValueError:
            return None


def ascii_path(path: str) -> str:
    """``path`` with every non-ASCII or control character percent-encoded (as a browser
    sends a typed address); what is already encoded is left alone."""
    return "".join(ch if " " < ch < "\x7f" else quote(ch) for ch in path)


def quote(value: str) -> str:
    """Percent-encoded as it travels (a lone surrogate as the bytes it would be in UTF-8)."""
    return urllib.parse.quote(value.encode("utf-8", "surrogatepass"), safe="")


class Raw:
    """One request per connection, nothing followed or fixed up: what the server answers."""

    def __init__(self, port: int, cookie: str = "", csrf: str = "") -> None:
        self.port, self.cookie, self.csrf = port, cookie, csrf

    def send(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 20.0,
    ) -> Reply:
        sent = dict(headers or {})
        if self.cookie:
            sent.setdefault("Cookie", self.cookie)
        if self.csrf and method not in ("GET", "HEAD"):
            sent.setdefault("X-CSRFToken", self.csrf)
        if body is not None:
            sent.setdefault("Content-Type", "application/json")
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, ascii_path(path), body=body, headers=sent)
            response = connection.getresponse()
            content = response.read()
            headers: dict[str, str] = {}
            for name, value in response.getheaders():
                # Repeated headers (Set-Cookie) are kept one a line.
                key = name.lower()
                headers[key] = f"{headers[key]}\n{value}" if key in headers else value
            return Reply(response.status, headers, content)
        except (OSError, http.client.HTTPException):
            return Reply(0, {}, b"")
        finally:
            connection.close()

    def get(self, path: str) -> Reply:
        return self.send("GET", path)


def raw_for(agent: Browserless, port: int) -> Raw:
    return Raw(port, agent.cookie_header(), agent.cookie("csrftoken") or "")


def page_loaded(hub: HubServer, path: str = f"/s/{SLUG}/") -> Browserless:
    """A browser that loaded a page (its browser id and CSRF cookie issued)."""
    agent = Browserless(hub)
    agent.load_page(path)
    return agent


def pages_loaded(hub: HubServer, count: int, path: str = f"/s/{SLUG}/") -> list[Browserless]:
    """``count`` browsers, each of which loaded a page (a few at a time)."""
    with ThreadPoolExecutor(max_workers=6) as pool:
        return list(pool.map(lambda _: page_loaded(hub, path), range(count)))


def signed(hub: HubServer, path: str, payload: Any, secret: str) -> tuple[int, Any]:
    """A signed webhook delivery; ``ensure_ascii``: surrogates and NUL travel as escapes."""
    body = json.dumps(payload).encode()
    headers = {"X-Hub-Signature-256": sign(secret, body), "X-Hub-Timestamp": str(int(time.time()))}
    reply = Raw(hub.port).send("POST", path, body, headers)
    return reply.status_code, reply.json()


# --- WebSockets ---------------------------------------------------------------------------


class Console:
    """A console socket of a logged-in user; every frame kept, commands answered by id."""

    def __init__(self, agent: Browserless) -> None:
        self.agent = agent
        self.frames: list[dict[str, Any]] = []
        self._ids = iter(range(1, 10**9))
        self._waiting: dict[Any, asyncio.Future[tuple[bool, Any]]] = {}
        self._snapshot = asyncio.Event()

    async def __aenter__(self) -> Console:
        self.ws = await self.agent.console(SLUG)
        self._reader = asyncio.ensure_future(self._read())
        await asyncio.wait_for(self._snapshot.wait(), 15)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._reader.cancel()
        await self.ws.close()

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for message in self.ws:
                frame = json.loads(message)
                self.frames.append(frame)
                if frame["type"] == "snapshot":
                    self._snapshot.set()
                if frame["type"] in ("ack", "error"):
                    waiting = self._waiting.pop(frame["data"].get("id"), None)
                    if waiting is not None and not waiting.done():
                        ok = frame["type"] == "ack"
                        waiting.set_result((ok, frame["data"].get("result" if ok else "code")))

    async def command(self, **fields: Any) -> tuple[bool, Any]:
        command_id = next(self._ids)
        answer: asyncio.Future[tuple[bool, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[command_id] = answer
        await self.ws.send(json.dumps({**fields, "id": command_id}))
        return await asyncio.wait_for(answer, 15)

    def questions(self) -> dict[int, dict[str, Any]]:
        """The questions as this console knows them (snapshot, then every change)."""
        known: dict[int, dict[str, Any]] = {}
        for frame in self.frames:
            kind, data = frame["type"], frame["data"]
            batch = {"snapshot": "questions", "questions_batch": "questions"}.get(kind)
            for question in data.get(batch, []) if batch else [data] if kind == "question" else []:
                known[int(question["id"])] = question
        return known

    async def settle(self, quiet: float = 0.6, limit: float = 5.0) -> None:
        """Wait until no frame came for ``quiet`` seconds (at most ``limit``)."""
        deadline = time.monotonic() + limit
        count = -1
        while count != len(self.frames) and time.monotonic() < deadline:
            count = len(self.frames)
            await asyncio.sleep(quiet)


async def stored_questions(agent: Browserless) -> dict[int, dict[str, Any]]:
    """Every question of the session, as a fresh console of ``agent`` (the host) sees it."""
    async with Console(agent) as console:
        await console.settle(0.4)
        return console.questions()


async def viewer_frames(hub: HubServer, since: int | None = None, quiet: float = 0.7) -> list[Any]:
    """The frames a viewer gets on connecting (until ``quiet`` seconds pass without one)."""
    frames: list[Any] = []
    async with viewer(hub, SLUG, since) as ws:
        with contextlib.suppress(TimeoutError, websockets.ConnectionClosed):
            while len(frames) < 20_000:
                frames.append(await next_frame(ws, timeout=quiet))
    return frames


class Collector:
    """A viewer connected through the planting: every live frame."""

    def __init__(self, hub: HubServer) -> None:
        self.hub = hub
        self.frames: list[str] = []

    async def __aenter__(self) -> Collector:
        self.ws = await viewer(self.hub, SLUG)
        self._reader = asyncio.ensure_future(self._read())
        return self

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for message in self.ws:
                self.frames.append(str(message))

    async def __aexit__(self, *exc: object) -> None:
        self._reader.cancel()
        await self.ws.close()


# --- 1. personal data ---------------------------------------------------------------------


@dataclass
class Staff:
    host: Browserless
    leader: Browserless
    screener: Browserless
    observer: Browserless
    staff: Browserless
    sweeper: Browserless  # the host again, in a session of its own for the sweep


class Planting:
    """Personal data typed into every writable field, through the paths a user takes: one
    number per (field, form) (:class:`tests.pii_scan_forms.Plants`); an input that refuses
    a plant is recorded as refused, not planted."""

    def __init__(self, hub: HubServer, people: Staff, forms: Sequence[str], run: Run) -> None:
        self.hub, self.people, self.forms, self.run = hub, people, forms, run
        self.plants = Plants()
        self.params: dict[str, list[str]] = {"slug": [SLUG]}  # for the crawl's routes
        self.web_ids: list[int] = []

    def add(self, name: str, value: Any) -> None:
        values = self.params.setdefault(name, [])
        if str(value) not in values:
            values.append(str(value))

    def refuse(self, fields: Sequence[str], form: str, why: str) -> None:
        for name in fields:
            self.plants.refuse(name, form, why)

    def phone_like(self, form: str) -> bool:
        return FORMS[FORM_KEYS.index(form)].phone_like

    def web_asks(self) -> None:
        """Text and nickname, each question from a browser of its own; a private one."""
        plants = self.plants
        for form in self.forms:
            body = {
                "text": subject_text("网友提问：", plants.marked("web.text", form)),
                "nickname": name_value(plants, "web.nickname", form),
            }
            status, answer = page_loaded(self.hub).request("POST", ASK, body)
            if status != 201:
                self.refuse(("web.text", "web.nickname"), form, f"{status} {answer}")
                continue
            self.web_ids.append(int(answer["id"]))
            self.add("question_id", answer["id"])
            private = {
                "text": subject_text("私下反映：", plants.marked("web.private_text", form)),
                "private": True,
            }
            status, answer = page_loaded(self.hub).request("POST", ASK, private)
            if status == 201 and answer.get("private_code"):
                self.add("code", answer["private_code"])
            elif status != 201:
                plants.refuse("web.private_text", form, f"{status} {answer}")

    def webhooks(self) -> None:
        """A signed microblog delivery (text, screen name) and a signed hotline delivery
        (content, caller name and, for phone-like forms, phone). An order the phone field
        refuses is sent again without the phone, as the operator would."""
        plants, forms = self.plants, self.forms
        first_status = 5_300_000_000_000_000
        statuses = [
            {
                "id": first_status + k,
                "idstr": str(first_status + k),
                "text": subject_text("#市长热线面对面# ", plants.marked("microblog.text", form)),
                "created_at": "Sun Nov 22 14:30:00 +0800 2026",
                "user": {
                    "id": 3_900_000 + k,
                    "screen_name": name_value(plants, "microblog.screen_name", form),
                },
            }
            for k, form in enumerate(forms)
        ]
        payload = {"session": SLUG, "statuses": statuses}
        status, answer = signed(self.hub, MICROBLOG, payload, settings.MICROBLOG_SECRET)
        fields = ("microblog.text", "microblog.screen_name")
        _refused_items(plants, forms, status, answer, "status:", first_status, fields)

        def order(k: int, form: str, phone: bool) -> dict[str, Any]:
            item = {
                "order_id": f"drill-{'' if phone else 'r'}{k:03d}",
                "content": subject_text("来电反映：", plants.marked("hotline.content", form)),
                "caller_name": name_value(plants, "hotline.caller_name", form),
            }
            if phone and self.phone_like(form):
                item["caller_phone"] = plants.value("hotline.caller_phone", form)
            return item

        fields = ("hotline.content", "hotline.caller_name", "hotline.caller_phone")
        orders = [order(k, form, phone=True) for k, form in enumerate(forms)]
        payload = {"session": SLUG, "orders": orders}
        status, answer = signed(self.hub, HOTLINE, payload, settings.HOTLINE_SECRET)
        refused = _refused_items(plants, forms, status, answer, "drill-", 0, fields)
        if refused:
            payload = {"session": SLUG, "orders": [order(k, forms[k], False) for k in refused]}
            status, answer = signed(self.hub, HOTLINE, payload, settings.HOTLINE_SECRET)
            _refused_items(plants, forms, status, answer, "drill-r", 0, fields[:2])

    async def call_ins(self, screener: Console) -> None:
        """The screener types calls in (text, name, phone); a call whose phone is refused
        is typed again without it."""
        plants = self.plants
        for form in self.forms:
            call = {
                "action": "submit_call",
                "channel": "hotline",
                "text": subject_text("热线来电：", plants.marked("callin.text", form)),
                "name": name_value(plants, "callin.name", form),
            }
            phone = {"phone": plants.value("callin.phone", form)} if self.phone_like(form) else {}
            ok, result = await screener.command(**call, **phone)
            if not ok and phone:
                plants.refuse("callin.phone", form, str(result))
                ok, result = await screener.command(**call)
            if not ok:
                self.refuse(("callin.text", "callin.name"), form, str(result))

    async def publish_and_answer(self, host: Console) -> None:
        """The host approves what came in; the leader answers the web questions on air."""
        await host.settle(0.4)
        for qid, question in sorted(host.questions().items()):
            if question["visibility"] == "public" and question["state"] in ("pending", "held"):
                await host.command(action="approve", question=qid)
        async with Console(self.people.leader) as leader:
            for form, qid in zip(self.forms, self.web_ids, strict=False):
                ok, result = await host.command(action="on_air", question=qid)
                if not ok:
                    self.run.notes.append(f"on_air #{qid}: {result}")
                    continue
                for action, name in (
                    ("live_answer", "leader.live_answer"),
                    ("answered", "leader.summary"),
                ):
                    ok, result = await leader.command(
                        action=action, question=qid, summary=self.plants.marked(name, form)
                    )
                    if not ok:
                        self.plants.refuse(name, form, str(result))

    def library_and_guests(self) -> None:
        """Staff write answer-library entries; the host invites guests (labels on air)."""
        plants, staff, host = self.plants, self.people.staff, self.people.host
        for form in self.forms:
            entry = {
                "question": subject_text("咨询：", plants.marked("library.question", form)),
                "answer": "答复：请联系经办人 " + plants.marked("library.answer", form),
                "published": True,
            }
            status, answer = staff.request("POST", "/api/library", entry)
            if status == 201:
                self.add("entry_id", answer["id"])
            else:
                self.refuse(("library.question", "library.answer"), form, f"{status} {answer}")
            guest = {"label": name_value(plants, "guest.label", form), "kind": "guest"}
            status, answer = host.request("POST", f"/api/streaming/sessions/{SLUG}/guests", guest)
            if status == 201:
                self.add("guest_id", answer["guest"]["id"])
                self.add("invite_id", answer["guest"]["id"])
                self.add("token", answer["token"])
            else:
                plants.refuse("guest.label", form, f"{status} {answer}")

    def crawl(self, follow_links: bool) -> Crawler:
        """Every public GET route of the URL conf, as an anonymous citizen and as the
        observer, filled with the planted ids and those the public API lists."""
        anonymous = Browserless(self.hub)
        _, tasks = anonymous.request("GET", "/api/followup/tasks?limit=200")
        for task in tasks.get("items", []) if isinstance(tasks, dict) else []:
            self.add("task_id", task["id"])
            self.add("request_id", task["id"])
        _, departments = anonymous.request("GET", "/api/followup/departments")
        for department in departments if isinstance(departments, list) else []:
            self.add("department_id", department["id"])
        clients = {
            "anonymous": Raw(self.hub.port),
            "observer": raw_for(self.people.observer, self.hub.port),
        }
        crawler = Crawler(clients, self.params)  # type: ignore[arg-type]
        crawler.crawl_routes(
            {
                "api/sessions/<slug>/questions": ["?state=answered", "?since=0"],
                "api/library": ["?q=咨询"],
                "library/": ["?q=咨询"],
            }
        )
        if follow_links:
            crawler.crawl_links()
        return crawler


async def personal_data(hub: HubServer, people: Staff, counts: Counts, run: Run) -> None:
    planting = Planting(hub, people, counts.forms, run)
    plants = planting.plants
    async with Collector(hub) as live, Console(people.observer) as observer:
        async with Console(people.screener) as screener, Console(people.host) as host:
            await asyncio.to_thread(planting.web_asks)
            await asyncio.to_thread(planting.webhooks)
            await planting.call_ins(screener)
            log("  planted through the web, the webhooks and the screener")
            await planting.publish_and_answer(host)
        await asyncio.to_thread(planting.library_and_guests)
        await asyncio.sleep(1.0)  # the last events reach the sockets
        await observer.settle(0.5)
        outputs = [
            Output("viewer stream, live frames", "\n".join(live.frames)),
            Output("observer console, live frames", json.dumps(observer.frames)),
        ]
    outputs.append(Output("viewer stream, snapshot", json.dumps(await viewer_frames(hub))))
    outputs.append(Output("viewer stream, since=0", json.dumps(await viewer_frames(hub, 0))))
    async with Console(people.observer) as fresh:
        await fresh.settle(0.4)
        outputs.append(Output("observer console, snapshot", json.dumps(fresh.frames)))
    log("  planted; the viewer stream and the observer console read")
    crawler = await asyncio.to_thread(planting.crawl, counts.follow_links)
    outputs += crawler.outputs
    log(f"  {crawler.requests} GETs crawled")
    hits = [hit for output in outputs for hit in scan(output.name, output.text, plants)]
    # The control: the values as typed, scanned the same way, are every one of them a hit
    # (else the scan could not have seen a leak of them).
    control = scan("control", "\n".join(p.value for p in plants), plants)
    reached: set[tuple[str, str]] = set()
    for output in outputs:
        reached |= seen(output.text, plants.markers)
    unseen = [f for f in MUST_BE_SEEN if not any(key[0] == f for key in reached)]
    run.notes += [f"leak: {hit}" for hit in hits[:20]]
    run.notes += [f"no output showed a planted {name}" for name in unseen]
    run.notes += [f"crawl: {error}" for error in crawler.report.errors]
    run.notes += [f"crawl: no planted value for {route}" for route in crawler.report.unfillable]
    refusals = Counter(
        f"{name} ({why.split(' ', 1)[0]})" for (name, _form), why in plants.refused.items()
    )
    run.notes.append(f"refused at input (not counted as planted): {_codes(refusals)}")
    fields = sorted({p.field for p in plants})
    run.add(
        "1 personal data",
        f"{len(plants)} plants ({len(fields)} fields × {len(counts.forms)} forms; "
        f"{len(plants.refused)} refused at input) × {len(outputs)} outputs "
        f"({len(crawler.report.public)} public routes"
        f"{', the links they offer' if counts.follow_links else ''}, viewer stream, "
        "observer console)",
        "12 of 32 leaked",
        f"leaks {len(hits)}; {len(MUST_BE_SEEN) - len(unseen)}/{len(MUST_BE_SEEN)} public "
        f"fields seen masked; control: {len(control)}/{len(plants)} typed values found",
        f"0 leaks, all {len(MUST_BE_SEEN)} seen, control all found",
        not hits and not unseen and len(control) == len(plants),
    )
    run.add(
        "3 5xx",
        f"the crawl of 1: {crawler.requests} GETs as anonymous and observer",
        "—",
        f"5xx {len(crawler.report.errors)}",
        "0",
        not crawler.report.errors,
    )


def _refused_items(
    plants: Plants,
    forms: Sequence[str],
    status: int,
    answer: Any,
    prefix: str,
    base: int,
    fields: Sequence[str],
) -> list[int]:
    """Mark the plants of a delivery's refused items as refused (not planted); the indexes
    (in ``forms``) of the refused items."""
    if status != 200:
        for form in forms:
            for name in fields:
                plants.refuse(name, form, f"{status} {answer}")
        return []
    refused = []
    for item in answer.get("rejected", []):
        source = str(item.get("source_id") or "").removeprefix(prefix)
        if source.isdigit() and 0 <= int(source) - base < len(forms):
            refused.append(int(source) - base)
            for name in fields:
                plants.refuse(name, forms[int(source) - base], str(item.get("code")))
    return refused


# --- 2. poison ----------------------------------------------------------------------------


async def poison(hub: HubServer, people: Staff, run: Run) -> None:
    for label, bad in (("a lone surrogate", SURROGATE), ("a NUL byte", NUL)):
        prefix = f"毒{len(run.figures)}"
        texts = [f"{prefix}-{n}：请问{n}号路口的红绿灯什么时候调整？" for n in range(12)]
        texts[5] = f"{prefix}-5：请问{bad}路口的红绿灯什么时候调整？"
        agents = await asyncio.to_thread(pages_loaded, hub, 12)

        def ask(pair: tuple[Browserless, str]) -> tuple[int, Any]:
            agent, text = pair
            return agent.request("POST", ASK, raw=json.dumps({"text": text}).encode())

        with ThreadPoolExecutor(max_workers=12) as pool:
            answers = list(pool.map(ask, zip(agents, texts, strict=True)))
        stored = {q["text"] for q in (await stored_questions(people.host)).values()}
        others = [n for n in range(12) if n != 5]
        created = sum(1 for n in others if answers[n][0] == 201)
        kept = sum(1 for n in others if texts[n] in stored)
        status, body = answers[5]
        refused = 400 <= status < 500 and not any(t.startswith(f"{prefix}-5：") for t in stored)
        run.add(
            "2 poison",
            f"12 concurrent web asks, one holding {label}",
            "4 (SQLite) to 10 (PostgreSQL) of the 11 others failed with 500, not stored",
            f"others 201 {created}/11, stored {kept}/11; poisoned one {status} "
            f"{(body or {}).get('code')}",
            "11/11 201 and stored, poisoned one 4xx",
            created == kept == 11 and refused,
        )
    for channel, path, secret, key, deliveries in (
        ("microblog", MICROBLOG, settings.MICROBLOG_SECRET, "statuses", _bad_statuses()),
        ("hotline", HOTLINE, settings.HOTLINE_SECRET, "orders", _bad_orders()),
    ):
        good_stored = good_total = bad_refused = duplicates = errors = 0
        accepted_ids: set[int] = set()
        for items in deliveries:
            payload = {"session": SLUG, key: items}
            first_status, first = await asyncio.to_thread(signed, hub, path, payload, secret)
            second_status, second = await asyncio.to_thread(signed, hub, path, payload, secret)
            errors += (first_status >= 500) + (second_status >= 500)
            good_total += len(items) - 1
            if first_status != 200 or second_status != 200:
                run.notes.append(f"{channel} delivery: {first_status} {first} / {second_status}")
                continue
            accepted_ids |= {int(i["question"]) for i in first["accepted"]}
            good_stored += len(first["accepted"])
            bad_refused += len(first["rejected"]) == 1 and len(second["rejected"]) == 1
            duplicates += len(second["duplicates"])
        on_record = accepted_ids & set(await stored_questions(people.host))
        n = len(deliveries)
        run.add(
            "2 poison",
            f"{n} signed {channel} deliveries of {len(deliveries[0])} items, one bad each "
            f"({', '.join(_what for _what in _bad_labels(channel))}), each sent twice",
            "the whole delivery failed with 500, on every retry",
            f"others stored {len(on_record)}/{good_total}, bad refused {bad_refused}/{n}, "
            f"retry duplicates {duplicates}/{good_total}, 5xx {errors}",
            "all others stored, every bad one refused, retry all duplicates, 0 5xx",
            len(on_record) == good_stored == duplicates == good_total
            and bad_refused == n
            and errors == 0,
        )


def _bad_labels(channel: str) -> list[str]:
    if channel == "microblog":
        return ["text", "idstr", "id", "user.id"]
    return ["content", "order_id", "caller_name"]


def _status(status_id: int, **fields: Any) -> dict[str, Any]:
    item = {
        "id": status_id,
        "idstr": str(status_id),
        "text": f"请问{status_id % 1000}路公交什么时候调整线路？",
        "created_at": "Sun Nov 22 14:30:00 +0800 2026",
        "user": {"id": 1_900_000 + status_id % 1000, "screen_name": "宿迁市民"},
    }
    item.update(fields)
    return item


def _bad_statuses() -> list[list[dict[str, Any]]]:
    base = 5_400_000_000_000_000
    bads: list[Callable[[int], dict[str, Any]]] = [
        lambda i: _status(i, text=f"请问{SURROGATE}公交线路什么时候调整？"),
        lambda i: _status(i, text=f"请问{NUL}公交线路什么时候调整？"),
        lambda i: _status(i, idstr=f"{i}{SURROGATE}"),
        lambda i: _status(i, idstr=None, id=f"{i}{NUL}"),
        lambda i: _status(i, user={"id": f"u{NUL}", "screen_name": "甲"}),
        lambda i: _status(i, user={"id": f"u{SURROGATE}", "screen_name": "甲"}),
    ]
    deliveries = []
    for d, bad in enumerate(bads):
        first = base + d * 100
        items = [_status(first + n) for n in range(5)]
        items.insert(2, bad(first + 50))
        deliveries.append(items)
    return deliveries


def _bad_orders() -> list[list[dict[str, Any]]]:
    def order(order_id: str, **fields: Any) -> dict[str, Any]:
        return {
            "order_id": order_id,
            "content": f"来电反映：{order_id}号楼路灯坏了没人修。",
            **fields,
        }

    bads: list[Callable[[str], dict[str, Any]]] = [
        lambda o: order(o, content=f"我家{SURROGATE}门口的路灯坏了"),
        lambda o: order(o, content=f"我家{NUL}门口的路灯坏了"),
        lambda o: order(f"{o}{SURROGATE}"),
        lambda o: order(f"{o}{NUL}"),
        lambda o: order(o, caller_name=f"王{SURROGATE}"),
        lambda o: order(o, caller_name=f"王{NUL}五"),
    ]
    deliveries = []
    for d, bad in enumerate(bads):
        items = [order(f"P{d}-{n}") for n in range(5)]
        items.insert(1, bad(f"P{d}-bad"))
        deliveries.append(items)
    return deliveries


# --- 3. no 5xx ----------------------------------------------------------------------------

HOSTILE = {
    "NUL": f"a{NUL}b",
    "surrogate": f"a{SURROGATE}b",
    "superscript two": "²",
    "30 digits": "9" * 30,
    "5000 digits": "9" * 5000,
    "extreme date": "0001-01-01T00:00:00+14:00",
    "far date": "9999-12-31",
    "negative": "-1",
    "empty": "",
}
GENERIC_QUERY = ("since", "q", "status", "state", "limit", "offset", "format", "date", "page")
SPECIAL_BODIES: dict[str, tuple[bytes, str]] = {
    "deep JSON": (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    "multipart without boundary": (
        b"--x\r\nContent-Disposition: form-data\r\n\r\n1\r\n--x--\r\n",
        "multipart/form-data",
    ),
    "invalid UTF-8": (b'{"text": "\xff\xfe\xed\xa0\x80"}', "application/json"),
    "5000-digit number": (b'{"text": ' + b"9" * 5000 + b', "id": 1e999999}', "application/json"),
    "NUL in JSON": (
        b'{"text": "\\u0000", "question": "\\u0000", "label": "\\ud800"}',
        "application/json",
    ),
}


@dataclass
class Sweep:
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)

    def record(self, what: str, reply: Reply) -> None:
        self.requests += 1
        self.statuses[reply.status_code] += 1
        if reply.status_code == 0:
            self.dropped.append(what)
        elif reply.status_code >= 500:
            self.errors.append(f"{reply.status_code} {what}")


def _operations(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``METHOD path`` → the OpenAPI operation, for every operation of the schema."""
    found = {}
    for api_path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                found[f"{method.upper()} {api_path}"] = operation
    return found


def _body_fields(schema: dict[str, Any], operation: dict[str, Any]) -> list[str]:
    content = operation.get("requestBody", {}).get("content", {})
    body = next(iter(content.values()), {}).get("schema", {})
    if "$ref" in body:
        body = schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]
    return list(body.get("properties", {}))


def _sweep_requests(
    schema: dict[str, Any], values: dict[str, str], known: dict[str, str]
) -> Iterator[tuple[str, str, bytes | None, dict[str, str]]]:
    """(method, path, body, headers) for every route and hostile value."""
    for name, operation in _operations(schema).items():
        method, api_path = name.split(" ", 1)
        params = operation.get("parameters", [])
        path_names = [p["name"] for p in params if p.get("in") == "path"]
        query_names = [p["name"] for p in params if p.get("in") == "query"] or ["since", "q"]
        fields = _body_fields(schema, operation)
        for value in values.values():
            for hostile_path in (True, False) if path_names else (False,):
                path = api_path
                for param in path_names:
                    filler = value if hostile_path else known.get(param, "1")
                    path = path.replace("{" + param + "}", quote(filler))
                body = None
                if method != "GET":
                    if value.isdigit():
                        body = ("{" + ", ".join(f'"{f}": {value}' for f in fields) + "}").encode()
                    else:
                        body = json.dumps(dict.fromkeys(fields, value)).encode()
                for query in _queries(query_names, value, len(path)):
                    yield method, f"{path}{query}", body, {}
        if method != "GET":
            for body, kind in SPECIAL_BODIES.values():
                path = api_path
                for param in path_names:
                    path = path.replace("{" + param + "}", quote(known.get(param, "1")))
                yield method, path, body, {"Content-Type": kind}
    # The routes of the URL conf outside the API schema (pages, WHEP/WHIP, Open311, guests).
    for route, _pattern in url_patterns():
        if route.startswith(("api/", "admin/")) or route.startswith("static"):
            continue
        names = params_of(route)
        for value in values.values():
            for hostile_path in (True, False) if names else (False,):
                filled = {n: quote(value) if hostile_path else known.get(n, "1") for n in names}
                path = fill(route, filled)
                for query in _queries(GENERIC_QUERY, value, len(path)):
                    yield "GET", f"{path}{query}", None, {}
                sdp = value.encode("utf-8", "surrogatepass")
                yield "POST", path, b"v=0\r\n" + sdp, {"Content-Type": "application/sdp"}
        path = fill(route, {n: known.get(n, "1") for n in names})
        for body, kind in SPECIAL_BODIES.values():
            yield "POST", path, body, {"Content-Type": kind}
    yield "GET", "/api/no-such-route?q=%00", None, {}
    yield "GET", "/api/sessions/%C2%B2/questions/%ED%A0%80", None, {}


#: Under the server's request-line limit (16 KiB, answered 414): a query that would not fit
#: is sent one parameter at a time, so that every hostile value reaches the application.
LINE_ROOM = 12_000


def _queries(names: Sequence[str], value: str, used: int) -> Iterator[str]:
    """Query strings giving every parameter in ``names`` the value ``value``."""
    encoded = quote(value)
    together = "?" + "&".join(f"{name}={encoded}" for name in names)
    if used + len(together) <= LINE_ROOM:
        yield together
        return
    fitting = [name for name in names if used + len(name) + len(encoded) + 2 <= LINE_ROOM]
    yield from (f"?{name}={encoded}" for name in fitting)
    if not fitting:
        yield ""


def hostile_sweep(hub: HubServer, people: Staff, counts: Counts, run: Run) -> None:
    values = {
        k: v for k, v in HOSTILE.items() if not counts.sweep_values or k in counts.sweep_values
    }
    schema = Raw(hub.port).get("/api/openapi.json").json() or {}
    _, questions = Browserless(hub).request("GET", ASK)
    _, tasks = Browserless(hub).request("GET", "/api/followup/tasks?limit=1")
    first_question = questions["items"][0]["id"] if questions.get("items") else 1
    first_task = tasks["items"][0]["id"] if tasks.get("items") else 1
    known = {
        "slug": SLUG,
        "question_id": str(first_question),
        "task_id": str(first_task),
        "request_id": str(first_task),
        "entry_id": "1",
        "department_id": "1",
    }
    roles = {"anonymous": Raw(hub.port)}
    if counts.sweep_as_host:
        roles["host"] = raw_for(people.sweeper, hub.port)
    sweep = Sweep()
    jobs = [
        (role, client, request)
        for role, client in roles.items()
        for request in _sweep_requests(schema, values, known)
        # The host's sweep must not log its own session out.
        if not (role == "host" and request[1].startswith("/api/auth/logout"))
    ]

    def one(job: tuple[str, Raw, tuple[str, str, bytes | None, dict[str, str]]]) -> None:
        role, client, (method, path, body, headers) = job
        reply = client.send(method, path, body, headers)
        sweep.record(f"{method} {path[:120]} ({len(body or b'')} bytes) as {role}", reply)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(one, jobs))
    # Over-long request line and header: 414 and 431, not a dropped connection.
    huge_url = Raw(hub.port).get("/s/demo/?" + "a" * 100_000)
    huge_header = Raw(hub.port).send("GET", "/api/sessions", headers={"X-Big": "b" * 100_000})
    sweep.record("GET with a 100 KB URL", huge_url)
    sweep.record("GET with a 100 KB header", huge_header)
    frames_errors = asyncio.run(_socket_sweep(hub, people.sweeper, values))
    run.notes += [f"sweep: {e}" for e in sorted(set(sweep.errors))[:25]]
    run.notes += [f"sweep dropped: {d}" for d in sweep.dropped[:10]]
    run.notes += [f"sockets: {e}" for e in frames_errors]
    top = ", ".join(f"{code}×{n}" for code, n in sorted(sweep.statuses.items()))
    run.add(
        "3 5xx",
        f"hostile sweep: {len(values)} values × every path/query/JSON field of "
        f"{len(_operations(schema))} API operations and every other route, special bodies, "
        f"as {' and '.join(roles)}: {sweep.requests} requests",
        "67 responses 5xx, 14 causes",
        f"5xx {len(sweep.errors)}, dropped {len(sweep.dropped)} ({top})",
        "0 5xx, 0 dropped",
        not sweep.errors and not sweep.dropped,
    )
    run.add(
        "3 5xx",
        "100 KB request line; 100 KB header",
        "dropped connection",
        f"{huge_url.status_code} {(huge_url.json() or {}).get('code')}; "
        f"{huge_header.status_code} {(huge_header.json() or {}).get('code')}",
        "414; 431",
        huge_url.status_code == 414 and huge_header.status_code == 431,
    )
    run.add(
        "3 5xx",
        f"viewer stream ?since= {len(values)} hostile values; console frames with NUL, "
        "surrogate, deep nesting, huge numbers",
        "console closed 1011",
        f"server errors {len(frames_errors)}",
        "0 (snapshot / error frame, socket open)",
        not frames_errors,
    )


async def _socket_sweep(hub: HubServer, host: Browserless, values: dict[str, str]) -> list[str]:
    problems = []
    for name, value in values.items():
        url = f"{hub.ws}/ws/sessions/{SLUG}/live?since={quote(value)}"
        try:
            async with websockets.connect(url, open_timeout=10) as ws:
                frame = await next_frame(ws, timeout=5)
                if frame["type"] != "snapshot":
                    problems.append(f"viewer since={name}: first frame {frame['type']}")
        except Exception as exc:
            problems.append(f"viewer since={name}: {type(exc).__name__} {exc}")
    frames = [
        '{"action": "approve", "question": "\\u0000", "id": 1}',
        '{"action": "submit_call", "channel": "hotline", "text": "\\ud800", "name": "a", "id": 2}',
        '{"action": "approve", "question": ' + "9" * 5000 + ', "id": 3}',
        '{"action": "defer", "question": 1, "note": "a\\u0000b", "id": 4}',
        "[" * 60_000 + "]" * 60_000,
        '{"action": "\\ud800", "id": 5}',
        "\x00",
    ]
    try:
        async with host.console(SLUG) as ws:
            await next_frame(ws, "snapshot", timeout=10)
            for text in frames:
                await ws.send(text)
                reply = await next_frame(ws, timeout=10, skip=("heartbeat", "question", "counts"))
                if reply["type"] != "error":
                    problems.append(f"console frame {text[:40]!r}: {reply['type']}")
    except websockets.ConnectionClosed as closed:
        problems.append(f"console closed {closed.rcvd.code if closed.rcvd else '?'}")
    except Exception as exc:
        problems.append(f"console: {type(exc).__name__} {exc}")
    return problems


# --- 4. stuffing --------------------------------------------------------------------------


def _supports(hub: HubServer, question_id: int) -> int:
    _, body = Browserless(hub).request("GET", ASK)
    return next(int(q["supports"]) for q in body["items"] if q["id"] == question_id)


def stuffing(hub: HubServer, people: Staff, counts: Counts, run: Run) -> None:
    _, body = Browserless(hub).request("GET", ASK)
    published = [q["id"] for q in body["items"] if q["state"] in ("approved", "queued")]
    cookieless_target, issued_target = published[0], published[1]
    support = "/api/sessions/{slug}/questions/{id}/support"
    # Every browser id the stuffing uses is issued first (a page load each), so that one
    # wait covers their minimum age.
    agents = pages_loaded(hub, counts.issued_supports)
    voters = pages_loaded(hub, counts.votes + 1, "/followup/")
    issued = time.monotonic()
    before = _supports(hub, cookieless_target)
    codes: Counter[Any] = Counter()
    for _ in range(counts.cookieless_supports):
        reply = Raw(hub.port).send("POST", support.format(slug=SLUG, id=cookieless_target), b"{}")
        codes[(reply.json() or {}).get("code", reply.status_code)] += 1
    time.sleep(settings.HUB_SUPPORT_COALESCE_SECONDS + 0.5)
    gained = _supports(hub, cookieless_target) - before
    run.add(
        "4 stuffing",
        f"{counts.cookieless_supports} cookieless support POSTs",
        "0 → 30 supports",
        f"+{gained} supports ({_codes(codes)})",
        "+0",
        gained == 0,
    )
    _wait_out_the_minimum_age(issued)
    before = _supports(hub, issued_target)
    codes = Counter()
    for agent in agents:
        status, answer = agent.request("POST", support.format(slug=SLUG, id=issued_target), {})
        codes[status if status == 200 else (answer or {}).get("code", status)] += 1
    time.sleep(settings.HUB_SUPPORT_COALESCE_SECONDS + 0.5)
    gained = _supports(hub, issued_target) - before
    cap = settings.HUB_SUPPORTS_PER_ADDRESS_PER_SESSION
    run.add(
        "4 stuffing",
        f"{counts.issued_supports} page-issued browser ids from one address support a question",
        "one support per POST",
        f"+{gained} supports ({_codes(codes)})",
        f"≤ {cap} (HUB_SUPPORTS_PER_ADDRESS_PER_SESSION)",
        0 < gained <= cap,
    )
    _votes(hub, voters, run)
    # A library write with the staff session cookie and no CSRF token (JSON and text/plain).
    no_token = Raw(hub.port, people.staff.cookie_header())
    entry = json.dumps({"question": "无令牌写入的问题？", "answer": "无令牌写入的答复。"}).encode()
    as_json = no_token.send("POST", "/api/library", entry)
    as_text = no_token.send("POST", "/api/library", entry, {"Content-Type": "text/plain"})
    _, library = Browserless(hub).request("GET", f"/api/library?q={quote('无令牌写入')}&limit=100")
    written = sum(1 for e in library or [] if "无令牌写入" in str(e.get("question")))
    run.add(
        "4 stuffing",
        "POST /api/library with the staff session cookie, no CSRF token (JSON; text/plain)",
        "201 (written)",
        f"{as_json.status_code} {(as_json.json() or {}).get('code')}; "
        f"{as_text.status_code} {(as_text.json() or {}).get('code')}; entries written {written}",
        "403 csrf, nothing written",
        as_json.status_code == as_text.status_code == 403 and written == 0,
    )
    _admin_logins(hub, counts, run)  # last: it uses up this address's login budget


def _codes(codes: Counter[Any]) -> str:
    return ", ".join(f"{code}×{n}" for code, n in codes.most_common())


def _wait_out_the_minimum_age(issued: float) -> None:
    time.sleep(max(0.0, issued + settings.HUB_BROWSER_MIN_AGE_SECONDS + 0.5 - time.monotonic()))


def _votes(hub: HubServer, voters: list[Browserless], run: Run) -> None:
    """The first voter finds a task whose reply takes votes; then all the others vote."""
    _, tasks = Browserless(hub).request("GET", "/api/followup/tasks?limit=200")
    probe, agents = voters[0], voters[1:]
    target = None
    for task in tasks.get("items", []):
        status, _ = probe.request(
            "POST", f"/api/followup/tasks/{task['id']}/vote", {"verdict": "satisfied"}
        )
        if status == 200:
            target = task["id"]
            break
    if target is None:
        run.add(
            "4 stuffing", f"{len(agents)} votes", "110 satisfied", "no votable task", "—", False
        )
        return

    def satisfied() -> int:
        _, detail = Browserless(hub).request("GET", f"/api/followup/tasks/{target}")
        return int(detail["replies"][-1]["votes"]["satisfied"])

    before = satisfied()
    codes: Counter[Any] = Counter()
    for agent in agents:
        status, answer = agent.request(
            "POST", f"/api/followup/tasks/{target}/vote", {"verdict": "satisfied"}
        )
        codes[status if status == 200 else (answer or {}).get("code", status)] += 1
    for _ in range(30):
        reply = Raw(hub.port).send(
            "POST", f"/api/followup/tasks/{target}/vote", b'{"verdict": "satisfied"}'
        )
        codes[f"cookieless {(reply.json() or {}).get('code', reply.status_code)}"] += 1
    gained = satisfied() - before + 1  # the probe's vote counts against the cap too
    cap = settings.HUB_VOTES_PER_ADDRESS_PER_TASK
    run.add(
        "4 stuffing",
        f"{len(agents)} votes from one client in a minute, a page-issued id each, "
        "then 30 cookieless",
        "109 accepted (110 satisfied)",
        f"{gained} counted ({_codes(codes)})",
        f"≤ {cap} (HUB_VOTES_PER_ADDRESS_PER_TASK)",
        0 < gained <= cap,
    )


def _admin_logins(hub: HubServer, counts: Counts, run: Run) -> None:
    cookies: dict[str, str] = {}

    def send(method: str, path: str, form: dict[str, str] | None = None) -> Reply:
        body = urllib.parse.urlencode(form).encode() if form else None
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
        if body:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        reply = Raw(hub.port).send(method, path, body, headers)
        for line in reply.get("Set-Cookie").splitlines():
            key, _, val = line.split(";", 1)[0].partition("=")
            cookies[key.strip()] = val.strip()
        return reply

    def attempt(password: str) -> int:
        send("GET", "/admin/login/")
        form = {
            "csrfmiddlewaretoken": cookies.get("csrftoken", ""),
            "username": "host",
            "password": password,
            "next": "/admin/",
        }
        return send("POST", "/admin/login/?next=/admin/", form).status_code

    wrong = Counter(attempt(f"guess-{n}") for n in range(counts.wrong_passwords))
    right = attempt(DEMO_PASSWORD)
    admin = send("GET", "/admin/").status_code
    run.add(
        "4 stuffing",
        f"{counts.wrong_passwords} wrong passwords on /admin/login/, then the right one",
        "no 429; then logged in",
        f"wrong: {_codes(wrong)}; right one {right}; /admin/ {admin}",
        "429 before the 25th; right one refused; /admin/ not shown (302)",
        429 in wrong and right == 429 and admin == 302,
    )


# --- 5. slots and sockets -----------------------------------------------------------------


async def slots(hub: HubServer, people: Staff, counts: Counts, run: Run) -> None:
    never = await whep_offer(candidates=False)
    held = [await asyncio.to_thread(post_sdp, hub.base, f"/whep/{SLUG}", never) for _ in range(8)]
    ninth = await asyncio.to_thread(post_sdp, hub.base, f"/whep/{SLUG}", never)
    await asyncio.sleep(CONNECT_TIMEOUT + 2.0)
    real = await asyncio.to_thread(
        post_sdp, hub.base, f"/whep/{SLUG}", await whep_offer(candidates=True)
    )
    run.add(
        "5 slots",
        f"8 WHEP offers that never connect, a 9th at once, a real viewer "
        f"{CONNECT_TIMEOUT + 2.0:.0f} s later (deadline {CONNECT_TIMEOUT:.0f} s)",
        "every slot held indefinitely; real viewer 503",
        f"8 offers {dict(Counter(held))}; 9th {ninth}; real viewer {real}",
        "real viewer 201",
        real == 201,
    )
    caps = {
        "live": settings.HUB_WS_MAX_VIEWERS_PER_ADDRESS,
        "console": settings.HUB_WS_MAX_CONSOLES_PER_ADDRESS,
    }
    for kind, count, cookie in (
        ("live", counts.viewer_sockets, None),
        ("console", counts.console_sockets, people.host.cookie_header()),
    ):
        still_open, refused, failed = await sockets(
            f"{hub.ws}/ws/sessions/{SLUG}/{kind}", count, hub.base, cookie
        )
        cap = caps[kind]
        run.add(
            "5 slots",
            f"{count} {'viewer' if kind == 'live' else 'console'} sockets from one address",
            f"{count} accepted",
            f"{still_open} open, {refused} closed 4503, {failed} failed",
            f"{cap} open (cap), the rest 4503",
            still_open == min(cap, count) and refused == count - still_open and failed == 0,
        )


# --- one database -------------------------------------------------------------------------


@contextlib.contextmanager
def database(kind: str, folder: Path) -> Iterator[dict[str, str]]:
    """The server's database: SQLite in ``folder``, or a PostgreSQL database of its own."""
    if kind == "sqlite":
        yield {"HUB_DATABASE_URL": f"sqlite:///{folder / 'hub.sqlite3'}"}
        return
    import psycopg  # only the PostgreSQL run needs it

    base = postgres_url()
    if base is None:
        raise RuntimeError("PostgreSQL is not running at 127.0.0.1:5432 (HUB_TEST_DATABASE_URL)")
    server, _, _ = base.rpartition("/")
    name = f"hub_attack_{os.getpid()}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        db.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {"HUB_DATABASE_URL": f"{server}/{name}"}
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_settings() -> dict[str, str]:
    """The product's own defaults for what is under attack (``tests.live`` raises them for
    the other tests, whose clients all come from 127.0.0.1), and a short connect deadline."""
    names = (
        "HUB_WS_MAX_VIEWERS_PER_ADDRESS",
        "HUB_WS_MAX_CONSOLES_PER_ADDRESS",
        "HUB_WHEP_RATE_PER_IP",
        "HUB_WHIP_RATE_PER_IP",
        "HUB_GUEST_JOIN_RATE_PER_IP",
        "HUB_HEARTBEAT_SECONDS",
    )
    chosen = {name: str(getattr(settings, name)) for name in names}
    chosen["HUB_WEBRTC_CONNECT_TIMEOUT_SECONDS"] = str(CONNECT_TIMEOUT)
    return chosen


def log(message: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S', time.gmtime())}] {message}\n")
    sys.stderr.flush()


def drill(kind: str, counts: Counts, logs: Path) -> Run:
    """Every attack against a fresh server on ``kind``; its log is kept in ``logs``."""
    run = Run("SQLite" if kind == "sqlite" else "PostgreSQL")
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix=f"hub-attack-{kind}-") as tmp:
            folder = Path(tmp)
            with database(kind, folder) as db:
                extra = {**server_settings(), **db}
                log(f"{run.database}: migrate + load_demo")
                prepare_database(folder / "hub.sqlite3", **extra)
                hub = HubServer(folder / "hub.sqlite3", folder / "server.log", **extra)
                log(f"{run.database}: server on {hub.base}")
                try:
                    _attack(hub, counts, run)
                finally:
                    hub.stop()
                    keep = logs / f"attack-server-{kind}.log"
                    keep.write_text(hub.log_path.read_text(errors="replace"))
                    run.notes.append(f"server log kept in {keep}")
    except Exception as exc:  # no server (no PostgreSQL, a failed migration): a missed target
        run.add("0 server", "start a server", "—", f"{type(exc).__name__}: {exc}", "runs", False)
    run.seconds = time.monotonic() - started
    return run


def _attack(hub: HubServer, counts: Counts, run: Run) -> None:
    people = _log_in(hub)
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("1 personal data", lambda: asyncio.run(personal_data(hub, people, counts, run))),
        ("2 poison", lambda: asyncio.run(poison(hub, people, run))),
        ("4 stuffing", lambda: stuffing(hub, people, counts, run)),
        ("5 slots", lambda: asyncio.run(slots(hub, people, counts, run))),
        ("3 5xx", lambda: hostile_sweep(hub, people, counts, run)),
    ]
    for name, step in steps:
        log(f"{run.database}: {name}")
        try:
            step()
        except Exception as exc:  # a broken step is a missed target, reported
            failure = f"failed: {type(exc).__name__}: {exc}"
            run.add(name, "the drill step", "—", failure, "completes", False)
    logged = Counter(
        match.group(1)
        for match in LOGGED_EXCEPTION.finditer(hub.log_path.read_text(errors="replace"))
    )
    if logged:
        run.notes.append(f"server log, exceptions logged (4xx answers): {_codes(logged)}")


def _log_in(hub: HubServer) -> Staff:
    agents = {}
    for role in ("host", "leader", "screener", "observer", "staff"):
        agents[role] = Browserless(hub)
        agents[role].login(role)
    sweeper = Browserless(hub)
    sweeper.login("host")
    return Staff(sweeper=sweeper, **agents)


# --- the report ---------------------------------------------------------------------------


def report(runs: Sequence[Run], command: str, counts: Counts) -> str:
    lines = [
        "Attacker's drill (issue 10): real servers, attacked over HTTP and WebSocket only",
        f"command: {command}",
        f"when: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}; "
        f"{'quick counts' if counts is QUICK else 'full counts'}",
        "",
    ]
    for run in runs:
        lines.append(
            f"== {run.database} ({run.seconds:.0f} s): "
            f"{'every target met' if run.met else 'TARGETS MISSED'}"
        )
        widths = (16, 60, 34, 50, 26)
        head = ("section", "attempt", "before (issue 10)", "now", "target")
        lines.append(" | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " | ok")
        lines.append("-" * (sum(widths) + 3 * len(widths) + 4))
        for f in sorted(run.figures, key=lambda f: f.section[0]):
            cells = (f.section, f.attempt, f.before, f.result, f.target)
            wrapped = [_wrap(c, w) for c, w in zip(cells, widths, strict=True)]
            for i in range(max(len(w) for w in wrapped)):
                row = [
                    (w[i] if i < len(w) else "").ljust(width)
                    for w, width in zip(wrapped, widths, strict=True)
                ]
                mark = ("yes" if f.met else "NO") if i == 0 else ""
                lines.append(" | ".join(row) + " | " + mark)
        for note in run.notes:
            lines.append(f"  note: {note}")
        lines.append("")
    return "\n".join(lines)


def _wrap(text: str, width: int) -> list[str]:
    out, line = [], ""
    for word in text.split(" "):
        while len(word) > width:
            if line:
                out.append(line)
                line = ""
            out.append(word[:width])
            word = word[width:]
        if len(line) + len(word) + (1 if line else 0) > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return [*out, line] if line or not out else out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", default="sqlite,postgres", help="sqlite, postgres or both")
    parser.add_argument("--out", default="var/attack-report.txt")
    parser.add_argument("--quick", action="store_true", help="reduced counts (the test suite)")
    args = parser.parse_args(argv)
    counts = QUICK if args.quick else FULL
    kinds = [k.strip() for k in args.databases.split(",") if k.strip()]
    unknown = set(kinds) - {"sqlite", "postgres"}
    if unknown or not kinds:
        parser.error(f"unknown database {sorted(unknown)}: use sqlite and/or postgres")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    runs = [drill(kind, counts, out.parent) for kind in kinds]
    command = "python -m tests.drills.attack " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    text = report(runs, command, counts)
    print(text)
    out.write_text(text + "\n")
    return 0 if all(run.met for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
