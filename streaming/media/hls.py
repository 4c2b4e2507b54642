"""HLS packaging and recording: the programme encoded ONCE (H.264 + AAC) for everyone.

One :class:`HlsPackager` per running programme writes, in ``HUB_MEDIA_ROOT/hls/<slug>/``:

- ``index.m3u8``: the live playlist (the last ``list_size`` segments), written by
  FFmpeg's ``hls`` muxer through PyAV; what players and the CDN poll;
- ``<run>-00000.ts`` …: MPEG-TS segments of ``segment_seconds`` (a keyframe starts each
  one: the GOP is one segment, scene-cut keyframes are off);
- ``<run>.m3u8``: the recording, a playlist of every segment of this run. It is an
  ``EVENT`` playlist while the programme runs and becomes a ``VOD`` playlist with
  ``#EXT-X-ENDLIST`` when it stops. Segments are never deleted, so a crash loses at
  most the segment being written; the recording replays with any HLS player.

Encoding and muxing run in one worker thread (the muxer is not thread-safe and keeps
packets in order). The clock hands frames over without waiting; if the encoder falls
more than ``max_pending_seconds`` behind, video frames are dropped (audio never), so the
packager can never hold unbounded memory or stall the programme.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import av

from streaming.media.audio import FRAME_SECONDS, SAMPLE_RATE

logger = logging.getLogger(__name__)

LIVE_PLAYLIST = "index.m3u8"


@dataclass(frozen=True)
class HlsConfig:
    segment_seconds: int = 2
    list_size: int = 6
    video_bitrate: int = 1_000_000
    audio_bitrate: int = 96_000
    preset: str = "veryfast"
    max_pending_seconds: float = 2.0

    @classmethod
    def from_settings(cls) -> HlsConfig:
        from django.conf import settings

        return cls(
            segment_seconds=settings.HUB_HLS_SEGMENT_SECONDS,
            list_size=settings.HUB_HLS_LIST_SIZE,
            video_bitrate=settings.HUB_PROGRAM_VIDEO_KBPS * 1000,
        )


@dataclass
class Segment:
    sequence: int
    duration: float
    uri: str


@dataclass
class VodPlaylist:
    """The recording's playlist, rewritten whole (atomically) when a segment is added."""

    path: Path
    segments: list[Segment] = field(default_factory=list)

    def add_from_live(self, text: str) -> bool:
        """Take the new segments listed in the live playlist ``text``; True if any."""
        sequence = 0
        duration: float | None = None
        added = False
        next_sequence = self.segments[-1].sequence + 1 if self.segments else 0
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
                sequence = int(line.split(":", 1)[1])
            elif line.startswith("#EXTINF:"):
                duration = float(line.split(":", 1)[1].split(",", 1)[0])
            elif line and not line.startswith("#") and duration is not None:
                if sequence >= next_sequence:
                    self.segments.append(Segment(sequence, duration, line))
                    next_sequence = sequence + 1
                    added = True
                sequence += 1
                duration = None
        return added

    def write(self, *, ended: bool) -> None:
        target = max((math.ceil(s.duration) for s in self.segments), default=1)
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:3",
            f"#EXT-X-PLAYLIST-TYPE:{'VOD' if ended else 'EVENT'}",
            f"#EXT-X-TARGETDURATION:{target}",
            "#EXT-X-MEDIA-SEQUENCE:0",
            "#EXT-X-INDEPENDENT-SEGMENTS",
        ]
        for segment in self.segments:
            lines += [f"#EXTINF:{segment.duration:.6f},", segment.uri]
        if ended:
            lines.append("#EXT-X-ENDLIST")
        temporary = self.path.with_suffix(".m3u8.tmp")
        temporary.write_text("\n".join(lines) + "\n")
        os.replace(temporary, self.path)


class HlsPackager:
    """Encode the programme once and package it to HLS (see the module docstring).

    Call :meth:`put_video` / :meth:`put_audio` from the event loop with frames this
    packager may own (it rebases their time stamps); :meth:`start` and :meth:`stop` are
    coroutines. ``on_segment`` is called on the loop after each new segment.
    """

    def __init__(
        self,
        directory: Path,
        run_id: str,
        *,
        width: int,
        height: int,
        fps: int,
        config: HlsConfig | None = None,
        on_segment: Callable[[], None] | None = None,
    ) -> None:
        self.directory = directory
        self.run_id = run_id
        self.width, self.height, self.fps = width, height, fps
        self.config = config or HlsConfig()
        self.on_segment = on_segment or (lambda: None)
        self.live_playlist = directory / LIVE_PLAYLIST
        self.vod = VodPlaylist(directory / f"{run_id}.m3u8")
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"hls-{run_id}")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._container: av.container.OutputContainer | None = None
        self._video: av.VideoStream | None = None
        self._audio: av.AudioStream | None = None
        self._pending_lock = threading.Lock()
        self._pending_video = 0
        self._pending_audio = 0
        self._playlist_mtime = 0
        self.failed = False
        self.closed = False
        self.dropped_video = 0
        self.video_frames = 0
        self.audio_frames = 0

    @property
    def recording_path(self) -> Path:
        return self.vod.path

    @property
    def available(self) -> bool:
        """True once the live playlist lists a segment."""
        return bool(self.vod.segments) and not self.closed

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.directory.mkdir(parents=True, exist_ok=True)
        await self._loop.run_in_executor(self._executor, self._open)

    def _open(self) -> None:
        config = self.config
        options = {
            "hls_time": str(config.segment_seconds),
            "hls_list_size": str(config.list_size),
            "hls_segment_filename": str(self.directory / f"{self.run_id}-%05d.ts"),
            "hls_flags": "independent_segments+temp_file",
        }
        container = av.open(str(self.live_playlist), mode="w", format="hls", options=options)
        video = container.add_stream("libx264", rate=self.fps)
        video.width, video.height, video.pix_fmt = self.width, self.height, "yuv420p"
        video.bit_rate = config.video_bitrate
        video.codec_context.time_base = fractions.Fraction(1, 90_000)
        video.codec_context.gop_size = self.fps * config.segment_seconds
        video.codec_context.options = {
            "preset": config.preset,
            "tune": "zerolatency",
            "sc_threshold": "0",  # keyframes only at GOP starts: segments of equal length
            "maxrate": str(config.video_bitrate),
            "bufsize": str(config.video_bitrate * 2),
        }
        audio = container.add_stream("aac", rate=SAMPLE_RATE)
        audio.layout = "stereo"
        audio.bit_rate = config.audio_bitrate
        self._container, self._video, self._audio = container, video, audio

    # -- feeding (event loop) ---------------------------------------------------------------
    def put_video(self, frame: av.VideoFrame) -> None:
        if self.failed or self.closed or self._container is None:
            return
        with self._pending_lock:
            if self._pending_video >= self.fps * self.config.max_pending_seconds:
                self.dropped_video += 1
                return
            self._pending_video += 1
        self._executor.submit(self._encode, frame, True)

    def put_audio(self, frame: av.AudioFrame) -> None:
        if self.failed or self.closed or self._container is None:
            return
        with self._pending_lock:
            # Audio is never dropped for speed, only when the worker is hopelessly stuck.
            if self._pending_audio >= 10 * self.config.max_pending_seconds / FRAME_SECONDS:
                return
            self._pending_audio += 1
        self._executor.submit(self._encode, frame, False)

    # -- worker thread -----------------------------------------------------------------------
    def _encode(self, frame: av.VideoFrame | av.AudioFrame, is_video: bool) -> None:
        try:
            if self.failed or self._container is None:
                return
            if isinstance(frame, av.VideoFrame):
                assert self._video is not None
                packets = self._video.encode(frame)
                self.video_frames += 1
            else:
                assert self._audio is not None
                packets = self._audio.encode(frame)
                self.audio_frames += 1
            for packet in packets:
                self._container.mux(packet)
            self._check_playlist()
        except Exception:
            self.failed = True
            logger.exception("HLS packaging of %s failed; HLS stops", self.directory)
        finally:
            with self._pending_lock:
                if is_video:
                    self._pending_video -= 1
                else:
                    self._pending_audio -= 1

    def _check_playlist(self, *, ended: bool = False) -> None:
        try:
            mtime = self.live_playlist.stat().st_mtime_ns
        except FileNotFoundError:
            return
        if mtime == self._playlist_mtime and not ended:
            return
        self._playlist_mtime = mtime
        added = self.vod.add_from_live(self.live_playlist.read_text())
        if added or ended:
            self.vod.write(ended=ended)
        if added and self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self.on_segment)

    def _close(self) -> None:
        container, self._container = self._container, None
        if container is None:
            return
        try:
            if not self.failed:
                for stream in (self._video, self._audio):
                    assert stream is not None
                    for packet in stream.encode(None):
                        container.mux(packet)
        except Exception:
            logger.exception("flushing the HLS encoders of %s failed", self.directory)
        finally:
            container.close()
        self._check_playlist(ended=True)

    async def stop(self) -> None:
        """Flush, close the live playlist (``#EXT-X-ENDLIST``) and finish the recording."""
        if self.closed:
            return
        self.closed = True
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._close)
        finally:
            self._executor.shutdown(wait=True)
