"""The outputs of the global plant-and-scan test: every GET route of the URL conf (ninja's
API routers included, as they are mounted under /api/), enumerated from
``django.urls.get_resolver()`` rather than listed by hand, fetched as an anonymous
citizen, as the observer (a citizen role) and as an account without a role, plus the
links those outputs offer.

A route is staff-only when the response says so (401, 403, a redirect to a login page,
or 405 when GET is not one of its methods); everything a non-staff client gets 200 from
is an output and is decoded for the scan: JSON (re-serialised, so ``\\uXXXX`` escapes do
not hide anything), HTML, XLSX (every cell, openpyxl), PDF (its text, pypdfium2), CSV.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404

# Routes that are not data outputs. Each is here for a reason a reviewer can check; every
# other public route with a parameter that cannot be filled fails the test.
NOT_DATA_OUTPUTS = {
    # Video segments and playlists of the programme: binary media, no text typed by anyone.
    "hls/<slug:slug>/<str:name>": "HLS media files (binary video)",
}
# Parameters that need no planted object: any value exercises the route.
_ANY = {"resource_id": "resource-x", "name": "index.m3u8"}
_PARAM = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>")
_REGEX_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>[^)]*\)")
_LOGIN_PATHS = ("/login/", "/admin/login/", "/accounts/login/")
_LINK = re.compile(r"""(?:href|src|action|data-[\w-]+)\s*=\s*["'](/[^"'#\s]*)["']""")
_JSON_PATH = re.compile(r"""["'](/(?:api|s|followup|open311|library|guest)/[^"'\s<>]*)["']""")
MAX_HARVESTED = 400
OBSERVER_VALUES = 4


def url_patterns() -> Iterator[tuple[str, Any]]:
    """Every (route, pattern) of the URL conf, recursively."""

    def walk(resolver: URLResolver, prefix: str) -> Iterator[tuple[str, Any]]:
        for pattern in resolver.url_patterns:
            text = prefix + _route_text(pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern, text)
            elif isinstance(pattern, URLPattern):
                yield text, pattern

    yield from walk(get_resolver(), "")


def _route_text(pattern: Any) -> str:
    text = str(pattern.pattern)
    return text.removeprefix("^").removesuffix("$").replace("\\Z", "").removesuffix("$")


def params_of(route: str) -> list[str]:
    """The parameter names of a ``path()`` route or a ``re_path()`` regex."""
    names = [m.group("name") for m in _REGEX_GROUP.finditer(route)]
    return names + [m.group("name") for m in _PARAM.finditer(_REGEX_GROUP.sub("", route))]


def fill(route: str, values: dict[str, str]) -> str:
    path = _REGEX_GROUP.sub(lambda m: values[m.group("name")], route)
    path = _PARAM.sub(lambda m: values[m.group("name")], path)
    return "/" + path.replace("\\.", ".").replace("\\", "")


@dataclass
class Output:
    name: str  # what the report calls it: "GET /api/... as anonymous"
    text: str


@dataclass
class RouteReport:
    public: dict[str, list[str]] = field(default_factory=dict)  # route -> urls scanned
    staff_only: list[str] = field(default_factory=list)
    not_get: list[str] = field(default_factory=list)
    unfillable: list[str] = field(default_factory=list)  # public and not fillable: a failure
    allowed: list[str] = field(default_factory=list)
    # Filled, but no planted value answered 200, 401/403 or 405 for any role: the fill is
    # stale or the route is broken; either way nothing was scanned, so it is a failure.
    unanswered: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # 5xx and other surprises
    redirects: list[str] = field(default_factory=list)  # non-login redirects (target crawled)
    empty: list[str] = field(default_factory=list)  # no parameter, and a 404: nothing to read
    refused_state: list[str] = field(default_factory=list)  # 409 for every planted value


def decode(response: Any) -> str:
    """The text a reader of this response can see, whatever its format."""
    content = b"".join(response.streaming_content) if response.streaming else response.content
    kind = response.get("Content-Type", "")
    if "json" in kind:
        try:
            return json.dumps(json.loads(content), ensure_ascii=False)
        except ValueError:
            return content.decode("utf-8", "replace")
    if "spreadsheetml" in kind or content[:2] == b"PK":
        import openpyxl

        book = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
        return "\n".join(
            " | ".join("" if c is None else str(c) for c in row)
            for sheet in book.worksheets
            for row in sheet.iter_rows(values_only=True)
        )
    if "pdf" in kind or content[:5] == b"%PDF-":
        import pypdfium2

        document = pypdfium2.PdfDocument(content)
        return "\n".join(page.get_textpage().get_text_range() for page in document)
    return content.decode("utf-8", "replace")


def _staff_answer(response: Any) -> bool:
    if response.status_code in (401, 403):
        return True
    if response.status_code in (301, 302, 303, 307):
        location = urlsplit(response.get("Location", "")).path
        return any(location.startswith(p) for p in _LOGIN_PATHS)
    return False


class Crawler:
    """Fetches every GET route with every planted value of its parameters, as each role."""

    def __init__(self, clients: dict[str, Client], params: dict[str, list[str]]) -> None:
        self.clients = clients
        self.params = params
        self.outputs: list[Output] = []
        self.report = RouteReport()
        self._seen: set[tuple[str, str]] = set()
        self._harvest: list[str] = []
        self._varied: set[tuple[str, str]] = set()
        self.requests = 0

    # -- one fetch ----------------------------------------------------------------------

    def fetch(self, role: str, url: str) -> Any:
        """GET as ``role``. Whatever the status, the body and the headers went to a
        non-staff client, so a refusal or an error page is scanned too."""
        self.requests += 1
        response = self.clients[role].get(url)
        if response.status_code >= 500:
            self.report.errors.append(f"{response.status_code} GET {url} as {role}")
        if response.status_code != 200 and (role, url) not in self._seen:
            self._seen.add((role, url))
            headers = " ".join(f"{k}: {v}" for k, v in response.items())
            self.outputs.append(
                Output(
                    f"GET {url} as {role} ({response.status_code})",
                    headers + "\n" + decode(response),
                )
            )
        return response

    def _keep(self, role: str, url: str, response: Any) -> None:
        if (role, url) in self._seen:
            return
        self._seen.add((role, url))
        text = decode(response)
        headers = " ".join(f"{k}: {v}" for k, v in response.items())
        self.outputs.append(Output(f"GET {url} as {role}", headers + "\n" + text))
        for link in _LINK.findall(text) + _JSON_PATH.findall(text):
            self._harvest.append(link.replace("&amp;", "&"))

    # -- the URL conf --------------------------------------------------------------------

    def crawl_routes(self, variants: dict[str, list[str]]) -> None:
        """Every route, every combination of planted values (the first value of each
        parameter combined with each value of one parameter at a time)."""
        for route, _pattern in url_patterns():
            if route.startswith("admin/") and route != "admin/":
                # The admin is a staff site: its index answers for all of it below, and
                # every admin page redirects a non-staff client to its login.
                continue
            names = params_of(route)
            missing = [n for n in names if n not in self.params and n not in _ANY]
            if missing:
                self._unfilled(route, names, missing)
                continue
            urls = self._urls(route, names)
            self._route(route, urls, variants.get(route, []))

    def _urls(self, route: str, names: list[str]) -> list[str]:
        if not names:
            return [fill(route, {})]
        choices = {n: self.params.get(n) or [_ANY[n]] for n in names}
        first = {n: v[0] for n, v in choices.items()}
        urls = []
        for name in names:
            for value in choices[name]:
                url = fill(route, {**first, name: value})
                if url not in urls:
                    urls.append(url)
        return urls

    def _route(self, route: str, urls: list[str], queries: list[str]) -> None:
        kind = None
        for n, url in enumerate(urls):
            statuses = {}
            # Every planted value as the anonymous citizen; the logged-in readers (same
            # templates) with the first few of each parameter, to keep the crawl bounded.
            roles = list(self.clients) if n < OBSERVER_VALUES else ["anonymous"]
            for role in roles:
                response = self.fetch(role, url)
                statuses[role] = response
                if response.status_code == 200:
                    self._keep(role, url, response)
                    self.report.public.setdefault(route, []).append(url)
                    # The query variants once per route and role (its first answering value).
                    for query in [] if (route, role) in self._varied else queries:
                        self._varied.add((route, role))
                        variant = self.fetch(role, url + query)
                        if variant.status_code == 200:
                            self._keep(role, url + query, variant)
                elif response.status_code in (301, 302, 303, 307) and not _staff_answer(response):
                    self._harvest.append(response["Location"])
            codes = {r.status_code for r in statuses.values()}
            if codes == {405}:
                kind = "not_get"
                break
            if all(_staff_answer(r) for r in statuses.values()):
                kind = "staff"
                break
        answered = {r.status_code for r in statuses.values()}
        if route in self.report.public:
            pass  # some non-staff reader got it (staff-only for another is no matter)
        elif kind == "not_get":
            self.report.not_get.append(route)
        elif kind == "staff":
            self.report.staff_only.append(route)
        elif route in NOT_DATA_OUTPUTS:
            self.report.allowed.append(f"{route} ({NOT_DATA_OUTPUTS[route]})")
        elif answered <= {301, 302, 303, 307}:
            # Where it points was queued with the links and is scanned there.
            self.report.redirects.append(
                f"{route} → {sorted({r.get('Location', '') for r in statuses.values()})}"
            )
        elif answered == {404} and not params_of(route):
            self.report.empty.append(route)
        elif answered == {409}:
            # A clear refusal of the state (a guest link once the session ended): the
            # planting reads such outputs while they answer (``early_outputs``).
            self.report.refused_state.append(route)
        else:
            self.report.unanswered.append(
                f"{route}: {sorted({(r, s.status_code) for r, s in statuses.items()})} for {urls[-1]}"
            )

    def _unfilled(self, route: str, names: list[str], missing: list[str]) -> None:
        """A parameter no planted object fills: try a stand-in value; a route that then
        answers as a staff-only or non-GET route is classified, any other is reported."""
        values = {n: (self.params.get(n) or [_ANY.get(n, "1")])[0] for n in names}
        for n in missing:
            values[n] = "1"
        url = fill(route, values)
        answers = [self.fetch(role, url) for role in self.clients]
        if {a.status_code for a in answers} == {405}:
            self.report.not_get.append(route)
        elif all(_staff_answer(a) for a in answers):
            self.report.staff_only.append(route)
        elif route in NOT_DATA_OUTPUTS:
            self.report.allowed.append(f"{route} ({NOT_DATA_OUTPUTS[route]})")
        else:
            self.report.unfillable.append(f"{route}: no planted value for {', '.join(missing)}")

    # -- links the outputs offer ---------------------------------------------------------

    def crawl_links(self) -> None:
        """Follow same-site links found in the outputs (pagination, filters, exports,
        detail pages), as the role that was offered them would."""
        done = 0
        while self._harvest and done < MAX_HARVESTED:
            link = self._harvest.pop(0)
            parts = urlsplit(link)
            if parts.netloc and parts.netloc not in ("testserver",):
                continue
            url = parts.path + (f"?{parts.query}" if parts.query else "")
            try:
                match = resolve(parts.path)
            except Resolver404:
                continue
            if match.route.startswith("admin/") or "static" in parts.path:
                continue
            for role in self.clients:
                if (role, url) in self._seen:
                    continue
                done += 1
                response = self.fetch(role, url)
                if response.status_code == 200:
                    self._keep(role, url, response)
                    self.report.public.setdefault(match.route, []).append(url)


def export_links(crawler: Crawler) -> list[str]:
    """The export downloads (CSV, XLSX, PDF) a non-staff reader got (200)."""
    return [
        o.name
        for o in crawler.outputs
        if re.search(r"\.(csv|xlsx|pdf)\b|format=(csv|xlsx|pdf)", o.name)
        and not o.name.endswith(")")  # a refusal: "… as anonymous (302)"
    ]
