"""Errors of the media endpoints, as ``hub.errors`` domain errors (code + HTTP status)."""

from __future__ import annotations

from hub.errors import DomainError, IllegalTransition, NotFound


class BadOffer(DomainError):
    """The body is not an SDP offer the engine can answer."""

    code = "bad_sdp"
    http_status = 400


class UnsupportedMediaType(DomainError):
    code = "unsupported_media_type"
    http_status = 415


class ViewerCapReached(DomainError):
    """This process already serves its WebRTC viewers; the page falls back to HLS."""

    code = "webrtc_viewer_cap"
    http_status = 503

    def __init__(self, message: str, *, retry_after: int = 30) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooManyOffers(DomainError):
    """One client address posted too many SDP offers to one endpoint (429 + Retry-After)."""

    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class MediaUnavailable(DomainError):
    """The programme cannot run here (disk, encoder): try again later."""

    code = "media_unavailable"
    http_status = 503


class UnknownResource(NotFound):
    code = "unknown_resource"


class GuestNotConnected(NotFound):
    code = "guest_absent"


class SessionNotLive(IllegalTransition):
    code = "not_live"
