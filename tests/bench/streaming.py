"""Media engine benchmark (issue 5): server CPU per WebRTC viewer, and the cost of HLS.

aiortc encodes the programme once per WebRTC peer (each RTCRtpSender has its own
encoder), while HLS encodes it once for everyone. This measures, on the real server
(``python -m hub.serve`` in its own process, the embedded SQLite default), the server
process's CPU time per second of wall time (100 % = one core busy) while:

1. the server is idle (no programme): the baseline of the run;
2. a studio publisher sends the test pattern (colour bars + 1 kHz tone) at the
   programme size, with 0 viewers: composition + HLS packaging + recording;
3. the same with 1, 5, 10 … WebRTC (WHEP) viewers (VP8, what browsers pick first);
4. the same with H.264 viewers (``--h264-viewers``);
5. a second server with ``HUB_MEDIA_HLS=0`` and 0 viewers: the programme without HLS;
   the difference with (2) is what packaging HLS costs.

Publisher and viewers are aiortc peers in this (client) process. The viewers receive,
decrypt and depacketize everything but do not decode video (their video decoder only
counts frames): decoding 10 streams would take this machine's cores from the server under
test. The report gives the per-viewer cost (the slope between 0 and the largest viewer
count), the frames per second each viewer received, and the viewer cap it suggests.

    python -m tests.bench.streaming --out bench-report-streaming.txt
    python -m tests.bench.streaming --quick
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import platform
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiortc import rtcrtpreceiver
from aiortc.codecs.base import Decoder
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from streaming.media.client import WhepClient, WhipClient
from streaming.media.testpattern import ColourBarsTrack, ToneTrack
from tests.live import DEMO_PASSWORD, HubServer, prepare_database

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
TOKEN = f"studio-{DEMO_PASSWORD}"


def process_cpu_seconds(pid: int) -> float:
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def process_threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def main_thread_cpu_seconds(pid: int) -> float:
    """CPU time of the process's main thread: the event loop (Python-side RTP work)."""
    text = Path(f"/proc/{pid}/task/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass
class Sample:
    label: str
    viewers: int
    cpu_percent: float
    loop_percent: float
    threads: int
    frames_per_viewer: float | None = None


class CountingDecoder(Decoder):
    """Stands in for a viewer's video decoder: counts complete encoded frames."""

    frames = 0

    def decode(self, encoded_frame: Any) -> list[Any]:
        CountingDecoder.frames += 1
        return []


def viewers_do_not_decode_video() -> None:
    real = rtcrtpreceiver.get_decoder

    def get_decoder(codec: Any) -> Any:
        return CountingDecoder() if codec.mimeType.lower().startswith("video/") else real(codec)

    rtcrtpreceiver.get_decoder = get_decoder  # type: ignore[assignment]


class Drain:
    """Reads a received track to its end (the audio, decoded; video yields nothing)."""

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[None]] = []

    def on_track(self, track: MediaStreamTrack) -> None:
        self.tasks.append(asyncio.ensure_future(self._read(track)))

    async def _read(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                await track.recv()
            except MediaStreamError:
                return

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


class Viewer:
    def __init__(self, server: HubServer, codec: str) -> None:
        self.client = WhepClient(f"{server.base}/whep/demo")
        self.drain = Drain()
        self.codec = codec

    async def start(self) -> None:
        await self.client.play(self.drain.on_track, video_codec=self.codec)

    async def stop(self) -> None:
        await self.client.close()
        await self.drain.stop()


async def measure(server: HubServer, label: str, viewers: list[Viewer], seconds: float) -> Sample:
    pid = server.process.pid
    frames_before = CountingDecoder.frames
    cpu_before, wall_before = process_cpu_seconds(pid), time.monotonic()
    loop_before = main_thread_cpu_seconds(pid)
    await asyncio.sleep(seconds)
    cpu = process_cpu_seconds(pid) - cpu_before
    loop_cpu = main_thread_cpu_seconds(pid) - loop_before
    wall = time.monotonic() - wall_before
    frames = CountingDecoder.frames - frames_before
    sample = Sample(
        label=label,
        viewers=len(viewers),
        cpu_percent=100.0 * cpu / wall,
        loop_percent=100.0 * loop_cpu / wall,
        threads=process_threads(pid),
        frames_per_viewer=(frames / wall / len(viewers)) if viewers else None,
    )
    fps = f", {sample.frames_per_viewer:.1f} fps received per viewer" if viewers else ""
    print(
        f"  {label:<40} {sample.cpu_percent:6.1f} % CPU "
        f"(event loop {sample.loop_percent:.1f} %){fps}",
        flush=True,
    )
    return sample


def start_server(folder: Path, env: dict[str, str], name: str) -> HubServer:
    database = folder / f"{name}.sqlite3"
    prepare_database(database, **env)
    return HubServer(database, folder / f"{name}.log", **env)


async def publish(server: HubServer, width: int, height: int, fps: int) -> WhipClient:
    client = WhipClient(f"{server.base}/whip/demo", token=TOKEN)
    await client.publish(ColourBarsTrack(width, height, fps), ToneTrack())
    return client


async def run(args: argparse.Namespace) -> list[Sample]:
    width, height = (int(x) for x in args.size.split("x"))
    base_env = {
        "HUB_PROGRAM_WIDTH": str(width),
        "HUB_PROGRAM_HEIGHT": str(height),
        "HUB_PROGRAM_FPS": str(args.fps),
        "HUB_WEBRTC_MAX_VIEWERS": "1000",
        "HUB_LOG_LEVEL": "WARNING",
    }
    samples: list[Sample] = []
    with tempfile.TemporaryDirectory(prefix="bench-streaming-") as tmp:
        folder = Path(tmp)
        server = start_server(
            folder, {**base_env, "HUB_MEDIA_ROOT": str(folder / "media-on")}, "hls-on"
        )
        viewers: list[Viewer] = []
        publisher: WhipClient | None = None
        try:
            await asyncio.sleep(args.settle)
            samples.append(await measure(server, "idle server (no programme)", [], args.seconds))
            publisher = await publish(server, width, height, args.fps)
            await asyncio.sleep(args.settle)
            samples.append(
                await measure(server, "programme + HLS + recording, 0 viewers", [], args.seconds)
            )
            for count in args.viewers:
                while len(viewers) < count:
                    viewer = Viewer(server, "vp8")
                    await viewer.start()
                    viewers.append(viewer)
                await asyncio.sleep(args.settle)
                samples.append(
                    await measure(
                        server, f"... + {count} WebRTC viewers (VP8)", viewers, args.seconds
                    )
                )
            for viewer in viewers:
                await viewer.stop()
            viewers = []
            if args.h264_viewers:
                while len(viewers) < args.h264_viewers:
                    viewer = Viewer(server, "h264")
                    await viewer.start()
                    viewers.append(viewer)
                await asyncio.sleep(args.settle)
                samples.append(
                    await measure(
                        server,
                        f"... + {args.h264_viewers} WebRTC viewers (H.264)",
                        viewers,
                        args.seconds,
                    )
                )
        finally:
            for viewer in viewers:
                await viewer.stop()
            if publisher is not None:
                await publisher.close()
            server.stop()

        server = start_server(
            folder,
            {**base_env, "HUB_MEDIA_ROOT": str(folder / "media-off"), "HUB_MEDIA_HLS": "0"},
            "hls-off",
        )
        publisher = None
        try:
            publisher = await publish(server, width, height, args.fps)
            await asyncio.sleep(args.settle)
            samples.append(
                await measure(
                    server, "programme, HLS off (HUB_MEDIA_HLS=0), 0 viewers", [], args.seconds
                )
            )
        finally:
            if publisher is not None:
                await publisher.close()
            server.stop()
    return samples


def report(args: argparse.Namespace, samples: list[Sample], command: str) -> str:
    by_label = {s.label: s for s in samples}
    idle = samples[0].cpu_percent
    with_hls = by_label["programme + HLS + recording, 0 viewers"].cpu_percent
    without_hls = samples[-1].cpu_percent
    vp8 = [s for s in samples if "(VP8)" in s.label]
    lines = [
        "Media engine benchmark (issue 5): server CPU per WebRTC viewer and cost of HLS",
        f"date: {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}",
        f"command: {command}",
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        f"programme: {args.size} @ {args.fps} fps; publisher and viewers are aiortc peers "
        "in the client process; server = python -m hub.serve (Daphne), its process CPU "
        "time per wall second (100 % = one core)",
        f"each figure: mean over {args.seconds:.0f} s after {args.settle:.0f} s to settle; "
        "loop = the server's main thread (asyncio: RTP packetizing, SRTP, sending), 100 % "
        "there means the process is loop-bound whatever the other core does",
        "",
    ]
    for sample in samples:
        extra = ""
        if sample.frames_per_viewer is not None:
            extra = f"   ({sample.frames_per_viewer:.1f} fps received per viewer)"
        lines.append(
            f"  {sample.label:<48} {sample.cpu_percent:6.1f} %  "
            f"loop {sample.loop_percent:5.1f} %{extra}"
        )
    lines.append("")
    lines.append(f"baseline (idle server, same run): {idle:.1f} %")
    lines.append(
        f"HLS packaging + recording (H.264 + AAC, encoded once): {with_hls - without_hls:+.1f} % "
        f"of a core (programme with HLS {with_hls:.1f} %, without {without_hls:.1f} %)"
    )
    # A count is valid while every viewer still gets (nearly) every frame: past that the
    # machine is saturated and CPU figures say more about contention than about cost.
    h264 = [s for s in samples if "(H.264)" in s.label]
    valid = [s for s in vp8 + h264 if (s.frames_per_viewer or 0) >= 0.9 * args.fps]
    for sample in vp8 + h264:
        if sample not in valid:
            lines.append(
                f"note: {sample.label.removeprefix('... + ')}: each got "
                f"{sample.frames_per_viewer:.1f} of {args.fps} fps: saturated, not a cost figure"
            )
    h264 = [s for s in h264 if s in valid]
    vp8 = [s for s in vp8 if s in valid]
    valid = vp8
    if valid:
        top = valid[-1]
        per_viewer = (top.cpu_percent - with_hls) / top.viewers
        lines.append(
            f"per WebRTC viewer (VP8, slope 0 -> {top.viewers}): {per_viewer:.1f} % of a core"
        )
        if h264:
            per_h264 = (h264[0].cpu_percent - with_hls) / h264[0].viewers
            lines.append(
                f"per WebRTC viewer (H.264, {h264[0].viewers} viewers): {per_h264:.1f} % of a core"
            )
        cores = os.cpu_count() or 1
        if per_viewer > 0:
            budget = 70.0 * cores - with_hls
            lines.append(
                f"suggested HUB_WEBRTC_MAX_VIEWERS for this machine (70 % of {cores} cores): "
                f"{max(0, int(budget / per_viewer))}"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Media engine benchmark")
    parser.add_argument("--viewers", default="1,5,10", help="WebRTC viewer counts")
    parser.add_argument("--h264-viewers", type=int, default=5)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window")
    parser.add_argument("--settle", type=float, default=3.0, help="wait before measuring")
    parser.add_argument("--out", type=Path, help="report file")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1,2 viewers, 2 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.viewers, args.h264_viewers, args.seconds, args.settle = "1,2", 1, 2.0, 1.0
    args.viewers = sorted({int(v) for v in str(args.viewers).split(",") if v.strip()})
    command = "python -m tests.bench.streaming " + shlex.join(
        argv if argv is not None else sys.argv[1:]
    )
    print(f"{command}", flush=True)
    viewers_do_not_decode_video()
    load_before = os.getloadavg()[0]
    samples = asyncio.run(run(args))
    text = report(args, samples, command)
    text += (
        f"machine load average (1 min) at start {load_before:.2f}, at end "
        f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs: other work on the machine "
        "lowers the frame rates and can push counts into saturation\n"
    )
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
