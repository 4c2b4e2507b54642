"""Errors outside the views, in the API's own format.

:class:`WireErrorsMiddleware` stands in front of every route:

- A query string or path holding a NUL, a lone surrogate or bytes that are not UTF-8
  (never anything a person typed; PostgreSQL cannot store the first two) is refused
  before any view runs: 400 ``invalid_characters``.
- On ``/api/`` every error answer that is not already the API's JSON becomes
  ``{"code", "message"}`` with the same status and headers: unknown paths (404
  ``not_found``), wrong methods (405 ``method_not_allowed``, ``Allow`` kept), and the rest.
  On ``/open311/`` the same errors take GeoReport's form ``[{"code", "description"}]``.
- An exception escaping a view on those prefixes (the last resort: none is expected) is
  logged and answered 500 ``internal`` in the prefix's format; elsewhere Django's own
  handling stays.

Pages keep Django's HTML errors; only the character check applies to them too (a plain
400).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext as _

from hub.text import unstorable

logger = logging.getLogger("hub.errors")

API_PREFIX = "/api/"
OPEN311_PREFIX = "/open311/"

#: Exceptions Django itself turns into a 4xx answer.
_DJANGO_ANSWERS = (Http404, PermissionDenied, SuspiciousOperation, BadRequest, MultiPartParserError)

#: Headers an error answer keeps when its body is replaced.
_KEPT_HEADERS = ("Allow", "Retry-After", "Vary", "Content-Language")


def _codes() -> dict[int, tuple[str, str]]:
    return {
        400: ("bad_request", _("The request is malformed")),
        401: ("login_required", _("Please sign in first")),
        403: ("forbidden", _("You may not do this")),
        404: ("not_found", _("Not found")),
        405: ("method_not_allowed", _("This method is not allowed here")),
        413: ("too_large", _("The request is too large")),
        500: ("internal", _("Something went wrong on our side; it has been logged")),
    }


def _prefix(path: str) -> str | None:
    if path.startswith(API_PREFIX):
        return API_PREFIX
    if path.startswith(OPEN311_PREFIX):
        return OPEN311_PREFIX
    return None


def error_for(prefix: str | None, status: int, code: str, message: str) -> HttpResponse:
    """An error answer in the format of the prefix (plain text for pages)."""
    if prefix == API_PREFIX:
        return JsonResponse(
            {"code": code, "message": message},
            status=status,
            json_dumps_params={"ensure_ascii": False},
        )
    if prefix == OPEN311_PREFIX:
        return JsonResponse(
            [{"code": status, "description": message}],
            status=status,
            safe=False,
            json_dumps_params={"ensure_ascii": False},
        )
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def _is_json(response: HttpResponse) -> bool:
    return str(response.get("Content-Type", "")).startswith("application/json")


def _raw_bytes(meta_value: str) -> bytes:
    """The bytes of a WSGI/ASGI ``META`` string: WSGI hands them over as latin-1 text;
    Django's ASGI request decodes the (percent-encoded, so ASCII) query as UTF-8."""
    try:
        return meta_value.encode("latin-1")
    except UnicodeEncodeError:
        return meta_value.encode("utf-8", "surrogatepass")


def _readable(raw: bytes, *, plus_is_space: bool) -> bool:
    if plus_is_space:
        raw = raw.replace(b"+", b" ")
    try:
        text = unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not unstorable(text)


def invalid_request_characters(request: HttpRequest) -> bool:
    """Whether the path or the query string holds a NUL, a lone surrogate, or bytes that
    are not UTF-8 once percent-decoded (which is how a surrogate travels: ``%ED%A0%80``;
    Django would silently turn them into U+FFFD in the query, and leave them
    percent-encoded in the path)."""
    if not _readable(request.path_info.encode("utf-8", "surrogatepass"), plus_is_space=False):
        return True
    return not _readable(_raw_bytes(request.META.get("QUERY_STRING", "")), plus_is_space=True)


class WireErrorsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        prefix = _prefix(request.path_info)
        if invalid_request_characters(request):
            return error_for(
                prefix,
                400,
                "invalid_characters",
                _("The address holds a NUL character, a lone surrogate or bytes not UTF-8"),
            )
        response = self.get_response(request)
        if prefix is None or response.status_code < 400 or _is_json(response):
            return response
        return self._reformat(prefix, response)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        prefix = _prefix(request.path_info)
        if prefix is None or isinstance(exc, _DJANGO_ANSWERS):
            return None  # Django answers these with their 4xx; __call__ reformats it
        logger.exception("Unexpected error on %s %s", request.method, request.path_info)
        code, message = _codes()[500]
        return error_for(prefix, 500, code, message)

    def _reformat(self, prefix: str, response: HttpResponse) -> HttpResponse:
        status = response.status_code
        code, message = _codes().get(status, (f"http_{status}", str(response.reason_phrase)))
        replaced = error_for(prefix, status, code, message)
        for header in _KEPT_HEADERS:
            if header in response:
                replaced[header] = response[header]
        return replaced
