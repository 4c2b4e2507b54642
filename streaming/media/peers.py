"""One RTCPeerConnection the engine answered, and everything that must end with it.

WHIP and WHEP are non-trickle here: aiortc gathers every ICE candidate while it sets the
local description, so the answer returned by :meth:`MediaPeer.answer` is complete.

Clean-up contract: a peer is closed exactly once, whichever comes first: a ``DELETE``,
its connection state turning ``failed`` or ``closed``, a replacement (hand-over), the
programme stopping, or a deadline: a peer that is not connected ``connect_timeout`` seconds
after its answer was made (an offer whose ICE can never succeed, such as one with no
candidates and no end-of-candidates, would otherwise hold its slot for ever), or one that
connected and then stays out of ``connected`` for ``disconnect_grace`` seconds. (aiortc
itself turns a connection whose ICE consent checks go unanswered for about 30 s into
``failed``.) Closing closes the RTCPeerConnection (which stops its senders and
with them the relayed tracks they read), stops the local tracks it was given, cancels
and awaits its reader tasks, stops its MediaBlackhole, then runs its ``on_close``
callbacks (registries, the control plane). Nothing it started outlives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaBlackhole
from aiortc.mediastreams import MediaStreamTrack
from aiortc.sdp import SessionDescription
from django.utils.translation import gettext as _

from streaming.media.errors import BadOffer
from streaming.media.tracks import cancel_and_wait

logger = logging.getLogger(__name__)

MAX_OFFER_BYTES = 64 * 1024
SENDING = {"sendonly", "sendrecv"}
RECEIVING = {"recvonly", "sendrecv"}


def new_resource_id() -> str:
    return secrets.token_urlsafe(18)


def parse_offer(sdp: str, *, must_send: bool = False, must_receive: bool = False) -> list[Any]:
    """Check an SDP offer before any peer is made; return its audio/video media sections.

    ``must_send``: the offerer sends media (a WHIP publisher, a guest); ``must_receive``:
    it receives (a WHEP viewer, a guest). Raises :class:`BadOffer` with a clear message.
    """
    if len(sdp) > MAX_OFFER_BYTES:
        raise BadOffer(_("The SDP offer is too large"))
    if not sdp.lstrip().startswith("v=0"):
        raise BadOffer(_("The body is not an SDP offer (it must start with v=0)"))
    try:
        description = SessionDescription.parse(sdp)
    except Exception as error:
        raise BadOffer(_("The SDP offer cannot be parsed: %(error)s") % {"error": error}) from None
    media = [m for m in description.media if m.kind in ("audio", "video")]
    if not media:
        raise BadOffer(_("The SDP offer has no audio or video section"))
    if must_send and not any((m.direction or "sendrecv") in SENDING for m in media):
        raise BadOffer(_("The SDP offer sends no audio or video"))
    if must_receive and not any((m.direction or "sendrecv") in RECEIVING for m in media):
        raise BadOffer(_("The SDP offer receives no audio or video"))
    return media


class MediaPeer:
    """A peer of the engine: ``kind`` is publisher, viewer, guest or listener."""

    def __init__(
        self,
        kind: str,
        slug: str,
        *,
        stun_urls: list[str] | None = None,
        connect_timeout: float | None = None,
        disconnect_grace: float | None = None,
    ) -> None:
        """``connect_timeout`` / ``disconnect_grace``: the deadlines of the clean-up
        contract, in seconds (``None``: no deadline)."""
        self.kind = kind
        self.slug = slug
        self.resource_id = new_resource_id()
        servers = [RTCIceServer(urls=url) for url in stun_urls or []]
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))
        self.created_at = time.monotonic()
        self.tasks: list[asyncio.Task[Any]] = []
        self.local_tracks: list[MediaStreamTrack] = []
        self.remote_tracks: list[MediaStreamTrack] = []
        self.blackhole = MediaBlackhole()
        self.on_close: list[Callable[[MediaPeer], Awaitable[None] | None]] = []
        self._close_task: asyncio.Future[None] | None = None
        self.connect_timeout = connect_timeout
        self.disconnect_grace = disconnect_grace
        self.ever_connected = False
        self._deadline: asyncio.TimerHandle | None = None
        self.pc.on("connectionstatechange", self._state_changed)
        self.pc.on("track", self.remote_tracks.append)

    def __repr__(self) -> str:
        return f"<MediaPeer {self.label}>"

    @property
    def label(self) -> str:
        """For logs. (Log this string, never the peer: a handler that keeps records, like
        pytest's capture, would keep the peer and its connection alive.)"""
        return f"{self.kind} {self.slug}/{self.resource_id}"

    @property
    def closed(self) -> bool:
        return self._close_task is not None

    @property
    def state(self) -> str:
        return str(self.pc.connectionState)

    def _state_changed(self) -> None:
        state = self.pc.connectionState
        logger.info("%s connection %s", self.label, state)
        if state in ("failed", "closed"):
            self.close_soon()
        elif state == "connected":
            self.ever_connected = True
            self._cancel_deadline()
        elif self.ever_connected and self._deadline is None and not self.closed:
            # Connected before, not now (aiortc has no "disconnected", but a later version
            # or a DTLS renegotiation may pass through "connecting"): wait out the grace.
            self._arm_deadline(self.disconnect_grace, "lost its connection")

    def _arm_deadline(self, seconds: float | None, what: str) -> None:
        self._cancel_deadline()
        if seconds is None or self.closed:
            return
        self._deadline = asyncio.get_running_loop().call_later(
            seconds, self._deadline_passed, seconds, what
        )

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _deadline_passed(self, seconds: float, what: str) -> None:
        self._deadline = None
        if self.closed or self.pc.connectionState == "connected":
            return
        logger.info("%s %s (not connected for %.1f s); closing it", self.label, what, seconds)
        self.close_soon()

    def add_track(self, track: MediaStreamTrack) -> None:
        """Send ``track`` to the remote side; it is stopped when the peer closes."""
        self.local_tracks.append(track)
        self.pc.addTrack(track)

    def drain(self, track: MediaStreamTrack) -> None:
        """Read and discard a received track nobody uses (unread tracks pile up frames)."""
        self.blackhole.addTrack(track)

    async def apply_offer(self, offer_sdp: str) -> None:
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        except Exception as error:
            raise BadOffer(
                _("The SDP offer cannot be used: %(error)s") % {"error": error or type(error)}
            ) from None

    async def create_answer(self) -> str:
        """Answer the applied offer, ICE gathered (non-trickle); start draining."""
        try:
            await self.pc.setLocalDescription(await self.pc.createAnswer())
        except Exception as error:
            raise BadOffer(
                _("No answer can be made to this offer: %(error)s") % {"error": error}
            ) from None
        await self.blackhole.start()
        # From now on the remote side has what it needs to connect: the clock runs.
        if self.pc.connectionState != "connected":
            self._arm_deadline(self.connect_timeout, "did not connect")
        return str(self.pc.localDescription.sdp)

    def close_soon(self) -> None:
        if self._close_task is None:
            self._close_task = asyncio.ensure_future(self._close())

    async def close(self) -> None:
        """Close once; every caller waits for the same clean-up."""
        self.close_soon()
        assert self._close_task is not None
        await asyncio.shield(self._close_task)

    async def _close(self) -> None:
        self._cancel_deadline()
        try:
            await self.pc.close()
        except Exception:
            logger.exception("closing %s failed", self.label)
        for track in self.local_tracks + self.remote_tracks:
            track.stop()
        await cancel_and_wait(*self.tasks)
        await self.blackhole.stop()
        for callback in self.on_close:
            try:
                result = callback(self)
                if result is not None:
                    await result
            except Exception:
                logger.exception("clean-up after %s failed", self.label)
        self.on_close.clear()
        self.tasks.clear()
        self.local_tracks.clear()
        self.remote_tracks.clear()
        with contextlib.suppress(Exception):
            self.pc.remove_all_listeners()
