"""Department KPIs and the weekly report on a small dataset whose figures are worked out
by hand (see the comments), with frozen time."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from hub.followup import actions
from hub.followup.codes import issue_code
from hub.followup.kpis import DEFINITIONS, department_kpis, totals
from hub.followup.report import weekly_report
from hub.followup.timers import tick
from tests.followup_steps import department_user, refresh

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 1, tzinfo=SH)
END = datetime(2026, 12, 1, tzinfo=SH)
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=SH)


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


def publish(task_id: int, people: tuple[Any, Any, Any], text: str) -> None:
    editor, section, leader = people
    actions.do_save_reply(editor, task_id, text)
    actions.do_editor_approve_reply(editor, task_id)
    actions.do_section_approve_reply(section, task_id)
    actions.do_sign_off_reply(leader, task_id)


@pytest.fixture
def dataset(followup: Any) -> Any:
    """- lift → housing: accepted, replied on time (Wed), closed resolved; evaluated
      yes/satisfied (code) and partly/basic (callback); two public votes.
    - bus → transport, returned (退单), reassigned to the county: accepted, replied late
      (Tue of the next week), closed unresolved; evaluated no/unsatisfied.
    - private → housing: never accepted: level-1 supervision on Monday afternoon."""
    w = followup
    county = tuple(department_user(f"county{i}", w.county) for i in range(3))
    housing = (w.editor, w.section, w.leader)
    lift, bus, private = (w.tasks[k].pk for k in ("lift", "bus", "private"))
    with time_machine.travel(at(2026, 11, 2, 9, 0), tick=False):
        actions.do_assign_task(w.staff, lift, lead_department_id=w.housing.pk)
        actions.do_assign_task(w.staff, bus, lead_department_id=w.transport.pk)
        actions.do_assign_task(w.staff, private, lead_department_id=w.housing.pk)
    with time_machine.travel(at(2026, 11, 2, 9, 30), tick=False):
        actions.do_accept_task(w.editor, lift)
        actions.do_return_task(w.outsider, bus, "公交线路属于县区管理")
    with time_machine.travel(at(2026, 11, 2, 10, 0), tick=False):
        actions.do_reassign_task(w.staff, bus, lead_department_id=w.county.pk)
    with time_machine.travel(at(2026, 11, 2, 10, 30), tick=False):
        actions.do_accept_task(county[0], bus)
    tick(at(2026, 11, 2, 15, 0))  # private: 4.5 working hours without acceptance
    with time_machine.travel(at(2026, 11, 4, 10, 0), tick=False):
        publish(lift, housing, "经核实，补贴将于本月底前发放到位。")
    with time_machine.travel(at(2026, 11, 10, 12, 0), tick=False):
        publish(bus, county, "已协调公交公司研究增开区间车。")
    with time_machine.travel(at(2026, 11, 11, 9, 0), tick=False):
        actions.do_evaluate_by_code(issue_code(w.questions["lift"]), "yes", "satisfied")
        lift3 = refresh(w.tasks["lift"]).askers.get(question=w.questions["lift3"])
        actions.do_record_callback(w.staff, lift, lift3.pk, "partly", "basic")
        bus_asker = refresh(w.tasks["bus"]).askers.get()
        actions.do_record_callback(w.staff, bus, bus_asker.pk, "no", "unsatisfied")
        actions.do_vote_on_reply("browser-a", lift, "satisfied")
        actions.do_vote_on_reply("browser-b", lift, "basic")
    with time_machine.travel(at(2026, 11, 12, 9, 0), tick=False):
        actions.do_close_task(w.staff, lift, True)
        actions.do_close_task(w.staff, bus, False)
    return w


def test_every_kpi_has_a_written_definition_in_both_languages() -> None:
    from django.utils import translation

    keys = ("completion_rate", "on_time_rate", "resolution_rate", "satisfaction_rate")
    for key in (*keys, "return_rate", "overdue", "reopened"):
        _label, definition = DEFINITIONS[key]
        with translation.override("en"):
            english = str(definition)
        assert len(english.split()) > 8
        assert str(definition) != english  # the Chinese page prints the Chinese definition
    with translation.override("en"):
        assert "'Partly resolved' does not count" in str(DEFINITIONS["resolution_rate"][1])
    assert str(DEFINITIONS["return_rate"][0]) == "退单率"


def test_department_kpis_match_the_figures_worked_out_by_hand(dataset: Any) -> None:
    w = dataset
    rows = {r.department_name: r for r in department_kpis(START, END, now=NOW)}
    housing, transport, county = (
        rows[w.housing.name],
        rows[w.transport.name],
        rows[w.county.name],
    )
    # Housing: 2 assigned (lift, private), 1 closed (lift) → 办结率 1/2; lift replied on
    # time → 按时办结率 1/1; evaluations yes + partly → 解决率 1/2 ("partly" is not
    # resolved); satisfied + basic → 满意率 2/2; no returns of 2 dispatches → 退单率 0.
    assert (housing.assigned, housing.closed, housing.closed_on_time) == (2, 1, 1)
    assert housing.completion_rate == 0.5 and housing.on_time_rate == 1.0
    assert (housing.evaluated, housing.resolved_yes, housing.resolved_partly) == (2, 1, 1)
    assert housing.resolution_rate == 0.5 and housing.satisfaction_rate == 1.0
    assert (housing.dispatched, housing.returned, housing.return_rate) == (2, 0, 0.0)
    assert (housing.accept_overdue, housing.reply_overdue) == (1, 0)
    assert housing.overdue_now == 1  # the private task, still not accepted
    assert [(s.task_id, s.level) for s in housing.supervisions] == [(w.tasks["private"].pk, 1)]
    assert housing.votes == {"satisfied": 1, "basic": 1, "unsatisfied": 0}
    # Transport: dispatched once and returned it; no task of its own → rates undefined.
    assert (transport.dispatched, transport.returned, transport.return_rate) == (1, 1, 1.0)
    assert transport.assigned == 0 and transport.completion_rate is None
    assert transport.satisfaction_rate is None
    # County: 1 assigned and closed, but replied late → 按时办结率 0; evaluated no /
    # unsatisfied → 解决率 0, 满意率 0.
    assert (county.assigned, county.closed, county.closed_on_time) == (1, 1, 0)
    assert county.completion_rate == 1.0 and county.on_time_rate == 0.0
    assert county.resolution_rate == 0.0 and county.satisfaction_rate == 0.0
    # The whole city: 3 assigned, 2 closed, 1 on time, 3 evaluations (1 yes, 2 satisfied
    # or basic), 1 return of 4 dispatches.
    city = totals(list(rows.values()))
    assert (city.assigned, city.closed, city.closed_on_time, city.evaluated) == (3, 2, 1, 3)
    assert city.completion_rate == pytest.approx(2 / 3)
    assert city.resolution_rate == pytest.approx(1 / 3)
    assert city.satisfaction_rate == pytest.approx(2 / 3)
    assert city.return_rate == pytest.approx(1 / 4)


def test_kpis_count_only_what_happened_in_the_period(dataset: Any) -> None:
    w = dataset
    # The week of 9-16 November: no dispatch, no return; the three evaluations (11 Nov)
    # and the votes fall in it.
    rows = {
        r.department_name: r for r in department_kpis(at(2026, 11, 9), at(2026, 11, 16), now=NOW)
    }
    housing = rows[w.housing.name]
    assert housing.assigned == 0 and housing.dispatched == 0 and housing.completion_rate is None
    assert housing.evaluated == 2 and housing.accept_overdue == 0
    assert rows[w.transport.name].returned == 0


def test_the_weekly_report_gathers_counts_cases_overdue_and_failures(dataset: Any) -> None:
    w = dataset
    report = weekly_report(START, timezone.now() + timedelta(days=1), now=NOW)
    assert report.tasks_created == 3 and report.askers == 5
    assert report.by_channel == {"web": 3}
    assert report.askers_by_channel == {"web": 3, "hotline": 1, "microblog": 1}
    assert sum(v["tasks"] for v in report.by_sector.values()) == 3
    words = [word for word, _heat in report.hot_topics]
    assert report.hot_topics[0][1] == 1.0
    assert any("电梯" in word or "补贴" in word for word in words[:5])
    assert [c.task_id for c in report.good_cases] == [w.tasks["lift"].pk]
    assert report.good_cases[0].reply_working_days is not None
    bad = {c.task_id: c.reasons for c in report.bad_cases}
    assert set(bad[w.tasks["bus"].pk]) == {"returned", "unsatisfied"}
    assert bad[w.tasks["private"].pk] == ["accept_supervision_1"]
    private_case = next(c for c in report.bad_cases if c.task_id == w.tasks["private"].pk)
    assert private_case.text == ""  # a private question's text never enters the report
    assert [o.task_id for o in report.overdue] == [w.tasks["private"].pk]
    assert report.failures == []
