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

from streaming.media.client import SignallingError, WhepClient, WhipClient
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
    play,
    rms,
    showing_bars,
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
    # Only the media endpoints (the end-to-end test goes through the whole site).
    settings.ROOT_URLCONF = "streaming.urls"
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


async def becomes_silent(received: Any, within: float = 5.0) -> bool:
    """True once a 0.6 s stretch of the programme's sound is silent (RMS < 0.01) within
    ``within`` seconds. The picture switches first; audio already in the jitter and
    receive buffers drains a moment later (longer on a loaded machine)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        if rms(await hear(received, 0.6)) < 0.01:
            return True
        if asyncio.get_running_loop().time() > deadline:
            return False


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


# -- helpers driving the control plane (sync actions, run off the loop) ----------------------


async def action(function: Any, *args: Any, **kwargs: Any) -> Any:
    from channels.db import database_sync_to_async

    return await database_sync_to_async(function)(*args, **kwargs)


async def make_agenda(session: Any, host: Any) -> tuple[int, int]:
    """An agenda of one public and one confidential item; returns their ids."""
    from streaming.actions import AgendaEntry, do_edit_agenda

    items = await action(
        do_edit_agenda,
        host,
        session.pk,
        [AgendaEntry("城市更新方案"), AgendaEntry("人事任免", confidential=True)],
    )
    return items[0].pk, items[1].pk


async def move_to(session: Any, host: Any, item_id: int | None) -> None:
    from streaming.actions import do_set_agenda_item

    await action(do_set_agenda_item, host, session.pk, item_id)


async def invite(session: Any, host: Any, label: str = "市民王先生") -> Any:
    from streaming.actions import do_invite_guest

    return await action(do_invite_guest, host, session.pk, label)


async def join_as_guest(http: Any, token: str, tone: float = 440.0) -> tuple[Any, Received]:
    from streaming.media.client import GuestClient

    received = Received()
    client = GuestClient(f"{BASE}/guest/{token}", http=http)
    try:
        await client.join(ToneTrack(tone, amplitude=0.3), received.on_track)
    except SignallingError:
        await client.pc.close()
        raise
    return client, received


# -- the WHIP / WHEP contract -------------------------------------------------------------------


async def post(client: AsyncClient, path: str, body: str, **headers: str) -> Any:
    return await client.post(
        path,
        data=body.encode(),
        content_type=headers.pop("content_type", "application/sdp"),
        headers=headers,
    )


async def an_offer(receive: bool = False) -> str:
    """A real offer from an aiortc peer that sends (WHIP) or receives (WHEP)."""
    from aiortc import RTCPeerConnection

    pc = RTCPeerConnection()
    if receive:
        pc.addTransceiver("video", direction="recvonly")
        pc.addTransceiver("audio", direction="recvonly")
    else:
        pc.addTransceiver(ColourBarsTrack(*SIZE), direction="sendonly")
        pc.addTransceiver(ToneTrack(), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = str(pc.localDescription.sdp)
    await pc.close()
    return sdp


async def test_whip_refuses_missing_or_wrong_token_with_bearer_challenge(
    studio: Any, engine: MediaEngine
) -> None:
    client = AsyncClient()
    offer = await an_offer()
    for headers in ({}, {"Authorization": "Bearer not-the-token-0000000"}):
        response = await post(client, "/whip/live", offer, **headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["code"] == "bad_token"
    assert engine.status("live")["program"] is False


async def test_whip_answers_unknown_session_bad_type_and_bad_sdp_with_clear_errors(
    studio: Any, engine: MediaEngine
) -> None:
    client = AsyncClient()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    response = await post(client, "/whip/no-such-session", await an_offer(), **auth)
    assert response.status_code == 404
    response = await post(client, "/whip/live", "v=0", content_type="application/json", **auth)
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    response = await post(client, "/whip/live", "hello, I am not SDP", **auth)
    assert response.status_code == 400
    assert response.json()["code"] == "bad_sdp"
    assert "v=0" in response.json()["message"]
    receive_only = (await an_offer()).replace("a=sendonly", "a=recvonly")
    response = await post(client, "/whip/live", receive_only, **auth)
    assert response.status_code == 400
    assert response.json()["code"] == "bad_sdp"


async def test_whip_options_patch_and_delete_follow_rfc_9725(
    studio: Any, engine: MediaEngine, http: Any
) -> None:
    client = AsyncClient()
    response = await client.options("/whip/live")
    assert response.status_code == 204
    assert response["Accept-Post"] == "application/sdp"
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "Authorization" in response["Access-Control-Allow-Headers"]
    assert "Location" in response["Access-Control-Expose-Headers"]

    publisher = await publish(http)
    assert publisher.location is not None
    resource = publisher.location.removeprefix(BASE)
    assert resource.startswith("/whip/live/")
    response = await client.patch(
        resource, data=b"a=candidate:1", content_type="application/trickle-ice-sdpfrag"
    )
    assert response.status_code == 405
    assert "DELETE" in response["Allow"]
    response = await client.delete(resource)
    assert response.status_code == 200
    assert engine.status("live")["publisher_connected"] is False
    response = await client.delete(resource)
    assert response.status_code == 404
    await publisher.pc.close()


async def test_second_publisher_is_refused_until_the_host_hands_over(
    studio: Any, engine: MediaEngine, http: Any, users: Any
) -> None:
    from streaming.actions import do_hand_over_publisher

    first = await publish(http)
    viewer, received = await play(http)
    second = WhipClient(f"{BASE}/whip/live", token=TOKEN, http=http)
    try:
        await received.wait_for(showing_bars, what="first publisher's bars")
        with pytest.raises(SignallingError) as refused:
            await second.publish(ColourBarsTrack(*SIZE, fps=15), ToneTrack(1000))
        assert refused.value.result.status == 409
        await second.pc.close()

        await action(do_hand_over_publisher, users["host"], studio.pk)
        second = await publish(http)
        first_peer_state = "closed"
        media = engine.sessions()["live"]
        assert media.publisher is not None
        assert media.publisher.resource_id == second.location.rsplit("/", 1)[1]  # type: ignore[union-attr]
        # The replaced publisher was closed by the server; the viewer keeps playing.
        await asyncio.sleep(0.5)
        assert first.pc.connectionState == first_peer_state
        await received.wait_for(showing_bars, what="bars from the new publisher")
        assert viewer.pc.connectionState == "connected"
    finally:
        for client in (first, second, viewer):
            await client.close()
        await received.stop()


async def test_webrtc_viewers_beyond_the_cap_get_503_with_retry_after(
    studio: Any, engine: MediaEngine, http: Any
) -> None:
    viewers = [await play(http) for _ in range(engine.max_viewers)]
    try:
        response = await post(AsyncClient(), "/whep/live", await an_offer(receive=True))
        assert response.status_code == 503
        assert response["Retry-After"] == "30"
        assert response.json()["code"] == "webrtc_viewer_cap"
        assert engine.status("live")["webrtc_viewers"] == engine.max_viewers
    finally:
        for client, received in viewers:
            await client.close()
            await received.stop()
    await asyncio.sleep(0.2)
    assert engine.status("live")["webrtc_viewers"] == 0


async def test_whep_refuses_a_session_that_is_not_live(
    make_session: Any, engine: MediaEngine
) -> None:
    await action(make_session, "collecting", slug="soon")
    response = await post(AsyncClient(), "/whep/soon", await an_offer(receive=True))
    assert response.status_code == 409
    assert response.json()["code"] == "not_live"


# -- programme: slates, agenda blanking, reconnects --------------------------------------------


async def test_viewer_sees_waiting_slate_and_silence_until_the_studio_arrives_and_resumes_after_a_drop(
    studio: Any, engine: MediaEngine, http: Any
) -> None:
    viewer, received = await play(http)
    publisher = None
    try:
        await received.wait_for(showing_slate(SlateKind.WAITING), what="waiting slate")
        assert await becomes_silent(received)
        publisher = await publish(http)
        await received.wait_for(showing_bars, what="bars")
        assert tone_ratio(await hear(received, 0.6), 1000) > 0.8
        await publisher.close()  # the studio drops
        await received.wait_for(showing_slate(SlateKind.WAITING), what="slate after the drop")
        assert await becomes_silent(received)
        publisher = await publish(http)  # and comes back: same viewer peer, no reload
        await received.wait_for(showing_bars, what="bars again")
        assert tone_ratio(await hear(received, 0.6), 1000) > 0.8
        assert viewer.pc.connectionState == "connected"
    finally:
        await viewer.close()
        if publisher is not None:
            await publisher.close()
        await received.stop()


async def test_confidential_item_blanks_picture_and_sound_for_viewers_hls_and_recording(
    studio: Any, engine: MediaEngine, http: Any, users: Any, tmp_path: Path
) -> None:
    from streaming.models import Recording

    public_item, secret_item = await make_agenda(studio, users["host"])
    await move_to(studio, users["host"], public_item)
    publisher = await publish(http)
    viewer, received = await play(http)
    try:
        await received.wait_for(showing_bars, what="bars")
        await asyncio.sleep(1.5)
        await move_to(studio, users["host"], secret_item)
        await received.wait_for(showing_slate(SlateKind.CONFIDENTIAL), what="confidential slate")
        assert engine.status("live")["confidential"] is True
        assert await becomes_silent(received)
        await asyncio.sleep(1.5)
        await move_to(studio, users["host"], public_item)
        await received.wait_for(showing_bars, what="bars after the item")
        assert tone_ratio(await hear(received, 1.0), 1000) > 0.8
        await asyncio.sleep(1.5)
    finally:
        await viewer.close()
        await publisher.close()
        await received.stop()
    status = engine.status("live")
    recording_path = status["recording_path"]
    await engine.stop_session("live")

    recording = await action(lambda: Recording.objects.get(session=studio))
    assert recording.path == recording_path and recording.ended_at is not None
    playlist = tmp_path / recording_path
    assert playlist.read_text().rstrip().endswith("#EXT-X-ENDLIST")
    pictures, sound = decode_hls(playlist)
    kinds = [classify(p) for _, p in pictures]
    assert "bars" in kinds and "confidential" in kinds
    # Bars, then the slate, then bars again: the item was blanked in the recording too.
    first_slate = kinds.index("confidential")
    last_slate = len(kinds) - 1 - kinds[::-1].index("confidential")
    assert "bars" in kinds[:first_slate] and "bars" in kinds[last_slate + 1 :]
    slate_start, slate_end = pictures[first_slate][0], pictures[last_slate][0]
    blanked = sound_between(sound, slate_start + 0.3, slate_end - 0.3)
    assert len(blanked) > 48_000 and rms(blanked) < 0.01
    after = sound_between(sound, pictures[last_slate + 1][0] + 0.5, pictures[-1][0])
    assert tone_ratio(after, 1000) > 0.8


def classify(picture: np.ndarray) -> str:
    if looks_like_bars(picture):
        return "bars"
    for kind in SlateKind:
        if looks_like_slate(picture, kind):
            return kind.value
    return "other"


def decode_hls(
    playlist: Path,
) -> tuple[list[tuple[float, np.ndarray]], list[tuple[float, np.ndarray]]]:
    """Every picture and sound of an HLS playlist, with times in seconds."""
    pictures: list[tuple[float, np.ndarray]] = []
    sound: list[tuple[float, np.ndarray]] = []
    with av.open(str(playlist)) as container:
        for frame in container.decode(video=0, audio=0):
            if frame.pts is None:
                continue
            at = float(frame.pts * frame.time_base)
            if isinstance(frame, av.VideoFrame):
                pictures.append((at, frame.to_ndarray(format="rgb24")))
            else:
                sound.append((at, frame.to_ndarray().mean(axis=0)))
    return pictures, sound


def sound_between(sound: list[tuple[float, np.ndarray]], start: float, end: float) -> np.ndarray:
    chunks = [s for t, s in sound if start <= t <= end]
    return np.concatenate(chunks) if chunks else np.zeros(0)


async def test_hls_playlist_and_segments_are_served_with_cache_headers_and_decode(
    studio: Any, engine: MediaEngine, http: Any, tmp_path: Path
) -> None:
    publisher = await publish(http)
    client = AsyncClient()
    try:
        deadline = time.monotonic() + 15
        while not engine.status("live")["hls_available"] and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await asyncio.sleep(2.5)  # a few segments of the studio picture
        status = engine.status("live")
        assert status["hls_url"] == "/hls/live/index.m3u8" and status["recording"] is True
        response = await client.get("/hls/live/index.m3u8")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/vnd.apple.mpegurl"
        assert "max-age=1" in response["Cache-Control"]
        playlist = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
        segments = [line for line in playlist.splitlines() if line.endswith(".ts")]
        assert segments
        response = await client.get(f"/hls/live/{segments[-1]}")
        assert response.status_code == 200
        assert response["Content-Type"] == "video/mp2t"
        assert "immutable" in response["Cache-Control"]
        data = b"".join(response.streaming_content)  # type: ignore[attr-defined]
        segment = tmp_path / "segment.ts"
        segment.write_bytes(data)
        with av.open(str(segment)) as container:
            streams = {s.type: s.codec_context.name for s in container.streams}
            assert streams == {"video": "h264", "audio": "aac"}
            frames = list(container.decode(video=0))
        assert frames and (frames[0].width, frames[0].height) == SIZE
        assert looks_like_bars(frames[-1].to_ndarray(format="rgb24"))
        assert (await client.get("/hls/live/..%2Fsecret.ts")).status_code == 404
        assert (await client.get("/hls/live/nothing-here.ts")).status_code == 404
    finally:
        await publisher.close()


# -- guests -------------------------------------------------------------------------------------


async def test_guest_is_heard_by_viewers_only_on_air_and_hears_the_programme_without_themselves(
    studio: Any, engine: MediaEngine, http: Any, users: Any
) -> None:
    from streaming.actions import do_put_guest_on_air, do_take_guest_off_air

    host = users["host"]
    invitation = await invite(studio, host)
    publisher = await publish(http)  # 1 kHz
    viewer, received = await play(http)
    guest, guest_hears = await join_as_guest(http, invitation.token)  # 440 Hz
    try:
        await received.wait_for(lambda r: r.audio_frames > 50, what="programme audio")
        await guest_hears.wait_for(lambda r: r.audio_frames > 50, what="return audio")
        waiting = await hear(received)
        assert tone_ratio(waiting, 440) < 0.05 and tone_ratio(waiting, 1000) > 0.8
        assert tone_ratio(await hear(guest_hears), 1000) > 0.8  # the guest hears the show

        await action(do_put_guest_on_air, host, studio.pk, invitation.invite.pk)
        await asyncio.sleep(0.5)
        on_air = await hear(received)
        assert tone_ratio(on_air, 440) > 0.25 and tone_ratio(on_air, 1000) > 0.25
        assert engine.status("live")["on_air_guest_ids"] == [invitation.invite.pk]
        back = await hear(guest_hears)
        assert tone_ratio(back, 1000) > 0.8 and tone_ratio(back, 440) < 0.05  # mix-minus

        await action(do_take_guest_off_air, host, studio.pk, invitation.invite.pk)
        # Audio already in the jitter and receive buffers may still carry the guest for a
        # moment (longer on a loaded machine): the programme must be clean within 5 s.
        deadline = asyncio.get_running_loop().time() + 5.0
        while (after := tone_ratio(await hear(received), 440)) >= 0.05:
            if asyncio.get_running_loop().time() > deadline:
                break
        assert after < 0.05
    finally:
        await guest.close()
        await viewer.close()
        await publisher.close()
        await received.stop()
        await guest_hears.stop()
    await asyncio.sleep(0.3)
    from streaming.models import GuestInvite

    state = await action(lambda: GuestInvite.objects.get(pk=invitation.invite.pk).state)
    assert state == "left"
    assert engine.status("live")["guests"] == 0


async def test_host_listens_to_a_guest_in_the_waiting_room_and_others_may_not(
    studio: Any, engine: MediaEngine, users: Any
) -> None:
    from streaming.media.client import WhepClient

    invitation = await invite(studio, users["host"])
    anonymous = asgi_http(AsyncClient())
    guest, guest_hears = await join_as_guest(anonymous, invitation.token, tone=440)
    host_client = AsyncClient()
    await host_client.aforce_login(users["host"])
    listener_heard = Received()
    listener = WhepClient(
        f"{BASE}/whep/live/guest/{invitation.invite.pk}", http=asgi_http(host_client)
    )
    try:
        refused = await post(AsyncClient(), f"/whep/live/guest/{invitation.invite.pk}", "v=0")
        assert refused.status_code == 403
        await listener.play(listener_heard.on_track, video=False)
        await listener_heard.wait_for(lambda r: r.audio_frames > 40, what="guest's voice")
        assert tone_ratio(await hear(listener_heard), 440) > 0.8
        # Nobody else hears them: the guest is not on air.
        assert engine.status("live")["on_air_guest_ids"] == []
        # A used link cannot join twice.
        with pytest.raises(SignallingError) as second_join:
            await join_as_guest(anonymous, invitation.token)
        assert second_join.value.result.status == 409
    finally:
        await listener.close()
        await guest.close()
        await listener_heard.stop()
        await guest_hears.stop()


# -- codecs, audio-only studio, programme life ----------------------------------------------


async def test_h264_viewer_and_vp8_viewer_both_decode_the_studio(
    studio: Any, engine: MediaEngine, http: Any
) -> None:
    publisher = await publish(http)
    viewers = []
    try:
        for codec in ("h264", "vp8"):
            received = Received()
            client = WhepClient(f"{BASE}/whep/live", http=http)
            await client.play(received.on_track, video_codec=codec)
            viewers.append((client, received))
            answer = client.pc.remoteDescription.sdp
            first_video_codec = answer.split("m=video", 1)[1].split("a=rtpmap:", 1)[1]
            assert first_video_codec.split()[1].lower().startswith(codec)
        for _client, received in viewers:
            await received.wait_for(showing_bars, what="bars")
            assert received.sizes == {SIZE}
    finally:
        for client, received in viewers:
            await client.close()
            await received.stop()
        await publisher.close()


async def test_audio_only_studio_shows_the_audio_slate_and_is_heard(
    studio: Any, engine: MediaEngine, http: Any
) -> None:
    publisher = WhipClient(f"{BASE}/whip/live", token=TOKEN, http=http)
    await publisher.publish(ToneTrack(1000))  # a radio studio: sound only
    viewer, received = await play(http)
    try:
        await received.wait_for(showing_slate(SlateKind.AUDIO_ONLY), what="audio-only slate")
        assert tone_ratio(await hear(received), 1000) > 0.8
    finally:
        await viewer.close()
        await publisher.close()
        await received.stop()


async def test_programme_stops_when_the_session_ends_and_the_recording_is_finished(
    studio: Any, engine: MediaEngine, http: Any, users: Any, tmp_path: Path
) -> None:
    from hub.actions.sessions import do_end_session
    from streaming.models import Recording

    publisher = await publish(http)
    viewer, received = await play(http)
    try:
        await received.wait_for(showing_bars, what="bars")
        await asyncio.sleep(1.2)  # a segment or two
        await action(do_end_session, users["host"], studio.pk)
        deadline = time.monotonic() + 10
        while engine.sessions() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert engine.sessions() == {}
        assert engine.status("live")["program"] is False
        await asyncio.sleep(0.3)
        assert viewer.pc.connectionState == "closed"  # the server hung up
    finally:
        await viewer.close()
        await publisher.close()
        await received.stop()
    recording = await action(lambda: Recording.objects.get(session=studio))
    assert recording.ended_at is not None
    assert (tmp_path / recording.path).read_text().rstrip().endswith("#EXT-X-ENDLIST")


async def test_idle_programme_stops_by_itself_after_everyone_left(
    studio: Any, engine: MediaEngine, http: Any
) -> None:
    engine.idle_seconds = 0.5
    publisher = await publish(http)
    viewer, received = await play(http)
    await received.wait_for(showing_bars, what="bars")
    await viewer.close()
    assert engine.status("live")["program"] is True  # the studio is still there
    await publisher.close()
    await received.stop()
    deadline = time.monotonic() + 10
    while engine.sessions() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert engine.sessions() == {}
    status = engine.status("live")
    assert status["program"] is False and status["recording"] is False


async def test_a_programme_that_cannot_start_answers_503_with_a_clear_code(
    studio: Any, engine: MediaEngine, tmp_path: Path
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the media folder should be")
    engine.media_root = blocked
    response = await post(AsyncClient(), "/whep/live", await an_offer(receive=True))
    assert response.status_code == 503
    assert response.json()["code"] == "media_unavailable"
    assert engine.sessions() == {}
    assert engine.status("live")["webrtc_viewers_process"] == 0
