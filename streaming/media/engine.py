"""This process's media engine (see :mod:`streaming.engine` for the public contract)."""

from __future__ import annotations

import threading
from typing import Any


class MediaEngine:
    """Programs and peers of this process, keyed by session slug.

    All coroutines run on the server's event loop. :meth:`status` may be called from any
    thread: it reads a snapshot the loop refreshes after every change.
    """

    def __init__(self) -> None:
        self._status_lock = threading.Lock()
        self._status: dict[str, dict[str, Any]] = {}

    def status(self, slug: str) -> dict[str, Any]:
        """What this process holds for ``slug`` (all false/zero when nothing)."""
        with self._status_lock:
            return dict(self._status.get(slug) or {"slug": slug, "program": False})

    async def publish(
        self, slug: str, bearer_token: str | None, offer_sdp: str, *, handover: bool = False
    ) -> tuple[str, str]:
        """WHIP: accept the studio publisher. Returns ``(resource_id, answer_sdp)``."""
        raise NotImplementedError

    async def unpublish(self, slug: str, resource_id: str) -> None:
        """WHIP DELETE: end the studio publisher's session (slate and silence follow)."""
        raise NotImplementedError

    async def play(self, slug: str, offer_sdp: str) -> tuple[str, str]:
        """WHEP: a viewer plays the programme. 503 (cap) beyond HUB_WEBRTC_MAX_VIEWERS."""
        raise NotImplementedError

    async def stop_playing(self, slug: str, resource_id: str) -> None:
        """WHEP DELETE."""
        raise NotImplementedError

    async def join_guest(self, token: str, offer_sdp: str) -> tuple[str, str]:
        """A guest's browser joins with its one-time link (waiting room first)."""
        raise NotImplementedError

    async def leave_guest(self, token: str, resource_id: str) -> None:
        """The guest hangs up (DELETE)."""
        raise NotImplementedError

    async def listen_guest(self, slug: str, invite_id: int, offer_sdp: str) -> tuple[str, str]:
        """The host hears a connected guest (permission checked by the view)."""
        raise NotImplementedError


_engine: MediaEngine | None = None
_engine_lock = threading.Lock()


def get_engine() -> MediaEngine:
    """This process's engine (created on first use)."""
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                _engine = MediaEngine()
    return _engine


def reset_engine() -> None:
    """Forget the engine (tests: each test has its own event loop)."""
    global _engine
    _engine = None
