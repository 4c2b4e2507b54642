"""WebSocket routes. The console is wrapped in session auth and an Origin check (it acts
with the logged-in user's rights); the viewer stream is public and read-only, so clients
without an Origin header (scripts, the benchmark) may read it.

Both are capped per client address (:mod:`hub.realtime.addresscap`, per process):
``HUB_WS_MAX_VIEWERS_PER_ADDRESS`` viewer and ``HUB_WS_MAX_CONSOLES_PER_ADDRESS`` console
sockets; the next is closed with 4503. The cap is outermost, so a connection is counted
before any database or session work is done for it."""

from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.http import HttpRequest
from django.urls import path

from hub.consumers import ConsoleConsumer
from hub.realtime.addresscap import capped, console_slots, viewer_slots
from hub.realtime.viewer import viewer_stream
from hub.throttle import address_key, client_address


def client_key(scope: dict[str, Any]) -> str | None:
    """The counting key of a WebSocket's client address, by the rule of the HTTP throttles
    (:func:`hub.throttle.client_address`: ``X-Forwarded-For`` only with
    ``HUB_PROXY_HEADERS``, its right-most untrusted hop, never Daphne's left-most one,
    which the client writes; an IPv6 address by its /64). ``None`` without any address."""
    client = scope.get("client")
    request = HttpRequest()  # only its META is read: the handshake's address and headers
    request.META = {"REMOTE_ADDR": str(client[0]) if client else ""}
    forwarded = [
        v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"x-forwarded-for"
    ]
    if forwarded:
        request.META["HTTP_X_FORWARDED_FOR"] = ",".join(forwarded)  # as Django joins them
    address = client_address(request)
    return address_key(address) if address else None


websocket_urlpatterns = [
    path(
        "ws/sessions/<slug:slug>/live",
        capped(viewer_stream, viewer_slots, "HUB_WS_MAX_VIEWERS_PER_ADDRESS", client_key),  # type: ignore[arg-type]
    ),
    path(
        "ws/sessions/<slug:slug>/console",
        capped(
            AllowedHostsOriginValidator(AuthMiddlewareStack(ConsoleConsumer.as_asgi())),
            console_slots,
            "HUB_WS_MAX_CONSOLES_PER_ADDRESS",
            client_key,
        ),  # type: ignore[arg-type]
    ),
]

websocket_application = URLRouter(websocket_urlpatterns)
