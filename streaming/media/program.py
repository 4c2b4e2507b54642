"""One session's programme: what every output (WebRTC viewers, guests, HLS, recording)
shows and plays.

Inputs: the studio publisher's video and audio (WHIP), and each connected guest's audio.
Outputs, produced by one clock task in real time whatever the inputs do:

- video at ``fps``: the newest studio picture scaled to the programme size, or a slate
  (:mod:`.slates`): *confidential* while the current agenda item is confidential,
  *audio only* when the studio sends no picture, *waiting* when there is no studio
  signal (no publisher, or no picture for ``STUDIO_STALE_SECONDS``);
- audio in 20 ms frames: the studio mixed with the guests who are on air; silence while
  the item is confidential;
- for each guest, a return feed: the programme minus their own voice (mix-minus), so a
  caller hears the show without their own echo; silence while confidential.

The programme tracks never end while the programme runs, so a publisher that drops and
comes back (or is replaced) changes only what the clock reads: viewers' peers keep their
tracks and resume by themselves. WebRTC consumers share one frame per tick through
aiortc's :class:`MediaRelay`; the HLS packager gets its own frame objects (PyAV's
encoders rewrite a frame's ``pts``/``time_base`` in place, so encoders in different
threads must not share a frame they would rebase differently).

Everything here runs on the event loop, except that encoders (aiortc's, HLS) run in
threads on frames the clock no longer touches.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack

from streaming.media.audio import (
    FRAME_SAMPLES,
    FRAME_SECONDS,
    SampleBuffer,
    audio_frame,
    frame_samples,
    mix,
    new_resampler,
    silence,
)
from streaming.media.slates import SlateKind, slate_yuv
from streaming.media.tracks import FrameQueueTrack

logger = logging.getLogger(__name__)

VIDEO_CLOCK_RATE = 90_000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_RATE)
#: No studio picture for this long: show the "waiting" slate.
STUDIO_STALE_SECONDS = 1.0
#: The clock fell this far behind (a stalled loop): skip ahead instead of bursting.
MAX_CLOCK_LAG_SECONDS = 0.5


@dataclass(frozen=True)
class ProgramConfig:
    width: int = 640
    height: int = 360
    fps: int = 30

    @classmethod
    def from_settings(cls) -> ProgramConfig:
        from django.conf import settings

        return cls(
            width=settings.HUB_PROGRAM_WIDTH,
            height=settings.HUB_PROGRAM_HEIGHT,
            fps=settings.HUB_PROGRAM_FPS,
        )


class AudioInput:
    """One live audio input (the studio or a guest): resampled, jitter-buffered."""

    def __init__(self) -> None:
        self.buffer = SampleBuffer()
        self._resampler = new_resampler()
        self.frames = 0

    def feed(self, frame: av.AudioFrame) -> None:
        self.frames += 1
        try:
            converted = self._resampler.resample(frame)
        except ValueError:
            # The sender changed format mid-stream: start a fresh resampler.
            self._resampler = new_resampler()
            converted = self._resampler.resample(frame)
        for chunk in converted:
            self.buffer.push(frame_samples(chunk))


class StudioInput:
    """The studio publisher's picture as the clock sees it."""

    def __init__(self) -> None:
        self.connected = False
        self.has_video = False
        self.latest: av.VideoFrame | None = None
        self.latest_at = 0.0
        self.frames = 0
        self.audio: AudioInput | None = None

    def take_video(self, frame: av.VideoFrame) -> None:
        self.latest = frame
        self.latest_at = time.monotonic()
        self.frames += 1

    def reset(self) -> None:
        self.connected = False
        self.has_video = False
        self.latest = None
        self.audio = None


class GuestInput:
    """A connected guest: their voice in, their return feed out."""

    def __init__(self, invite_id: int, label: str) -> None:
        self.invite_id = invite_id
        self.label = label
        self.audio = AudioInput()
        self.return_track = FrameQueueTrack("audio", maxsize=10)


class Program:
    """The programme of one session in this process (see the module docstring)."""

    def __init__(
        self,
        slug: str,
        session_id: int,
        config: ProgramConfig,
        *,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.slug = slug
        self.session_id = session_id
        self.config = config
        self.on_change = on_change or (lambda: None)
        self.relay = MediaRelay()
        # The relay reads these; bounded so a relay that is not read yet costs nothing.
        self.video_out = FrameQueueTrack("video", maxsize=2)
        self.audio_out = FrameQueueTrack("audio", maxsize=10)
        #: Extra consumers fed directly by the clock with frames of their own (HLS).
        self.frame_sinks: list[Any] = []
        self.studio = StudioInput()
        self.guests: dict[int, GuestInput] = {}
        self.confidential = False
        self.on_air: set[int] = set()
        #: Until the control state is known, nothing of the inputs goes out.
        self.held = True
        self._clock: asyncio.Task[None] | None = None
        self._picture_source: av.VideoFrame | None = None
        self._picture: np.ndarray | None = None
        self.showing: SlateKind | None = SlateKind.WAITING
        self.video_ticks = 0
        self.audio_ticks = 0
        self._tick_errors = 0

    # -- life ----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._clock is not None and not self._clock.done()

    def start(self) -> None:
        if self._clock is None:
            self._clock = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop the clock and end the programme tracks (every relayed copy ends too)."""
        if self._clock is not None:
            self._clock.cancel()
            try:
                await self._clock
            except asyncio.CancelledError:
                pass
        self.video_out.stop()
        self.audio_out.stop()
        for guest in self.guests.values():
            guest.return_track.stop()
        # Let the relay's readers see the end and finish.
        await asyncio.sleep(0)

    # -- outputs -------------------------------------------------------------------------
    def subscribe_video(self) -> MediaStreamTrack:
        """A copy of the programme video for one peer (latest frame; a slow encoder skips
        frames instead of queueing them)."""
        return self.relay.subscribe(self.video_out, buffered=False)

    def subscribe_audio(self) -> MediaStreamTrack:
        """A copy of the programme audio for one peer (every 20 ms frame, in order)."""
        return self.relay.subscribe(self.audio_out, buffered=True)

    # -- control (from the session's event stream) ----------------------------------------
    def set_state(
        self, *, confidential: bool | None = None, on_air: set[int] | None = None
    ) -> None:
        changed = False
        if confidential is not None and confidential != self.confidential:
            self.confidential = confidential
            changed = True
        if on_air is not None and on_air != self.on_air:
            self.on_air = set(on_air)
            changed = True
        if changed:
            logger.info(
                "programme %s: confidential=%s on air=%s",
                self.slug,
                self.confidential,
                sorted(self.on_air),
            )
            self.on_change()

    def release_hold(self) -> None:
        if self.held:
            self.held = False
            self.on_change()

    def set_guest_on_air(self, invite_id: int, on_air: bool) -> None:
        wanted = set(self.on_air)
        (wanted.add if on_air else wanted.discard)(invite_id)
        self.set_state(on_air=wanted)

    # -- inputs --------------------------------------------------------------------------
    def studio_connected(self, *, has_video: bool, has_audio: bool) -> None:
        """A (new) publisher is the studio: its frames go on air from now on."""
        self.studio.reset()
        self.studio.connected = True
        self.studio.has_video = has_video
        self.studio.audio = AudioInput() if has_audio else None
        self.on_change()

    def studio_disconnected(self) -> None:
        self.studio.reset()
        self._picture_source = None
        self.on_change()

    def add_guest(self, guest: GuestInput) -> None:
        """Take a guest's voice (heard once on air) and feed their return track."""
        previous = self.guests.get(guest.invite_id)
        if previous is not None and previous is not guest:
            previous.return_track.stop()
        self.guests[guest.invite_id] = guest
        self.on_change()

    def remove_guest(self, invite_id: int, guest: GuestInput | None = None) -> None:
        current = self.guests.get(invite_id)
        if current is None or (guest is not None and current is not guest):
            return
        del self.guests[invite_id]
        current.return_track.stop()
        self.on_change()

    # -- the clock -----------------------------------------------------------------------
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        video_step = 1.0 / self.config.fps
        start = loop.time()
        audio_n = video_n = 0
        while True:
            now = loop.time()
            if now - (start + audio_n * FRAME_SECONDS) > MAX_CLOCK_LAG_SECONDS:
                audio_n = int((now - start) / FRAME_SECONDS)
            if now - (start + video_n * video_step) > MAX_CLOCK_LAG_SECONDS:
                video_n = int((now - start) / video_step)
            while start + audio_n * FRAME_SECONDS <= now:
                self._guarded(self._tick_audio, audio_n * FRAME_SAMPLES)
                audio_n += 1
            while start + video_n * video_step <= now:
                self._guarded(self._tick_video, round(video_n * VIDEO_CLOCK_RATE / self.config.fps))
                video_n += 1
            wake = min(start + audio_n * FRAME_SECONDS, start + video_n * video_step)
            await asyncio.sleep(max(0.0, wake - loop.time()))

    def _guarded(self, tick: Callable[[int], None], pts: int) -> None:
        try:
            tick(pts)
        except Exception:
            self._tick_errors += 1
            if self._tick_errors <= 10 or self._tick_errors % 1000 == 0:
                logger.exception("programme %s: a clock tick failed", self.slug)

    def current_slate(self) -> SlateKind | None:
        """What the clock shows now: a slate kind, or ``None`` for the studio picture."""
        if self.held:
            return SlateKind.WAITING
        if self.confidential:
            return SlateKind.CONFIDENTIAL
        studio = self.studio
        if not studio.connected:
            return SlateKind.WAITING
        if studio.latest is not None and time.monotonic() - studio.latest_at < STUDIO_STALE_SECONDS:
            return None
        if not studio.has_video and studio.audio is not None:
            return SlateKind.AUDIO_ONLY
        return SlateKind.WAITING

    def _studio_picture(self) -> np.ndarray:
        latest = self.studio.latest
        assert latest is not None
        if latest is not self._picture_source or self._picture is None:
            width, height = self.config.width, self.config.height
            scaled = latest.reformat(width=width, height=height, format="yuv420p")
            self._picture = scaled.to_ndarray()
            self._picture_source = latest
        return self._picture

    def _tick_video(self, pts: int) -> None:
        slate = self.current_slate()
        if slate != self.showing:
            self.showing = slate
            self.on_change()
        if slate is None:
            picture = self._studio_picture()
        else:
            picture = slate_yuv(slate, self.config.width, self.config.height)
        self.video_ticks += 1
        self.video_out.put(_video_frame(picture, pts))
        for sink in self.frame_sinks:
            sink.put_video(_video_frame(picture, pts))

    def _tick_audio(self, pts: int) -> None:
        studio_audio = self.studio.audio
        studio_voice = studio_audio.buffer.pull() if studio_audio is not None else None
        studio_voices = [] if studio_voice is None else [studio_voice]
        # Every guest's buffer is read each tick, on air or not, so a guest who goes on
        # air is heard from now, not from what they said while waiting.
        guest_voices: dict[int, np.ndarray] = {}
        for invite_id, guest in self.guests.items():
            pulled = guest.audio.buffer.pull()
            if pulled is not None and invite_id in self.on_air:
                guest_voices[invite_id] = pulled
        voices = [*studio_voices, *guest_voices.values()]
        blanked = self.confidential or self.held
        programme = silence() if blanked else mix(voices)
        self.audio_ticks += 1
        self.audio_out.put(audio_frame(programme, pts))
        for sink in self.frame_sinks:
            sink.put_audio(audio_frame(programme, pts))
        for invite_id, guest in self.guests.items():
            if blanked:
                back = programme  # silence
            elif invite_id not in guest_voices:
                back = programme
            else:  # mix-minus: everyone but themselves
                others = [v for k, v in guest_voices.items() if k != invite_id]
                back = mix([*studio_voices, *others])
            guest.return_track.put(audio_frame(back, pts))

    def status(self) -> dict[str, Any]:
        return {
            "program": self.running,
            "publisher_connected": self.studio.connected,
            "showing": self.showing.value if self.showing else "studio",
            "confidential": self.confidential,
            "on_air_guest_ids": sorted(self.on_air),
            "guests": len(self.guests),
        }


def _video_frame(picture: np.ndarray, pts: int) -> av.VideoFrame:
    frame = av.VideoFrame.from_ndarray(picture, format="yuv420p")
    frame.pts = pts
    frame.time_base = VIDEO_TIME_BASE
    return frame
