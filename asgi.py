"""ASGI entry point: HTTP through Django, WebSockets through Channels' router.

The console is authenticated by the Django session and checks the Origin header; the
viewer stream is public and read-only.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")

from django.conf import settings
from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()
if settings.HUB_SERVE_STATIC:
    # The embedded default serves /static/ itself; production puts nginx in front.
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    django_asgi_app = ASGIStaticFilesHandler(django_asgi_app)

from channels.routing import ProtocolTypeRouter  # noqa: E402

from hub.routing import websocket_application  # noqa: E402

application = ProtocolTypeRouter({"http": django_asgi_app, "websocket": websocket_application})
