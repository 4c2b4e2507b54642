"""Drives the real hub so that it emits viewer events at a fixed rate (target (c)).

The hub has no synthetic producer: events come from staff actions. The driver logs in as
the demo ``host`` (``POST /api/auth/login``), opens the console WebSocket with the session
cookie and an ``Origin`` header, sets the session live, creates pending questions with
``submit_call`` before the viewers connect, and then sends one ``approve`` per event at the
requested rate; every approve makes the hub publish one ``question_published`` frame to
every viewer. Acks are collected without blocking the schedule; their latency (time the
hub took to process an approve) is reported as a diagnostic.

Schemas: ``hub/protocol.py`` (``SubmitCallCommand``, ``ApproveCommand``, ``Ack``, ``Refusal``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from http.cookies import SimpleCookie
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from tests.bench.frames import SAMPLE_ASKER, SAMPLE_TEXT


class HubError(RuntimeError):
    """The hub refused or failed a step of the driving protocol."""


def _cookies(headers: Any) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for header in headers.get_all("Set-Cookie") or []:
        jar.load(header)
    return {name: morsel.value for name, morsel in jar.items()}


def _post_json(url: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, response.read(2000).decode(errors="replace"), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(2000).decode(errors="replace"), exc.headers


def _get(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=15) as response:
            response.read(1)
            return response.headers
    except urllib.error.HTTPError as exc:
        return exc.headers


def _summary(body: str) -> str:
    """A one-line summary of an HTTP error body (the title of an HTML error page)."""
    title = re.search(r"<title>(.*?)</title>", body, re.IGNORECASE | re.DOTALL)
    if title:
        return f"HTML page {title.group(1).strip()!r} (see the server log)"
    return " ".join(body.split())[:300]


def login(base_url: str, username: str, password: str) -> str:
    """Log in; return the ``Cookie`` header value (``sessionid=...``) for the console."""
    url = f"{base_url}/api/auth/login"
    headers = {"Origin": base_url, "Referer": f"{base_url}/"}
    body = {"username": username, "password": password}
    status, text, response_headers = _post_json(url, body, headers)
    cookies = _cookies(response_headers)
    if status == 403 and "sessionid" not in cookies:
        # CSRF-protected login: fetch a csrftoken cookie first, then send it back.
        csrf = _cookies(_get(f"{base_url}/")).get("csrftoken")
        if csrf:
            headers |= {"X-CSRFToken": csrf, "Cookie": f"csrftoken={csrf}"}
            status, text, response_headers = _post_json(url, body, headers)
            cookies = _cookies(response_headers) | {"csrftoken": csrf}
    if status != 200 or "sessionid" not in cookies:
        raise HubError(f"POST /api/auth/login as {username!r} gave HTTP {status}: {_summary(text)}")
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


@dataclass
class DriverStats:
    """What the console driver did during one scenario."""

    questions_created: int = 0
    create_seconds: float = 0.0
    approves_sent: int = 0
    approves_acked: int = 0
    refusals: Counter[str] = field(default_factory=Counter)
    ack_latencies: list[float] = field(default_factory=list)
    ran_out: bool = False
    notes: list[str] = field(default_factory=list)


class Console:
    """The staff console WebSocket: numbered commands, acks matched by ``id``."""

    def __init__(self, connection: ClientConnection) -> None:
        self._connection = connection
        self._next_id = 1
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._closed: str | None = None
        #: The session's status from the console's first ``snapshot`` frame.
        self.snapshot: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, url: str, *, cookie: str, origin: str) -> Console:
        connection = await connect(
            url,
            origin=Origin(origin),
            additional_headers={"Cookie": cookie},
            compression=None,
            ping_interval=None,
            open_timeout=30,
            close_timeout=2,
            max_size=2**26,
            max_queue=None,
        )
        return cls(connection)

    async def _read(self) -> None:
        try:
            async for message in self._connection:
                frame = json.loads(message)
                if frame.get("type") == "snapshot" and not self.snapshot.done():
                    session = (frame.get("data") or {}).get("session") or {}
                    self.snapshot.set_result(str(session.get("status")))
                if frame.get("type") in ("ack", "error"):
                    data = frame.get("data") or {}
                    command_id = data.get("id")
                    future = (
                        self._pending.pop(command_id, None) if isinstance(command_id, int) else None
                    )
                    if future is not None and not future.done():
                        future.set_result(frame)
        except ConnectionClosed:
            pass
        finally:
            code = self._connection.close_code
            self._closed = f"console closed ({code} {self._connection.close_reason or ''})"
            if not self.snapshot.done():
                self.snapshot.set_exception(HubError(self._closed.strip()))
                self.snapshot.exception()  # retrieved: prepare() may no longer be waiting
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(HubError(self._closed.strip()))
            self._pending.clear()

    async def send(self, action: str, **fields: Any) -> asyncio.Future[dict[str, Any]]:
        """Send a command; the returned future resolves to its ``ack``/``error`` frame."""
        if self._closed:
            raise HubError(self._closed)
        command_id = self._next_id
        self._next_id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[command_id] = future
        await self._connection.send(json.dumps({"id": command_id, "action": action, **fields}))
        return future

    async def call(self, action: str, timeout: float = 30.0, **fields: Any) -> dict[str, Any]:
        """Send a command and return its ack's ``result``; raise :class:`HubError` if refused."""
        future = await self.send(action, **fields)
        try:
            frame = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise HubError(f"no ack for {action} within {timeout:.0f} s") from None
        data = frame.get("data") or {}
        if frame.get("type") == "error":
            raise HubError(f"{action} refused: {data.get('code')}: {data.get('message')}")
        result = data.get("result")
        return result if isinstance(result, dict) else {}

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._connection.close(), 5)
        self._connection.transport.abort()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader


class HubDriver:
    """Logs in, prepares questions, then approves them at ``rate`` per second."""

    def __init__(self, host: str, port: int, *, username: str, password: str) -> None:
        self.base_url = f"http://{host}:{port}"
        self.console_url = f"ws://{host}:{port}/ws/sessions/demo/console"
        self.username = username
        self.password = password
        self.stats = DriverStats()
        self._console: Console | None = None
        self._questions: list[int] = []
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def prepare(self, questions: int, concurrency: int = 8) -> None:
        """Log in, open the console, go live and create ``questions`` pending questions."""
        cookie = await asyncio.to_thread(login, self.base_url, self.username, self.password)
        self._console = console = await Console.open(
            self.console_url, cookie=cookie, origin=self.base_url
        )
        try:
            status = await asyncio.wait_for(asyncio.shield(console.snapshot), 15)
        except TimeoutError:
            status = "unknown (no console snapshot within 15 s)"
        if status != "live":
            try:
                await console.call("set_status", status="live")
            except HubError as exc:  # a real problem shows up in the approves too
                self.stats.notes.append(f"session status {status}; set_status live: {exc}")
        started = time.monotonic()
        semaphore = asyncio.Semaphore(concurrency)

        async def submit(number: int) -> int:
            async with semaphore:
                result = await console.call(
                    "submit_call",
                    channel="hotline",
                    text=f"{SAMPLE_TEXT}（{number}）",
                    name=SAMPLE_ASKER,
                    phone="13800000000",
                )
            question = result.get("question")
            if not isinstance(question, int):
                raise HubError(f"submit_call ack has no question id: {result!r}")
            return question

        self._questions = list(await asyncio.gather(*(submit(n) for n in range(questions))))
        self.stats.questions_created = len(self._questions)
        self.stats.create_seconds = time.monotonic() - started

    def start(self, rate: float) -> None:
        """Start approving one question every ``1/rate`` seconds (absolute schedule)."""
        self._task = asyncio.create_task(self._approve(rate))

    async def _approve(self, rate: float) -> None:
        console = self._console
        assert console is not None
        loop = asyncio.get_running_loop()
        start = loop.time()
        for number, question in enumerate(self._questions, start=1):
            sent_at = time.monotonic()
            future = await console.send("approve", question=question)
            future.add_done_callback(partial(self._acked, sent_at=sent_at))
            self.stats.approves_sent += 1
            delay = start + number / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        self.stats.ran_out = True

    def _acked(self, future: asyncio.Future[dict[str, Any]], *, sent_at: float) -> None:
        if future.cancelled() or (self._closing and future.exception() is not None):
            return
        if future.exception() is not None:
            self.stats.refusals[str(future.exception())[:100]] += 1
            return
        frame = future.result()
        if frame.get("type") == "error":
            data = frame.get("data") or {}
            self.stats.refusals[f"{data.get('code')}: {data.get('message')}"[:100]] += 1
            return
        self.stats.approves_acked += 1
        self.stats.ack_latencies.append(time.monotonic() - sent_at)

    async def stop(self) -> DriverStats:
        """Stop approving and close the console."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._closing = True  # acks still in flight when the console closes are not refusals
        if self._console is not None:
            await self._console.close()
        return self.stats
