"""Publish a test pattern (colour bars + 1 kHz tone) to a WHIP endpoint.

    python -m streaming.publish_test_pattern --url http://127.0.0.1:8000/whip/demo \\
        --token <publisher token> [--seconds 60] [--size 640x360] [--fps 30]

Runs until interrupted (Ctrl-C) or ``--seconds`` pass, then deletes the WHIP resource.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from streaming.media.client import SignallingError, WhipClient
from streaming.media.testpattern import ColourBarsTrack, ToneTrack


def parse_size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    return int(width), int(height)


async def run(args: argparse.Namespace) -> int:
    width, height = parse_size(args.size)
    client = WhipClient(args.url, token=args.token)
    connected = asyncio.Event()

    @client.pc.on("connectionstatechange")
    def report() -> None:
        sys.stdout.write(f"connection: {client.pc.connectionState}\n")
        sys.stdout.flush()
        if client.pc.connectionState == "connected":
            connected.set()

    try:
        await client.publish(
            ColourBarsTrack(width, height, args.fps), ToneTrack(args.tone, amplitude=0.2)
        )
    except SignallingError as error:
        sys.stderr.write(f"the server refused: {error}\n")
        await client.pc.close()
        return 1
    sys.stdout.write(f"publishing to {client.location}\n")
    sys.stdout.flush()
    try:
        await asyncio.wait_for(connected.wait(), 15)
        await asyncio.sleep(args.seconds if args.seconds > 0 else 10**9)
    except TimeoutError:
        sys.stderr.write("no connection within 15 s\n")
        return 1
    finally:
        await client.close()
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True, help="WHIP endpoint, e.g. .../whip/demo")
    parser.add_argument("--token", required=True, help="the session's publisher token")
    parser.add_argument("--seconds", type=float, default=0, help="stop after (0: never)")
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--tone", type=float, default=1000.0, help="tone frequency in Hz")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
