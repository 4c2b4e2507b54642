"""WebSocket routes. The console is wrapped in session auth and an Origin check (it acts
with the logged-in user's rights); the viewer stream is public and read-only, so clients
without an Origin header (scripts, the benchmark) may read it."""

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from hub.consumers import ConsoleConsumer
from hub.realtime.viewer import viewer_stream

websocket_urlpatterns = [
    path("ws/sessions/<slug:slug>/live", viewer_stream),  # type: ignore[arg-type]
    path(
        "ws/sessions/<slug:slug>/console",
        AllowedHostsOriginValidator(AuthMiddlewareStack(ConsoleConsumer.as_asgi())),
    ),
]

websocket_application = URLRouter(websocket_urlpatterns)
