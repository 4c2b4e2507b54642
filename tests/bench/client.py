"""The viewer swarm: N WebSocket clients that count frames and delivery latency.

What is measured, per scenario:

- a *window* ``[t0, t1)`` of wall-clock time, opened once every viewer is connected and
  warmed up (has received an event frame, then ``warmup`` more seconds have passed);
- for every event frame received inside the window: one delivered frame for its viewer and
  one latency sample ``receive time - event time``, where the event time is the frame's
  ``ts`` (ISO 8601 string or epoch seconds) stamped by the server when it made the event.
  Server and client share the machine's clock. ``snapshot`` and ``heartbeat`` frames, and
  frames without ``seq``/``ts``, are not events and are ignored;
- the distinct ``seq`` values seen (events that reached at least one viewer), connections
  lost before the window closed (with their close codes), and the client's CPU time.

Two client implementations, both on the ``websockets`` library:

``fast`` (default)
    websockets' Sans-I/O ``ClientProtocol`` for the handshake and control frames (pong,
    closing handshake) in a plain ``asyncio.BufferedProtocol``; data frames are cut out of
    the stream inline. No task, queue or future per message.
``asyncio``
    ``websockets.asyncio.client.connect`` with one reader task per viewer. It costs several
    times more client CPU per frame, so the client saturates its core well before the
    servers do (see README.md). Kept for comparison.

All viewers receive the very same text for one event, so each distinct frame is parsed once
and looked up afterwards; the client's per-frame cost stays small.
"""

from __future__ import annotations

import asyncio
import json
import time
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.http11 import USER_AGENT, Response
from websockets.protocol import State
from websockets.typing import Origin
from websockets.uri import parse_uri

#: Frames that are not events: not counted, no latency.
NON_EVENT_TYPES = frozenset({"snapshot", "heartbeat"})

ClientKind = Literal["fast", "asyncio"]

_NOT_EVENT: tuple[int, float, int] = (-1, 0.0, 0)
_CACHE_LIMIT = 4096
_OPEN_ATTEMPTS = 3
_MAX_SIZE = 2**24
_READ_BUFFER = 2**16


class RampError(RuntimeError):
    """The viewers could not be connected."""


def parse_event_time(ts: object) -> float:
    """Epoch seconds of a frame's ``ts`` (ISO 8601 string, or epoch seconds)."""
    if isinstance(ts, (int, float)) and not isinstance(ts, bool):
        return float(ts)
    if isinstance(ts, str):
        return datetime.fromisoformat(ts).timestamp()
    raise ValueError(f"unsupported ts {ts!r}")


def classify(message: str | bytes) -> tuple[int, float, int]:
    """``(seq, event time, size in bytes)`` of an event frame, or ``(-1, 0.0, 0)``."""
    try:
        frame = json.loads(message)
    except ValueError:
        return _NOT_EVENT
    if not isinstance(frame, dict) or frame.get("type") in NON_EVENT_TYPES:
        return _NOT_EVENT
    seq, ts = frame.get("seq"), frame.get("ts")
    if not isinstance(seq, int) or ts is None:
        return _NOT_EVENT
    try:
        event_time = parse_event_time(ts)
    except ValueError:
        return _NOT_EVENT
    size = len(message.encode()) if isinstance(message, str) else len(message)
    return seq, event_time, size


@dataclass
class WindowResult:
    """What the viewers received during one measured window."""

    viewers_requested: int
    viewers_connected: int
    viewers_alive_at_start: int
    ramp_seconds: float
    warm_viewers: int
    window_seconds: float
    frames: int
    latencies: array[float]
    seqs: set[int]
    per_viewer: list[int]
    lost_in_window: Counter[str]
    lost_before_window: Counter[str]
    connect_failures: Counter[str]
    frame_bytes: float
    client_cpu_seconds: float
    server_cpu_seconds: float | None


class Recorder:
    """Counts event frames per viewer and their latency inside the window ``[t0, t1)``."""

    def __init__(self) -> None:
        self.t0 = float("inf")
        self.t1 = float("inf")
        self.counts: list[int] = []
        self.warm: list[bool] = []
        self.warm_count = 0
        self.warm_target: int | None = None
        self.warm_event = asyncio.Event()
        self.latencies: array[float] = array("d")
        self.seqs: set[int] = set()
        self.sizes: dict[int, int] = {}
        self.closed: list[tuple[float, str]] = []
        self._cache: dict[str | bytes, tuple[int, float, int]] = {}

    def add_viewer(self) -> int:
        self.counts.append(0)
        self.warm.append(False)
        return len(self.counts) - 1

    def on_message(self, index: int, message: str | bytes, now: float) -> None:
        info = self._cache.get(message)
        if info is None:
            info = classify(message)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[message] = info
        seq, event_time, size = info
        if seq < 0:
            return
        if not self.warm[index]:
            self.warm[index] = True
            self.warm_count += 1
            if self.warm_target is not None and self.warm_count >= self.warm_target:
                self.warm_event.set()
        if self.t0 <= now < self.t1:
            self.counts[index] += 1
            self.latencies.append(now - event_time)
            if seq not in self.seqs:
                self.seqs.add(seq)
                self.sizes[seq] = size

    def on_closed(self, code: int | None, reason: str) -> None:
        label = "no close frame" if code is None else f"{code} {reason}".strip()
        self.closed.append((time.time(), label))


# --- client 1: websockets Sans-I/O protocol in an asyncio.Protocol --------------------------


class _FastViewer(asyncio.BufferedProtocol):
    """One viewer, built to cost the client as little CPU per frame as possible.

    websockets' Sans-I/O ``ClientProtocol`` does the opening handshake (request, accept-key
    and extension checks) and every control frame (automatic pong, closing handshake, close
    code). Data frames, which server-to-client are never masked, are cut out of the stream
    inline: a text frame costs a header decode and one ``bytes`` slice. Reads go into one
    preallocated buffer (``BufferedProtocol``): a plain ``Protocol`` makes asyncio allocate
    256 KiB per read, which on this VM cost more than all the rest.
    """

    def __init__(self, url: str, origin: str, recorder: Recorder) -> None:
        self.ws = ClientProtocol(parse_uri(url), origin=Origin(origin), max_size=_MAX_SIZE)
        self.recorder = recorder
        self.index = -1
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._buffer = memoryview(bytearray(_READ_BUFFER))
        self._pending = bytearray()
        self._head_fed = False
        self._open = False
        self._fragments: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        request = self.ws.connect()
        request.headers["User-Agent"] = USER_AGENT
        self.ws.send_request(request)
        self._flush()

    def _flush(self) -> None:
        assert self.transport is not None
        for data in self.ws.data_to_send():
            if data:
                self.transport.write(data)
            elif self.transport.can_write_eof():
                self.transport.write_eof()
        if self.ws.close_expected():
            self.transport.close()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        now = time.time()
        self._pending += self._buffer[:nbytes]
        if not self._open:
            self._read_handshake()
        if self._open:
            self._read_frames(now)

    def _read_handshake(self) -> None:
        """Feed websockets the response head only, so frames start at a clean boundary."""
        pending = self._pending
        if not self._head_fed:
            end = pending.find(b"\r\n\r\n")
            if end < 0:
                return
            data = bytes(pending[: end + 4])
            del pending[: end + 4]
            self._head_fed = True
        else:  # the body of a refusal (4xx/5xx) that websockets reads to the end
            data = bytes(pending)
            pending.clear()
        ws = self.ws
        ws.receive_data(data)
        for event in ws.events_received():
            if isinstance(event, Response) and not self.opened.done():
                if ws.handshake_exc is None and ws.state is State.OPEN:
                    self._open = True
                    # Before the frames that may have come in the same read (a snapshot).
                    self.index = self.recorder.add_viewer()
                    self.opened.set_result(None)
                else:
                    self.opened.set_exception(
                        ws.handshake_exc or ConnectionError("opening handshake failed")
                    )
        self._flush()
        if not self._open and pending:
            self._read_handshake()

    def _read_frames(self, now: float) -> None:
        buf = self._pending
        size = len(buf)
        pos = 0
        on_message = self.recorder.on_message
        while size - pos >= 2:
            first = buf[pos]
            second = buf[pos + 1]
            length = second & 0x7F
            head = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                head = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            if second & 0x80 or length > _MAX_SIZE:  # servers never mask
                self.abort()
                return
            end = pos + head + length
            if end > size:
                break
            opcode = first & 0x0F
            if opcode == 1 or opcode == 2:  # text, binary
                if first & 0x80:
                    on_message(self.index, bytes(buf[pos + head : end]), now)
                else:
                    self._fragments = [bytes(buf[pos + head : end])]
            elif opcode == 0:  # continuation
                self._fragments.append(bytes(buf[pos + head : end]))
                if first & 0x80:
                    on_message(self.index, b"".join(self._fragments), now)
                    self._fragments = []
            else:  # ping, pong, close: websockets answers (pong, closing handshake)
                self.ws.receive_data(bytes(buf[pos:end]))
                self.ws.events_received()
                self._flush()
            pos = end
        if pos:
            del buf[:pos]

    def eof_received(self) -> bool | None:
        self.ws.receive_eof()
        self._flush()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the handshake"))
        elif self.index >= 0:
            # close_rcvd, not close_code: the latter stays None until the TCP close is seen.
            received = self.ws.close_rcvd
            if received is None:
                self.recorder.on_closed(None, "")
            else:
                self.recorder.on_closed(received.code, received.reason)
        if not self.lost.done():
            self.lost.set_result(None)

    def close(self) -> None:
        """Start the closing handshake (the server then closes TCP)."""
        if self.ws.state is State.OPEN:
            self.ws.send_close(1001)
            self._flush()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


# --- the swarm ------------------------------------------------------------------------------


class ViewerSwarm:
    """N viewer connections to one URL, ramped in batches, read until closed."""

    def __init__(
        self,
        url: str,
        viewers: int,
        *,
        origin: str,
        batch: int = 50,
        open_timeout: float = 30.0,
        client: ClientKind = "fast",
    ) -> None:
        self.url = url
        self.viewers = viewers
        self.origin = origin
        self.batch = batch
        self.open_timeout = open_timeout
        self.client = client
        self.recorder = Recorder()
        self.connect_failures: Counter[str] = Counter()
        self.ramp_seconds = 0.0
        self._fast: list[_FastViewer] = []
        self._asyncio: list[ClientConnection] = []
        self._readers: list[asyncio.Task[None]] = []

    @property
    def connected(self) -> int:
        return len(self.recorder.counts)

    # --- connecting -----------------------------------------------------------------

    async def _open_fast(self) -> None:
        uri = parse_uri(self.url)
        loop = asyncio.get_running_loop()
        viewer = _FastViewer(self.url, self.origin, self.recorder)
        async with asyncio.timeout(self.open_timeout):
            try:
                await loop.create_connection(lambda: viewer, uri.host, uri.port)
                await viewer.opened
            except BaseException:
                if not viewer.opened.done():
                    viewer.opened.cancel()
                viewer.abort()
                raise
        self._fast.append(viewer)

    async def _open_asyncio(self) -> None:
        connection = await connect(
            self.url,
            origin=Origin(self.origin),
            compression=None,
            ping_interval=None,
            open_timeout=self.open_timeout,
            close_timeout=2,
            max_size=_MAX_SIZE,
        )
        index = self.recorder.add_viewer()
        self._asyncio.append(connection)
        self._readers.append(asyncio.create_task(self._read(index, connection)))

    async def _open(self) -> None:
        reason = "?"
        for attempt in range(_OPEN_ATTEMPTS):
            try:
                if self.client == "fast":
                    await self._open_fast()
                else:
                    await self._open_asyncio()
                return
            except InvalidStatus as exc:
                reason = f"HTTP {exc.response.status_code}"
                break  # the server answered: retrying will not change its mind
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}"[:120]
                await asyncio.sleep(0.2 * (attempt + 1))
        self.connect_failures[reason] += 1

    async def connect_all(self, timeout: float) -> None:
        """Open every viewer, ``batch`` at a time; each starts recording once open."""
        started = time.monotonic()
        try:
            async with asyncio.timeout(timeout):
                for first in range(0, self.viewers, self.batch):
                    size = min(self.batch, self.viewers - first)
                    await asyncio.gather(*(self._open() for _ in range(size)))
                    if not self.connected:
                        raise RampError(f"no viewer could connect: {self._failures()}")
        except TimeoutError:
            raise RampError(
                f"only {self.connected}/{self.viewers} viewers connected within "
                f"{timeout:.0f} s ({self._failures() or 'no failures'})"
            ) from None
        finally:
            self.ramp_seconds = time.monotonic() - started
        recorder = self.recorder
        recorder.warm_target = self.connected
        if recorder.warm_count >= recorder.warm_target:
            recorder.warm_event.set()

    def _failures(self) -> str:
        return ", ".join(f"{n}× {reason}" for reason, n in self.connect_failures.most_common(3))

    async def _read(self, index: int, connection: ClientConnection) -> None:
        on_message = self.recorder.on_message
        try:
            async for message in connection:
                on_message(index, message, time.time())
        except ConnectionClosed:
            pass
        finally:
            self.recorder.on_closed(connection.close_code, connection.close_reason or "")

    # --- measuring ------------------------------------------------------------------

    async def wait_warm(self, timeout: float) -> int:
        """Wait until every open viewer has received an event; return how many have."""
        try:
            async with asyncio.timeout(timeout):
                await self.recorder.warm_event.wait()
        except TimeoutError:
            pass
        return self.recorder.warm_count

    async def measure(
        self, duration: float, server_cpu: Callable[[], float] | None = None
    ) -> WindowResult:
        """Open the window now, record for ``duration`` seconds, return what arrived."""
        rec = self.recorder
        cpu_before = time.process_time()
        server_before = server_cpu() if server_cpu else None
        rec.t0 = time.time()
        rec.t1 = rec.t0 + duration
        await asyncio.sleep(duration)
        # The loop may wake late; frames after t1 are not counted anyway.
        await asyncio.sleep(max(0.0, rec.t1 - time.time()))
        client_cpu = time.process_time() - cpu_before
        server_used = None
        if server_cpu is not None and server_before is not None:
            server_used = server_cpu() - server_before
        lost_before: Counter[str] = Counter(label for t, label in rec.closed if t < rec.t0)
        lost_in: Counter[str] = Counter(label for t, label in rec.closed if rec.t0 <= t < rec.t1)
        sizes = list(rec.sizes.values())
        return WindowResult(
            viewers_requested=self.viewers,
            viewers_connected=self.connected,
            viewers_alive_at_start=self.connected - sum(lost_before.values()),
            ramp_seconds=self.ramp_seconds,
            warm_viewers=rec.warm_count,
            window_seconds=duration,
            frames=sum(rec.counts),
            latencies=array("d", rec.latencies),
            seqs=set(rec.seqs),
            per_viewer=list(rec.counts),
            lost_in_window=lost_in,
            lost_before_window=lost_before,
            connect_failures=Counter(self.connect_failures),
            frame_bytes=sum(sizes) / len(sizes) if sizes else 0.0,
            client_cpu_seconds=client_cpu,
            server_cpu_seconds=server_used,
        )

    # --- closing --------------------------------------------------------------------

    async def close(self, timeout: float = 20.0) -> None:
        """Stop recording and close every viewer (aborting those that do not close)."""
        self.recorder.t0 = self.recorder.t1 = float("inf")
        try:
            async with asyncio.timeout(timeout):
                for viewer in self._fast:
                    viewer.close()
                await asyncio.gather(*(viewer.lost for viewer in self._fast))
                for first in range(0, len(self._asyncio), 500):
                    await asyncio.gather(
                        *(c.close() for c in self._asyncio[first : first + 500]),
                        return_exceptions=True,
                    )
        except TimeoutError:
            pass
        for viewer in self._fast:
            viewer.abort()
        for connection in self._asyncio:
            connection.transport.abort()
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
