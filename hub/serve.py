"""Run the product under Daphne: ``python -m hub.serve [--host H] [--port P]``.

Daphne hands every WebSocket frame to Twisted, whose write buffer grows without limit
when a client reads slowly, and the ASGI application cannot see that buffer. This runner
uses a Daphne server whose ``handle_reply`` closes a WebSocket with code 4429 ("resync")
once more than ``HUB_WS_MAX_BUFFER_BYTES`` are waiting to be written to it, so no slow
viewer can hold unbounded memory. (The application's own per-viewer queue is bounded
too: see hub.realtime.fanout.)

It also offers WebSocket applications the ASGI scope extension ``hub.prebuilt_frames``:
a callable that writes the bytes of a frame encoded once for all viewers
(:func:`hub.realtime.wsframe.encode_text_frame`), skipping autobahn's per-message framing.
When Twisted holds nothing unsent for the socket, the bytes go straight to the
non-blocking socket (as asyncio's transports do), so an idle connection costs no writer
registration; any remainder is handed to Twisted's buffer, which keeps the order.

HTTP requests whose request line or headers pass Twisted's limits (a line longer than
16 KiB, request line and headers together longer than 16 KiB, more than 500 headers) are
answered ``414 URI Too Long`` (the request line) or ``431 Request Header Fields Too
Large`` with the API's ``{"code", "message"}`` body, instead of the dropped connection
(or bare 400) Twisted gives; see :func:`make_channel_class`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from functools import partial
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")


def pending_bytes(transport: Any) -> int:
    """Bytes Twisted has accepted for this connection but not yet written to the socket."""
    buffered = len(getattr(transport, "dataBuffer", b"")) - getattr(transport, "offset", 0)
    return max(0, buffered) + getattr(transport, "_tempDataLen", 0)


#: After refusing an over-long request, what the client still sends is read and dropped
#: (so that it reads the answer instead of a reset connection) for at most this long, and
#: at most this many bytes.
REFUSED_DRAIN_SECONDS = 5
REFUSED_DRAIN_BYTES = 1_048_576


def make_channel_class() -> type:
    """Twisted's HTTP channel, answering requests over its limits with 414 or 431."""
    # Imported when the server is made, like make_server_class's imports: Django is set up
    # by then (translations), and Daphne chooses Twisted's reactor before twisted.web loads.
    from django.utils.translation import gettext as _
    from twisted.web.http import HTTPChannel

    class LimitedChannel(HTTPChannel):  # type: ignore[misc]
        _refused = False
        _dropped = 0

        def dataReceived(self, data: bytes) -> None:
            if self._refused:
                self._dropped += len(data)
                if self._dropped > REFUSED_DRAIN_BYTES:
                    transport: Any = self.transport  # a TCP transport: it can abort
                    transport.abortConnection()
                return
            super().dataReceived(data)

        def lineReceived(self, line: bytes) -> None:
            if self._refused:
                return
            if self._receivedHeaderSize + len(line) > self.totalHeadersSize:
                self._refuse_too_long()
                return
            super().lineReceived(line)

        def lineLengthExceeded(self, line: bytes) -> None:
            self._refuse_too_long()

        def headerReceived(self, line: bytes) -> bool:
            if self._receivedHeaderCount >= self.maxHeaders:
                self._refuse_too_long()
                return False
            return bool(super().headerReceived(line))

        def _refuse_too_long(self) -> None:
            # Twisted sets _command once the request line is read: past it, the headers
            # are what is too long.
            if hasattr(self, "_command"):
                status, reason = 431, b"Request Header Fields Too Large"
                code, message = "headers_too_large", _("The request headers are too large")
            else:
                status, reason = 414, b"URI Too Long"
                code, message = "uri_too_long", _("The request line (the URL) is too long")
            body = json.dumps({"code": code, "message": message}, ensure_ascii=False).encode()
            self._refused = True
            transport: Any = self.transport  # a TCP transport: it can half-close
            transport.write(
                b"HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=utf-8\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                % (status, reason, len(body), body)
            )
            # Half-close: the answer is sent, what the client still sends is dropped.
            transport.loseWriteConnection()
            self.setTimeout(REFUSED_DRAIN_SECONDS)

    return LimitedChannel


def make_server_class() -> type:
    from daphne.server import Server
    from daphne.ws_protocol import WebSocketProtocol
    from django.conf import settings
    from twisted.web.http import _GenericHTTPChannelProtocol  # see http_factory below

    from hub.protocol import CLOSE_TOO_SLOW_RESYNC
    from hub.realtime.wsframe import PREBUILT_FRAMES

    limit = settings.HUB_WS_MAX_BUFFER_BYTES
    channel_class = make_channel_class()

    class BoundedServer(Server):  # type: ignore[misc]
        @property
        def http_factory(self) -> Any:
            return self._http_factory

        @http_factory.setter
        def http_factory(self, factory: Any) -> None:
            # Server.run makes Daphne's factory; its connections get the limited channel.
            # Twisted offers no public way to choose the channel class: this builds what
            # its own factory function does (the wrapper negotiating HTTP/2), with ours.
            factory.protocol = lambda: _GenericHTTPChannelProtocol(channel_class())
            self._http_factory = factory

        def create_application(self, protocol: Any, scope: dict[str, Any]) -> Any:
            if scope.get("type") == "websocket" and isinstance(protocol, WebSocketProtocol):
                extensions = dict(scope.get("extensions") or {})
                extensions[PREBUILT_FRAMES] = partial(self.write_prebuilt, protocol)
                scope["extensions"] = extensions
            return super().create_application(protocol, scope)

        def write_prebuilt(self, protocol: Any, data: bytes) -> bool:
            """Write one complete frame; False if the socket is gone or was just closed
            with 4429 because more than the bound waits unsent."""
            transport = protocol.transport
            if (
                transport is None
                or protocol.state != protocol.STATE_OPEN
                or getattr(transport, "disconnecting", False)
                or protocol not in self.connections
            ):
                return False
            pending = pending_bytes(transport)
            if pending > limit:
                protocol.serverClose(code=CLOSE_TOO_SLOW_RESYNC)
                return False
            if pending == 0 and not getattr(transport, "TLS", False):
                try:
                    sent = transport.socket.send(data)
                except BlockingIOError:
                    sent = 0
                except OSError:
                    return False  # Twisted notices the broken connection on its own
                if sent == len(data):
                    return True
                data = data[sent:]
            transport.write(data)
            return True

        async def handle_reply(self, protocol: Any, message: dict[str, Any]) -> None:
            if (
                message.get("type") == "websocket.send"
                and isinstance(protocol, WebSocketProtocol)
                and protocol.transport is not None
                and pending_bytes(protocol.transport) > limit
            ):
                if protocol in self.connections and not self.connections[protocol].get(
                    "disconnected"
                ):
                    protocol.serverClose(code=CLOSE_TOO_SLOW_RESYNC)
                return
            await super().handle_reply(protocol, message)

    return BoundedServer


def main(argv: list[str] | None = None) -> None:
    import django

    django.setup()
    from daphne.cli import CommandLineInterface
    from django.conf import settings

    parser = argparse.ArgumentParser(description="Run the hub under Daphne")
    parser.add_argument("--host", default=os.environ.get("HUB_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("HUB_PORT", "8000")))
    parser.add_argument("--verbosity", type=int, default=1)
    args, rest = parser.parse_known_args(argv)

    class HubCLI(CommandLineInterface):  # type: ignore[misc]
        server_class = make_server_class()

    # Live video: on shutdown, close WebRTC peers and finish HLS and the recordings.
    from streaming.media.engine import stop_on_server_shutdown

    stop_on_server_shutdown()

    # The follow-up timers (warnings, supervision, notices): an embedded daemon thread
    # unless a Celery beat runs them (HUB_FOLLOWUP_EXTERNAL_BEAT).
    from hub.followup.timers import start_embedded_timer

    start_embedded_timer()
    sys.stdout.flush()
    HubCLI().run(
        [
            "-b",
            args.host,
            "-p",
            str(args.port),
            "-v",
            str(args.verbosity),
            *(["--proxy-headers"] if settings.HUB_PROXY_HEADERS else []),
            *rest,
            settings.ASGI_APPLICATION.replace(".application", ":application"),
        ]
    )


if __name__ == "__main__":
    main()
