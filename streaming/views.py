"""HTTP endpoints of the media engine.

- ``/whip/<slug>`` (RFC 9725, WHIP): ``POST`` an SDP offer (``application/sdp``) with
  ``Authorization: Bearer <session publisher token>`` → ``201 Created``, ``Location:
  /whip/<slug>/<resource>`` and the SDP answer (non-trickle: every ICE candidate is in
  it). ``?handover=1`` asks to take over from a connected publisher (allowed only in a
  hand-over window the host opened). ``DELETE`` on the resource stops publishing;
  ``PATCH`` → 405 (no trickle ICE, no ICE restart: the client posts a new offer).
- ``/whep/<slug>`` (WHEP): the same for a viewer playing the programme; 503 with
  ``Retry-After`` beyond ``HUB_WEBRTC_MAX_VIEWERS`` (the page falls back to HLS).
- ``/whep/<slug>/guest/<invite id>``: a host (logged in, CSRF-checked) hears a guest.
- ``/guest/<token>``: a guest's browser joins with its one-time link.
- ``/hls/<slug>/<file>``: the live playlist, segments and recordings. nginx serves
  these from ``HUB_MEDIA_ROOT/hls/`` in production (deploy/nginx.conf); this view does
  the same for the embedded default, with the same cache headers.

Rate limits: the offer POSTs of WHEP, WHIP and guest joins are counted per client address
and endpoint (``HUB_WHEP_RATE_PER_IP``, ``HUB_WHIP_RATE_PER_IP``,
``HUB_GUEST_JOIN_RATE_PER_IP``; the address is the one every hub throttle uses: the
socket's peer, or the proxy's ``X-Forwarded-For`` when ``HUB_PROXY_HEADERS`` is on), before
any peer is made: beyond the rate 429 ``rate_limited`` with ``Retry-After``. The player
treats a 429 like the 503 of the viewer cap and plays HLS.

Errors are JSON ``{"code", "message"}`` with the domain error's HTTP status; 401 adds
``WWW-Authenticate: Bearer``; 429 and 503 add ``Retry-After``. Every WHIP/WHEP response
carries CORS headers so a player or publisher on another origin can use the endpoints (they
hold no cookies).
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from hub.errors import DomainError
from streaming.engine import get_engine
from streaming.media.errors import (
    BadOffer,
    TooManyOffers,
    UnsupportedMediaType,
    ViewerCapReached,
)

SDP_TYPE = "application/sdp"
HLS_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}\.(m3u8|ts)$")
PLAYLIST_CACHE = "public, max-age=1, stale-while-revalidate=2"
SEGMENT_CACHE = "public, max-age=31536000, immutable"
EXPOSED = "Location, Link, ETag, Retry-After, Accept-Post"


def _cors(response: HttpResponse, methods: str) -> HttpResponse:
    response["Access-Control-Allow-Origin"] = "*"
    response["Access-Control-Allow-Methods"] = methods
    response["Access-Control-Allow-Headers"] = "Authorization, Content-Type, If-Match"
    response["Access-Control-Expose-Headers"] = EXPOSED
    return response


def _error(error: DomainError, methods: str) -> HttpResponse:
    response = JsonResponse(
        {"code": error.code, "message": str(error.message)},
        status=error.http_status,
        json_dumps_params={"ensure_ascii": False},
    )
    if error.http_status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="hub", error="invalid_token"'
    if isinstance(error, (ViewerCapReached, TooManyOffers)):
        response["Retry-After"] = str(error.retry_after)
    return _cors(response, methods)


def _preflight(methods: str, *, accept_post: bool) -> HttpResponse:
    response = HttpResponse(status=204)
    response["Allow"] = methods
    if accept_post:
        response["Accept-Post"] = SDP_TYPE
    response["Access-Control-Max-Age"] = "86400"
    return _cors(response, methods)


def _not_allowed(methods: str) -> HttpResponse:
    response = JsonResponse(
        {"code": "method_not_allowed", "message": _("Allowed methods: %s") % methods},
        status=405,
    )
    response["Allow"] = methods
    return _cors(response, methods)


def _offer(request: HttpRequest) -> str:
    content_type = request.content_type or ""
    if content_type.lower() != SDP_TYPE:
        raise UnsupportedMediaType(_("Send the SDP offer as Content-Type: application/sdp"))
    try:
        return request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadOffer(_("The SDP offer is not UTF-8 text")) from None


def _created(location: str, answer: str, methods: str) -> HttpResponse:
    response = HttpResponse(answer, status=201, content_type=SDP_TYPE)
    response["Location"] = location
    response["Cache-Control"] = "no-store"
    return _cors(response, methods)


def _bearer(request: HttpRequest) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _sep, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _check_rate(request: HttpRequest, scope: str, rate_setting: str) -> None:
    """Count this offer against its client address; :class:`TooManyOffers` beyond the rate.

    A new throttle per request: ninja's throttles keep the request's history on the
    instance between ``allow_request`` and ``wait``, and requests run concurrently here.
    """
    # hub.api mounts the streaming API (streaming.api), so it is imported when first used,
    # as hub.followup.api does: the one throttle rule (rate from a setting, cache, address).
    from hub.api import IpThrottle

    throttle = IpThrottle(scope, rate_setting)
    if throttle.allow_request(request):
        return
    wait = max(1, math.ceil(throttle.wait() or 1))  # waiting that long must be enough
    raise TooManyOffers(
        _("Too many requests; please wait %(s)s seconds and try again") % {"s": wait},
        retry_after=wait,
    )


async def _negotiate(
    request: HttpRequest,
    methods: str,
    location: Callable[[str], str],
    call: Callable[[str], Awaitable[tuple[str, str]]],
    *,
    rate: tuple[str, str] | None = None,
) -> HttpResponse:
    """``rate``: ``(scope, rate setting)`` of the throttle counting this endpoint's offers."""
    try:
        if rate is not None:
            # The cache may be Redis: its round trip is made off the event loop.
            await sync_to_async(_check_rate, thread_sensitive=False)(request, *rate)
        resource_id, answer = await call(_offer(request))
    except DomainError as error:
        return _error(error, methods)
    return _created(location(resource_id), answer, methods)


async def _delete(methods: str, call: Awaitable[None]) -> HttpResponse:
    try:
        await call
    except DomainError as error:
        return _error(error, methods)
    return _cors(HttpResponse(status=200), methods)


# -- WHIP ------------------------------------------------------------------------------------


@csrf_exempt
async def whip(request: HttpRequest, slug: str) -> HttpResponse:
    methods = "OPTIONS, POST"
    if request.method == "OPTIONS":
        return _preflight(methods, accept_post=True)
    if request.method != "POST":
        return _not_allowed(methods)
    token = _bearer(request)
    handover = request.GET.get("handover", "").lower() in ("1", "true", "yes")
    return await _negotiate(
        request,
        methods,
        lambda resource: f"/whip/{slug}/{resource}",
        lambda offer: get_engine().publish(slug, token, offer, handover=handover),
        rate=("whip", "HUB_WHIP_RATE_PER_IP"),
    )


@csrf_exempt
async def whip_resource(request: HttpRequest, slug: str, resource_id: str) -> HttpResponse:
    methods = "OPTIONS, DELETE"
    if request.method == "OPTIONS":
        return _preflight(methods, accept_post=False)
    if request.method == "DELETE":
        return await _delete(methods, get_engine().unpublish(slug, resource_id))
    # PATCH included: no trickle ICE and no ICE restart (RFC 9725 §4.3.1: 405).
    return _not_allowed(methods)


# -- WHEP ------------------------------------------------------------------------------------


@csrf_exempt
async def whep(request: HttpRequest, slug: str) -> HttpResponse:
    methods = "OPTIONS, POST"
    if request.method == "OPTIONS":
        return _preflight(methods, accept_post=True)
    if request.method != "POST":
        return _not_allowed(methods)
    return await _negotiate(
        request,
        methods,
        lambda resource: f"/whep/{slug}/{resource}",
        lambda offer: get_engine().play(slug, offer),
        rate=("whep", "HUB_WHEP_RATE_PER_IP"),
    )


@csrf_exempt
async def whep_resource(request: HttpRequest, slug: str, resource_id: str) -> HttpResponse:
    methods = "OPTIONS, DELETE"
    if request.method == "OPTIONS":
        return _preflight(methods, accept_post=False)
    if request.method == "DELETE":
        return await _delete(methods, get_engine().stop_playing(slug, resource_id))
    return _not_allowed(methods)


# -- the host listens to a guest (session cookie + CSRF, same origin) -----------------------


async def listen_guest(request: HttpRequest, slug: str, invite_id: int) -> HttpResponse:
    methods = "POST"
    if request.method != "POST":
        return _not_allowed(methods)
    try:
        await _check_listen(request, slug, invite_id)
    except DomainError as error:
        return _error(error, methods)
    return await _negotiate(
        request,
        methods,
        lambda resource: f"/whep/{slug}/guest/{invite_id}/{resource}",
        lambda offer: get_engine().listen_guest(slug, invite_id, offer),
    )


async def listen_guest_resource(
    request: HttpRequest, slug: str, invite_id: int, resource_id: str
) -> HttpResponse:
    methods = "DELETE"
    if request.method != "DELETE":
        return _not_allowed(methods)
    try:
        await _check_listen(request, slug, invite_id)
    except DomainError as error:
        return _error(error, methods)
    return await _delete(methods, get_engine().stop_listening(slug, resource_id))


@database_sync_to_async
def _check_listen(request: HttpRequest, slug: str, invite_id: int) -> None:
    from streaming import actions

    actions.check_listen_guest(request.user, invite_id, slug=slug)


# -- guests -----------------------------------------------------------------------------------


@csrf_exempt
async def guest(request: HttpRequest, token: str) -> HttpResponse:
    methods = "OPTIONS, POST"
    if request.method == "OPTIONS":
        return _preflight(methods, accept_post=True)
    if request.method != "POST":
        return _not_allowed(methods)
    return await _negotiate(
        request,
        methods,
        lambda resource: f"/guest/{token}/{resource}",
        lambda offer: get_engine().join_guest(token, offer),
        rate=("guest-join", "HUB_GUEST_JOIN_RATE_PER_IP"),
    )


@csrf_exempt
async def guest_resource(request: HttpRequest, token: str, resource_id: str) -> HttpResponse:
    methods = "OPTIONS, DELETE"
    if request.method == "OPTIONS":
        return _preflight(methods, accept_post=False)
    if request.method == "DELETE":
        return await _delete(methods, get_engine().leave_guest(token, resource_id))
    return _not_allowed(methods)


# -- HLS ---------------------------------------------------------------------------------------


def hls_file(request: HttpRequest, slug: str, name: str) -> Any:
    """Serve a playlist or segment with CDN-friendly cache headers (nginx does the same)."""
    if request.method not in ("GET", "HEAD"):
        return _not_allowed("GET, HEAD")
    if not HLS_NAME.match(name):
        raise Http404
    path = settings.HUB_MEDIA_ROOT / "hls" / slug / name
    try:
        handle = path.open("rb")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise Http404 from None
    playlist = name.endswith(".m3u8")
    response = FileResponse(
        handle,
        content_type="application/vnd.apple.mpegurl" if playlist else "video/mp2t",
    )
    response["Cache-Control"] = PLAYLIST_CACHE if playlist else SEGMENT_CACHE
    response["Access-Control-Allow-Origin"] = "*"
    return response
