"""The media process is killed (SIGKILL: no shutdown, no DELETE, nothing reported) while
the studio publishes, and systemd starts it again: the studio's encoder posts WHIP to the
new process and is accepted without a hand-over, and viewers, reconnecting to the event
stream where they left it, hear that the signal went off and came back.

Against the real server (``python -m hub.serve`` under Daphne, the embedded SQLite
default, as tests/test_streaming_media_live.py), with aiortc peers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streaming.media.client import SignallingError, WhipClient
from streaming.media.testpattern import ColourBarsTrack, ToneTrack
from tests.live import DEMO_PASSWORD, HubServer, next_frame, prepare_database, viewer

pytestmark = [pytest.mark.liveserver, pytest.mark.timeout(120)]

MEDIA_ENV = {
    "HUB_PROGRAM_WIDTH": "160",
    "HUB_PROGRAM_HEIGHT": "120",
    "HUB_PROGRAM_FPS": "15",
    "HUB_MEDIA_HLS": "0",
}
DEMO_TOKEN = f"studio-{DEMO_PASSWORD}"  # HUB_DEMO_STREAM_TOKEN's default


class Servers:
    """The media process of the test, started again on the same database."""

    def __init__(self, tmp_path: Path) -> None:
        self.database = tmp_path / "hub.sqlite3"
        self.env = {**MEDIA_ENV, "HUB_MEDIA_ROOT": str(tmp_path / "media")}
        self.log = tmp_path / "server.log"
        prepare_database(self.database, **self.env)
        self.current: HubServer | None = None

    def start(self) -> HubServer:
        self.current = HubServer(self.database, self.log, **self.env)
        return self.current

    def kill(self) -> None:
        """SIGKILL: the process ends at once, saying nothing to anyone."""
        assert self.current is not None
        self.current.process.kill()
        self.current.process.wait(10)
        self.current.stop()  # closes the log; the process is gone already

    def stop(self) -> None:
        if self.current is not None:
            self.current.stop()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    started = Servers(tmp_path)
    yield started
    started.stop()


async def publish(server: HubServer) -> WhipClient:
    client = WhipClient(f"{server.base}/whip/demo", token=DEMO_TOKEN)
    try:
        await client.publish(ColourBarsTrack(160, 120, fps=15), ToneTrack(1000))
    except SignallingError:
        await client.pc.close()
        raise
    return client


async def stream_state(ws: Any) -> tuple[int, bool]:
    frame = await next_frame(ws, "stream_state", timeout=10)
    return int(frame["seq"]), bool(frame["data"]["live"])


async def test_studio_is_accepted_again_after_the_media_process_is_killed_and_viewers_hear_it(
    servers: Servers,
) -> None:
    server = servers.start()
    clients: list[WhipClient] = []
    async with viewer(server) as ws:
        snapshot = await next_frame(ws, "snapshot")
        assert snapshot["data"]["stage"]["live"] is False
        clients.append(await publish(server))
        seq, live = await stream_state(ws)
        assert live is True

    try:
        servers.kill()
        server = servers.start()  # Restart=always

        # A viewer whose stream broke with the process resumes after what it saw last;
        # the encoder reconnects to the new process: accepted, no hand-over needed.
        async with viewer(server, since=seq) as ws:
            clients.append(await publish(server))
            first = await stream_state(ws)
            second = await stream_state(ws)
        assert [first[1], second[1]] == [False, True]
        assert seq < first[0] < second[0]
    finally:
        for client in clients:
            await client.close()

    log = servers.log.read_text()
    assert "1 publisher(s) and 0 guest(s) of a previous engine are gone" in log, log[-3000:]
