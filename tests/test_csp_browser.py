"""Every kind of page works in Debian's chromium under the Content-Security-Policy the server
sends (hub.security), and not one violation is reported: the viewer (asking, live updates,
what hls.js needs), the consoles, the public library, the follow-up pages with their SVG
charts, the replay, the guest page, the API docs and the admin.

Violations are caught twice: a ``securitypolicyviolation`` listener installed before any
page script, and chromium's console (which also reports what workers are refused)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.security import policy_header_value
from tests.live import DEMO_PASSWORD, ROOT, HubServer, prepare_database, server_env
from tests.test_browser import browser  # noqa: F401 - the shared chromium fixture
from tests.test_streaming_browser import FAST_HLS, NO_NATIVE_HLS, PLAYING, Publisher

pytestmark = [pytest.mark.browser, pytest.mark.liveserver]

# Installed before any page script: records violations and opened WebSockets.
WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
window.__wsOpen = 0;
const NativeWebSocket = window.WebSocket;
window.WebSocket = class extends NativeWebSocket {
  constructor(...args) {
    super(...args);
    this.addEventListener('open', () => { window.__wsOpen += 1; });
  }
};
"""


class Watched:
    """A browser context whose pages record every policy violation."""

    def __init__(self, chromium: Any, server: HubServer) -> None:
        self.server = server
        self.context = chromium.new_context(locale="zh-CN")
        self.context.add_init_script(WATCH)
        self.console: list[str] = []
        self.page = self.context.new_page()
        self.page.on("console", self._on_console)

    def _on_console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.console.append(message.text)

    def open(self, path: str) -> Any:
        response = self.page.goto(f"{self.server.base}{path}")
        assert response is not None and response.status == 200, path
        assert response.headers.get("content-security-policy") == policy_header_value(), path
        return self.page

    def login(self, username: str, path: str) -> Any:
        self.page.goto(f"{self.server.base}/login/?next={path}")
        self.page.get_by_test_id("login-username").fill(username)
        self.page.get_by_test_id("login-password").fill(DEMO_PASSWORD)
        self.page.get_by_test_id("login-submit").click()
        self.page.wait_for_url(f"{self.server.base}{path}")
        return self.page

    def sockets_opened(self) -> int:
        return int(self.page.evaluate("() => window.__wsOpen"))

    def violations(self) -> list[str]:
        return [*self.page.evaluate("() => window.__csp"), *self.console]

    def assert_clean(self, where: str) -> None:
        assert self.violations() == [], where

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    database = tmp_path_factory.mktemp("csp") / "hub.sqlite3"
    prepare_database(database)
    return database


@pytest.fixture(scope="module")
def server(database: Path) -> Iterator[HubServer]:
    hub = HubServer(database, database.with_name("server.log"))
    yield hub
    hub.stop()


@pytest.fixture
def watched(browser: Any, server: HubServer) -> Iterator[Watched]:  # noqa: F811
    w = Watched(browser, server)
    yield w
    w.close()


def test_the_watch_sees_a_violation_and_the_policy_stops_an_injected_inline_script(
    watched: Watched,
) -> None:
    page = watched.open("/s/demo/")
    page.evaluate(
        """() => {
          const s = document.createElement('script');
          s.textContent = 'window.__injected = true';
          document.body.append(s);
          const d = document.createElement('div');
          d.setAttribute('style', 'color: red');
          document.body.append(d);
        }"""
    )
    page.wait_for_function("() => window.__csp.length >= 2")
    assert page.evaluate("() => window.__injected === undefined")
    directives = " ".join(watched.violations())
    assert "script-src" in directives and "style-src" in directives


def test_viewer_page_asks_and_follows_live_with_no_violation(
    watched: Watched, tmp_path: Path
) -> None:
    page = watched.open("/s/demo/")
    page.get_by_test_id("question-list").wait_for()
    page.wait_for_function("() => window.__wsOpen >= 1")
    page.get_by_test_id("ask-text").fill("内容安全策略测试：公交站台能否加装遮雨棚？")
    page.get_by_test_id("ask-submit").click()
    page.get_by_test_id("ask-code-value").wait_for(state="visible")
    page.screenshot(path=str(tmp_path / "viewer.png"), full_page=True)
    watched.assert_clean("viewer")


def test_what_hls_js_needs_is_allowed_a_blob_worker_and_a_media_source_url(
    watched: Watched,
) -> None:
    """hls.js (the viewer's fallback without native HLS) transmuxes in a worker made from a
    ``blob:`` URL and plays through Media Source Extensions on a ``blob:`` video source."""
    page = watched.open("/s/demo/")
    answer = page.evaluate(
        """() => new Promise((resolve, reject) => {
          const code = new Blob(['postMessage("worker ran")'], { type: 'text/javascript' });
          const worker = new Worker(URL.createObjectURL(code));
          worker.onmessage = (e) => resolve(e.data);
          worker.onerror = () => reject(new Error('worker refused'));
        })"""
    )
    assert answer == "worker ran"
    opened = page.evaluate(
        """() => new Promise((resolve) => {
          const source = new MediaSource();
          const video = document.createElement('video');
          source.addEventListener('sourceopen', () => resolve('open'));
          video.addEventListener('error', () => resolve('refused'));
          video.src = URL.createObjectURL(source);
        })"""
    )
    assert opened == "open"
    watched.assert_clean("hls.js needs")


def test_the_hls_js_fallback_plays_the_programme_with_no_violation(
    browser: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """WebRTC capped and no native HLS: the viewer page plays through hls.js (its
    transmuxing worker and Media Source), and the policy refuses none of it."""
    media = {"HUB_MEDIA_ROOT": str(tmp_path / "media"), **FAST_HLS, "HUB_WEBRTC_MAX_VIEWERS": "0"}
    prepare_database(tmp_path / "hub.sqlite3", **media)
    capped = HubServer(tmp_path / "hub.sqlite3", tmp_path / "server.log", **media)
    studio = Publisher(capped, "demo", tmp_path / "publisher.log").start()
    watched = Watched(browser, capped)
    try:
        watched.context.add_init_script(NO_NATIVE_HLS)
        page = watched.open("/s/demo/")
        page.wait_for_function(
            "() => document.querySelector('[data-testid=\"player\"]').dataset.mode === 'hls'",
            timeout=30_000,
        )
        page.wait_for_function(PLAYING, arg=[2.0], timeout=60_000, polling=250)
        assert page.evaluate("() => typeof window.Hls === 'function'")
        watched.assert_clean("hls.js playback")
    finally:
        watched.close()
        studio.stop()
        capped.stop()


@pytest.mark.parametrize(
    ("username", "path", "ready"),
    [
        ("host", "/s/demo/console/", '[data-testid^="q-"]'),
        ("observer", "/s/demo/console/", '[data-testid^="q-"]'),
        ("leader", "/s/demo/leader/", '[data-testid="answer-form"]'),
        ("screener", "/s/demo/screener/", '[data-testid="call-form"]'),
    ],
    ids=["console-host", "console-observer", "leader", "screener"],
)
def test_staff_consoles_connect_and_show_the_session_with_no_violation(
    watched: Watched, username: str, path: str, ready: str, tmp_path: Path
) -> None:
    page = watched.login(username, path)
    page.wait_for_function("() => window.__wsOpen >= 1")
    page.locator(ready).first.wait_for()
    if path.endswith("console/"):
        page.screenshot(path=str(tmp_path / f"console-{username}.png"), full_page=True)
    watched.assert_clean(f"{username} {path}")


def test_host_invites_a_guest_from_the_console_and_the_guest_page_opens_with_no_violation(
    browser: Any,  # noqa: F811
    server: HubServer,
    watched: Watched,
) -> None:
    host = watched.login("host", "/s/demo/console/")
    host.get_by_test_id("invite-form").wait_for()
    host.get_by_test_id("invite-label").fill("宿城区 张女士")
    host.get_by_test_id("invite-submit").click()
    link = host.get_by_test_id("invite-link")
    link.wait_for()
    url = link.get_attribute("data-url")
    assert url and url.startswith(f"{server.base}/guest/")
    watched.assert_clean("console stage")
    guest = Watched(browser, server)
    try:
        page = guest.open(url.removeprefix(server.base))
        page.get_by_test_id("guest-form").wait_for()
        page.wait_for_load_state("networkidle")
        guest.assert_clean("guest page")
    finally:
        guest.close()


def test_public_pages_and_the_api_docs_render_with_no_violation(watched: Watched) -> None:
    for path, ready in (
        ("/", '[data-testid="session-list"]'),
        ("/login/", '[data-testid="login-username"]'),
        ("/library/", '[data-testid="library-search-form"]'),
        ("/followup/", '[data-testid="board-list"]'),
        ("/followup/code/", '[data-testid="code-form"]'),
        ("/followup/departments/", "main"),
        ("/s/demo/replay/", '[data-testid="replay-notice"]'),
    ):
        page = watched.open(path)
        page.locator(ready).first.wait_for()
        page.wait_for_load_state("networkidle")
        watched.assert_clean(path)
    # Swagger UI (served by django-ninja from its own static files) builds the operations.
    page = watched.open("/api/docs")
    page.locator(".swagger-ui .opblock").first.wait_for(timeout=15_000)
    page.wait_for_load_state("networkidle")
    watched.assert_clean("/api/docs")


def seed_ended_session_with_follow_up() -> dict[str, Any]:
    """Run in the server's database: the follow-up browser test's seed (ends the demo),
    and a superuser for the admin pages."""
    from django.contrib.auth.models import User

    from hub.followup.models import FollowUpTask
    from tests.test_followup_browser import seed_followup

    ids = seed_followup()
    ids["tasks"] = list(FollowUpTask.objects.values_list("pk", flat=True))
    ids["question"] = FollowUpTask.objects.get(pk=ids["lights"]).question_id
    User.objects.create_superuser("csp-admin", password=DEMO_PASSWORD)
    return ids


def test_follow_up_pages_with_charts_the_work_page_and_the_replay_with_no_violation(
    browser: Any,  # noqa: F811
    server: HubServer,
    database: Path,
) -> None:
    script = (
        "import django, json; django.setup(); "
        "from tests.test_csp_browser import seed_ended_session_with_follow_up as seed; "
        "print(json.dumps(seed()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=server_env(database),
        check=True,
        capture_output=True,
        text=True,
    )
    ids = json.loads(done.stdout.strip().splitlines()[-1])
    watched = Watched(browser, server)
    try:
        for path, ready in (
            (f"/followup/tasks/{ids['lights']}/", '[data-testid="timeline"]'),
            (f"/followup/departments/{ids['housing']}/", '[data-testid="kpis"]'),
            # replay.js asks the API: the recording with its chapters, or (when no viewer
            # made the programme run) a notice that there is none.
            (
                "/s/demo/replay/",
                '[data-testid="replay"]:not([hidden]), [data-testid="replay-notice"]:not([hidden])',
            ),
        ):
            page = watched.open(path)
            page.locator(ready).first.wait_for()
            page.wait_for_load_state("networkidle")
            watched.assert_clean(path)
        # The department page draws its charts as inline SVG (attributes only, no styles).
        page = watched.open(f"/followup/departments/{ids['housing']}/")
        assert page.locator("svg.chart-svg").count() >= 1
        # The evaluation with the private code (fetch under connect-src 'self').
        page = watched.open("/followup/code/")
        page.get_by_test_id("code-input").fill(ids["code"])
        page.get_by_test_id("code-submit").click()
        page.get_by_test_id("code-task").wait_for()
        watched.assert_clean("code lookup")
        # Staff: the follow-up work page (its styles now come from followup/work.css).
        page = watched.login("staff", "/followup/work/")
        page.locator('[data-testid="work-list"] li').first.wait_for()
        grid = page.locator(".fu-work").evaluate("el => getComputedStyle(el).display")
        assert grid == "grid"
        watched.assert_clean("work page")
        page = watched.open("/followup/report/")
        page.get_by_test_id("report-summary").wait_for()
        page.wait_for_load_state("networkidle")
        watched.assert_clean("weekly report page")
        # The admin (Django's own templates and scripts): index, change lists, a change form.
        watched.login("csp-admin", "/admin/")
        for path in (
            "/admin/",
            "/admin/hub/question/",
            f"/admin/hub/question/{ids['question']}/change/",
            "/admin/followup/followuptask/",
            "/admin/workcalendar/calendaryear/",
        ):
            page = watched.open(path)
            page.locator("#content").wait_for()
            page.wait_for_load_state("networkidle")
            watched.assert_clean(path)
    finally:
        watched.close()
