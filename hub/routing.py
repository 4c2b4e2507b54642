"""WebSocket routes. The console is wrapped in session auth and an Origin check (it acts
with the logged-in user's rights); the viewer stream is public and read-only, so clients
without an Origin header (scripts, the benchmark) may read it.

Both are capped per client address (:mod:`hub.realtime.addresscap`, per process):
``HUB_WS_MAX_VIEWERS_PER_ADDRESS`` viewer and ``HUB_WS_MAX_CONSOLES_PER_ADDRESS`` console
sockets; the next is closed with 4503. The cap is outermost, so a connection is counted
before any database or session work is done for it."""

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from hub.consumers import ConsoleConsumer
from hub.realtime.addresscap import capped, console_slots, viewer_slots
from hub.realtime.viewer import viewer_stream

websocket_urlpatterns = [
    path(
        "ws/sessions/<slug:slug>/live",
        capped(viewer_stream, viewer_slots, "HUB_WS_MAX_VIEWERS_PER_ADDRESS"),  # type: ignore[arg-type]
    ),
    path(
        "ws/sessions/<slug:slug>/console",
        capped(
            AllowedHostsOriginValidator(AuthMiddlewareStack(ConsoleConsumer.as_asgi())),
            console_slots,
            "HUB_WS_MAX_CONSOLES_PER_ADDRESS",
        ),  # type: ignore[arg-type]
    ),
]

websocket_application = URLRouter(websocket_urlpatterns)
