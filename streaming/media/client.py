"""A WHIP / WHEP client built on aiortc (the demo publisher, tests, benchmark).

``WhipClient.publish`` posts an offer carrying the given tracks; ``WhepClient.play``
posts a receive-only offer and hands each received track to a callback. Both are
non-trickle (aiortc gathers ICE before the offer is sent) and ``close`` deletes the
resource on the server (``Location``) and closes the peer.

The HTTP call is pluggable (``http``): by default a ``urllib`` request in a thread; a
test passes one that goes through Django's ``AsyncClient``.
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack


@dataclass
class HttpResult:
    status: int
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)


Http = Callable[[str, str, bytes | None, dict[str, str]], Awaitable[HttpResult]]


def _urllib_call(method: str, url: str, body: bytes | None, headers: dict[str, str]) -> HttpResult:
    request = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return HttpResult(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as error:
        return HttpResult(error.code, dict(error.headers.items()), error.read())


async def urllib_http(
    method: str, url: str, body: bytes | None, headers: dict[str, str]
) -> HttpResult:
    return await asyncio.to_thread(_urllib_call, method, url, body, headers)


class SignallingError(Exception):
    def __init__(self, result: HttpResult) -> None:
        super().__init__(f"HTTP {result.status}: {result.body[:300]!r}")
        self.result = result


@dataclass
class _Client:
    url: str
    token: str | None = None
    http: Http = urllib_http
    pc: RTCPeerConnection = field(default_factory=RTCPeerConnection)
    location: str | None = None

    def _headers(self, **extra: str) -> dict[str, str]:
        headers = dict(extra)
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    async def _exchange(self) -> None:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        result = await self.http(
            "POST",
            self.url,
            self.pc.localDescription.sdp.encode(),
            self._headers(**{"Content-Type": "application/sdp"}),
        )
        if result.status != 201:
            raise SignallingError(result)
        location = result.header("Location")
        self.location = urllib.parse.urljoin(self.url, location) if location else None
        answer = RTCSessionDescription(sdp=result.body.decode(), type="answer")
        await self.pc.setRemoteDescription(answer)

    async def close(self) -> None:
        """Delete the resource on the server (if any) and close the peer."""
        location, self.location = self.location, None
        if location:
            with contextlib.suppress(Exception):
                await self.http("DELETE", location, None, self._headers())
        await self.pc.close()


class WhipClient(_Client):
    async def publish(self, *tracks: MediaStreamTrack) -> None:
        for track in tracks:
            self.pc.addTransceiver(track, direction="sendonly")
        await self._exchange()


class WhepClient(_Client):
    async def play(
        self,
        on_track: Callable[[MediaStreamTrack], None],
        *,
        video: bool = True,
        audio: bool = True,
        video_codec: str | None = None,
    ) -> None:
        """Receive the programme; ``video_codec`` ("vp8", "h264") is offered first."""
        self.pc.on("track", on_track)
        if video:
            transceiver = self.pc.addTransceiver("video", direction="recvonly")
            if video_codec:
                capabilities = RTCRtpReceiver.getCapabilities("video")
                codecs = capabilities.codecs if capabilities else []
                first = [c for c in codecs if c.mimeType.lower() == f"video/{video_codec}"]
                transceiver.setCodecPreferences(first + [c for c in codecs if c not in first])
        if audio:
            self.pc.addTransceiver("audio", direction="recvonly")
        await self._exchange()


class GuestClient(_Client):
    """A guest's browser: sends a microphone, hears the programme back."""

    async def join(
        self, microphone: MediaStreamTrack, on_track: Callable[[MediaStreamTrack], None]
    ) -> None:
        self.pc.on("track", on_track)
        self.pc.addTransceiver(microphone, direction="sendrecv")
        await self._exchange()
