"""Programme control: the engine follows a session's public event stream.

The control plane (``streaming.actions``) publishes ``agenda_item`` (the current item,
with ``confidential``), ``guest_on_air`` and ``session_state`` frames on the session's
public stream. The engine listens exactly as a viewer socket does: it attaches a
:class:`hub.realtime.fanout.ViewerConnection` to this process's fan-out of the session,
which subscribes once to Redis (``HUB_REDIS_URL``) or to the in-process broker, delivers
in seq order and fills gaps from the event log. So a change made by any process reaches
the process that holds the programme.

At start the state is read once (:func:`streaming.actions.current_program_state`);
frames that arrive while it is read are applied after it, in order, so the newest
change always wins.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings

from streaming.media.db import call_db
from streaming.media.program import Program

logger = logging.getLogger(__name__)


class ProgramControl:
    def __init__(self, program: Program, *, on_session_ended: Callable[[], None]) -> None:
        self.program = program
        self.on_session_ended = on_session_ended
        self._fanout: Any = None
        self._viewer: Any = None
        self._early: list[dict[str, Any]] | None = []
        self.frames_seen = 0

    async def start(self) -> None:
        """Subscribe, then read the state (retrying until the database answers); only
        then does the programme leave its hold (waiting slate and silence), so nothing
        of a confidential item can go out before the engine knows it is confidential."""
        from hub.realtime.fanout import ViewerConnection, local_hub

        session_id = self.program.session_id
        try:
            self._fanout = await local_hub.fanout(session_id)
            self._viewer = ViewerConnection(self._receive, settings.HUB_VIEWER_QUEUE_LIMIT)
            await self._fanout.attach(self._viewer, since=None)
        except Exception:
            logger.exception("programme %s cannot follow its event stream", self.program.slug)
        delay = 0.25
        while True:
            try:
                state = await call_db(_current_program_state, session_id)
                break
            except Exception:
                logger.exception("programme %s cannot read its state; retrying", self.program.slug)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        self.program.set_state(
            confidential=bool(state.get("confidential")),
            on_air={int(i) for i in state.get("on_air_guest_ids") or []},
        )
        early, self._early = self._early or [], None
        for frame in early:
            self._apply(frame)
        self.program.release_hold()

    def stop(self) -> None:
        if self._fanout is not None and self._viewer is not None:
            self._fanout.detach(self._viewer)
        self._fanout = self._viewer = None

    async def _receive(self, message: dict[str, Any]) -> None:
        text = message.get("text")
        if message.get("type") != "websocket.send" or not text:
            return
        try:
            frame = json.loads(text)
        except ValueError:
            return
        if self._early is not None:
            self._early.append(frame)
        else:
            self._apply(frame)

    def _apply(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        data = frame.get("data") or {}
        self.frames_seen += 1
        try:
            if kind == "agenda_item":
                item = data.get("item")
                self.program.set_state(confidential=bool(item and item.get("confidential")))
            elif kind == "guest_on_air":
                self.program.set_guest_on_air(int(data["guest"]["id"]), bool(data["on_air"]))
            elif kind == "snapshot":
                stage = data.get("stage")
                if stage:
                    item = stage.get("current_item")
                    self.program.set_state(
                        confidential=bool(item and item.get("confidential")),
                        on_air={int(g["id"]) for g in stage.get("guests_on_air") or []},
                    )
            elif kind == "session_state" and data.get("status") == "ended":
                self.on_session_ended()
        except (KeyError, TypeError, ValueError):
            logger.warning("programme %s: unreadable %s frame", self.program.slug, kind)


def _current_program_state(session_id: int) -> dict[str, Any]:
    from streaming import actions

    return dict(actions.current_program_state(session_id))
