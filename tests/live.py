"""Real servers for tests: the product under Daphne (``python -m hub.serve``) in its own
process, on a free port, with its own SQLite database (the embedded default), plus small
HTTP and WebSocket client helpers."""

from __future__ import annotations

import http.cookiejar
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import websockets

ROOT = Path(__file__).resolve().parent.parent
DEMO_PASSWORD = "live-test-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(database: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "hub.settings",
            "HUB_DATABASE_URL": f"sqlite:///{database}",
            "HUB_DEMO_PASSWORD": DEMO_PASSWORD,
            "HUB_WEB_RATE_PER_BROWSER": "1000/m",
            "HUB_WEB_RATE_PER_IP": "10000/m",
            # Every test client comes from 127.0.0.1: per-address caps and offer rates
            # high (tests/test_slots_and_sockets sets its own to test them).
            "HUB_WS_MAX_VIEWERS_PER_ADDRESS": "100000",
            "HUB_WS_MAX_CONSOLES_PER_ADDRESS": "10000",
            "HUB_WHEP_RATE_PER_IP": "100000/m",
            "HUB_WHIP_RATE_PER_IP": "10000/m",
            "HUB_GUEST_JOIN_RATE_PER_IP": "10000/m",
            "HUB_HEARTBEAT_SECONDS": "1",
        }
    )
    env.update(extra)
    return env


def prepare_database(database: Path, **extra: str) -> None:
    env = server_env(database, **extra)
    for command in (["migrate", "--noinput", "-v0"], ["load_demo"]):
        subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )


class HubServer:
    def __init__(self, database: Path, log: Path, port: int | None = None, **extra: str) -> None:
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.ws = f"ws://127.0.0.1:{self.port}"
        self.log_path = log
        self._log = log.open("a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hub.serve", "--port", str(self.port)],
            cwd=ROOT,
            env=server_env(database, **extra),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not start in 30 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self._log.close()


class Browserless:
    """An HTTP client with its own cookie jar (a distinct viewer or a logged-in user)."""

    def __init__(self, server: HubServer) -> None:
        self.server = server
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> tuple[int, Any]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        sent = {"Content-Type": "application/json", **(headers or {})}
        csrf = self.cookie("csrftoken")
        if csrf and method not in ("GET", "HEAD"):
            sent.setdefault("X-CSRFToken", csrf)  # as the pages' scripts send it
        request = urllib.request.Request(
            self.server.base + path, data=data, method=method, headers=sent
        )
        try:
            with self.opener.open(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)

    def load_page(self, path: str = "/") -> None:
        """GET an HTML page, as a browser does first: it issues the browser id (``hub_bid``)
        and the ``csrftoken`` cookie."""
        with self.opener.open(self.server.base + path, timeout=10) as response:
            response.read()

    def login(self, username: str) -> None:
        """Log in through the API as the login page does (CSRF token from a page load)."""
        self.load_page("/login/")
        status, body = self.request(
            "POST", "/api/auth/login", {"username": username, "password": DEMO_PASSWORD}
        )
        assert status == 200, body

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)

    def console(self, slug: str = "demo", origin: str | None = None) -> Any:
        return websockets.connect(
            f"{self.server.ws}/ws/sessions/{slug}/console",
            additional_headers={
                "Cookie": self.cookie_header(),
                "Origin": origin or self.server.base,
            },
            open_timeout=10,
        )


def viewer(server: HubServer, slug: str = "demo", since: int | None = None) -> Any:
    query = f"?since={since}" if since is not None else ""
    return websockets.connect(f"{server.ws}/ws/sessions/{slug}/live{query}", open_timeout=10)


async def next_frame(
    ws: Any, type_: str | None = None, timeout: float = 5.0, skip: tuple[str, ...] = ("heartbeat",)
) -> dict[str, Any]:
    import asyncio

    async def read() -> dict[str, Any]:
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] in skip and type_ != frame["type"]:
                continue
            if type_ is None or frame["type"] == type_:
                return frame

    return await asyncio.wait_for(read(), timeout)


async def command(console: Any, **fields: Any) -> dict[str, Any]:
    """Send a console command and return its ack (raising on an error frame)."""
    await console.send(json.dumps(fields))
    while True:
        frame = await next_frame(console)
        if frame["type"] == "ack" and frame["data"]["id"] == fields.get("id"):
            return dict(frame["data"]["result"])
        if frame["type"] == "error" and frame["data"]["id"] == fields.get("id"):
            raise AssertionError(frame["data"])
