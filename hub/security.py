"""The Content-Security-Policy every response carries (Django 5.2 has none built in).

The policy allows no inline code at all: every script and style sheet of every page comes
from ``/static/`` of this site, page data travels in ``<script type="application/json">``
blocks (data, never executed, so no policy applies to them) and scripts style elements only
through the CSSOM (``el.style.width = …``), which a policy does not restrict. So a script
injected into any page (a question, a name, an answer that escaped escaping) does not run,
and no page can be framed by another site.

What each source is for:

- ``img-src data: blob:`` — icons inlined in style sheets (Swagger UI), snapshots;
- ``media-src blob:`` and ``worker-src blob:`` — hls.js plays HLS through Media Source
  Extensions (a ``blob:`` URL on the ``<video>``) and transmuxes in a ``blob:`` worker;
- ``connect-src 'self'`` — fetch, WHEP/WHIP offers and the WebSockets of this origin
  (CSP level 3: ``'self'`` matches ``ws:``/``wss:`` of the same host, so no other host's
  sockets are allowed). WebRTC media is not governed by the policy.

Settings: ``HUB_CSP_REPORT_ONLY`` sends the same policy as
``Content-Security-Policy-Report-Only`` (browsers report, nothing is blocked: for a
rollout), ``HUB_CSP_REPORT_URI`` adds a ``report-uri`` the browsers post violations to.
A response that already carries a policy keeps it. With ``DEBUG`` on, error responses
carry none, so Django's technical 404/500 pages (inline styles) stay readable.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

POLICY: dict[str, tuple[str, ...]] = {
    "default-src": ("'self'",),
    "script-src": ("'self'",),
    "style-src": ("'self'",),
    "img-src": ("'self'", "data:", "blob:"),
    "media-src": ("'self'", "blob:"),
    "connect-src": ("'self'",),
    "worker-src": ("'self'", "blob:"),
    "font-src": ("'self'",),
    "object-src": ("'none'",),
    "base-uri": ("'self'",),
    "form-action": ("'self'",),
    "frame-ancestors": ("'none'",),
}

ENFORCING_HEADER = "Content-Security-Policy"
REPORT_ONLY_HEADER = "Content-Security-Policy-Report-Only"


def policy_header_value(report_uri: str | None = None) -> str:
    """The policy as one header value; ``report_uri`` (if any) is added as ``report-uri``."""
    directives = [f"{name} {' '.join(sources)}" for name, sources in POLICY.items()]
    if report_uri:
        directives.append(f"report-uri {report_uri}")
    return "; ".join(directives)


class ContentSecurityPolicyMiddleware:
    """Adds the policy (or its report-only form) to every response that has none yet."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.header = REPORT_ONLY_HEADER if settings.HUB_CSP_REPORT_ONLY else ENFORCING_HEADER
        self.value = policy_header_value(settings.HUB_CSP_REPORT_URI)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if settings.DEBUG and response.status_code >= 400:
            return response
        if ENFORCING_HEADER not in response and REPORT_ONLY_HEADER not in response:
            response[self.header] = self.value
        return response
