"""The department bar charts shared by the departments page and the weekly report: which
departments get a bar, in which order, and how counts and rates read."""

from __future__ import annotations

import pytest
from django.utils import translation

from hub.followup.charts import PALETTE, department_bar_charts, percent
from hub.followup.kpis import DepartmentKpis


def rows() -> list[DepartmentKpis]:
    return [
        DepartmentKpis(
            1,
            "住建局",
            "city",
            assigned=4,
            closed=3,
            closed_on_time=2,
            dispatched=5,
            evaluated=4,
            satisfied=1,
            basically_satisfied=2,
            unsatisfied=1,
        ),
        DepartmentKpis(2, "统计局", "city"),  # nothing in the period
        DepartmentKpis(3, "交通运输局", "district", assigned=2, dispatched=2),
        DepartmentKpis(4, "信访局", "district", dispatched=1),  # dispatched, then returned
        DepartmentKpis(5, "民政局", "district", evaluated=1, satisfied=1),
    ]


def test_only_departments_with_something_in_the_period_get_a_bar_in_row_order() -> None:
    charts = department_bar_charts(rows(), ("assigned", "completion"))
    for chart in charts:
        assert chart.labels == ["住建局", "交通运输局", "信访局", "民政局"], chart.key
    assert [r[0] for r in charts[0].table.rows] == ["住建局", "交通运输局", "信访局", "民政局"]


def test_charts_come_in_the_order_of_the_keys_asked_for() -> None:
    keys = ("satisfaction", "assigned", "on_time", "completion")
    assert [c.key for c in department_bar_charts(rows(), keys)] == list(keys)
    assert [c.key for c in department_bar_charts(rows(), ("on_time",))] == ["on_time"]


def test_assigned_is_a_count_and_all_zeros_is_an_empty_chart() -> None:
    (chart,) = department_bar_charts(rows(), ("assigned",))
    assert chart.series[0].values == [4, 2, 0, 0]
    assert chart.series[0].color == PALETTE[5]
    assert chart.max_value is None and not chart.zero_is_data
    assert chart.table.rows == [
        ["住建局", "4"],
        ["交通运输局", "2"],
        ["信访局", "0"],
        ["民政局", "0"],
    ]
    assert department_bar_charts([rows()[1]], ("assigned",))[0].is_empty


def test_rates_read_as_percentages_with_a_dash_when_nothing_to_count_and_zero_is_a_result() -> None:
    completion, on_time, satisfaction = department_bar_charts(
        rows(), ("completion", "on_time", "satisfaction")
    )
    assert completion.series[0].values == [0.75, 0.0, None, None]
    assert on_time.series[0].values == [pytest.approx(2 / 3), None, None, None]
    assert satisfaction.series[0].values == [0.75, None, None, 1.0]
    for chart in (completion, on_time, satisfaction):
        assert chart.max_value == 1.0 and chart.value_text is percent and chart.zero_is_data
    assert completion.table.rows[:3] == [
        ["住建局", "75.0%"],
        ["交通运输局", "0.0%"],
        ["信访局", "—"],
    ]
    # 0% completed is a result to show, not an empty chart.
    assert not department_bar_charts([rows()[2]], ("completion",))[0].is_empty
    assert [c.series[0].color for c in (completion, on_time, satisfaction)] == [
        PALETTE[2],
        "",
        PALETTE[3],
    ]


def test_titles_and_headers_are_in_the_active_language() -> None:
    keys = ("assigned", "completion", "on_time", "satisfaction")
    with translation.override("zh-hans"):
        charts = department_bar_charts(rows(), keys)
    assert [c.title for c in charts] == [
        "各单位交办任务数",
        "各单位办结率",
        "各单位按时办结率",
        "各单位满意率",
    ]
    with translation.override("en"):
        charts = department_bar_charts(rows(), keys)
    assert [c.title for c in charts] == [
        "Tasks assigned by department",
        "Completion rate by department",
        "On-time rate by department",
        "Satisfaction rate by department",
    ]
    assert [c.table.headers for c in charts] == [
        ["Department", "Assigned"],
        ["Department", "Completion rate"],
        ["Department", "On-time rate"],
        ["Department", "Satisfaction rate"],
    ]


def test_an_unknown_key_is_an_error_not_a_missing_chart() -> None:
    with pytest.raises(KeyError):
        department_bar_charts(rows(), ("completion", "closed"))
