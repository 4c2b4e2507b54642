"""The public follow-up board in Debian's chromium against the real server: the demo
session ends with unanswered questions, staff assign them, the housing department accepts
one, gets an extension and replies through three reviews, another task goes overdue and is
supervised. The board lists both, filters work, the task page shows the timeline and the
reviewed reply, a vote counts once per browser, the asker rates the reply with the code,
and the department page shows it all with charts."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live import ROOT, HubServer, prepare_database, server_env
from tests.test_browser import browser  # noqa: F401 - the shared chromium fixture

pytestmark = [pytest.mark.browser, pytest.mark.liveserver]

REPLY = "经现场核实，幸福花园小区已列入明年老旧小区改造计划，楼道灯已于本周修复。"


def seed_followup() -> dict[str, Any]:
    """Run inside the server's database (a separate process, see ``seeded``): the demo
    session ends and its follow-up goes through the issue's steps with the real actions."""
    from datetime import timedelta

    from django.contrib.auth.models import Group, User
    from django.utils import timezone

    from hub.actions.sessions import do_end_session
    from hub.followup import actions
    from hub.followup.codes import issue_code
    from hub.followup.models import FollowUpTask
    from hub.followup.timers import tick
    from hub.models import Department, LiveSession
    from hub.roles import Role

    users = {u.username: u for u in User.objects.all()}
    housing = Department.objects.get(name="市住房和城乡建设局")
    transport = Department.objects.get(name="市交通运输局")
    reviewers = {}
    for username, name in (("dept_section", "孙科长"), ("dept_leader", "周局长")):
        user = User.objects.create_user(username=username, password="unused", first_name=name)
        user.groups.add(Group.objects.get_or_create(name=Role.DEPARTMENT)[0])
        housing.members.add(user)
        reviewers[username] = user
    session = LiveSession.objects.get(slug="demo")
    do_end_session(users["host"], session.pk)
    actions.do_create_tasks_for_session(session.pk)
    tasks = FollowUpTask.objects.filter(session=session)
    lights = tasks.get(question__text__contains="楼道灯")
    bus = tasks.get(question__text__contains="区间车")
    now = timezone.now()
    staff, dept = users["staff"], users["dept"]
    actions.do_assign_task(staff, lights.pk, lead_department_id=housing.pk, now=now)
    actions.do_accept_task(dept, lights.pk, now=now)
    actions.do_request_extension(dept, lights.pk, 5, "需要会同街道现场核实", now=now)
    actions.do_approve_extension(staff, lights.pk, note="同意", now=now)
    actions.do_save_reply(dept, lights.pk, REPLY, now=now)
    actions.do_editor_approve_reply(dept, lights.pk, now=now)
    actions.do_section_approve_reply(reviewers["dept_section"], lights.pk, now=now)
    actions.do_sign_off_reply(reviewers["dept_leader"], lights.pk, now=now)
    # Assigned two weeks ago and never accepted: overdue and supervised (督办).
    actions.do_assign_task(
        staff,
        bus.pk,
        lead_department_id=transport.pk,
        publish=True,
        now=now - timedelta(days=14),
    )
    tick(now)
    return {
        "lights": lights.pk,
        "bus": bus.pk,
        "housing": housing.pk,
        "transport": transport.pk,
        "code": issue_code(lights.question),
    }


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HubServer, dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("followup-browser")
    database = folder / "hub.sqlite3"
    prepare_database(database)
    script = (
        "import django, json; django.setup(); "
        "from tests.test_followup_browser import seed_followup; "
        "print(json.dumps(seed_followup()))"
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
    hub = HubServer(database, folder / "server.log")
    yield hub, ids
    hub.stop()


def counts(page: Any) -> dict[str, int]:
    return {
        verdict: int(page.get_by_test_id(f"vote-count-{verdict}").inner_text())
        for verdict in ("satisfied", "basic", "unsatisfied")
    }


def test_public_board_task_page_votes_evaluation_and_department_charts(
    browser: Any,  # noqa: F811
    seeded: tuple[HubServer, dict[str, Any]],
    tmp_path: Path,
) -> None:
    server, ids = seeded
    lights, bus = ids["lights"], ids["bus"]
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    page = context.new_page()

    # The board, reached from the site's navigation, lists both tasks.
    page.goto(f"{server.base}/")
    page.get_by_test_id("nav-followup").click()
    page.wait_for_url(f"{server.base}/followup/")
    board = page.get_by_test_id("board-list")
    board.get_by_test_id(f"task-{lights}").wait_for()
    board.get_by_test_id(f"task-{bus}").wait_for()
    assert page.get_by_test_id(f"task-overdue-{bus}").is_visible()
    assert "已答复" in page.get_by_test_id(f"task-state-{lights}").inner_text()

    # Filters: overdue shows only the supervised task; a search finds the replied one.
    page.get_by_test_id("board-status").select_option("overdue")
    page.get_by_test_id("board-submit").click()
    page.wait_for_url("**/followup/?*status=overdue*")
    assert page.get_by_test_id(f"task-{bus}").is_visible()
    assert page.get_by_test_id(f"task-{lights}").count() == 0
    page.get_by_test_id("board-clear").click()
    page.get_by_test_id("board-q").fill("楼道灯")
    page.get_by_test_id("board-submit").click()
    page.wait_for_url("**/followup/?*q=*")
    assert page.get_by_test_id(f"task-{bus}").count() == 0
    page.get_by_test_id(f"task-link-{lights}").click()

    # The task page: timeline (with the extension) and the reply with its three reviewers.
    page.wait_for_url(f"{server.base}/followup/tasks/{lights}/")
    timeline = page.get_by_test_id("timeline")
    for action in ("create", "assign", "accept", "request_extension", "approve_extension"):
        assert timeline.get_by_test_id(f"event-{action}").count() == 1, action
    assert REPLY in page.get_by_test_id("reply-text-1").inner_text()
    reviewers = page.get_by_test_id("reviewers-1").inner_text()
    assert (
        reviewers.index("市住建局 办公室") < reviewers.index("孙科长") < reviewers.index("周局长")
    )
    assert page.get_by_test_id("task-extension").is_visible()

    # 网上评议: one vote per browser.
    assert counts(page) == {"satisfied": 0, "basic": 0, "unsatisfied": 0}
    page.get_by_test_id("vote-satisfied").click()
    page.get_by_test_id("vote-result").wait_for(state="visible")
    assert counts(page)["satisfied"] == 1
    assert page.get_by_test_id("vote-basic").is_disabled()
    # A second try from the same browser (straight to the API) is refused.
    refused = page.evaluate(
        """async (id) => {
            const csrf = document.cookie.match(/csrftoken=([^;]+)/)[1];
            const r = await fetch(`/api/followup/tasks/${id}/vote`, {method: 'POST',
              headers: {'Content-Type': 'application/json', 'X-CSRFToken': csrf},
              body: JSON.stringify({verdict: 'unsatisfied'})});
            return [r.status, (await r.json()).code];
        }""",
        lights,
    )
    assert refused == [409, "already_voted"]
    page.reload()
    assert counts(page) == {"satisfied": 1, "basic": 0, "unsatisfied": 0}
    assert page.get_by_test_id("vote-satisfied").get_attribute("aria-pressed") == "true"
    assert page.get_by_test_id("vote-unsatisfied").is_disabled()
    # Another browser counts once more.
    other = browser.new_context(locale="zh-CN").new_page()
    other.goto(f"{server.base}/followup/tasks/{lights}/")
    other.get_by_test_id("vote-basic").click()
    other.get_by_test_id("vote-result").wait_for(state="visible")
    assert counts(other) == {"satisfied": 1, "basic": 1, "unsatisfied": 0}
    other.context.close()

    # The asker rates the reply with the private code.
    page.get_by_test_id("evaluate-code").fill(ids["code"].lower())
    page.get_by_test_id("resolved-yes").check()
    page.get_by_test_id("satisfaction-satisfied").check()
    page.get_by_test_id("evaluate-comment").fill("修得很快，谢谢")
    page.get_by_test_id("evaluate-submit").click()
    result = page.get_by_test_id("evaluate-result")
    page.wait_for_function(
        "el => el.classList.contains('result-success')", arg=result.element_handle()
    )
    page.reload()
    assert "1" in page.get_by_test_id("evaluation-summary").inner_text()

    # The code lookup page tells the asker the reply is published and rated.
    page.get_by_test_id("nav-code").click()
    page.get_by_test_id("code-input").fill(ids["code"])
    page.get_by_test_id("code-submit").click()
    page.get_by_test_id("code-reply").wait_for()
    assert page.get_by_test_id("code-evaluated").is_visible()

    # The department page: KPIs with definitions, and charts with text alternatives.
    page.goto(f"{server.base}/followup/departments/{ids['housing']}/")
    # The demo's other follow-up session counts too, so only the shape is certain here
    # (tests/test_followup_pages.py checks hand-computed values).
    satisfaction = page.get_by_test_id("kpi-value-satisfaction_rate").inner_text()
    assert re.fullmatch(r"\d{1,3}\.\d%", satisfaction), satisfaction
    assert page.get_by_test_id("kpi-definition-completion_rate").inner_text()
    rates = page.get_by_test_id("chart-rates").locator("svg[role=img]")
    assert rates.count() == 1 and rates.get_attribute("aria-labelledby")
    page.screenshot(path=str(tmp_path / "department.png"), full_page=True)
    page.goto(f"{server.base}/followup/departments/{ids['transport']}/")
    assert page.get_by_test_id("supervision-history").locator("tbody tr").count() >= 1
    context.close()
