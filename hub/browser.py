"""Anonymous viewers are identified by a browser id that a page load issues.

The ``hub_bid`` cookie holds a random id and the time it was issued, signed with the
secret key (:mod:`django.core.signing`), so a client can neither pick its id nor date
it back. Only an HTML page load (a ``GET`` answered ``200 text/html``, not the API)
issues one, and only when the request has no valid id: a script that wants a new id for
each support has to load a page for each, and each new id must then wait
``HUB_BROWSER_MIN_AGE_SECONDS`` before it may support a question or vote
(:func:`check_browser_may_count`); the per-address caps (:mod:`hub.throttle`) bound what
many such ids can do together.

The cookie is HttpOnly, SameSite=Lax, and Secure when the session cookie is (production).
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.utils.translation import gettext as _

from hub.errors import DomainError

COOKIE = "hub_bid"
SALT = "hub.browser-id.v2"
MAX_AGE = 365 * 24 * 3600

#: Paths that are never pages: no browser id is issued on their answers.
NOT_PAGES = ("/api/", "/static/", "/ws/", "/whep/", "/whip/", "/hls/", "/guest/")


@dataclass(frozen=True)
class BrowserId:
    """A verified browser id and the Unix time it was issued."""

    id: str
    issued_at: float


def issue(now: float | None = None) -> tuple[BrowserId, str]:
    """A new browser id and its signed cookie value."""
    browser = BrowserId(uuid.uuid4().hex, float(int(now if now is not None else time.time())))
    value = signing.dumps({"id": browser.id, "t": int(browser.issued_at)}, salt=SALT)
    return browser, value


def read(value: str | None) -> BrowserId | None:
    """The browser id in a cookie value; ``None`` if absent, forged, malformed or older
    than a year."""
    if not value:
        return None
    try:
        data = signing.loads(value, salt=SALT, max_age=MAX_AGE)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    browser_id, issued_at = data.get("id"), data.get("t")
    if not isinstance(browser_id, str) or not isinstance(issued_at, int) or not browser_id:
        return None
    return BrowserId(browser_id[:64], float(issued_at))


class NoBrowserId(DomainError):
    code = "no_browser_id"
    http_status = 403


class BrowserIdTooNew(DomainError):
    """The id is valid but younger than ``HUB_BROWSER_MIN_AGE_SECONDS``; retry later."""

    code = "browser_id_too_new"
    http_status = 429

    def __init__(self, wait: int) -> None:
        super().__init__(_("Please wait %(s)s seconds and try again") % {"s": wait})
        self.retry_after = wait


def check_browser_may_count(browser: BrowserId | None, now: float | None = None) -> BrowserId:
    """The browser id under which a support or a vote may be counted.

    Raises :class:`NoBrowserId` without a valid page-issued id, and
    :class:`BrowserIdTooNew` (with ``retry_after``) while it is too young.
    """
    if browser is None:
        raise NoBrowserId(
            _(
                "Your browser has no valid visitor id: reload the page (with cookies "
                "enabled) and try again"
            )
        )
    now = now if now is not None else time.time()
    age = max(0.0, now - browser.issued_at)  # a clock behind the issuer's: as new
    minimum = settings.HUB_BROWSER_MIN_AGE_SECONDS
    if age < minimum:
        raise BrowserIdTooNew(max(1, math.ceil(minimum - age)))
    return browser


def _is_page(request: HttpRequest, response: HttpResponse) -> bool:
    return (
        request.method in ("GET", "HEAD")
        and response.status_code == 200
        and response.get("Content-Type", "").startswith("text/html")
        and not request.path_info.startswith(NOT_PAGES)
    )


class BrowserIdMiddleware:
    """Set ``request.browser`` (a verified :class:`BrowserId` or ``None``) and
    ``request.browser_id`` (its id, or a fresh id valid for this request only, which
    keeps per-browser keys of asking apart but counts for nothing).

    A page load without a valid id issues one (and the CSRF cookie, so that the page's
    scripts can send the token); the API never does.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        browser = read(request.COOKIES.get(COOKIE))
        request.browser = browser  # type: ignore[attr-defined]
        request.browser_id = browser.id if browser else uuid.uuid4().hex  # type: ignore[attr-defined]
        response = self.get_response(request)
        if browser is None and _is_page(request, response):
            _browser, value = issue()
            response.set_cookie(
                COOKIE,
                value,
                max_age=MAX_AGE,
                httponly=True,
                samesite="Lax",
                secure=bool(settings.SESSION_COOKIE_SECURE or settings.PRODUCTION),
            )
            get_token(request)  # the CSRF middleware (outside this one) sets its cookie
        return response
