"""Live video in Debian's chromium (Playwright) against a real server with its media engine:
the viewer page plays the programme over WebRTC (WHEP) and resumes after the studio drops;
HLS takes over when WebRTC is capped (natively, and through hls.js); a guest joins from a
second browser with a fake camera and goes on and off air; the agenda switches to a
confidential item and back; after the end the replay page opens at a question's answer.

The studio publisher is ``python -m streaming.publish_test_pattern`` (aiortc colour bars
and tone) with the demo publisher token."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_service
from tests.live import DEMO_PASSWORD, ROOT, Browserless, HubServer, command, prepare_database
from tests.services import CHROMIUM
from tests.test_browser import CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.liveserver]

MEDIA_ARGS = [
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]
TOKEN = f"studio-{DEMO_PASSWORD}"  # HUB_DEMO_STREAM_TOKEN's default
FAST_HLS = {"HUB_HLS_SEGMENT_SECONDS": "1", "HUB_HLS_LIST_SIZE": "4"}

PLAYING = """([min]) => {
  const v = document.querySelector('[data-testid="program-video"]');
  if (!v || v.videoWidth <= 0) return false;
  if (v.dataset.t0 === undefined) { v.dataset.t0 = String(v.currentTime); return false; }
  return v.currentTime - Number(v.dataset.t0) >= min;
}"""


def _server(folder: Path, **extra: str) -> HubServer:
    database = folder / "hub.sqlite3"
    env = {"HUB_MEDIA_ROOT": str(folder / "media"), **FAST_HLS, **extra}
    prepare_database(database, **env)
    return HubServer(database, folder / "server.log", **env)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        require_service(f"Debian's chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *MEDIA_ARGS]
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    hub = _server(tmp_path_factory.mktemp("stream"))
    yield hub
    hub.stop()


class Publisher:
    """The studio: a WHIP test-pattern publisher in its own process."""

    def __init__(self, server: HubServer, slug: str, log: Path) -> None:
        self.url = f"{server.base}/whip/{slug}"
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Publisher:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streaming.publish_test_pattern",
                "--url",
                self.url,
                "--token",
                TOKEN,
            ],
            cwd=ROOT,
            stdout=self.log.open("a"),
            stderr=subprocess.STDOUT,
        )
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # Ctrl-C: the client DELETEs its WHIP resource on the way out.
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None


@pytest.fixture
def publish(server: HubServer, tmp_path: Path) -> Iterator[Callable[[str], Publisher]]:
    started: list[Publisher] = []

    def start(slug: str) -> Publisher:
        publisher = Publisher(server, slug, tmp_path / f"publisher-{slug}.log").start()
        started.append(publisher)
        return publisher

    yield start
    for publisher in started:
        publisher.stop()


def _login(browser: Any, server: HubServer, username: str, path: str) -> Any:
    page = browser.new_context(locale="zh-CN").new_page()
    page.goto(f"{server.base}/login/?next={path}")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(f"{server.base}{path}")
    return page


def _viewer(browser: Any, server: HubServer, slug: str, init_script: str | None = None) -> Any:
    context = browser.new_context(locale="zh-CN")
    if init_script:
        context.add_init_script(init_script)
    page = context.new_page()
    page.goto(f"{server.base}/s/{slug}/")
    return page


def _run_async(coroutine: Any) -> Any:
    """Run a coroutine on a fresh loop in a thread (Playwright's sync API owns this one)."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coroutine)
        except BaseException as exc:  # re-raised in the test's thread
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(60)
    if "error" in result:
        raise result["error"]
    return result.get("value")


def _wait_playing(page: Any, seconds: float = 1.0, timeout: float = 30_000) -> None:
    page.evaluate(
        "() => { delete document.querySelector('[data-testid=\"program-video\"]').dataset.t0; }"
    )
    page.wait_for_function(PLAYING, arg=[seconds], timeout=timeout, polling=250)


def test_viewer_plays_the_programme_over_webrtc_and_resumes_after_the_studio_drops(
    browser: Any, server: HubServer, publish: Callable[[str], Publisher]
) -> None:
    studio = publish("demo")
    page = _viewer(browser, server, "demo")
    player = page.get_by_test_id("player")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"player\"]').dataset.live === 'true'",
        timeout=30_000,
    )
    _wait_playing(page, 2.0)
    assert player.get_attribute("data-mode") == "webrtc"
    assert page.evaluate("() => document.querySelector('video').videoWidth") > 0
    # The studio drops: viewers see 信号中断 and the player keeps its connection (slate).
    studio.stop()
    overlay = page.get_by_test_id("player-overlay")
    overlay.wait_for(state="visible", timeout=15_000)
    assert "信号中断" in overlay.inner_text()
    # It comes back: the overlay goes and the picture moves again, without a reload.
    page.evaluate("() => { window.__notReloaded = true; }")
    publish("demo")
    overlay.wait_for(state="hidden", timeout=30_000)
    _wait_playing(page, 2.0)
    assert page.evaluate("() => window.__notReloaded === true")
    assert player.get_attribute("data-mode") == "webrtc"
    page.context.close()


NO_NATIVE_HLS = """
const original = HTMLMediaElement.prototype.canPlayType;
HTMLMediaElement.prototype.canPlayType = function (type) {
  return /mpegurl/i.test(type) ? '' : original.call(this, type);
};
"""


@pytest.mark.parametrize("native", [True, False], ids=["native-hls", "hls.js"])
def test_viewer_falls_back_to_hls_when_webrtc_is_capped(
    browser: Any, tmp_path: Path, native: bool
) -> None:
    capped = _server(tmp_path, HUB_WEBRTC_MAX_VIEWERS="0")
    studio = Publisher(capped, "demo", tmp_path / "publisher.log").start()
    try:
        page = _viewer(browser, capped, "demo", None if native else NO_NATIVE_HLS)
        page.wait_for_function(
            "() => document.querySelector('[data-testid=\"player\"]').dataset.mode === 'hls'",
            timeout=30_000,
        )
        _wait_playing(page, 2.0, timeout=60_000)
        uses_hls_js = page.evaluate("() => typeof window.Hls === 'function'")
        assert uses_hls_js is (not native)
        page.context.close()
    finally:
        studio.stop()
        capped.stop()


def test_guest_joins_from_a_link_and_the_host_puts_them_on_air_and_off(
    browser: Any, server: HubServer, publish: Callable[[str], Publisher]
) -> None:
    publish("demo")
    host = _login(browser, server, "host", "/s/demo/console/")
    viewer = _viewer(browser, server, "demo")
    host.get_by_test_id("invite-form").wait_for()
    host.get_by_test_id("invite-label").fill("宿城区 张女士")
    host.get_by_test_id("invite-submit").click()
    link = host.get_by_test_id("invite-link")
    link.wait_for()
    url = link.get_attribute("data-url")
    assert url and url.startswith(f"{server.base}/guest/") and url.endswith("/join")

    guest = browser.new_context(locale="zh-CN").new_page()
    guest.goto(url)
    guest.get_by_test_id("guest-video").check()
    guest.get_by_test_id("guest-join").click()
    status = guest.get_by_test_id("guest-status")
    guest.wait_for_function(
        "() => document.querySelector('[data-testid=\"guest-status\"]').dataset.state === 'waiting'",
        timeout=30_000,
    )
    assert "等候室" in status.inner_text()

    row = host.locator('[data-testid^="guest-"][data-state="waiting"]', has_text="宿城区 张女士")
    row.wait_for(timeout=15_000)
    # The host listens first (WHEP from the console to the guest's voice).
    row.locator('[data-testid^="guest-listen-"]').click()
    host.wait_for_function(
        "() => { const a = document.querySelector('[data-testid=\"listen-audio\"]');"
        " return !!a.srcObject && a.srcObject.getAudioTracks().length > 0 && a.currentTime > 0.5; }",
        timeout=20_000,
    )
    row.locator('[data-testid^="guest-on-air-"]').click()
    banner = viewer.get_by_test_id("guest-banner")
    banner.wait_for(state="visible", timeout=15_000)
    assert banner.inner_text() == "连线中：宿城区 张女士"
    guest.wait_for_function(
        "() => document.querySelector('[data-testid=\"guest-status\"]').dataset.state === 'on_air'",
        timeout=15_000,
    )

    on_air = host.locator('[data-testid^="guest-"][data-state="on_air"]', has_text="宿城区 张女士")
    on_air.locator('[data-testid^="guest-off-air-"]').click()
    banner.wait_for(state="hidden", timeout=15_000)
    # The link was used: opening it again explains so.
    again = browser.new_context(locale="zh-CN").new_page()
    again.goto(url)
    assert again.get_by_test_id("guest-error").get_attribute("data-code") == "invite_used"
    for page in (host, viewer, guest, again):
        page.context.close()


def test_agenda_switches_to_a_confidential_item_and_back_on_the_viewer_page(
    browser: Any, server: HubServer
) -> None:
    host = _login(browser, server, "host", "/s/meeting/console/")
    viewer = _viewer(browser, server, "meeting")
    agenda = viewer.get_by_test_id("agenda")
    agenda.wait_for()
    assert "人事任免" not in agenda.inner_text()
    assert "涉密议题" in viewer.get_by_test_id("agenda-item-2").inner_text()

    host.get_by_test_id("goto-item-2").click()
    current = viewer.get_by_test_id("agenda-current")
    viewer.wait_for_function(
        "() => document.querySelector('[data-testid=\"agenda-current\"]').dataset.confidential === 'true'",
        timeout=15_000,
    )
    assert current.inner_text() == "当前议题：涉密议题"
    assert viewer.get_by_test_id("player").get_attribute("data-confidential") == "true"
    assert "涉密议题" in viewer.get_by_test_id("player-overlay").inner_text()

    host.get_by_test_id("goto-item-3").click()
    viewer.wait_for_function(
        "() => document.querySelector('[data-testid=\"agenda-current\"]').dataset.confidential === 'false'",
        timeout=15_000,
    )
    assert current.inner_text() == "当前议题：听取全市防汛备汛工作情况汇报"
    assert viewer.get_by_test_id("player").get_attribute("data-confidential") == "false"
    for page in (host, viewer):
        page.context.close()


async def _answer_then_end(server: HubServer, question_id: int, on_air_seconds: float) -> None:
    host = Browserless(server)
    host.login("host")
    async with host.console("demo") as console:
        await command(console, id=1, action="on_air", question=question_id)
        await asyncio.sleep(on_air_seconds)
        await command(console, id=2, action="answered", question=question_id, summary="今年开工")
        await command(console, id=3, action="set_status", status="ended")


def test_after_the_end_the_replay_page_opens_at_a_questions_answer(
    browser: Any, server: HubServer, publish: Callable[[str], Publisher]
) -> None:
    publish("demo")
    client = Browserless(server)
    viewer = _viewer(browser, server, "demo")
    _wait_playing(viewer, 4.0)  # the programme (and its recording) runs for a while
    status, body = client.request("GET", "/api/sessions/demo/questions")
    assert status == 200
    question = next(q for q in body["items"] if q["state"] in ("queued", "approved"))
    _run_async(_answer_then_end(server, question["id"], 3.0))

    deadline = time.monotonic() + 60
    replay: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status, replay = client.request("GET", "/api/streaming/sessions/demo/replay")
        if status == 200 and replay["available"]:
            break
        time.sleep(0.5)
    assert replay.get("available"), replay
    chapter = next(c for c in replay["chapters"] if c["question_id"] == question["id"])
    assert chapter["offset"] >= 3.0

    # The viewer page (still open) links the answered question to its moment.
    link = viewer.get_by_test_id(f"replay-link-{question['id']}")
    link.wait_for(timeout=20_000)
    link.click()
    viewer.wait_for_url(f"**/s/demo/replay/?q={question['id']}")
    viewer.wait_for_function(
        "([at]) => { const v = document.querySelector('[data-testid=\"replay-video\"]');"
        " return v && v.readyState >= 1 && Math.abs(v.currentTime - at) < 1.5; }",
        arg=[chapter["offset"]],
        timeout=30_000,
    )
    # …and plays the recording from there.
    viewer.wait_for_function(
        "([at]) => { const v = document.querySelector('[data-testid=\"replay-video\"]');"
        " return v.videoWidth > 0 && v.currentTime > at + 0.5; }",
        arg=[chapter["offset"]],
        timeout=30_000,
    )
    with contextlib.suppress(Exception):
        viewer.screenshot(path=str(server.log_path.parent / "replay.png"))
    viewer.context.close()
