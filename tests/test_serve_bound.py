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


class FakeSocket:
    def __init__(self, accepts: int | None) -> None:
        self.accepts = accepts
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> int:
        if self.accepts == 0:
            raise BlockingIOError
        taken = data if self.accepts is None else data[: self.accepts]
        self.sent.append(taken)
        return len(taken)


class WritingTransport(FakeTransport):
    def __init__(self, buffered: int, accepts: int | None) -> None:
        super().__init__(buffered)
        self.socket = FakeSocket(accepts)
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)


def _open(server: Any, transport: WritingTransport) -> RecordingProtocol:
    protocol = RecordingProtocol(transport)  # type: ignore[arg-type]
    protocol.state = protocol.STATE_OPEN
    server.connections[protocol] = {}
    return protocol


def test_prebuilt_frame_goes_straight_to_an_idle_socket(server: Any) -> None:
    protocol = _open(server, WritingTransport(0, accepts=None))
    assert server.write_prebuilt(protocol, b"frame") is True
    assert protocol.transport.socket.sent == [b"frame"] and protocol.transport.written == []


def test_the_unsent_rest_of_a_frame_is_buffered_in_order(server: Any) -> None:
    protocol = _open(server, WritingTransport(0, accepts=2))
    assert server.write_prebuilt(protocol, b"frame") is True
    assert protocol.transport.socket.sent == [b"fr"]
    assert protocol.transport.written == [b"ame"]
    full = _open(server, WritingTransport(0, accepts=0))
    assert server.write_prebuilt(full, b"frame") is True
    assert full.transport.written == [b"frame"]


def test_with_data_already_buffered_the_frame_queues_behind_it(server: Any) -> None:
    protocol = _open(server, WritingTransport(100, accepts=None))
    assert server.write_prebuilt(protocol, b"frame") is True
    assert protocol.transport.socket.sent == [] and protocol.transport.written == [b"frame"]


def test_prebuilt_frame_over_the_bound_closes_the_socket_to_resync(server: Any) -> None:
    protocol = _open(server, WritingTransport(5000, accepts=None))
    assert server.write_prebuilt(protocol, b"frame") is False
    assert protocol.closed_with == hub_protocol.CLOSE_TOO_SLOW_RESYNC
    assert protocol.transport.written == []


def test_prebuilt_frame_to_a_closed_socket_is_refused(server: Any) -> None:
    protocol = _open(server, WritingTransport(0, accepts=None))
    protocol.state = protocol.STATE_CLOSED
    assert server.write_prebuilt(protocol, b"frame") is False
    assert protocol.transport.socket.sent == []


# --- request lines and headers over the limit, against a real server ---------------------


@pytest.fixture(scope="module")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tests.live import HubServer, prepare_database

    folder = tmp_path_factory.mktemp("serve-bound")
    database = folder / "hub.sqlite3"
    prepare_database(database)
    hub = HubServer(database, folder / "server.log")
    yield hub
    hub.stop()


def _raw_request(port: int, head: bytes) -> tuple[int, dict[str, Any]]:
    """Send ``head`` on a raw socket, read the whole answer; its status and JSON body."""
    import json
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    _, _, body = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), json.loads(body)


@pytest.mark.liveserver
@pytest.mark.parametrize("length", [17_000, 100_000])
def test_a_request_line_past_the_limit_is_answered_414(real_server: Any, length: int) -> None:
    head = b"GET /api/sessions?q=" + b"x" * length + b" HTTP/1.1\r\nHost: localhost\r\n\r\n"

    status, body = _raw_request(real_server.port, head)

    assert (status, body["code"]) == (414, "uri_too_long")
    assert body["message"]


@pytest.mark.liveserver
@pytest.mark.parametrize(
    "headers",
    [
        b"X-Big: " + b"y" * 100_000 + b"\r\n",
        b"".join(b"X-Part-%d: %s\r\n" % (n, b"z" * 1000) for n in range(20)),
        b"".join(b"X-Many-%d: 1\r\n" % n for n in range(600)),
    ],
    ids=["one 100 KB header", "20 KB of headers", "600 headers"],
)
def test_headers_past_the_limit_are_answered_431(real_server: Any, headers: bytes) -> None:
    head = b"GET /api/sessions HTTP/1.1\r\nHost: localhost\r\n" + headers + b"\r\n"

    status, body = _raw_request(real_server.port, head)

    assert (status, body["code"]) == (431, "headers_too_large")


@pytest.mark.liveserver
def test_a_request_under_the_limits_is_served_after_a_refused_one(real_server: Any) -> None:
    import json
    import urllib.request

    _raw_request(real_server.port, b"GET /" + b"x" * 20_000 + b" HTTP/1.1\r\n\r\n")
    long_but_fine = "/api/sessions?q=" + "x" * 8000
    with urllib.request.urlopen(real_server.base + long_but_fine, timeout=10) as response:
        assert response.status == 200
        assert isinstance(json.loads(response.read()), list)
