"""Track helpers: a bounded queue track, and readers that always drain what they get."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

logger = logging.getLogger(__name__)

_END = object()


class FrameQueueTrack(MediaStreamTrack):
    """A track fed by :meth:`put` (from the programme clock), read by one consumer.

    The queue is bounded: when the consumer is slower than the clock, the oldest frame
    is dropped, so a stalled consumer costs at most ``maxsize`` frames of memory.
    :meth:`stop` ends the consumer's ``recv`` with ``MediaStreamError``.
    """

    def __init__(self, kind: str, maxsize: int = 8) -> None:
        super().__init__()
        self.kind = kind
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize)
        self.dropped = 0

    def put(self, frame: Any) -> None:
        if self.readyState != "live":
            return
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(frame)

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self._queue.get()
        if frame is _END:
            raise MediaStreamError
        return frame

    def stop(self) -> None:
        if self.readyState == "live":
            super().stop()
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(_END)


async def read_track(track: MediaStreamTrack, on_frame: Callable[[Any], None]) -> None:
    """Read ``track`` until it ends, handing every frame to ``on_frame``.

    Every received track must be read to its end (or given to a ``MediaBlackhole``):
    aiortc queues decoded frames for the reader, and an unread track grows that queue.
    A failing ``on_frame`` is logged and the frame dropped; reading goes on.
    """
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        try:
            on_frame(frame)
        except Exception:
            logger.exception("dropping a %s frame that could not be used", track.kind)


def start_reader(track: MediaStreamTrack, on_frame: Callable[[Any], None]) -> asyncio.Task[None]:
    return asyncio.ensure_future(read_track(track, on_frame))


async def cancel_and_wait(*tasks: asyncio.Future[Any] | None) -> None:
    """Cancel tasks and wait until they are really finished (no task outlives its peer)."""
    live = [t for t in tasks if t is not None and not t.done()]
    for task in live:
        task.cancel()
    for task in live:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
