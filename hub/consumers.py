"""The console WebSocket ``/ws/sessions/{slug}/console`` for host, leader, screener and
observer. Thin: authenticate by the Django session, parse a command, call its action,
acknowledge or refuse with a reason, relay console frames."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from pydantic import ValidationError

from hub import protocol
from hub.actions.sessions import do_set_session_status
from hub.errors import DomainError
from hub.events import console_group, encode_frame
from hub.intake.pipeline import IntakeItem, do_intake_question
from hub.models import LiveSession
from hub.presenters import ConsoleAudience, console_frame_for, console_view
from hub.queries import channel_counts, console_snapshot
from hub.roles import CONSOLE_ROLES, permissions_of, require_permission, roles_of
from hub.text import UnreadableJSON, escape_unsafe, loads_json, strip_unsafe, unfit_json_value
from moderation import actions as moderation
from moderation import answers

logger = logging.getLogger(__name__)

CLOSE_FORBIDDEN = 4403
CLOSE_UNKNOWN_SESSION = 4404
MAX_COMMAND_BYTES = 65536
COUNTS_INTERVAL_SECONDS = 1.0
SNAPSHOT_PACING_SECONDS = 0.02


def _run_command(user: Any, session_id: int, command: Any) -> dict[str, Any]:
    """Call the action a parsed command names; returns the ack's result."""
    require_permission(user, command.action)
    action = command.action
    table: dict[str, Callable[[], Any]] = {
        "approve": lambda: moderation.do_approve_question(user, session_id, command.question),
        "reject": lambda: moderation.do_reject_question(
            user, session_id, command.question, command.reason, command.note
        ),
        "queue": lambda: moderation.do_queue_question(user, session_id, command.question),
        "reorder": lambda: moderation.do_reorder_queue(user, session_id, command.order),
        "on_air": lambda: moderation.do_put_on_air(user, session_id, command.question),
        "off_air": lambda: moderation.do_take_off_air(user, session_id, command.question),
        "defer": lambda: moderation.do_defer_question(
            user, session_id, command.question, command.note
        ),
        "live_answer": lambda: moderation.do_set_live_answer(
            user, session_id, command.question, command.summary
        ),
        "answered": lambda: moderation.do_mark_answered(
            user, session_id, command.question, command.summary
        ),
        "set_status": lambda: do_set_session_status(user, session_id, command.status),
        "merge": lambda: moderation.do_merge_question(
            user, session_id, command.question, command.into
        ),
        "unmerge": lambda: moderation.do_unmerge_question(user, session_id, command.question),
        "set_sector": lambda: moderation.do_set_question_sector(
            user, session_id, command.question, command.sector
        ),
        "answer_from_library": lambda: answers.do_answer_from_library(
            user, session_id, command.question, command.entry
        ),
        "flag": lambda: moderation.do_flag_question(
            user, session_id, command.question, command.note
        ),
        "submit_call": lambda: do_intake_question(
            IntakeItem(
                session_id=session_id,
                channel=command.channel,
                text=command.text,
                asker_name=command.name,
                asker_ref=f"tel:{command.phone}" if command.phone else "",
                contact=command.phone,
                private=command.private,
                submitted_by=user,
            )
        ),
    }
    outcome = table[action]()
    if action == "submit_call":
        return {"question": outcome.question.pk, "created": outcome.created}
    if action == "reorder":
        return {"order": outcome}
    if action == "set_status":
        return {"status": outcome.status}
    return {"question": outcome.pk, "state": outcome.state}


def parse_command(text_data: str | None) -> Any:
    """A console frame → its command (``protocol.ConsoleCommand``), or the
    ``protocol.Refusal`` to send back; never raises. Refused: anything but JSON text of
    at most 64 KiB (``bad_command``), invalid JSON (``bad_json``), nesting deeper than
    ``hub.text.MAX_JSON_DEPTH`` (``too_deep``, found without recursion), a number out of
    range (``bad_number``), a lone surrogate or NUL in any string (``bad_characters``),
    a frame that is not a command (``bad_command``). Free-text fields (notes, summaries,
    a call's text, name and phone) lose control and bidirectional characters
    (``hub.text.strip_unsafe``)."""

    def refusal(code: str, message: str, command_id: Any = None, action: Any = None) -> Any:
        shown_id = escape_unsafe(command_id) if isinstance(command_id, str) else command_id
        shown_action = escape_unsafe(action)[:100] if isinstance(action, str) else None
        return protocol.Refusal(id=shown_id, action=shown_action, code=code, message=message)

    if text_data is None or len(text_data) > MAX_COMMAND_BYTES:
        return refusal("bad_command", _("Commands are JSON text of at most 64 KiB"))
    try:
        raw = loads_json(text_data)
    except UnreadableJSON as exc:
        return refusal(exc.code, exc.message)
    command_id = raw.get("id") if isinstance(raw, dict) else None
    if not isinstance(command_id, (str, int)) or isinstance(command_id, bool):
        command_id = None
    action = raw.get("action") if isinstance(raw, dict) else None
    unfit = unfit_json_value(raw)
    if unfit == "bad_characters":
        message = _("The command holds a lone surrogate or NUL character")
        return refusal(unfit, message, command_id, action)
    if unfit is not None:
        message = _("The command holds an integer out of range")
        return refusal(unfit, message, command_id, action)
    try:
        command = protocol.console_command_adapter.validate_python(raw)
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
        return refusal(
            "bad_command", _("Malformed command: %(d)s") % {"d": details}, command_id, action
        )
    # The choices (action, reason, status, sector, channel) were checked by the schema;
    # the other strings are free text.
    cleaned = {
        field: strip_unsafe(value)
        for field, value in command
        if isinstance(value, str) and field != "id"
    }
    return command.model_copy(update=cleaned)


class ConsoleConsumer(AsyncWebsocketConsumer):
    session_id: int
    group: str

    async def connect(self) -> None:
        self.user = self.scope.get("user")
        await self.accept()
        slug = self.scope["url_route"]["kwargs"]["slug"]
        found = await self._load(slug)
        if found is None:
            await self._refuse(None, "not_found", _("Unknown session"))
            await self.close(code=CLOSE_UNKNOWN_SESSION)
            return
        self.session_id, roles, permissions = found
        if not roles & CONSOLE_ROLES:
            await self._refuse(None, "forbidden", _("Log in with a console role to open this page"))
            await self.close(code=CLOSE_FORBIDDEN)
            return
        # What this connection may see of each question (private ones, names, contacts).
        self.audience = ConsoleAudience.of(roles, self.user.get_username())
        self.group = console_group(self.session_id)
        self._counts_dirty = False
        self._counts_task = asyncio.get_running_loop().create_task(self._counts_loop())
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self._send(
            "hello",
            protocol.ConsoleHello(
                user=self.user.get_username(), roles=sorted(roles), permissions=sorted(permissions)
            ),
        )
        snapshot = await database_sync_to_async(console_snapshot)(self.session_id)
        # A busy session's questions do not fit one WebSocket message: the first come with
        # the snapshot, the others right after in questions_batch frames.
        snapshot.questions = [console_view(self.audience, q) for q in snapshot.questions]
        first, *rest = protocol.staff_question_chunks(snapshot.questions) or [[]]
        snapshot.questions = first
        await self._send("snapshot", snapshot)
        for chunk in rest:
            # Let the server write the previous frame out first: it closes a connection
            # with more than HUB_WS_MAX_BUFFER_BYTES waiting to be written.
            await asyncio.sleep(SNAPSHOT_PACING_SECONDS)
            await self._send("questions_batch", protocol.QuestionsBatch(questions=chunk))

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)
            self._counts_task.cancel()

    @database_sync_to_async
    def _load(self, slug: str) -> tuple[int, frozenset[str], frozenset[str]] | None:
        session_id = LiveSession.objects.filter(slug=slug).values_list("pk", flat=True).first()
        if session_id is None:
            return None
        return session_id, roles_of(self.user), permissions_of(self.user)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not hasattr(self, "group"):
            return
        command = parse_command(text_data)
        if isinstance(command, protocol.Refusal):
            await self._send("error", command)
            return
        command_id = command.id
        try:
            result = await database_sync_to_async(_run_command)(self.user, self.session_id, command)
        except DomainError as exc:
            await self._refuse(command_id, exc.code, exc.message, command.action)
            return
        except Exception:
            # A bug or an unavailable database must cost this command only, not the
            # operator's socket (Channels would close it with 1011 and the console would
            # lose its place); the traceback goes to the log, the console gets a refusal.
            logger.exception("console command %s failed", command.action)
            await self._refuse(
                command_id,
                "internal",
                _("The command could not be carried out; please try again"),
                command.action,
            )
            return
        await self._send("ack", protocol.Ack(id=command_id, action=command.action, result=result))

    async def console_frame(self, event: dict[str, Any]) -> None:
        """A console event published after some commit (see hub.events)."""
        await self.send(text_data=console_frame_for(self.audience, event["frame"]))
        self._counts_dirty = True

    async def _counts_loop(self) -> None:
        """Counts at most once a second when something changed; a heartbeat every
        HUB_HEARTBEAT_SECONDS so the page can notice a silently dead connection."""
        heartbeat_every = settings.HUB_HEARTBEAT_SECONDS
        loop = asyncio.get_running_loop()
        next_beat = loop.time() + heartbeat_every
        while True:
            await asyncio.sleep(min(COUNTS_INTERVAL_SECONDS, heartbeat_every))
            if self._counts_dirty:
                self._counts_dirty = False
                counts = await database_sync_to_async(channel_counts)(self.session_id)
                await self._send("counts", counts)
            if loop.time() >= next_beat:
                next_beat = loop.time() + heartbeat_every
                await self._send("heartbeat", protocol.Empty())

    async def _send(self, type_: str, data: Any) -> None:
        await self.send(text_data=encode_frame(type_, timezone.now(), data.model_dump(mode="json")))

    async def _refuse(
        self, command_id: Any, code: str, message: str, action: str | None = None
    ) -> None:
        await self._send(
            "error", protocol.Refusal(id=command_id, action=action, code=code, message=message)
        )
