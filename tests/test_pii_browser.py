"""The observer's console in chromium: a question with a link and a number written after
it, in full-width digits, shows the link chip with the URL only and the 原文 expander
masked; a private question shows that it exists, not what it says."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import Any

import pytest

from tests.live import HubServer, prepare_database
from tests.test_browser import browser, staff_page  # noqa: F401  (the browser fixture)

pytestmark = [pytest.mark.browser, pytest.mark.liveserver]

LINKED = "請看鏈接 http://t.cn/gnxvp7x有事打我电话１５８７９８４８２３５，小区停车位什么时候增加？"
PRIVATE = "我想私下反映邻居家违建的问题，请不要公开"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    folder = tmp_path_factory.mktemp("pii-browser")
    database = folder / "hub.sqlite3"
    prepare_database(database)
    hub = HubServer(database, folder / "server.log")
    yield hub
    hub.stop()


def ask(browser: Any, server: HubServer, text: str, *, private: bool = False) -> None:  # noqa: F811
    page = browser.new_context(locale="zh-CN").new_page()
    page.goto(f"{server.base}/s/demo/")
    page.get_by_test_id("ask-text").fill(text)
    if private:
        page.get_by_test_id("ask-private").check()
    page.get_by_test_id("ask-submit").click()
    # Sent once the page shows the asker's private code.
    page.get_by_test_id("ask-code-value").wait_for(state="visible")
    page.context.close()


def digit_runs(text: str) -> list[str]:
    return re.findall(r"\d{7,}", unicodedata.normalize("NFKC", text))


def test_the_observer_console_shows_the_link_alone_the_original_masked_and_no_private_text(
    browser: Any,  # noqa: F811
    server: HubServer,
) -> None:
    ask(browser, server, LINKED)
    ask(browser, server, PRIVATE, private=True)
    observer = staff_page(browser, server, "observer", "/s/demo/console/")
    item = observer.locator('li[data-testid^="q-"]', has_text="小区停车位什么时候增加")
    item.wait_for(timeout=10_000)
    chips = item.locator('[data-testid^="flags-"] .badge-flag').all_inner_texts()
    link_chips = [c for c in chips if "http://" in c]
    assert link_chips and all(c.endswith("http://t.cn/gnxvp7x") for c in link_chips), chips
    original = item.locator("details.q-original")
    shown = original.locator("p").text_content() or ""
    assert "t.cn/gnxvp7x" in shown and digit_runs(shown) == [], shown
    assert digit_runs(item.text_content() or "") == []
    # The private question: there, with its channel and state, without its text.
    private = observer.locator('li[data-testid^="q-"]', has=observer.locator(".badge-private"))
    private.first.wait_for(timeout=10_000)
    # (text_content: items out of sight are not laid out, so they have no inner text.)
    assert "违建" not in (observer.locator("body").text_content() or "")
    assert "私密问题" in (private.first.text_content() or "")
    observer.context.close()
