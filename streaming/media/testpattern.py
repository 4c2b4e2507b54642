"""A test signal: colour bars with a moving marker, and a sine tone.

Used by the demo publisher (``python -m streaming.publish_test_pattern``), the tests and
the benchmark. Both tracks pace themselves in real time like a camera and a microphone.
"""

from __future__ import annotations

import asyncio
import fractions
import time

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from streaming.media.audio import CHANNELS, FRAME_SAMPLES, LAYOUT, SAMPLE_RATE, TIME_BASE

#: SMPTE-like bars, left to right (RGB): white, yellow, cyan, green, magenta, red, blue.
BARS = np.array(
    [
        (235, 235, 235),
        (235, 235, 16),
        (16, 235, 235),
        (16, 235, 16),
        (235, 16, 235),
        (235, 16, 16),
        (16, 16, 235),
    ],
    dtype=np.uint8,
)
MARKER = 16


def colour_bars(width: int, height: int) -> np.ndarray:
    columns = (np.arange(width) * len(BARS)) // width
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[:] = BARS[columns][None, :, :]
    image[height * 3 // 4 :] = 32  # a dark band where the marker runs
    return image


class _Paced(MediaStreamTrack):
    def __init__(self, period: float) -> None:
        super().__init__()
        self._period = period
        self._start: float | None = None
        self._count = 0

    async def _next(self) -> int:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._count * self._period - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        count = self._count
        self._count += 1
        return count


class ColourBarsTrack(_Paced):
    """Colour bars; a white square moves along the bottom band (frames differ)."""

    kind = "video"

    def __init__(self, width: int = 320, height: int = 240, fps: int = 15) -> None:
        super().__init__(1.0 / fps)
        self.width, self.height, self.fps = width, height, fps
        self._bars = colour_bars(width, height)

    async def recv(self) -> av.VideoFrame:
        count = await self._next()
        image = self._bars.copy()
        x = (count * 4) % max(1, self.width - MARKER)
        top = self.height * 7 // 8 - MARKER // 2
        image[top : top + MARKER, x : x + MARKER] = 255
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = count * 90_000 // self.fps
        frame.time_base = fractions.Fraction(1, 90_000)
        return frame


class ToneTrack(_Paced):
    """A continuous sine tone (default 1 kHz) in 20 ms frames of 48 kHz stereo s16."""

    kind = "audio"

    def __init__(self, frequency: float = 1000.0, amplitude: float = 0.3) -> None:
        super().__init__(FRAME_SAMPLES / SAMPLE_RATE)
        self.frequency = frequency
        self.amplitude = amplitude

    async def recv(self) -> av.AudioFrame:
        count = await self._next()
        t = (np.arange(FRAME_SAMPLES) + count * FRAME_SAMPLES) / SAMPLE_RATE
        mono = (np.sin(2 * np.pi * self.frequency * t) * self.amplitude * 32767).astype(np.int16)
        samples = np.repeat(mono, CHANNELS).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout=LAYOUT)
        frame.sample_rate = SAMPLE_RATE
        frame.pts = count * FRAME_SAMPLES
        frame.time_base = TIME_BASE
        return frame
