"""The media engine in-process: real aiortc peers over loopback, the application served
by Django's AsyncClient on the test's event loop, HLS written to a temporary folder.

Signals: the publisher sends colour bars with a moving marker and a 1 kHz tone; a guest
sends 440 Hz. Assertions are made on what a viewer decodes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from django.test import AsyncClient

from streaming.media.client import WhepClient, WhipClient
from streaming.media.engine import MediaEngine, reset_engine
from streaming.media.hls import HlsConfig
from streaming.media.program import ProgramConfig
from streaming.media.slates import SlateKind
from streaming.media.testpattern import ColourBarsTrack, ToneTrack
from tests.streaming_peers import (
    Received,
    asgi_http,
    looks_like_bars,
    looks_like_slate,
    rms,
    tone_ratio,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

TOKEN = "studio-token-for-tests-0001"
SIZE = (320, 240)
BASE = "http://testserver"


@pytest.fixture
def studio(live_session: Any, users: Any) -> Any:
    from streaming.actions import do_set_publisher_token

    do_set_publisher_token(users["host"], live_session.pk, TOKEN)
    return live_session


@pytest.fixture
async def engine(tmp_path: Path, settings: Any) -> AsyncIterator[MediaEngine]:
    settings.HUB_MEDIA_ROOT = tmp_path
    engine = MediaEngine(
        config=ProgramConfig(*SIZE, fps=15),
        hls_config=HlsConfig(segment_seconds=1, list_size=4),
        media_root=tmp_path,
        max_viewers=3,
        idle_seconds=60,
    )
    reset_engine(engine)
    yield engine
    await engine.shutdown()
    reset_engine(None)


@pytest.fixture
def http() -> Any:
    return asgi_http(AsyncClient())


async def publish(http: Any, slug: str = "live", tone: float = 1000.0) -> WhipClient:
    client = WhipClient(f"{BASE}/whip/{slug}", token=TOKEN, http=http)
    await client.publish(ColourBarsTrack(*SIZE, fps=15), ToneTrack(tone))
    return client


async def play(http: Any, slug: str = "live") -> tuple[WhepClient, Received]:
    received = Received()
    client = WhepClient(f"{BASE}/whep/{slug}", http=http)
    await client.play(received.on_track)
    return client, received


def showing_bars(received: Received) -> bool:
    picture = received.latest_picture()
    return picture is not None and looks_like_bars(picture)


def showing_slate(kind: SlateKind) -> Any:
    def check(received: Received) -> bool:
        picture = received.latest_picture()
        return picture is not None and looks_like_slate(picture, kind)

    return check


async def hear(received: Received, seconds: float = 1.0) -> np.ndarray:
    """The sound a viewer decodes during the next ``seconds``."""
    start = time.monotonic()
    await asyncio.sleep(seconds)
    return received.sound_since(start)


async def test_viewer_decodes_the_studio_pattern_and_tone_published_over_whip(
    studio: Any, engine: MediaEngine, http: Any
) -> None:
    publisher = await publish(http)
    viewer, received = await play(http)
    try:
        await received.wait_for(showing_bars, what="colour bars")
        assert received.sizes == {SIZE}
        picture = received.latest_picture()
        assert picture is not None and picture.mean() > 40  # not black
        await received.wait_for(lambda r: r.audio_frames > 50, what="audio")
        sound = await hear(received)
        assert tone_ratio(sound, 1000) > 0.8
        status = engine.status("live")
        assert status["publisher_connected"] and status["webrtc_viewers"] == 1
        assert status["showing"] == "studio"
    finally:
        await viewer.close()
        await publisher.close()
        await received.stop()
