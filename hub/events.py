"""Event publication: stored public events with a per-session seq, and console events.

Contract:
- :func:`record_public_event` must be called inside ``transaction.atomic()`` with the
  session row locked by :func:`lock_session`. It advances ``last_event_seq``, stores the
  event and publishes the encoded frame *after commit* (never for a rolled-back change).
- :func:`send_console_event` publishes a staff-only frame after commit through the
  Channels layer (group ``console.<session id>``); console frames are not stored: a
  console that reconnects gets a fresh snapshot.
Each frame is encoded to JSON once, here; every process relays that text unchanged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from pydantic import BaseModel

from hub.models import LiveSession, SessionEvent

logger = logging.getLogger(__name__)

#: Test hook: callables receiving ("viewer" | "console", frame text) for every frame sent.
frame_listeners: list[Callable[[str, str], None]] = []


def console_group(session_id: int) -> str:
    return f"console.{session_id}"


def lock_session(session_id: int) -> LiveSession:
    """Lock and return the session row. Call inside ``atomic()``; serialises its events."""
    return LiveSession.objects.select_for_update().get(pk=session_id)


def encode_frame(type_: str, ts: datetime, data: dict[str, Any], seq: int | None = None) -> str:
    frame: dict[str, Any] = {"type": type_}
    if seq is not None:
        frame["seq"] = seq
    frame["ts"] = ts.isoformat()
    frame["data"] = data
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


def event_frame(event: SessionEvent) -> str:
    return encode_frame(event.type, event.ts, event.data, seq=event.seq)


def record_public_event(
    session: LiveSession, type_: str, data: BaseModel, now: datetime
) -> SessionEvent:
    """Store the next public event of a locked session and publish it after commit."""
    session.last_event_seq += 1
    session.save(update_fields=["last_event_seq"])
    payload = data.model_dump(mode="json")
    event = SessionEvent.objects.create(
        session=session, seq=session.last_event_seq, type=type_, data=payload, ts=now
    )
    frame = encode_frame(type_, now, payload, seq=event.seq)
    transaction.on_commit(partial(_publish_viewer_frame, session.pk, event.seq, frame))
    return event


def send_console_event(session_id: int, type_: str, data: BaseModel, now: datetime) -> None:
    frame = encode_frame(type_, now, data.model_dump(mode="json"))
    transaction.on_commit(partial(_publish_console_frame, session_id, frame))


def _notify_listeners(kind: str, frame: str) -> None:
    for listener in list(frame_listeners):
        listener(kind, frame)


def _publish_viewer_frame(session_id: int, seq: int, frame: str) -> None:
    from hub.realtime.broker import publish

    _notify_listeners("viewer", frame)
    try:
        publish(session_id, seq, frame)
    except Exception:
        # The event is committed; viewers catch up from the log (gap fill / heartbeat check).
        logger.exception("publishing event %s of session %s failed", seq, session_id)


def _publish_console_frame(session_id: int, frame: str) -> None:
    _notify_listeners("console", frame)
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            console_group(session_id), {"type": "console.frame", "frame": frame}
        )
    except Exception:
        logger.exception("console event for session %s failed", session_id)
