"""Caps on the WebSockets one client address may hold open, per server process.

One client opening hundreds of viewer or console sockets would use up the process's file
descriptors and memory (500 viewer and 100 console sockets from one address were all
accepted). :func:`capped` wraps a WebSocket ASGI application: a connection is counted from
its handshake until the application returns (however it ends: the client leaves, the
server closes it, the task is cancelled), so a count can never stay up after its socket is
gone and lock an address out. The connection past the cap is accepted and closed at once
with :data:`CLOSE_TOO_MANY_CONNECTIONS` (4503), a code the page's script sees and answers by
waiting (``frontend/static/frontend/live.js``): a refusal before the handshake would reach
the browser only as 1006, which it cannot tell from a network error.

Which address a connection counts under is the caller's ``key`` function (the site's
routing uses the rule of every hub throttle, :mod:`hub.throttle`: the socket's peer, or
behind a trusted proxy the right-most untrusted ``X-Forwarded-For`` hop; an IPv6 address
by its /64). A connection whose key is ``None`` (no address at all: a Unix socket without
proxy headers) is not counted.

The counts are per process (one event loop): with several server processes behind the
proxy, an address may hold up to the cap on each of them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings

#: Close code of a connection refused because its address holds the cap already. Like
#: 4429 it is about rate, but 4429 asks for an immediate resync: this one asks to wait.
CLOSE_TOO_MANY_CONNECTIONS = 4503

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
ScopeKey = Callable[[dict[str, Any]], str | None]


class AddressSlots:
    """Open connections per address key (event loop only: no lock needed)."""

    def __init__(self) -> None:
        self._open: dict[str, int] = {}

    def count(self, key: str) -> int:
        return self._open.get(key, 0)

    def total(self) -> int:
        return sum(self._open.values())

    def try_acquire(self, key: str, limit: int) -> bool:
        """Take a slot for ``key`` unless it holds ``limit`` already."""
        held = self._open.get(key, 0)
        if held >= limit:
            return False
        self._open[key] = held + 1
        return True

    def release(self, key: str) -> None:
        held = self._open.get(key, 0) - 1
        if held > 0:
            self._open[key] = held
        else:
            self._open.pop(key, None)  # no key left behind: the table stays small


viewer_slots = AddressSlots()
console_slots = AddressSlots()


async def _refuse(receive: Any, send: Any) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": CLOSE_TOO_MANY_CONNECTIONS})


def capped(app: ASGIApp, slots: AddressSlots, limit_setting: str, key: ScopeKey) -> ASGIApp:
    """``app`` with at most ``settings.<limit_setting>`` open connections per ``key(scope)``.

    The setting is read for every connection (a change, or a test's override, applies at
    once)."""

    async def capped_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        key_ = key(scope) if scope.get("type") == "websocket" else None
        if key_ is None:
            await app(scope, receive, send)
            return
        if not slots.try_acquire(key_, int(getattr(settings, limit_setting))):
            await _refuse(receive, send)
            return
        try:
            await app(scope, receive, send)
        finally:
            slots.release(key_)

    return capped_app
