"""Cross-process delivery of viewer frames: Redis pub/sub, or in-process.

``publish`` is called from synchronous code after a commit. With ``HUB_REDIS_URL`` set it
PUBLISHes ``"<seq> <frame>"`` on ``hub:live:<session id>``, and each server process holds
one subscription per session that has local viewers. Without Redis the frame is handed to
this process's :class:`~hub.realtime.fanout.LocalHub` on its event loop.

Pub/sub is at-most-once; that is fine because the event log is the source of truth: a
fan-out that sees a gap, or whose periodic check finds a newer seq in the database,
fills the gap from the log.
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings

CHANNEL_PREFIX = "hub:live:"

_sync_client: Any = None
_sync_client_lock = threading.Lock()


def channel_name(session_id: int) -> str:
    return f"{CHANNEL_PREFIX}{session_id}"


def encode_message(seq: int, frame: str) -> str:
    return f"{seq} {frame}"


def decode_message(message: str) -> tuple[int, str]:
    seq_text, _, frame = message.partition(" ")
    return int(seq_text), frame


def _redis() -> Any:
    global _sync_client
    if _sync_client is None:
        with _sync_client_lock:
            if _sync_client is None:
                import redis

                _sync_client = redis.Redis.from_url(str(settings.REDIS_URL))
    return _sync_client


def publish(session_id: int, seq: int, frame: str) -> None:
    if settings.REDIS_URL:
        _redis().publish(channel_name(session_id), encode_message(seq, frame))
        return
    from hub.realtime.fanout import local_hub

    local_hub.publish_threadsafe(session_id, seq, frame)
