"""Anonymous viewers are identified by a signed browser id cookie."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

COOKIE = "hub_bid"
SALT = "hub.browser-id"
MAX_AGE = 365 * 24 * 3600


class BrowserIdMiddleware:
    """Give every request a ``browser_id``; set the signed cookie when it is new.

    A tampered or unsigned cookie is treated as absent, so a client cannot pick the id
    under which it is rate-limited or counted.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        signed = request.get_signed_cookie(COOKIE, default=None, salt=SALT, max_age=MAX_AGE)
        is_new = not signed
        browser_id: str = signed or uuid.uuid4().hex
        request.browser_id = browser_id  # type: ignore[attr-defined]
        response = self.get_response(request)
        if is_new:
            response.set_signed_cookie(
                COOKIE, browser_id, salt=SALT, max_age=MAX_AGE, httponly=True, samesite="Lax"
            )
        return response
