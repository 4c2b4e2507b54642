"""The Daphne runner closes a WebSocket whose unsent output passes the byte bound."""

from __future__ import annotations

from typing import Any

import pytest
from daphne.ws_protocol import WebSocketProtocol

from hub import protocol as hub_protocol
from hub.serve import make_server_class, pending_bytes


class FakeTransport:
    """The attributes Twisted's FileDescriptor keeps for unsent data."""

    def __init__(self, buffered: int, offset: int = 0, temp: int = 0) -> None:
        self.dataBuffer = b"x" * buffered
        self.offset = offset
        self._tempDataLen = temp


def test_pending_bytes_counts_the_buffer_minus_what_was_written_plus_the_temp_buffer() -> None:
    assert pending_bytes(FakeTransport(1000, offset=400, temp=50)) == 650
    assert pending_bytes(object()) == 0


class RecordingProtocol(WebSocketProtocol):  # type: ignore[misc]
    def __init__(self, transport: FakeTransport) -> None:
        self.transport = transport
        self.closed_with: int | None = None
        self.replies: list[dict[str, Any]] = []

    def serverClose(self, code: int | None = None) -> None:
        self.closed_with = code

    def handle_reply(self, message: dict[str, Any]) -> None:
        self.replies.append(message)


@pytest.fixture
def server(settings: Any) -> Any:
    settings.HUB_WS_MAX_BUFFER_BYTES = 4096
    server_class = make_server_class()
    server = server_class.__new__(server_class)
    server.connections = {}
    return server


async def test_a_socket_with_too_much_unsent_output_is_closed_to_resync(server: Any) -> None:
    slow = RecordingProtocol(FakeTransport(5000))
    server.connections[slow] = {}
    await server.handle_reply(slow, {"type": "websocket.send", "text": "frame"})
    assert slow.closed_with == hub_protocol.CLOSE_TOO_SLOW_RESYNC
    assert slow.replies == []


async def test_a_socket_under_the_bound_gets_its_frame(server: Any) -> None:
    fine = RecordingProtocol(FakeTransport(1000))
    server.connections[fine] = {}
    await server.handle_reply(fine, {"type": "websocket.send", "text": "frame"})
    assert fine.closed_with is None
    assert fine.replies == [{"type": "websocket.send", "text": "frame"}]
