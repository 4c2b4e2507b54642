"""Real pages in Debian's chromium, driven by Playwright, against a real server: the host
approves in the console and the viewer page shows it; on air and answered follow live."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_service
from tests.live import DEMO_PASSWORD, HubServer, prepare_database
from tests.services import CHROMIUM

pytestmark = [pytest.mark.browser, pytest.mark.liveserver]

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    folder = tmp_path_factory.mktemp("browser")
    database = folder / "hub.sqlite3"
    prepare_database(database)
    hub = HubServer(database, folder / "server.log")
    yield hub
    hub.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        require_service(f"Debian's chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def staff_page(browser: Any, server: HubServer, username: str, path: str) -> Any:
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.goto(f"{server.base}/login/?next={path}")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(f"{server.base}{path}")
    return page


def test_host_approves_and_the_viewer_page_shows_it_live(
    browser: Any, server: HubServer, tmp_path: Path
) -> None:
    viewer = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844}).new_page()
    viewer.goto(f"{server.base}/s/demo/")
    viewer.get_by_test_id("question-list").wait_for()
    question_text = "浏览器测试：社区卫生服务中心能否延长晚间门诊时间？"
    viewer.get_by_test_id("ask-text").fill(question_text)
    viewer.get_by_test_id("ask-submit").click()
    viewer.get_by_test_id("ask-result").wait_for(state="visible")
    # The asker's private follow-up code is shown once, with where to use it.
    code = viewer.get_by_test_id("ask-code-value")
    code.wait_for(state="visible")
    assert len(code.inner_text().strip()) >= 8
    assert viewer.get_by_test_id("ask-code-link").get_attribute("href") == "/followup/code/"
    # Not published until the host approves it.
    assert question_text not in viewer.get_by_test_id("question-list").inner_text()

    host = staff_page(browser, server, "host", "/s/demo/console/")
    item = host.locator('li[data-testid^="q-"]', has_text=question_text)
    item.wait_for()
    item.locator('[data-testid^="approve-"]').click()

    published = viewer.get_by_test_id("question-list").get_by_text(question_text)
    published.wait_for(timeout=10_000)

    # Supporting it: the page load issued this viewer's browser id, which counts once. A
    # second viewer clicks at once, before its new id is old enough: the page waits as the
    # server says (Retry-After) and sends again, and that support counts too.
    support = (
        viewer.get_by_test_id("question-list")
        .locator("li", has_text=question_text)
        .locator('[data-testid^="support-"]')
    )
    question_id = (support.get_attribute("data-testid") or "").removeprefix("support-")
    support.click()

    def shows(page: Any, count: int) -> None:
        counter = page.get_by_test_id(f"supports-{question_id}")
        counter.filter(has_text=re.compile(rf"^{count}$")).wait_for(timeout=15_000)

    shows(viewer, 1)
    second = browser.new_context(locale="zh-CN").new_page()
    second.goto(f"{server.base}/s/demo/")
    second.get_by_test_id(f"support-{question_id}").click()
    shows(second, 2)
    shows(viewer, 2)
    second.context.close()

    # Put it on air from the console; the viewer's on-air panel shows it.
    item.locator('[data-testid^="onair-"]').click()
    viewer.get_by_test_id("on-air").get_by_text(question_text).wait_for(timeout=10_000)

    leader = staff_page(browser, server, "leader", "/s/demo/leader/")
    leader.get_by_test_id("leader-question").get_by_text(question_text).wait_for()
    leader.get_by_test_id("leader-summary").fill("下月起试点延长至晚上八点")
    leader.get_by_test_id("answered-btn").click()
    viewer.get_by_test_id("question-list").get_by_text("下月起试点延长至晚上八点").wait_for(
        timeout=10_000
    )
    # The open record counts it too (it refreshes every 15 s; reload to read it now).
    viewer.reload()
    answered = viewer.get_by_test_id("record-total-answered")
    answered.wait_for(timeout=10_000)
    assert int(answered.inner_text()) >= 1
    viewer.screenshot(path=str(tmp_path / "viewer.png"), full_page=True)
    for page in (viewer, host, leader):
        page.context.close()


def test_viewer_page_shows_reconnecting_and_recovers_when_the_server_restarts(
    browser: Any, tmp_path: Path
) -> None:
    database = tmp_path / "hub.sqlite3"
    prepare_database(database)
    hub = HubServer(database, tmp_path / "server.log")
    page = browser.new_context().new_page()
    try:
        page.goto(f"{hub.base}/s/demo/")
        page.get_by_test_id("question-list").wait_for()
        banner = page.get_by_test_id("reconnecting")
        assert not banner.is_visible()
        hub.stop()
        banner.wait_for(state="visible", timeout=15_000)
        hub = HubServer(database, tmp_path / "server.log", port=hub.port)
        banner.wait_for(state="hidden", timeout=30_000)
    finally:
        page.context.close()
        hub.stop()


def test_host_answers_a_common_question_from_the_answer_library_and_viewers_see_it(
    browser: Any, server: HubServer
) -> None:
    viewer = browser.new_context(locale="zh-CN").new_page()
    viewer.goto(f"{server.base}/s/demo/")
    viewer.get_by_test_id("question-list").wait_for()
    question_text = "请问夜间施工噪音扰民应该怎么投诉？"
    viewer.get_by_test_id("ask-text").fill(question_text)
    viewer.get_by_test_id("ask-submit").click()
    viewer.get_by_test_id("ask-result").wait_for(state="visible")

    host = staff_page(browser, server, "host", "/s/demo/console/")
    item = host.locator('li[data-testid^="q-"]', has_text=question_text)
    item.wait_for()
    # Matched against the library at intake: the queue marks it before it is selected.
    hint = item.locator('[data-testid^="library-hint-"]')
    assert re.fullmatch(r"答问库 (0\.[5-9]\d|1\.00)", hint.text_content() or "")
    assert "夜间施工噪音扰民怎么投诉" in (hint.get_attribute("title") or "")
    item.click()
    panel = host.get_by_test_id("library-panel")
    suggestion = panel.locator(
        '[data-testid^="library-entry-"]', has_text="夜间施工噪音扰民怎么投诉"
    )
    suggestion.wait_for(timeout=10_000)
    suggestion.locator('[data-testid^="library-answer-"]').click()
    # Published with the library's answer, and marked as such, without going on air.
    viewer.get_by_test_id("question-list").get_by_text("夜间施工许可").wait_for(timeout=10_000)
    assert "答复来自咨询答问库" in viewer.get_by_test_id("question-list").inner_text()

    faq = browser.new_context(locale="zh-CN").new_page()
    faq.goto(f"{server.base}/library/?q=夜间施工噪音")
    assert "夜间施工许可" in faq.get_by_test_id("library-results").inner_text()

    # Editing the library from the host's page: the pages' API client sends the CSRF token
    # with the session cookie; the same write without the token is refused.
    edits = host.evaluate(
        """async () => {
            const { api } = await import('/static/frontend/api.js');
            const entry = await api('/library', { method: 'POST', body: {
                question: '浏览器测试：夜间施工许可在哪里查询？', answer: '在住建局网站查询' } });
            const changed = await api(`/library/${entry.id}`, { method: 'PATCH',
                body: { published: true } });
            const bare = await fetch('/api/library', { method: 'POST', credentials: 'same-origin',
                headers: { 'Content-Type': 'application/json' },
                body: JSON.stringify({ question: '没有令牌的写入', answer: '不应保存' }) });
            return [changed.published, bare.status, (await bare.json()).code];
        }"""
    )
    assert edits == [True, 403, "csrf"]
    for page in (viewer, host, faq):
        page.context.close()
