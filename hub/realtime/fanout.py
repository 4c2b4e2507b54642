"""Per-process fan-out of a session's viewer stream to local WebSocket connections.

Design (see docs/protocol.md): each process keeps one :class:`SessionFanout` per session
that has local viewers. It receives each event once (one Redis subscription per session,
or an in-process hand-off), keeps frames in seq order, and one *pump* task per session
writes the already-encoded text to every live local socket in a tight loop: one ASGI
message dict per event, shared by all sockets, and no task switch per viewer.

The pump awaits each socket's ASGI ``send`` in turn. Under Daphne that send never
suspends (it hands the bytes to Twisted's buffer), so a slow viewer cannot stall the
others; what bounds a slow viewer is :mod:`hub.serve`, which closes a socket with 4429
once more than ``HUB_WS_MAX_BUFFER_BYTES`` wait unsent in its buffer. While a viewer is
*held* (between registering and finishing its replay or snapshot), live frames wait in
its own queue, bounded by ``HUB_VIEWER_QUEUE_LIMIT``; past that it is closed with 4429.

All methods run on the server's event loop except :meth:`LocalHub.publish_threadsafe`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from hub import protocol
from hub.events import encode_frame, event_frame
from hub.realtime import broker
from hub.realtime.wsframe import encode_text_frame

logger = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]
RawWriter = Callable[[bytes], bool]


class ViewerConnection:
    """One viewer socket. ``last_seq`` is the newest stored event it has been sent."""

    __slots__ = ("_closing", "_held", "_limit", "_send", "close_code", "closed", "last_seq", "raw")

    def __init__(self, send: Send, limit: int, raw: RawWriter | None = None) -> None:
        self._send = send
        #: The server's pre-encoded frame writer (hub.serve), if it offers one.
        self.raw = raw
        self._held: deque[tuple[int | None, str]] | None = deque()
        self._limit = limit
        self.closed = False
        self.close_code: int | None = None
        self.last_seq = -1
        self._closing: asyncio.Future[None] | None = None

    @property
    def held(self) -> bool:
        return self._held is not None

    def hold(self, seq: int | None, frame: str) -> None:
        """Queue a live frame while the viewer's replay is still being sent."""
        if self.closed or self._held is None:
            return
        if len(self._held) >= self._limit:
            self.close(protocol.CLOSE_TOO_SLOW_RESYNC)
            return
        self._held.append((seq, frame))

    async def write(self, seq: int | None, message: dict[str, Any]) -> None:
        """Send one frame unless it is a stored event this viewer already has."""
        if self.closed or (seq is not None and seq <= self.last_seq):
            return
        try:
            await self._send(message)
        except Exception:  # the socket went away under us
            self.closed = True
            return
        if seq is not None:
            self.last_seq = seq

    async def send_text(self, seq: int | None, frame: str) -> None:
        await self.write(seq, {"type": "websocket.send", "text": frame})

    async def release(self) -> None:
        """Send what queued up while held, then become live (the pump takes over).

        The last check of the queue and the switch to live happen without an await in
        between, so no frame can fall between the two; the pump skips frames this
        viewer already got (by seq).
        """
        while self._held:
            seq, frame = self._held.popleft()
            await self.send_text(seq, frame)
        self._held = None

    def close(self, code: int | None = None) -> None:
        """Stop writing; if ``code`` is given, close the socket with it."""
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        if self._held is not None:
            self._held.clear()
        if code is not None:
            # Kept so wait_closed() can await it and it is not collected early.
            self._closing = asyncio.ensure_future(
                self._send({"type": "websocket.close", "code": code})
            )

    async def wait_closed(self) -> None:
        if self._closing is not None:
            with contextlib.suppress(Exception):
                await self._closing


class SessionFanout:
    """The stream of one session inside this process."""

    def __init__(self, hub: LocalHub, session_id: int) -> None:
        self.hub = hub
        self.session_id = session_id
        self.viewers: set[ViewerConnection] = set()
        self.live: list[ViewerConnection] = []
        self.delivered_seq: int | None = None  # None until initialised from the log
        self._pending: dict[int, str] = {}
        self._outbox: deque[tuple[int | None, str]] = deque()
        self._pump_wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._gap_task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        #: (seq, task building the encoded snapshot at that seq), shared by the viewers
        #: that connect while nothing changes: a reconnect storm builds it once.
        self._snapshot: tuple[int, asyncio.Future[str]] | None = None

    async def start(self) -> None:
        last = await _last_seq(self.session_id)
        # Frames that arrived while we read the log: drop those it already covers.
        self.delivered_seq = last
        self._drain_pending()
        self._ready.set()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._pump()), loop.create_task(self._heartbeat_loop())]

    async def ready(self) -> None:
        await self._ready.wait()

    def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._gap_task:
            self._gap_task.cancel()

    # -- receiving -----------------------------------------------------------------------
    def deliver(self, seq: int, frame: str) -> None:
        """Accept a published frame; deliver in seq order, at most once."""
        if self.delivered_seq is None:
            self._pending[seq] = frame
            return
        if seq <= self.delivered_seq:
            return
        if seq == self.delivered_seq + 1:
            self._broadcast(seq, frame)
            self._drain_pending()
            return
        self._pending[seq] = frame
        self._schedule_gap_fill()

    def _broadcast(self, seq: int | None, frame: str) -> None:
        if seq is not None:
            self.delivered_seq = seq
        for viewer in tuple(self.viewers):
            if viewer.held:
                viewer.hold(seq, frame)
                if viewer.closed:
                    self.viewers.discard(viewer)
        self._outbox.append((seq, frame))
        self._pump_wake.set()

    async def _pump(self) -> None:
        """Write each frame to every live viewer, in order.

        Per frame: one ASGI message dict and one encoded WebSocket frame, shared by all
        viewers. Sockets whose server offers the pre-encoded path get the bytes directly
        (no coroutine per viewer); the others get the ASGI message.
        """
        outbox = self._outbox
        while True:
            await self._pump_wake.wait()
            self._pump_wake.clear()
            while outbox:
                seq, frame = outbox.popleft()
                message = {"type": "websocket.send", "text": frame}
                data = encode_text_frame(frame)
                stale = False
                for viewer in self.live:
                    if viewer.closed:
                        stale = True
                        continue
                    if seq is not None and seq <= viewer.last_seq:
                        continue
                    raw = viewer.raw
                    if raw is None:
                        await viewer.write(seq, message)
                        stale = stale or viewer.closed
                    elif raw(data):
                        if seq is not None:
                            viewer.last_seq = seq
                    else:
                        viewer.closed = True
                        stale = True
                if stale:
                    self.live = [v for v in self.live if not v.closed]

    def _drain_pending(self) -> None:
        assert self.delivered_seq is not None
        pending = self._pending
        while pending:
            for old in [s for s in pending if s <= self.delivered_seq]:
                del pending[old]
            frame = pending.pop(self.delivered_seq + 1, None)
            if frame is None:
                break
            self._broadcast(self.delivered_seq + 1, frame)
        if pending:
            self._schedule_gap_fill()

    def _schedule_gap_fill(self) -> None:
        if self._gap_task is None or self._gap_task.done():
            self._gap_task = asyncio.get_running_loop().create_task(self._fill_gap_logged())

    async def _fill_gap_logged(self) -> None:
        try:
            await self._fill_gap()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("filling a gap in session %s failed", self.session_id)

    async def _fill_gap(self, upto: int | None = None) -> None:
        """Load missing events from the log (they are committed before being published)."""
        assert self.delivered_seq is not None
        target = upto if upto is not None else max(self._pending, default=self.delivered_seq)
        if target <= self.delivered_seq:
            return
        frames = await _load_frames(self.session_id, self.delivered_seq, target)
        for seq, frame in frames:
            self.deliver(seq, frame)
        self._drain_pending()

    async def _heartbeat_loop(self) -> None:
        interval = settings.HUB_HEARTBEAT_SECONDS
        while True:
            await asyncio.sleep(interval)
            try:
                last = await _last_seq(self.session_id)
                if self.delivered_seq is not None and last > self.delivered_seq:
                    await self._fill_gap(upto=last)
                frame = encode_frame("heartbeat", timezone.now(), {}, seq=self.delivered_seq or 0)
                self._broadcast(None, frame)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("heartbeat of session %s failed", self.session_id)

    # -- viewers -------------------------------------------------------------------------
    async def attach(self, viewer: ViewerConnection, since: int | None) -> None:
        """Register a viewer, send what it missed (or a snapshot), then make it live.

        The viewer is registered (held) *before* the log is read, so no event can fall
        between the replay and the live stream; events both replayed and held are sent
        once, because every write skips seqs the viewer already has.
        """
        await self.ready()
        floor = self.delivered_seq or 0
        self.viewers.add(viewer)
        window = settings.HUB_REPLAY_WINDOW
        replay: list[tuple[int, str]] | None = None
        if since is not None and 0 <= since <= floor and floor - since <= window:
            replay = await _load_frames(self.session_id, since, floor)
            if len(replay) != floor - since:
                replay = None  # part of the log is gone: resync with a snapshot
        if replay is None:
            await viewer.send_text(None, await self._snapshot_at(floor))
            viewer.last_seq = floor
        else:
            viewer.last_seq = since if since is not None else floor
            for seq, frame in replay:
                await viewer.send_text(seq, frame)
        await viewer.release()
        if not viewer.closed:
            self.live.append(viewer)

    async def _snapshot_at(self, floor: int) -> str:
        cached = self._snapshot
        if (
            cached is None
            or cached[0] != floor
            or (cached[1].done() and cached[1].exception() is not None)
        ):
            future = asyncio.ensure_future(_snapshot_frame(self.session_id, floor))
            self._snapshot = cached = (floor, future)
        return await asyncio.shield(cached[1])

    def detach(self, viewer: ViewerConnection) -> None:
        """Forget a viewer. It stays in ``live`` (closed) until the pump's next pass drops
        it: mutating the list while the pump walks it could skip another viewer."""
        self.viewers.discard(viewer)
        viewer.close()
        if not self.viewers:
            self.hub.release_soon(self.session_id)


class LocalHub:
    """This process's fan-outs, keyed by session id, and its subscription to the broker."""

    LINGER_SECONDS = 30.0

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.sessions: dict[int, SessionFanout] = {}
        self._release_handles: dict[int, asyncio.TimerHandle] = {}
        self._redis: Any = None
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None

    async def fanout(self, session_id: int) -> SessionFanout:
        loop = asyncio.get_running_loop()
        if self.loop is not loop:
            self._reset(loop)
        handle = self._release_handles.pop(session_id, None)
        if handle:
            handle.cancel()
        fanout = self.sessions.get(session_id)
        if fanout is None:
            fanout = SessionFanout(self, session_id)
            self.sessions[session_id] = fanout
            await self._subscribe(session_id)
            await fanout.start()
        await fanout.ready()
        return fanout

    def _reset(self, loop: asyncio.AbstractEventLoop) -> None:
        """A new event loop (tests start several): forget state bound to the old one."""
        for fanout in self.sessions.values():
            with contextlib.suppress(Exception):
                fanout.stop()
        self.sessions.clear()
        self._release_handles.clear()
        self._redis = self._pubsub = self._reader = None
        self.loop = loop

    def release_soon(self, session_id: int) -> None:
        """Keep an idle fan-out a little while, so a reconnect storm does not churn it."""
        assert self.loop is not None
        if session_id in self._release_handles:
            return
        self._release_handles[session_id] = self.loop.call_later(
            self.LINGER_SECONDS,
            lambda: self.loop and self.loop.create_task(self._release(session_id)),
        )

    async def _release(self, session_id: int) -> None:
        self._release_handles.pop(session_id, None)
        fanout = self.sessions.get(session_id)
        if fanout is None or fanout.viewers:
            return
        fanout.stop()
        del self.sessions[session_id]
        if self._pubsub is not None:
            await self._pubsub.unsubscribe(broker.channel_name(session_id))

    # -- broker --------------------------------------------------------------------------
    def publish_threadsafe(self, session_id: int, seq: int, frame: str) -> None:
        """In-process mode: hand a frame from any thread to the event loop."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return  # no viewers in this process yet: they will read the log on attach
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._deliver(session_id, seq, frame)
        else:
            # A fresh context: the caller's (a sync_to_async worker thread) marks asgiref's
            # single-thread executor as busy, and tasks started by the delivery (gap fill)
            # would inherit that mark and refuse to touch the database.
            loop.call_soon_threadsafe(
                self._deliver, session_id, seq, frame, context=contextvars.Context()
            )

    def _deliver(self, session_id: int, seq: int, frame: str) -> None:
        fanout = self.sessions.get(session_id)
        if fanout is not None:
            fanout.deliver(seq, frame)

    async def _subscribe(self, session_id: int) -> None:
        if not settings.REDIS_URL:
            return
        if self._pubsub is None:
            import redis.asyncio as aioredis

            self._redis = aioredis.Redis.from_url(settings.REDIS_URL)
            self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            await self._pubsub.subscribe(broker.channel_name(session_id))
            assert self.loop is not None
            self._reader = self.loop.create_task(self._read_redis())
        else:
            await self._pubsub.subscribe(broker.channel_name(session_id))

    async def _read_redis(self) -> None:
        pubsub = self._pubsub
        prefix_len = len(broker.CHANNEL_PREFIX)
        while True:
            try:
                message = await pubsub.get_message(timeout=1.0)
                if message is None or message.get("type") != "message":
                    continue
                channel = message["channel"].decode()
                session_id = int(channel[prefix_len:])
                seq, frame = broker.decode_message(message["data"].decode())
                self._deliver(session_id, seq, frame)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("redis subscription failed; retrying")
                await asyncio.sleep(0.5)


local_hub = LocalHub()


# -- log access (sync ORM wrapped for the event loop) --------------------------------------


@database_sync_to_async
def _last_seq(session_id: int) -> int:
    from hub.models import LiveSession

    return int(
        LiveSession.objects.filter(pk=session_id).values_list("last_event_seq", flat=True).get()
    )


@database_sync_to_async
def _load_frames(session_id: int, after: int, upto: int) -> list[tuple[int, str]]:
    from hub.models import SessionEvent

    events = SessionEvent.objects.filter(session_id=session_id, seq__gt=after, seq__lte=upto)
    return [(event.seq, event_frame(event)) for event in events.order_by("seq")]


@database_sync_to_async
def _snapshot_frame(session_id: int, seq: int) -> str:
    from hub.queries import viewer_snapshot

    snapshot = viewer_snapshot(session_id)
    return encode_frame("snapshot", timezone.now(), snapshot.model_dump(mode="json"), seq=seq)
