"""This process's media engine (the public contract is in :mod:`streaming.engine`).

One :class:`SessionMedia` per session with media in this process: its
:class:`~streaming.media.program.Program`, the HLS packager (which is also the
recording), the control that follows the session's events, and the peers: at most one
studio publisher, WebRTC viewers, guests, and hosts listening to a guest.

A programme starts with the first peer of a live session and stops when the session
ends, or after ``HUB_PROGRAM_IDLE_SECONDS`` without any publisher, viewer or guest; the
recording is finished then. A peer holds its place (a viewer slot under
``HUB_WEBRTC_MAX_VIEWERS``, the studio publisher, a guest) until it is closed; one that has
not connected ``HUB_WEBRTC_CONNECT_TIMEOUT_SECONDS`` after its answer, or that lost its
connection for ``HUB_WEBRTC_DISCONNECT_GRACE_SECONDS``, is closed (see
:mod:`streaming.media.peers`), so offers that never connect cannot hold every slot or keep
an empty programme from idling. Every database call goes through
``database_sync_to_async`` to ``streaming.actions`` (the control plane).

An engine that starts (a media process started or restarted, or the engine moved to a
new event loop) holds no peer. Before it accepts its first one it says so to the control
plane (:func:`streaming.actions.do_media_engine_started`): a publisher or guest of a
process that crashed or was killed, which could not report leaving, is gone then, so the
studio reconnecting is not refused as a second publisher and viewers hear the signal
went off. After a restart the first request comes within seconds: the studio's encoder
posts WHIP again and the players of WebRTC viewers post WHEP again.
"""

from __future__ import annotations

import asyncio
import contextvars
import hmac
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from streaming.media.db import call_db as _db
from streaming.media.errors import (
    BadOffer,
    GuestNotConnected,
    MediaUnavailable,
    SessionNotLive,
    UnknownResource,
    ViewerCapReached,
)
from streaming.media.hls import LIVE_PLAYLIST, HlsConfig, HlsPackager
from streaming.media.peers import RECEIVING, MediaPeer, parse_offer
from streaming.media.program import GuestInput, Program, ProgramConfig
from streaming.media.tracks import cancel_and_wait, start_reader

logger = logging.getLogger(__name__)


#: A publisher that sent nothing for this long (and is older than that) is gone, even if
#: ICE has not noticed yet: a reconnecting studio is not refused as a second publisher.
PUBLISHER_SILENT_SECONDS = 5.0
VIEWER_RETRY_AFTER_SECONDS = 30


@dataclass(eq=False)
class GuestLink:
    """A connected guest: their peer, their programme input, their voice for listeners."""

    peer: MediaPeer
    invite_id: int
    token: str
    guest: GuestInput
    relay: MediaRelay
    voice: MediaStreamTrack
    listeners: set[MediaPeer] = field(default_factory=set)


@dataclass(eq=False)
class SessionMedia:
    slug: str
    session_id: int
    program: Program
    packager: HlsPackager | None = None
    control: Any = None
    control_task: asyncio.Task[None] | None = None
    publisher: MediaPeer | None = None
    publisher_media_at: float = 0.0
    viewers: dict[str, MediaPeer] = field(default_factory=dict)
    guests: dict[str, GuestLink] = field(default_factory=dict)
    recording_path: str | None = None
    recording_started_at: datetime | None = None
    idle_handle: asyncio.TimerHandle | None = None
    stopping: bool = False

    @property
    def idle(self) -> bool:
        return self.publisher is None and not self.viewers and not self.guests

    def guest_by_invite(self, invite_id: int) -> GuestLink | None:
        return next((g for g in self.guests.values() if g.invite_id == invite_id), None)


class MediaEngine:
    """Programmes and peers of this process, keyed by session slug.

    All coroutines run on the server's event loop. :meth:`status` may be called from any
    thread: it reads a snapshot the loop refreshes after every change.

    Arguments default to the settings; tests and the benchmark pass their own
    (``hls=False`` runs without packaging or recording).
    """

    def __init__(
        self,
        *,
        config: ProgramConfig | None = None,
        hls: bool | None = None,
        hls_config: HlsConfig | None = None,
        media_root: Path | None = None,
        max_viewers: int | None = None,
        idle_seconds: float | None = None,
        stun_urls: list[str] | None = None,
        connect_timeout: float | None = None,
        disconnect_grace: float | None = None,
    ) -> None:
        self.config = config or ProgramConfig.from_settings()
        self.hls = settings.HUB_MEDIA_HLS if hls is None else hls
        self.hls_config = hls_config or HlsConfig.from_settings()
        self.media_root = Path(media_root or settings.HUB_MEDIA_ROOT)
        self.max_viewers = settings.HUB_WEBRTC_MAX_VIEWERS if max_viewers is None else max_viewers
        self.idle_seconds = (
            settings.HUB_PROGRAM_IDLE_SECONDS if idle_seconds is None else idle_seconds
        )
        self.stun_urls = list(settings.HUB_STUN_URLS if stun_urls is None else stun_urls)
        # A peer not connected this long after its answer is closed and its slot freed.
        self.connect_timeout = (
            settings.HUB_WEBRTC_CONNECT_TIMEOUT_SECONDS
            if connect_timeout is None
            else connect_timeout
        )
        self.disconnect_grace = (
            settings.HUB_WEBRTC_DISCONNECT_GRACE_SECONDS
            if disconnect_grace is None
            else disconnect_grace
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sessions: dict[str, SessionMedia] = {}
        self._starting: dict[str, asyncio.Future[SessionMedia]] = {}
        self._publish_locks: dict[str, asyncio.Lock] = {}
        self._reserved_viewers = 0
        self._background: set[asyncio.Future[None]] = set()
        self._started: asyncio.Task[None] | None = None
        self._status_lock = threading.Lock()
        self._status: dict[str, dict[str, Any]] = {}
        self._viewers_total = 0

    # -- status (any thread) ----------------------------------------------------------------
    def status(self, slug: str) -> dict[str, Any]:
        """What this process holds for ``slug`` (see :mod:`streaming.engine`)."""
        with self._status_lock:
            found = self._status.get(slug)
            return dict(found) if found else self._empty_status(slug)

    def _empty_status(self, slug: str) -> dict[str, Any]:
        return {
            "slug": slug,
            "program": False,
            "publisher_connected": False,
            "showing": None,
            "confidential": False,
            "on_air_guest_ids": [],
            "guests": 0,
            "webrtc_viewers": 0,
            "webrtc_viewers_process": self._viewers_total,
            "webrtc_viewer_cap": self.max_viewers,
            "hls_available": False,
            "hls_url": None,
            "recording": False,
            "recording_path": None,
            "recording_started_at": None,
        }

    @property
    def viewer_count(self) -> int:
        """WebRTC viewers of this process (event loop only; other threads: status())."""
        return sum(len(m.viewers) for m in self._sessions.values())

    def _refresh(self, slug: str) -> None:
        """Rebuild the status snapshot of ``slug`` (event loop only)."""
        self._viewers_total = self.viewer_count
        media = self._sessions.get(slug)
        status = self._empty_status(slug)
        if media is not None:
            hls_ok = media.packager is not None and media.packager.available
            status.update(media.program.status())
            status["program"] = status["program"] and not media.stopping
            status.update(
                publisher_connected=media.publisher is not None,
                guests=len(media.guests),
                webrtc_viewers=len(media.viewers),
                hls_available=hls_ok,
                hls_url=f"/hls/{slug}/{LIVE_PLAYLIST}" if hls_ok else None,
                recording=media.recording_path is not None,
                recording_path=media.recording_path,
                recording_started_at=(
                    media.recording_started_at.isoformat() if media.recording_started_at else None
                ),
            )
        with self._status_lock:
            self._status[slug] = status

    def sessions(self) -> dict[str, SessionMedia]:
        """The live programmes of this process (read-only use: tests, benchmark)."""
        return dict(self._sessions)

    # -- loop and programme life -----------------------------------------------------------------
    def _bind_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None:
                logger.warning("media engine moved to a new event loop; old programmes dropped")
            self._loop = loop
            self._sessions.clear()
            self._starting.clear()
            self._publish_locks.clear()
            self._reserved_viewers = 0
            self._started = None

    async def _begin(self) -> None:
        """Bind to the running loop; on a new loop, first tell the control plane that
        this engine holds nothing (once; concurrent callers wait for the same call).
        If the control plane cannot be told, :class:`MediaUnavailable` (503): accepting a
        peer then could leave a dead engine's publisher blocking it; the next request
        tries again."""
        self._bind_loop()
        started = self._started
        if started is None or (started.done() and (started.cancelled() or started.exception())):
            assert self._loop is not None
            # Not tied to the request that happens to come first (see _start_session).
            started = self._loop.create_task(self._announce_start(), context=contextvars.Context())
            started.add_done_callback(lambda task: task.cancelled() or task.exception())
            self._started = started
        await asyncio.shield(started)

    async def _announce_start(self) -> None:
        from streaming import actions

        try:
            await _db(actions.do_media_engine_started, timezone.now())
        except Exception as error:
            logger.exception("the control plane did not take the media engine's start")
            raise MediaUnavailable(_("Live video cannot start on this server now")) from error

    def _publish_lock(self, slug: str) -> asyncio.Lock:
        return self._publish_locks.setdefault(slug, asyncio.Lock())

    async def _ensure_session(self, slug: str, session_id: int) -> SessionMedia:
        media = self._sessions.get(slug)
        if media is not None and not media.stopping:
            self._touch(media)
            return media
        pending = self._starting.get(slug)
        if pending is not None:
            return await asyncio.shield(pending)
        assert self._loop is not None
        future: asyncio.Future[SessionMedia] = self._loop.create_future()
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._starting[slug] = future
        try:
            media = await self._start_session(slug, session_id)
        except asyncio.CancelledError as error:
            future.set_exception(error)
            raise
        except Exception as error:
            # A disk that cannot be written, an encoder that cannot open: the server's
            # fault, said clearly (503) rather than as a bare 500.
            logger.exception("programme %s cannot start", slug)
            unavailable = MediaUnavailable(_("Live video cannot start on this server now"))
            future.set_exception(unavailable)
            raise unavailable from error
        finally:
            self._starting.pop(slug, None)
        future.set_result(media)
        return media

    async def _start_session(self, slug: str, session_id: int) -> SessionMedia:
        from streaming.media.control import ProgramControl

        program = Program(slug, session_id, self.config, on_change=lambda: self._refresh(slug))
        media = SessionMedia(slug=slug, session_id=session_id, program=program)
        if self.hls:
            run_id = timezone.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
            packager = HlsPackager(
                self.media_root / "hls" / slug,
                run_id,
                width=self.config.width,
                height=self.config.height,
                fps=self.config.fps,
                config=self.hls_config,
                on_segment=lambda: self._refresh(slug),
            )
            await packager.start()
            media.packager = packager
            program.frame_sinks.append(packager)
        program.start()  # held (waiting slate, silence) until the control state is read
        self._sessions[slug] = media
        media.control = ProgramControl(program, on_session_ended=lambda: self._end_soon(slug))
        # Its subscription lives as long as the programme, not the request that started
        # it: a fresh context (see _DB_EXECUTOR), and nobody waits for it.
        assert self._loop is not None
        media.control_task = self._loop.create_task(
            media.control.start(), context=contextvars.Context()
        )
        if media.packager is not None:
            await self._recording_started(media)
        self._refresh(slug)
        self._touch(media)
        logger.info("programme %s started", slug)
        return media

    async def _recording_started(self, media: SessionMedia) -> None:
        from streaming import actions

        assert media.packager is not None
        path = media.packager.recording_path.relative_to(self.media_root).as_posix()
        started_at = timezone.now()
        media.recording_path, media.recording_started_at = path, started_at
        try:
            await _db(actions.do_recording_started, media.session_id, path, started_at)
        except Exception:
            logger.exception("the control plane did not take recording %s", path)

    def _touch(self, media: SessionMedia) -> None:
        """Something happened: (re)arm or cancel the idle stop."""
        if media.idle_handle is not None:
            media.idle_handle.cancel()
            media.idle_handle = None
        if media.idle and not media.stopping and self._loop is not None:
            media.idle_handle = self._loop.call_later(
                self.idle_seconds, lambda: self._stop_soon(media.slug, idle_only=True)
            )

    def _stop_soon(self, slug: str, *, idle_only: bool = False) -> None:
        media = self._sessions.get(slug)
        if media is None or (idle_only and not media.idle):
            return
        task = asyncio.ensure_future(self.stop_session(slug))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _end_soon(self, slug: str) -> None:
        logger.info("session %s ended: its programme stops", slug)
        self._stop_soon(slug)

    async def stop_session(self, slug: str) -> None:
        """Stop a programme: close its peers, finish HLS and the recording."""
        media = self._sessions.get(slug)
        if media is None or media.stopping:
            return
        media.stopping = True
        if media.idle_handle is not None:
            media.idle_handle.cancel()
        peers = [p for p in (media.publisher,) if p is not None]
        peers += list(media.viewers.values())
        for link in list(media.guests.values()):
            peers += [link.peer, *link.listeners]
        await asyncio.gather(*(peer.close() for peer in peers), return_exceptions=True)
        if media.control_task is not None:
            await cancel_and_wait(media.control_task)
        if media.control is not None:
            media.control.stop()
        await media.program.stop()
        if media.packager is not None:
            await media.packager.stop()
            await self._recording_finished(media)
        if self._sessions.get(slug) is media:
            del self._sessions[slug]
        self._refresh(slug)
        logger.info("programme %s stopped", slug)

    async def _recording_finished(self, media: SessionMedia) -> None:
        from streaming import actions

        if media.recording_path is None:
            return
        try:
            await _db(
                actions.do_recording_finished,
                media.session_id,
                media.recording_path,
                timezone.now(),
            )
        except Exception:
            logger.exception("the control plane did not take the end of %s", media.recording_path)

    async def shutdown(self) -> None:
        """Stop every programme (server shutdown, end of a test)."""
        if self._loop is not asyncio.get_running_loop():
            return
        await asyncio.gather(*(self.stop_session(slug) for slug in list(self._sessions)))

    def _new_peer(self, kind: str, slug: str) -> MediaPeer:
        return MediaPeer(
            kind,
            slug,
            stun_urls=self.stun_urls,
            connect_timeout=self.connect_timeout,
            disconnect_grace=self.disconnect_grace,
        )

    # -- WHIP: the studio ------------------------------------------------------------------------
    async def publish(
        self, slug: str, bearer_token: str | None, offer_sdp: str, *, handover: bool = False
    ) -> tuple[str, str]:
        """WHIP: accept the studio publisher; returns ``(resource_id, answer_sdp)``.

        The control plane authorises (token, session live, one publisher unless the host
        opened a hand-over). A publisher of ours that has gone silent is dropped first, so a
        studio reconnecting after a network cut is not refused as a second publisher. The
        new publisher replaces the old one (which is closed) without touching viewers.
        """
        from streaming import actions

        await self._begin()
        async with self._publish_lock(slug):
            media = self._sessions.get(slug)
            if media is not None and media.publisher is not None and self._publisher_gone(media):
                logger.info("%s is silent; dropping it for a new publisher", media.publisher.label)
                await media.publisher.close()
            grant = await _db(actions.authenticate_publisher, slug, bearer_token, handover=handover)
            parse_offer(offer_sdp, must_send=True)
            media = await self._ensure_session(grant.slug, grant.session_id)
            peer = self._new_peer("publisher", grant.slug)
            try:
                await peer.apply_offer(offer_sdp)
                video = [t for t in peer.remote_tracks if t.kind == "video"]
                audio = [t for t in peer.remote_tracks if t.kind == "audio"]
                if not video and not audio:
                    raise BadOffer(_("The SDP offer sends no audio or video"))
                for extra in video[1:] + audio[1:]:
                    peer.drain(extra)
                answer = await peer.create_answer()
            except BaseException:
                await peer.close()
                raise
            old, media.publisher = media.publisher, peer
            media.publisher_media_at = time.monotonic()
            media.program.studio_connected(has_video=bool(video), has_audio=bool(audio))
            self._start_studio_readers(media, peer, video[:1], audio[:1])
            peer.on_close.append(partial(self._publisher_closed, media))
            self._touch(media)
            self._refresh(slug)
            try:
                await _db(
                    actions.do_publisher_connected,
                    media.session_id,
                    peer.resource_id,
                    timezone.now(),
                )
            except Exception:
                logger.exception("the control plane did not take publisher %s", peer.label)
            if old is not None:
                await old.close()
        logger.info("%s publishes (video=%s audio=%s)", peer.label, bool(video), bool(audio))
        return peer.resource_id, answer

    def _start_studio_readers(
        self,
        media: SessionMedia,
        peer: MediaPeer,
        video: list[MediaStreamTrack],
        audio: list[MediaStreamTrack],
    ) -> None:
        program = media.program
        studio_audio = program.studio.audio

        def on_video(frame: Any) -> None:
            if media.publisher is peer:
                media.publisher_media_at = time.monotonic()
                program.studio.take_video(frame)

        def on_audio(frame: Any) -> None:
            if media.publisher is peer and studio_audio is not None:
                media.publisher_media_at = time.monotonic()
                studio_audio.feed(frame)

        for track in video:
            peer.tasks.append(start_reader(track, on_video))
        for track in audio:
            peer.tasks.append(start_reader(track, on_audio))

    def _publisher_gone(self, media: SessionMedia) -> bool:
        peer = media.publisher
        if peer is None or peer.closed:
            return True
        if peer.state in ("failed", "closed", "disconnected"):
            return True
        now = time.monotonic()
        return (
            now - peer.created_at > PUBLISHER_SILENT_SECONDS
            and now - media.publisher_media_at > PUBLISHER_SILENT_SECONDS
        )

    async def _publisher_closed(self, media: SessionMedia, peer: MediaPeer) -> None:
        from streaming import actions

        if media.publisher is peer:
            media.publisher = None
            media.program.studio_disconnected()
        try:
            await _db(
                actions.do_publisher_disconnected,
                media.session_id,
                peer.resource_id,
                timezone.now(),
            )
        except Exception:
            logger.exception("the control plane did not take the end of %s", peer.label)
        self._refresh(media.slug)
        self._touch(media)

    async def unpublish(self, slug: str, resource_id: str) -> None:
        """WHIP DELETE: end the studio publisher (slate and silence follow)."""
        media = self._sessions.get(slug)
        peer = media.publisher if media is not None else None
        if peer is None or not hmac.compare_digest(peer.resource_id, resource_id):
            raise UnknownResource(_("No such publishing session"))
        await peer.close()

    # -- WHEP: viewers ---------------------------------------------------------------------------
    async def play(self, slug: str, offer_sdp: str) -> tuple[str, str]:
        """WHEP: a viewer plays the programme; beyond the cap: :class:`ViewerCapReached`."""
        await self._begin()
        if self.viewer_count + self._reserved_viewers >= self.max_viewers:
            raise ViewerCapReached(
                _("This server is at its limit of WebRTC viewers; use HLS playback"),
                retry_after=VIEWER_RETRY_AFTER_SECONDS,
            )
        offered = parse_offer(offer_sdp, must_receive=True)
        self._reserved_viewers += 1
        try:
            session_id = await _db(_live_session_id, slug)
            media = await self._ensure_session(slug, session_id)
            peer = self._new_peer("viewer", slug)
            try:
                await peer.apply_offer(offer_sdp)
                self._add_programme_tracks(peer, media.program, offered)
                answer = await peer.create_answer()
            except BaseException:
                await peer.close()
                raise
        finally:
            self._reserved_viewers -= 1
        media.viewers[peer.resource_id] = peer
        peer.on_close.append(partial(self._viewer_closed, media))
        self._touch(media)
        self._refresh(slug)
        return peer.resource_id, answer

    def _add_programme_tracks(self, peer: MediaPeer, program: Program, offered: list[Any]) -> None:
        kinds = {m.kind for m in offered if (m.direction or "sendrecv") in RECEIVING}
        if "video" in kinds:
            peer.add_track(program.subscribe_video())
        if "audio" in kinds:
            peer.add_track(program.subscribe_audio())
        for track in peer.remote_tracks:  # a viewer sends nothing we use
            peer.drain(track)

    def _viewer_closed(self, media: SessionMedia, peer: MediaPeer) -> None:
        media.viewers.pop(peer.resource_id, None)
        self._refresh(media.slug)
        self._touch(media)

    async def stop_playing(self, slug: str, resource_id: str) -> None:
        """WHEP DELETE."""
        media = self._sessions.get(slug)
        peer = media.viewers.get(resource_id) if media is not None else None
        if peer is None:
            raise UnknownResource(_("No such playback session"))
        await peer.close()

    # -- guests ----------------------------------------------------------------------------------
    async def join_guest(self, token: str, offer_sdp: str) -> tuple[str, str]:
        """A guest's browser joins with its one-time link.

        The link is checked first, the peer negotiated, and only then is the link used up
        (``do_guest_connect``), so a browser whose offer fails may try again. The guest
        waits (heard by nobody but a listening host) until the host puts them on air.
        """
        from streaming import actions

        await self._begin()
        offered = parse_offer(offer_sdp, must_send=True)
        invite_id, label, session_id, slug = await _db(_usable_invite, token, timezone.now())
        media = await self._ensure_session(slug, session_id)
        guest = GuestInput(invite_id, label)
        peer = self._new_peer("guest", slug)
        try:
            await peer.apply_offer(offer_sdp)
            audio = [t for t in peer.remote_tracks if t.kind == "audio"]
            if not audio:
                raise BadOffer(_("A guest must send audio"))
            if any(m.kind == "audio" and (m.direction or "sendrecv") in RECEIVING for m in offered):
                peer.add_track(guest.return_track)
            for track in peer.remote_tracks:
                if track is not audio[0]:  # a guest's camera or a second microphone
                    peer.drain(track)
            answer = await peer.create_answer()
            grant = await _db(actions.do_guest_connect, token, timezone.now())
        except BaseException:
            await peer.close()
            raise
        relay = MediaRelay()
        link = GuestLink(
            peer=peer,
            invite_id=grant.invite_id,
            token=token,
            guest=guest,
            relay=relay,
            voice=audio[0],
        )
        media.program.add_guest(guest)
        media.guests[peer.resource_id] = link
        peer.tasks.append(start_reader(relay.subscribe(audio[0]), guest.audio.feed))
        peer.on_close.append(partial(self._guest_closed, media, link))
        self._touch(media)
        self._refresh(slug)
        logger.info("%s joined as guest #%s", peer.label, grant.invite_id)
        return peer.resource_id, answer

    async def _guest_closed(self, media: SessionMedia, link: GuestLink, peer: MediaPeer) -> None:
        from streaming import actions

        media.guests.pop(peer.resource_id, None)
        media.program.remove_guest(link.invite_id, link.guest)
        await asyncio.gather(*(p.close() for p in list(link.listeners)), return_exceptions=True)
        try:
            await _db(actions.do_guest_disconnect, link.invite_id, timezone.now())
        except Exception:
            logger.exception("the control plane did not take the end of guest %s", link.invite_id)
        self._refresh(media.slug)
        self._touch(media)

    async def leave_guest(self, token: str, resource_id: str) -> None:
        """The guest hangs up (DELETE on the resource)."""
        for media in list(self._sessions.values()):
            link = media.guests.get(resource_id)
            if link is not None and hmac.compare_digest(link.token, token):
                await link.peer.close()
                return
        raise UnknownResource(_("No such guest connection"))

    async def listen_guest(self, slug: str, invite_id: int, offer_sdp: str) -> tuple[str, str]:
        """The host hears a connected guest (the view checked the permission)."""
        await self._begin()
        parse_offer(offer_sdp, must_receive=True)
        media = self._sessions.get(slug)
        link = media.guest_by_invite(invite_id) if media is not None else None
        if media is None or link is None:
            raise GuestNotConnected(_("This guest is not connected"))
        peer = self._new_peer("listener", slug)
        try:
            await peer.apply_offer(offer_sdp)
            peer.add_track(link.relay.subscribe(link.voice))
            for track in peer.remote_tracks:
                peer.drain(track)
            answer = await peer.create_answer()
        except BaseException:
            await peer.close()
            raise
        link.listeners.add(peer)
        peer.on_close.append(lambda closed: link.listeners.discard(closed))
        return peer.resource_id, answer

    async def stop_listening(self, slug: str, resource_id: str) -> None:
        media = self._sessions.get(slug)
        for link in list(media.guests.values()) if media is not None else []:
            for peer in list(link.listeners):
                if peer.resource_id == resource_id:
                    await peer.close()
                    return
        raise UnknownResource(_("No such listening session"))


# -- database helpers (sync; called through database_sync_to_async) ------------------------------


def _live_session_id(slug: str) -> int:
    from hub.errors import NotFound
    from hub.models import LiveSession, SessionStatus

    row = LiveSession.objects.filter(slug=slug).values_list("pk", "status").first()
    if row is None:
        raise NotFound(_("Unknown session %(slug)s") % {"slug": slug})
    if row[1] != SessionStatus.LIVE:
        raise SessionNotLive(_("The session is not live"))
    return int(row[0])


def _usable_invite(token: str, now: datetime) -> tuple[int, str, int, str]:
    from streaming import actions

    invite = actions.find_invite(token)
    actions.check_invite_usable(invite, now)
    return invite.pk, invite.label, invite.session_id, invite.session.slug


_engine: MediaEngine | None = None
_engine_lock = threading.Lock()


def get_engine() -> MediaEngine:
    """This process's engine (created on first use, from the settings)."""
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                _engine = MediaEngine()
    return _engine


def reset_engine(engine: MediaEngine | None = None) -> None:
    """Replace the process's engine (tests, the benchmark)."""
    global _engine
    with _engine_lock:
        _engine = engine


def stop_on_server_shutdown(timeout: float = 15.0) -> None:
    """Under Daphne (``hub.serve``): before the reactor stops, stop every programme, so
    peers are closed, the HLS playlists and recordings are finished (``#EXT-X-ENDLIST``)
    and the control plane hears of it. Bounded by ``timeout`` seconds."""
    from twisted.internet import reactor
    from twisted.internet.defer import Deferred

    def stop() -> Any:
        engine = _engine
        if engine is None or engine._loop is None or engine._loop.is_closed():
            return None
        if not engine.sessions():
            return None
        future = asyncio.ensure_future(asyncio.wait_for(engine.shutdown(), timeout))
        return Deferred.fromFuture(future).addErrback(
            lambda failure: logger.error("stopping the media engine failed: %s", failure)
        )

    reactor.addSystemEventTrigger("before", "shutdown", stop)  # type: ignore[attr-defined,arg-type]
