"""Programme audio: one format everywhere, a small jitter buffer per source, the mixer.

The programme's sound is 48 kHz stereo signed 16-bit in 20 ms frames (960 samples),
which is what aiortc's Opus codec takes and gives, so no peer needs a resampler on the
way out. Each input (the studio, each guest) is resampled to that format on arrival and
queued in a :class:`SampleBuffer`; the programme clock takes one frame from each every
20 ms and sums them (:func:`mix`).
"""

from __future__ import annotations

import fractions
from collections import deque

import av
import numpy as np

SAMPLE_RATE = 48_000
CHANNELS = 2
LAYOUT = "stereo"
FRAME_SAMPLES = 960  # 20 ms
FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)


def new_resampler() -> av.AudioResampler:
    """A resampler to the programme format (one per input: it keeps state)."""
    return av.AudioResampler(format="s16", layout=LAYOUT, rate=SAMPLE_RATE)


def frame_samples(frame: av.AudioFrame) -> np.ndarray:
    """Interleaved s16 stereo samples of a programme-format frame as ``(n, 2)`` int16."""
    return frame.to_ndarray().reshape(-1, CHANNELS)


def audio_frame(samples: np.ndarray, pts: int) -> av.AudioFrame:
    """A programme audio frame from ``(n, 2)`` int16 samples."""
    packed = np.ascontiguousarray(samples, dtype=np.int16).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(packed, format="s16", layout=LAYOUT)
    frame.sample_rate = SAMPLE_RATE
    frame.pts = pts
    frame.time_base = TIME_BASE
    return frame


def silence(samples: int = FRAME_SAMPLES) -> np.ndarray:
    return np.zeros((samples, CHANNELS), dtype=np.int16)


class SampleBuffer:
    """A jitter buffer of programme-format samples from one live input.

    ``push`` appends what the network delivered; ``pull`` returns exactly one frame,
    padded with silence when the input is late. The buffer starts playing once
    ``prefill`` samples are queued (and again after running dry), which absorbs the
    jitter between the sender's clock and ours; it never holds more than ``limit``
    samples: the oldest are dropped, so latency cannot creep up.
    """

    def __init__(self, *, prefill: int = 2 * FRAME_SAMPLES, limit: int = 15 * FRAME_SAMPLES):
        self._chunks: deque[np.ndarray] = deque()
        self._size = 0
        self._prefill = prefill
        self._limit = limit
        self._playing = False
        self.dropped = 0
        self.underruns = 0

    def __len__(self) -> int:
        return self._size

    def push(self, samples: np.ndarray) -> None:
        if not len(samples):
            return
        self._chunks.append(samples)
        self._size += len(samples)
        while self._size > self._limit:
            excess = self._size - self._limit
            head = self._chunks[0]
            if len(head) <= excess:
                self._chunks.popleft()
                self._size -= len(head)
                self.dropped += len(head)
            else:
                self._chunks[0] = head[excess:]
                self._size -= excess
                self.dropped += excess

    def pull(self, samples: int = FRAME_SAMPLES) -> np.ndarray | None:
        """One frame of samples, or ``None`` when the input has nothing to play."""
        if not self._playing:
            if self._size < self._prefill:
                return None
            self._playing = True
        if self._size == 0:
            self._playing = False
            self.underruns += 1
            return None
        out = np.zeros((samples, CHANNELS), dtype=np.int16)
        filled = 0
        while filled < samples and self._chunks:
            head = self._chunks[0]
            take = min(samples - filled, len(head))
            out[filled : filled + take] = head[:take]
            filled += take
            if take == len(head):
                self._chunks.popleft()
            else:
                self._chunks[0] = head[take:]
        self._size -= filled
        if filled < samples:
            self._playing = False
            self.underruns += 1
        return out

    def clear(self) -> None:
        self._chunks.clear()
        self._size = 0
        self._playing = False


def mix(sources: list[np.ndarray]) -> np.ndarray:
    """Sum frames of int16 samples with saturation (no wrap-around on loud peaks)."""
    if not sources:
        return silence()
    if len(sources) == 1:
        return sources[0]
    total = np.sum([s.astype(np.int32) for s in sources], axis=0)
    return np.clip(total, -32768, 32767).astype(np.int16)
