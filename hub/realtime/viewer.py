"""The viewer stream ``/ws/sessions/{slug}/live[?since=<seq>]`` as a plain ASGI app.

Not a Channels consumer fed by ``group_send``: every connection is attached to its
process's :class:`~hub.realtime.fanout.SessionFanout`, which writes each already-encoded
frame to local sockets. Messages from the viewer are ignored (the stream is one-way).
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.conf import settings

from hub import protocol
from hub.realtime.fanout import ViewerConnection, local_hub
from hub.realtime.wsframe import PREBUILT_FRAMES


@database_sync_to_async
def _session_id(slug: str) -> int | None:
    from hub.models import LiveSession

    return LiveSession.objects.filter(slug=slug).values_list("pk", flat=True).first()


def _since(scope: dict[str, Any]) -> int | None:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    values = query.get("since")
    if not values:
        return None
    try:
        return int(values[0])
    except ValueError:
        return -1  # malformed: treated as "too old", the viewer gets a snapshot


async def viewer_stream(scope: dict[str, Any], receive: Any, send: Any) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    slug = scope["url_route"]["kwargs"]["slug"]
    session_id = await _session_id(slug)
    await send({"type": "websocket.accept"})
    if session_id is None:
        await send({"type": "websocket.close", "code": protocol.CLOSE_UNKNOWN_SESSION})
        return
    fanout = await local_hub.fanout(session_id)
    raw = (scope.get("extensions") or {}).get(PREBUILT_FRAMES)
    viewer = ViewerConnection(send, settings.HUB_VIEWER_QUEUE_LIMIT, raw=raw)
    attach = asyncio.ensure_future(fanout.attach(viewer, _since(scope)))
    try:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                break
    finally:
        attach.cancel()
        fanout.detach(viewer)
        await viewer.wait_closed()
