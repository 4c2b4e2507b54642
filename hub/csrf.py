"""Cross-site request forgery defence for the JSON API (``/api/``).

django-ninja marks its views CSRF-exempt and checks the token only for operations with
a session ``auth``; this middleware makes the rule independent of how each operation
is declared, so a new endpoint cannot forget it:

* **Every write authenticated by the session cookie** (``POST``/``PUT``/``PATCH``/
  ``DELETE`` from a logged-in user), and **login and logout** (``/api/auth/``, against
  login CSRF), must pass Django's CSRF check: the ``X-CSRFToken`` header matching the
  ``csrftoken`` cookie, and on HTTPS a same-origin ``Origin``/``Referer``. Otherwise 403
  ``{"code": "csrf"}``. The pages' scripts send the header (``frontend/static/frontend/
  api.js``).
* **Every write must be JSON** (``application/json`` or ``+json``) when it has a body:
  ``text/plain``, form-encoded and multipart bodies — what a cross-site form or a
  preflight-free ``fetch`` can send — get 415 ``{"code": "unsupported_media_type"}``.

Anonymous public writes (ask, support, public vote, the asker's evaluation) need no
token: the only cookie they are bound to, ``hub_bid``, is SameSite=Lax, so a cross-site
POST does not carry it, and the JSON-only rule means a cross-site page could send them
only with a CORS preflight, which the hub never grants. What a forged anonymous write
could do, the attacker can do from its own browser, and the per-address caps bound that
(:mod:`hub.throttle`). The signed webhooks carry no cookies and no token; their HMAC
signature is their authentication.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext as _
from ninja.utils import check_csrf

SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")
#: Paths whose writes always need the token, logged in or not.
ALWAYS_CHECKED = ("/api/auth/",)
#: Form types: an empty form counts as no body (see :func:`_has_body`).
_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def _error(status: int, code: str, message: str) -> HttpResponse:
    return JsonResponse(
        {"code": code, "message": message},
        status=status,
        json_dumps_params={"ensure_ascii": False},
    )


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _has_body(request: HttpRequest) -> bool:
    """Whether the request carries content; a form with no field counts as empty (test
    clients and some libraries send an empty multipart body with a bodiless POST)."""
    length = request.META.get("CONTENT_LENGTH") or ""
    if length.isdigit() and int(length) == 0:
        return False
    if (request.content_type or "") not in _FORM_TYPES and length:
        return True
    try:
        # Read the body first: parsing a form from the cached body leaves it readable.
        if not request.body:
            return False
        return bool(request.POST or request.FILES) if request.content_type in _FORM_TYPES else True
    except (RequestDataTooBig, MultiPartParserError):
        return True


class ApiCsrfMiddleware:
    """Enforce the rules above on ``/api/`` writes (after authentication)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method not in SAFE_METHODS and request.path_info.startswith("/api/"):
            refused = self.refusal(request)
            if refused is not None:
                return refused
        return self.get_response(request)

    def refusal(self, request: HttpRequest) -> HttpResponse | None:
        user = getattr(request, "user", None)
        cookie_authenticated = bool(user is not None and user.is_authenticated)
        checked = cookie_authenticated or request.path_info.startswith(ALWAYS_CHECKED)
        if checked:
            try:
                # Cache the body: the CSRF check may parse a form from it (reading the
                # stream), and the view reads the body after it.
                request.body  # noqa: B018
            except RequestDataTooBig:
                return _error(413, "too_large", _("The request body is too large"))
        if checked and check_csrf(request) is not None:
            return _error(
                403,
                "csrf",
                _("The request lacks a valid CSRF token (X-CSRFToken header); reload the page"),
            )
        content_type = request.META.get("CONTENT_TYPE", "")
        if not _is_json(content_type) and _has_body(request):
            return _error(
                415,
                "unsupported_media_type",
                _("Send the body as JSON (Content-Type: application/json)"),
            )
        return None
