"""aiortc test peers and signal checks for the media engine's tests (and the benchmark).

- :class:`Received` reads every track a client peer receives, keeping the newest decoded
  pictures (RGB) and the decoded sound (mono float) with their arrival times.
- :func:`tone_ratio`, :func:`looks_like_slate`, :func:`looks_like_bars`: what a person
  would check by eye and ear (a tone is there, a slate is up, the bars are back).
- :func:`asgi_http`: lets the WHIP/WHEP clients of :mod:`streaming.media.client` talk to
  the application in-process through Django's ``AsyncClient`` (same event loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.parse
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from streaming.media.client import Http, HttpResult
from streaming.media.slates import BACKGROUND, SlateKind
from streaming.media.testpattern import BARS

SAMPLE_RATE = 48_000


class Received:
    """What a client peer received: pictures and sound, newest last."""

    def __init__(self, keep_pictures: int = 30) -> None:
        self.pictures: deque[tuple[float, np.ndarray]] = deque(maxlen=keep_pictures)
        self.sound: deque[tuple[float, np.ndarray]] = deque(maxlen=50 * 20)  # 20 s
        self.video_frames = 0
        self.audio_frames = 0
        self.sizes: set[tuple[int, int]] = set()
        self.tasks: list[asyncio.Task[None]] = []

    def on_track(self, track: MediaStreamTrack) -> None:
        self.tasks.append(asyncio.ensure_future(self._read(track)))

    async def _read(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            now = time.monotonic()
            if track.kind == "video":
                self.video_frames += 1
                self.sizes.add((frame.width, frame.height))
                self.pictures.append((now, frame.to_ndarray(format="rgb24")))
            else:
                self.audio_frames += 1
                samples = frame.to_ndarray().reshape(-1, len(frame.layout.channels))
                self.sound.append((now, samples.mean(axis=1).astype(np.float32) / 32768.0))

    def latest_picture(self) -> np.ndarray | None:
        return self.pictures[-1][1] if self.pictures else None

    def sound_since(self, since: float) -> np.ndarray:
        chunks = [s for t, s in self.sound if t >= since]
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)

    async def wait_for(
        self, predicate: Callable[[Received], bool], timeout: float = 10.0, what: str = ""
    ) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or predicate}")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def tone_ratio(samples: np.ndarray, frequency: float, *, width: float = 40.0) -> float:
    """Share of the signal's energy within ``width`` Hz of ``frequency`` (0 for silence)."""
    if len(samples) < 960:
        return 0.0
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples)))) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / SAMPLE_RATE)
    total = float(spectrum.sum())
    if total < 1e-9:
        return 0.0
    band = (freqs > frequency - width) & (freqs < frequency + width)
    return float(spectrum[band].sum()) / total


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples**2))) if len(samples) else 0.0


def looks_like_slate(picture: np.ndarray, kind: SlateKind, tolerance: int = 24) -> bool:
    """The left and right margins (no text there) are the slate's background colour."""
    width = picture.shape[1]
    margin = np.concatenate([picture[:, : width // 12], picture[:, -width // 12 :]], axis=1)
    median = np.median(margin.reshape(-1, 3), axis=0)
    return bool(np.all(np.abs(median - np.array(BACKGROUND[kind])) <= tolerance))


def looks_like_bars(picture: np.ndarray, tolerance: int = 48) -> bool:
    """Each colour bar is where it should be (sampled in the middle of the top half)."""
    height, width = picture.shape[:2]
    for index, colour in enumerate(BARS):
        x = int((index + 0.5) * width / len(BARS))
        patch = picture[height // 8 : height // 2, x - 2 : x + 3].reshape(-1, 3)
        if np.any(np.abs(np.median(patch, axis=0) - colour.astype(float)) > tolerance):
            return False
    return True


def asgi_http(client: Any) -> Http:
    """An ``http`` callable for the WHIP/WHEP clients, served by Django's AsyncClient."""

    async def call(
        method: str, url: str, body: bytes | None, headers: dict[str, str]
    ) -> HttpResult:
        parts = urllib.parse.urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        extra = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        content_type = headers.get("Content-Type", "application/octet-stream")
        response = await client.generic(
            method, path, data=body or b"", content_type=content_type, headers=extra
        )
        return HttpResult(response.status_code, dict(response.headers), response.content)

    return call


TEST_BASE = "http://testserver"


async def play(http: Http, slug: str = "live") -> tuple[Any, Received]:
    """A WHEP viewer of ``slug`` on the in-process engine, and what it receives."""
    from streaming.media.client import WhepClient

    received = Received()
    client = WhepClient(f"{TEST_BASE}/whep/{slug}", http=http)
    await client.play(received.on_track)
    return client, received


def showing_bars(received: Received) -> bool:
    """The viewer's latest picture is the studio's colour bars."""
    picture = received.latest_picture()
    return picture is not None and looks_like_bars(picture)
