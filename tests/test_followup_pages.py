"""The public follow-up pages: the board with its filters and search, a task's page
(timeline, reply with its three reviewers, votes), the department pages (the KPI values
of a hand-computed dataset, with their written definitions and charts) and privacy: no
asker name, phone number, private question or browser id on any public page."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import translation
from django.utils.translation import gettext, ngettext

from hub.followup import actions
from hub.followup.codes import issue_code
from hub.followup.kpis import DEFINITIONS
from hub.followup.models import FollowUpTask, PublicVote, TaskState
from hub.followup.timers import tick
from tests.followup_steps import World, reply_and_publish

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: Private data of the fixture that must never reach a public page or an export.
PRIVATE_STRINGS = [
    "13812345678",  # the hotline asker's mobile (lift2)
    "138****5678",  # … even masked: contacts are for staff only
    "13900001111",  # the private asker's mobile
    "张先生",  # an asker's name
    "上班族",  # another asker's name
    "我家邻居违建占用消防通道",  # the private question
    "voter-browser",  # browser ids of the voters
]


def zh(message: str, plural: str = "", n: int = 1) -> str:
    """The zh-hans text the pages show for ``message`` (whichever catalogue provides it)."""
    with translation.override("zh-hans"):
        return ngettext(message, plural, n) if plural else gettext(message)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of March 2026 in Asia/Shanghai (2 March is a Monday, a working day)."""
    return datetime(2026, 3, day, hour, minute, tzinfo=SHANGHAI)


@dataclass
class Dataset:
    world: World
    lift: FollowUpTask
    bus: FollowUpTask
    private: FollowUpTask
    lift_code: str


def build_dataset(world: World, clock: Any) -> Dataset:
    """The hand-computed dataset (times in Asia/Shanghai, March 2026).

    Housing (市住房和城乡建设局), lead department of lift and private:
      - lift: assigned Mon 2 09:10, accepted 09:30, extension of 3 days requested 10:00 and
        approved 10:30, reply published Tue 3 10:00 (on time), evaluated by the web asker
        (code: resolved yes, satisfied) and by callback for the hotline asker (partly,
        basically satisfied), closed resolved Wed 4 09:00; public votes 2 satisfied,
        1 unsatisfied.
      - bus: assigned Mon 2 09:10, returned 09:40 (then reassigned to transport 09:50).
      - private: assigned Mon 2 09:10, accepted 09:30, never replied: 5 working days run
        out Mon 9 09:10, so the tick at Tue 10 10:00 raises level-1 supervision.
    So for March: assigned 2, closed 1 (办结率 50.0%), on time 1 of 1 (按时办结率 100.0%),
    evaluations 2 with 1 resolved (解决率 50.0%) and 2 satisfied or basically (满意率
    100.0%), dispatched 3 with 1 return (退单率 33.3%), 1 replied late (督办), 1 overdue
    now. Transport (市交通运输局): bus dispatched 09:50 and never accepted.
    """
    staff = world.staff
    lift, bus, private = (world.tasks[k].pk for k in ("lift", "bus", "private"))
    clock.move_to(at(2, 9, 10), tick=False)
    for task_id in (lift, bus, private):
        actions.do_assign_task(staff, task_id, lead_department_id=world.housing.pk)
    clock.move_to(at(2, 9, 30), tick=False)
    actions.do_accept_task(world.editor, lift)
    actions.do_accept_task(world.editor, private)
    clock.move_to(at(2, 9, 40), tick=False)
    actions.do_return_task(world.editor, bus, "不属于本单位职责，应由交通部门办理")
    clock.move_to(at(2, 9, 50), tick=False)
    actions.do_reassign_task(staff, bus, lead_department_id=world.transport.pk)
    clock.move_to(at(2, 10, 0), tick=False)
    actions.do_request_extension(world.editor, lift, 3, "需要会同街道现场核实")
    clock.move_to(at(2, 10, 30), tick=False)
    actions.do_approve_extension(staff, lift, note="同意延期")
    clock.move_to(at(3, 10, 0), tick=False)
    reply_and_publish(world, "lift", "经核实，加装电梯补贴将于本月底前发放到位。")
    clock.move_to(at(3, 15, 0), tick=False)
    code = issue_code(world.questions["lift"])
    actions.do_evaluate_by_code(code, "yes", "satisfied", "谢谢")
    hotline_asker = FollowUpTask.objects.get(pk=lift).askers.get(question=world.questions["lift2"])
    clock.move_to(at(3, 15, 30), tick=False)
    actions.do_record_callback(staff, lift, hotline_asker.pk, "partly", "basic")
    for browser, verdict in (("a", "satisfied"), ("b", "satisfied"), ("c", "unsatisfied")):
        actions.do_vote_on_reply(f"voter-browser-{browser}", lift, verdict)
    clock.move_to(at(4, 9, 0), tick=False)
    actions.do_close_task(staff, lift, True)
    clock.move_to(at(10, 10, 0), tick=False)
    tick()
    return Dataset(
        world=world,
        lift=FollowUpTask.objects.get(pk=lift),
        bus=FollowUpTask.objects.get(pk=bus),
        private=FollowUpTask.objects.get(pk=private),
        lift_code=code,
    )


@pytest.fixture
def march(time_machine: Any) -> Any:
    """The clock at Monday 2 March 2026 09:00, before the session and its tasks are made."""
    time_machine.move_to(at(2, 9, 0), tick=False)
    return time_machine


@pytest.fixture
def dataset(march: Any, followup: World) -> Dataset:
    return build_dataset(followup, march)


def text_of(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    return str(response.content.decode())


def visible(html: str) -> str:
    """The page's text without tags and scripts (what a reader sees), spaces squeezed."""
    html = re.sub(r"<script.*?</script>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def board_ids(html: str) -> set[int]:
    return {int(i) for i in re.findall(r'data-testid="task-(\d+)"', html)}


# --- the board ------------------------------------------------------------------------------


def test_board_lists_public_tasks_with_their_status_department_and_deadline(
    client: Client, dataset: Dataset
) -> None:
    html = text_of(client.get("/followup/"))
    assert board_ids(html) == {dataset.lift.pk, dataset.bus.pk}
    page = visible(html)
    assert "老旧小区加装电梯的补贴什么时候发放？" in page
    assert "市住房和城乡建设局" in page and "市交通运输局" in page
    assert zh("Closed, resolved") in page
    assert zh("%(n)s person asked", "%(n)s people asked", 3) % {"n": 3} in page
    # bus: dispatched to transport and never accepted: overdue, with its accept deadline.
    assert f'data-testid="task-overdue-{dataset.bus.pk}"' in html
    assert f'data-testid="task-overdue-{dataset.lift.pk}"' not in html


def test_board_filters_by_status_department_and_searches_the_text(
    client: Client, dataset: Dataset
) -> None:
    lift, bus = dataset.lift.pk, dataset.bus.pk
    assert board_ids(text_of(client.get("/followup/?status=open"))) == {bus}
    assert board_ids(text_of(client.get("/followup/?status=closed"))) == {lift}
    assert board_ids(text_of(client.get("/followup/?status=overdue"))) == {bus}
    assert board_ids(text_of(client.get("/followup/?status=closed_resolved"))) == {lift}
    housing = dataset.world.housing.pk
    assert board_ids(text_of(client.get(f"/followup/?department={housing}"))) == {lift}
    transport = dataset.world.transport.pk
    assert board_ids(text_of(client.get(f"/followup/?department={transport}"))) == {bus}
    assert board_ids(text_of(client.get("/followup/?q=公交"))) == {bus}
    assert board_ids(text_of(client.get("/followup/?q=电梯&status=open"))) == set()
    assert board_ids(text_of(client.get("/followup/?sector=transport&q=区间车"))) == {bus}


def test_board_refuses_a_bad_filter_with_a_message_and_shows_every_task(
    client: Client, dataset: Dataset
) -> None:
    html = text_of(client.get("/followup/?status=nonsense&department=abc"))
    assert 'data-testid="filter-error"' in html
    assert board_ids(html) == {dataset.lift.pk, dataset.bus.pk}


def test_board_is_in_english_on_request(client: Client, dataset: Dataset) -> None:
    html = text_of(client.get("/followup/", HTTP_ACCEPT_LANGUAGE="en"))
    assert 'lang="en"' in html and "Follow-up board" in html
    zh_html = text_of(client.get("/followup/"))
    assert 'lang="zh-hans"' in zh_html and zh("Follow-up board") in zh_html
    assert zh("Follow-up board") != "Follow-up board"


# --- a task ---------------------------------------------------------------------------------


def test_task_page_shows_timeline_reply_reviewers_votes_and_evaluations(
    client: Client, dataset: Dataset
) -> None:
    html = text_of(client.get(f"/followup/tasks/{dataset.lift.pk}/"))
    page = visible(html)
    assert "经核实，加装电梯补贴将于本月底前发放到位。" in page
    # The three reviewers, by name, with their times (editor → section head → leader).
    reviewers = re.search(r'data-testid="reviewers-1">(.*?)</ol>', html, flags=re.S)
    assert reviewers is not None
    names = visible(reviewers.group(1))
    assert re.search(
        r"\bdept 2026-03-03 10:00 .*Sectionhead 2026-03-03 10:00 .*Deptleader 2026-03-03 10:00",
        names,
    ), names
    for action in (
        "create",
        "assign",
        "accept",
        "request_extension",
        "approve_extension",
        "reply_published",
        "close",
    ):
        assert f'data-testid="event-{action}"' in html, action
    assert re.search(r'data-testid="vote-count-satisfied">2<', html)
    assert re.search(r'data-testid="vote-count-unsatisfied">1<', html)
    assert re.search(r'data-testid="vote-count-basic">0<', html)
    summary = re.search(r'data-testid="evaluation-summary">(.*?)</p>', html, flags=re.S)
    assert summary is not None
    assert "2" in visible(summary.group(1))
    assert 'data-testid="task-extension"' in html


def test_task_page_of_a_private_task_does_not_exist(client: Client, dataset: Dataset) -> None:
    assert client.get(f"/followup/tasks/{dataset.private.pk}/").status_code == 404
    assert client.get("/followup/tasks/999999/").status_code == 404


def test_a_browser_that_voted_sees_its_vote_and_cannot_vote_again(
    client: Client, dataset: Dataset, settings: Any
) -> None:
    settings.HUB_BROWSER_MIN_AGE_SECONDS = 0  # the age rule: tests/test_honest_counts.py
    client.get("/followup/")  # receive a browser id
    url = f"/api/followup/tasks/{dataset.lift.pk}/vote"
    first = client.post(url, {"verdict": "basic"}, content_type="application/json")
    assert first.status_code == 200 and first.json()["basic"] == 1
    second = client.post(url, {"verdict": "satisfied"}, content_type="application/json")
    assert second.status_code == 409 and second.json()["code"] == "already_voted"
    html = text_of(client.get(f"/followup/tasks/{dataset.lift.pk}/"))
    assert re.search(r'data-testid="vote-basic" aria-pressed="true" disabled', html)
    assert 'data-testid="vote-result" role="status">' in html
    assert PublicVote.objects.filter(reply__task=dataset.lift).count() == 4


def test_task_page_of_an_unreplied_task_shows_deadline_and_no_vote(
    client: Client, dataset: Dataset
) -> None:
    html = text_of(client.get(f"/followup/tasks/{dataset.bus.pk}/"))
    assert 'data-testid="no-reply"' in html
    assert 'data-testid="vote-panel"' not in html
    assert 'data-testid="event-return"' in html and 'data-testid="event-reassign"' in html
    assert "不属于本单位职责" not in html  # the department's internal reason stays internal


def test_code_page_renders_its_form(client: Client, dataset: Dataset) -> None:
    html = text_of(client.get("/followup/code/"))
    assert 'data-testid="code-form"' in html and 'data-testid="evaluate-form"' in html


# --- department pages ----------------------------------------------------------------------------


def kpi(html: str, key: str) -> str:
    match = re.search(rf'data-testid="kpi-value-{key}">(.*?)</p>', html, flags=re.S)
    assert match is not None, key
    return match.group(1).strip()


def test_department_page_shows_the_hand_computed_kpis_with_their_definitions(
    client: Client, dataset: Dataset
) -> None:
    housing = dataset.world.housing.pk
    html = text_of(client.get(f"/followup/departments/{housing}/?start=2026-03-01&end=2026-03-31"))
    assert kpi(html, "completion_rate") == "50.0%"
    assert kpi(html, "on_time_rate") == "100.0%"
    assert kpi(html, "resolution_rate") == "50.0%"
    assert kpi(html, "satisfaction_rate") == "100.0%"
    assert kpi(html, "return_rate") == "33.3%"
    assert kpi(html, "overdue") == "1"
    assert kpi(html, "reopened") == "0"
    page = visible(html)
    for key, (label, definition) in DEFINITIONS.items():
        assert str(label) in page, key
        assert str(definition) in page, key
    # The fractions behind the rates.
    detail = re.search(r'data-testid="kpi-detail-return_rate">(.*?)</p>', html, flags=re.S)
    assert detail is not None and "1" in detail.group(1) and "3" in detail.group(1)
    # The supervision history: the private task, level 1, without a link (not public).
    history = re.search(r'data-testid="supervision-history">(.*?)</section>', html, re.S)
    assert history is not None
    rows = re.findall(r'data-testid="supervision-(\d+)-\d+"', history.group(1))
    assert rows == [str(dataset.private.pk)]
    assert f'href="/followup/tasks/{dataset.private.pk}/"' not in html


def test_department_page_charts_are_svg_with_text_alternatives_and_data_tables(
    client: Client, dataset: Dataset
) -> None:
    housing = dataset.world.housing.pk
    html = text_of(client.get(f"/followup/departments/{housing}/?start=2026-03-01&end=2026-03-31"))
    for key in ("rates", "trend", "counts", "resolved", "satisfaction", "votes"):
        chart = re.search(rf'data-testid="chart-{key}">(.*?)</figure>', html, flags=re.S)
        assert chart is not None, key
        body = chart.group(1)
        assert "<svg" in body and 'role="img"' in body and "<desc" in body, key
        assert f'data-testid="chart-table-{key}"' in body, key
    rates = re.search(r'data-testid="chart-table-rates">(.*?)</table>', html, flags=re.S)
    assert rates is not None
    assert re.findall(r"<td>([\d.]+%|—)</td>", rates.group(1)) == [
        "50.0%",
        "100.0%",
        "50.0%",
        "100.0%",
        "33.3%",
    ]
    votes = re.search(r'data-testid="chart-table-votes">(.*?)</table>', html, flags=re.S)
    assert votes is not None and re.findall(r"<td>(\d+)</td>", votes.group(1)) == ["2", "0", "1"]
    # Daily buckets for a one-month period: 31 points on the trend chart's table.
    trend = re.search(r'data-testid="chart-table-trend">(.*?)</table>', html, flags=re.S)
    assert trend is not None and trend.group(1).count("<tr>") == 32


def test_departments_page_compares_every_department(client: Client, dataset: Dataset) -> None:
    html = text_of(client.get("/followup/departments/?start=2026-03-01&end=2026-03-31"))
    housing, transport = dataset.world.housing.pk, dataset.world.transport.pk
    row = re.search(rf'data-testid="kpi-row-{housing}">(.*?)</tr>', html, flags=re.S)
    assert row is not None
    assert re.findall(r"<td>(.*?)</td>", row.group(1)) == [
        "2",
        "1",
        "50.0%",
        "100.0%",
        "50.0%",
        "100.0%",
        "33.3%",
        "0",
        "1",
        "1",
        "1",
        "0",
    ]
    other = re.search(rf'data-testid="kpi-row-{transport}">(.*?)</tr>', html, flags=re.S)
    assert other is not None and re.findall(r"<td>(.*?)</td>", other.group(1))[:3] == [
        "1",
        "0",
        "0.0%",
    ]
    assert 'data-testid="definitions"' in html


def test_a_bad_period_is_refused_with_a_message_and_the_default_is_shown(
    client: Client, dataset: Dataset
) -> None:
    housing = dataset.world.housing.pk
    html = text_of(client.get(f"/followup/departments/{housing}/?start=2026-03-31&end=2026-03-01"))
    assert 'data-testid="period-error"' in html
    html = text_of(client.get(f"/followup/departments/{housing}/?start=2025-01-01&end=2026-03-31"))
    assert 'data-testid="period-error"' in html
    html = text_of(client.get(f"/followup/departments/{housing}/?start=yesterday"))
    assert 'data-testid="period-form"' in html
    assert client.get("/followup/departments/999999/").status_code == 404


# --- privacy ---------------------------------------------------------------------------------------


def test_no_public_page_shows_private_data(client: Client, dataset: Dataset) -> None:
    housing, transport = dataset.world.housing.pk, dataset.world.transport.pk
    period = "start=2026-03-01&end=2026-03-31"
    urls = [
        "/followup/",
        "/followup/?status=overdue",
        "/followup/?q=电梯",
        f"/followup/tasks/{dataset.lift.pk}/",
        f"/followup/tasks/{dataset.bus.pk}/",
        "/followup/code/",
        f"/followup/departments/?{period}",
        f"/followup/departments/{housing}/?{period}",
        f"/followup/departments/{transport}/?{period}",
        f"/api/followup/tasks/{dataset.lift.pk}",
        "/api/followup/tasks",
    ]
    for url in urls:
        for language in ("zh-hans", "en"):
            response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
            assert response.status_code == 200, url
            body = response.content.decode()
            for secret in PRIVATE_STRINGS:
                assert secret not in body, (url, secret)
    assert dataset.private.state == TaskState.IN_PROGRESS


def test_the_report_is_for_staff_only(client: Client, dataset: Dataset) -> None:
    world = dataset.world
    response = client.get("/followup/report/")
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert client.get("/followup/report.pdf").status_code == 302
    client.force_login(world.editor)  # a department member
    assert client.get("/followup/report/").status_code == 403
    assert client.get("/followup/report.xlsx").status_code == 403
    assert client.post("/followup/report/archive/").status_code == 403
    client.force_login(world.staff)
    assert client.get("/followup/report/?start=2026-03-02&end=2026-03-08").status_code == 200
    # The staff link shows in the follow-up navigation for staff only.
    assert 'data-testid="nav-report"' in text_of(client.get("/followup/"))
    client.logout()
    assert 'data-testid="nav-report"' not in text_of(client.get("/followup/"))


# --- charts ------------------------------------------------------------------------------------


def test_chart_svg_escapes_every_text_and_draws_nothing_for_a_missing_rate() -> None:
    from hub.followup.charts import Series, bar_chart, line_chart, percent

    chart = bar_chart(
        "x",
        'Rates <script>alert("x")</script>',
        [("<b>办结率</b>", 0.5), ("满意率 & more", None)],
        label_header="Figure",
        value_header="Rate",
        max_value=1.0,
        value_text=percent,
        zero_is_data=True,
    )
    svg = chart.svg()
    assert "<script>" not in svg and "<b>" not in svg
    assert "&lt;b&gt;办结率&lt;/b&gt;" in svg and "&amp; more" in svg
    assert svg.count('fill="#1f4e8c"') == 1  # one bar: the missing rate draws none
    assert "50.0%" in svg and "—" in svg
    assert chart.table.rows == [["<b>办结率</b>", "50.0%"], ["满意率 & more", "—"]]
    assert not chart.is_empty
    zeros = bar_chart("z", "Counts", [("a", 0), ("b", 0)], label_header="", value_header="")
    assert zeros.is_empty
    line = line_chart(
        "l",
        "Trend",
        ["03-02", "03-03", "03-04", "03-05"],
        [Series("办结率", [0.5, None, 1.0, 0.75])],
        label_header="From",
        max_value=1.0,
        value_text=percent,
    )
    # A gap splits the line: one point alone, then a segment of two.
    assert line.svg().count("<polyline") == 1 and line.svg().count("<circle") == 3
    assert 'font-family="cjk"' in line.svg(font_family="cjk", for_pdf=True)
    assert "<title" not in line.svg(font_family="cjk", for_pdf=True)
