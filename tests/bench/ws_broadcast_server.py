"""Reference server (a): the websockets library's own ``broadcast()``.

Measures the ceiling of a single asyncio process fanning one frame out to every open
connection: each event is encoded once (:func:`tests.bench.frames.make_frame`) and written
to every connection with ``websockets.asyncio.server.broadcast`` (no per-viewer task, no
queue, no backpressure). Viewers connect on any path; compression and pings are off.

Events start when the harness opens ``/start`` (once the viewers are connected, as in the
other targets) and then flow at ``rate`` per second until the process is terminated.

Run by the harness as ``python -m tests.bench.ws_broadcast_server --port PORT --rate R``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve

from tests.bench.frames import START_PATH, make_frame


async def _produce(server: Server, rate: float) -> None:
    """Broadcast ``rate`` events per second on an absolute schedule (no drift)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    seq = 0
    while True:
        seq += 1
        delay = start + seq / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        broadcast(server.connections, make_frame(seq))


async def run(host: str, port: int, rate: float) -> None:
    """Serve until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    producers: list[asyncio.Task[None]] = []

    async def handler(connection: ServerConnection) -> None:
        if connection.request is not None and connection.request.path == START_PATH:
            if not producers:
                producers.append(asyncio.create_task(_produce(server, rate)))
            await connection.close()
            return
        await connection.wait_closed()  # a viewer: the producer writes to it

    async with serve(
        handler, host, port, compression=None, ping_interval=None, max_size=2**16
    ) as server:
        await stop.wait()
        for producer in producers:
            producer.cancel()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Reference server (a): websockets broadcast()")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, default=10.0, help="events per second")
    args = parser.parse_args(argv)
    if args.rate <= 0:
        parser.error("--rate must be positive")
    asyncio.run(run(args.host, args.port, args.rate))


if __name__ == "__main__":
    main()
