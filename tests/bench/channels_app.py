"""Reference server (b): a plain Channels app, one consumer per viewer, served by Daphne.

Measures the textbook Channels fan-out: every viewer is an ``AsyncWebsocketConsumer`` in
group ``bench``; a producer task calls ``channel_layer.group_send("bench", ...)`` ``rate``
times per second with a frame encoded once (:func:`tests.bench.frames.make_frame`), and each
consumer relays the text with ``self.send(text_data=...)``. The layer is the
``InMemoryChannelLayer``; its per-channel capacity is raised from the default 100 to
``BENCH_LAYER_CAPACITY`` (default 1000, i.e. 100 s of backlog at 10 events/s) so that a
briefly slow consumer is not silently dropped by ``group_send`` (``ChannelFull`` is
swallowed there). Message expiry stays at its default (60 s).

The producer starts when the harness opens ``/start`` (once the viewers are connected, as
in the other targets); viewers connect on any other path.

Django is configured in this module (no settings module). Run by the harness as::

    BENCH_RATE=10 python -m daphne -b 127.0.0.1 -p PORT --ping-interval 86400 \\
        tests.bench.channels_app:application
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import django
from django.conf import settings

RATE = float(os.environ.get("BENCH_RATE", "10"))
LAYER_CAPACITY = int(os.environ.get("BENCH_LAYER_CAPACITY", "1000"))
GROUP = "bench"

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-only-not-a-secret",
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        INSTALLED_APPS=["channels"],
        USE_TZ=True,
        CHANNEL_LAYERS={
            "default": {
                "BACKEND": "channels.layers.InMemoryChannelLayer",
                "CONFIG": {"capacity": LAYER_CAPACITY},
            }
        },
    )
    django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.layers import get_channel_layer  # noqa: E402
from channels.routing import ProtocolTypeRouter  # noqa: E402

from tests.bench.frames import START_PATH, make_frame  # noqa: E402

_producer: asyncio.Task[None] | None = None


async def _produce(rate: float) -> None:
    """``group_send`` ``rate`` events per second on an absolute schedule (no drift)."""
    layer = get_channel_layer()
    assert layer is not None
    loop = asyncio.get_running_loop()
    start = loop.time()
    seq = 0
    while True:
        seq += 1
        delay = start + seq / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await layer.group_send(GROUP, {"type": "bench.event", "text": make_frame(seq)})


def _ensure_producer() -> None:
    """Start the producer once, in the server's event loop."""
    global _producer
    if _producer is None:
        _producer = asyncio.get_running_loop().create_task(_produce(RATE))


class BenchConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]  # untyped base
    """One per viewer: joins group ``bench`` (via ``groups``) and relays its events."""

    groups = [GROUP]

    async def connect(self) -> None:
        await self.accept()
        if self.scope["path"] == START_PATH:
            _ensure_producer()
            await self.close()

    async def bench_event(self, event: dict[str, Any]) -> None:
        await self.send(text_data=event["text"])


application = ProtocolTypeRouter({"websocket": BenchConsumer.as_asgi()})
