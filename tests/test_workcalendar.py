"""The working-day calendar and working-time arithmetic (issue 4 §3).

Every vector below is worked out by hand from the State Council's 2026 schedule
(hub/workcalendar/data/cn-2026.json) with the default office hours 09:00-12:00 and
13:30-17:30, i.e. 7 hours of working time per working day (3 h + 4 h).
"""

from __future__ import annotations

import json
import logging
import random
import subprocess
import sys
import time as time_module
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import translation

from hub.errors import ActionForbidden
from hub.workcalendar import working_time
from hub.workcalendar.importing import (
    COMMAND_LINE,
    CalendarImportError,
    decode_calendar_file,
    do_import_calendar_year,
    parse_calendar,
)
from hub.workcalendar.models import CalendarDay, CalendarYear, DayKind
from hub.workcalendar.office_hours import OfficeHours, env_office_hours
from hub.workcalendar.working_time import (
    SHANGHAI,
    CalendarMissing,
    add_working_days,
    add_working_time,
    count_working_days,
    current_calendar,
    default_office_hours,
    is_working_day,
    missing_years,
    require_calendar,
    working_time_between,
)

ROOT = Path(__file__).resolve().parent.parent
CN_2026 = ROOT / "hub" / "workcalendar" / "data" / "cn-2026.json"
H = timedelta(hours=1)
MIN = timedelta(minutes=1)
IMPORT_URL = "/admin/workcalendar/calendaryear/import/"

pytestmark = pytest.mark.django_db


def sh(*args: int) -> datetime:
    """An Asia/Shanghai wall-clock time."""
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


@pytest.fixture(autouse=True)
def _fresh_calendar() -> Iterator[None]:
    """Each test reads the calendar of its own database, and warns afresh."""
    working_time.calendar_build.reset()
    working_time._warned_years.clear()
    yield
    working_time.calendar_build.reset()


@pytest.fixture
def english() -> Iterator[None]:
    """Messages in English, to match them here (the Chinese catalogue is tested apart)."""
    with translation.override("en"):
        yield


def year_file(year: int = 2027, **overrides: Any) -> dict[str, Any]:
    """A made-up schedule for a year nobody imported (test data, not the real 2027): two
    holidays and one make-up workday on the first Saturday of March (6 March 2027)."""
    first_saturday = next(d for d in range(1, 8) if date(year, 3, d).weekday() == 5)
    data: dict[str, Any] = {
        "year": year,
        "timezone": "Asia/Shanghai",
        "source": "test schedule",
        "holidays": {"元旦 New Year": [f"{year}-01-01"], "测试 Test": [f"{year}-03-03"]},
        "workdays": [f"{year}-03-{first_saturday:02d}"],
    }
    data.update(overrides)
    return data


# --- the shipped 2026 calendar -------------------------------------------------------------


def test_a_fresh_database_has_2026_from_the_shipped_file() -> None:
    year = CalendarYear.objects.get(year=2026)
    assert "国务院办公厅" in year.source
    assert year.days.filter(kind=DayKind.HOLIDAY).count() == 33
    assert sorted(year.days.filter(kind=DayKind.WORKDAY).values_list("date", flat=True)) == [
        date(2026, 1, 4),
        date(2026, 2, 14),
        date(2026, 2, 28),
        date(2026, 5, 9),
        date(2026, 9, 20),
        date(2026, 10, 10),
    ]
    assert CalendarDay.objects.get(date=date(2026, 2, 17)).name == "春节 Spring Festival"


@pytest.mark.parametrize(
    ("day", "weekday", "working"),
    [
        (date(2026, 1, 1), 3, False),  # 元旦, Thursday
        (date(2026, 1, 2), 4, False),  # 元旦, Friday
        (date(2026, 1, 3), 5, False),  # 元旦, Saturday
        (date(2026, 1, 4), 6, True),  # Sunday make-up workday
        (date(2026, 1, 5), 0, True),  # an ordinary Monday
        (date(2026, 1, 10), 5, False),  # an ordinary Saturday
        (date(2026, 2, 14), 5, True),  # Saturday make-up workday before 春节
        (date(2026, 2, 16), 0, False),  # 春节, Monday
        (date(2026, 2, 23), 0, False),  # last day of 春节, Monday
        (date(2026, 2, 24), 1, True),
        (date(2026, 2, 28), 5, True),  # Saturday make-up workday after 春节
        (date(2026, 4, 6), 0, False),  # 清明, Monday
        (date(2026, 5, 5), 1, False),  # 劳动节, Tuesday
        (date(2026, 5, 9), 5, True),  # Saturday make-up workday
        (date(2026, 6, 19), 4, False),  # 端午, Friday
        (date(2026, 9, 20), 6, True),  # Sunday make-up workday
        (date(2026, 9, 25), 4, False),  # 中秋, Friday
        (date(2026, 10, 7), 2, False),  # 国庆, Wednesday
        (date(2026, 10, 10), 5, True),  # Saturday make-up workday
        (date(2026, 10, 11), 6, False),
    ],
)
def test_working_days_follow_2026_holidays_and_make_up_days(
    day: date, weekday: int, working: bool
) -> None:
    assert day.weekday() == weekday  # the vector's own premise
    assert is_working_day(day) is working


def test_2026_has_248_working_days() -> None:
    # 261 weekdays, minus 19 holidays on weekdays, plus 6 make-up weekend days.
    assert count_working_days(date(2026, 1, 1), date(2026, 12, 31)) == 248
    assert count_working_days(date(2026, 2, 14), date(2026, 2, 24)) == 2
    assert count_working_days(date(2026, 2, 15), date(2026, 2, 23)) == 0
    assert count_working_days(date(2026, 3, 2), date(2026, 3, 1)) == 0


def test_is_working_day_refuses_a_datetime() -> None:
    with pytest.raises(TypeError, match="date"):
        is_working_day(sh(2026, 2, 14, 10))


# --- adding working time --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "amount", "expected"),
    [
        # Friday before 春节: 1.5 h on Friday, the rest on the make-up Saturday.
        (sh(2026, 2, 13, 16), 3 * H, sh(2026, 2, 14, 10, 30)),
        # From that Saturday the next working day is after the nine days of 春节.
        (sh(2026, 2, 14, 16), 3 * H, sh(2026, 2, 24, 10, 30)),
        # 元旦 Thursday to Saturday off; the Sunday after is a working day.
        (sh(2026, 1, 1, 8), 1 * H, sh(2026, 1, 4, 10)),
        # Before office hours, during lunch, after hours (Tuesday 3 March).
        (sh(2026, 3, 3, 7), 1 * H, sh(2026, 3, 3, 10)),
        (sh(2026, 3, 3, 12, 30), 1 * H, sh(2026, 3, 3, 14, 30)),
        (sh(2026, 3, 3, 18), 1 * H, sh(2026, 3, 4, 10)),
        (sh(2026, 3, 3, 17, 30), 1 * H, sh(2026, 3, 4, 10)),
        # On a holiday (清明 Monday) and across 清明 from the Friday before.
        (sh(2026, 4, 6, 10), 1 * H, sh(2026, 4, 7, 10)),
        (sh(2026, 4, 3, 17), 1 * H, sh(2026, 4, 7, 9, 30)),
        # Used up exactly at the end of a period: that end, not the next period.
        (sh(2026, 3, 3, 16), 90 * MIN, sh(2026, 3, 3, 17, 30)),
        (sh(2026, 3, 3, 11), 1 * H, sh(2026, 3, 3, 12)),
        (sh(2026, 3, 3, 9), 7 * H, sh(2026, 3, 3, 17, 30)),
        (sh(2026, 3, 3, 20), 7 * H, sh(2026, 3, 4, 17, 30)),
        # Friday 17:00 before 中秋 weekend: the Sunday 20 September is a make-up workday.
        (sh(2026, 9, 18, 17), 3 * H, sh(2026, 9, 20, 11, 30)),
        # Seconds and microseconds are kept.
        (
            sh(2026, 3, 3, 9, 0, 1),
            timedelta(microseconds=5),
            datetime(2026, 3, 3, 9, 0, 1, 5, SHANGHAI),
        ),
    ],
)
def test_add_working_time_vectors(start: datetime, amount: timedelta, expected: datetime) -> None:
    result = add_working_time(start, amount)
    assert result == expected
    assert result.tzinfo == SHANGHAI


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        # 5 working days = 35 h. 30 Sep: 6 h; 国庆 1–7 Oct off; 8, 9, 10 (make-up
        # Saturday) 21 h; 11 Oct Sunday off; 12 Oct 7 h; 1 h left on 13 Oct.
        (sh(2026, 9, 30, 10), 5, sh(2026, 10, 13, 10)),
        # 劳动节: 30 Apr 2.5 h; 1–5 May off; 6, 7, 8, 9 (make-up Saturday) 28 h; Sunday
        # off; 4.5 h on Monday 11 May: 3 h in the morning, 1.5 h after lunch.
        (sh(2026, 4, 30, 15), 5, sh(2026, 5, 11, 15)),
        # 15 working days (the longest extension) across 春节: 13, 14, 24–28 Feb,
        # 2–6 and 9–11 Mar; the 15th day's office time runs out at 17:30.
        (sh(2026, 2, 13, 9), 15, sh(2026, 3, 11, 17, 30)),
        # A plain week: full office days from the start instant.
        (sh(2026, 3, 2, 10), 5, sh(2026, 3, 9, 10)),
        (sh(2026, 3, 3, 9), 1, sh(2026, 3, 3, 17, 30)),
        (sh(2026, 3, 3, 9), 0, sh(2026, 3, 3, 9)),
    ],
)
def test_add_working_days_vectors(start: datetime, days: int, expected: datetime) -> None:
    assert add_working_days(start, days) == expected


def test_zero_amount_returns_the_start_itself_even_outside_office_hours() -> None:
    saturday_night = sh(2026, 3, 7, 20)
    assert add_working_time(saturday_night, timedelta()) == saturday_night


def test_an_instant_in_another_zone_is_the_same_instant() -> None:
    start_utc = datetime(2026, 2, 13, 8, tzinfo=UTC)  # 16:00 in Shanghai
    result = add_working_time(start_utc, 3 * H)
    assert result == sh(2026, 2, 14, 10, 30) and result.utcoffset() == timedelta(hours=8)
    assert working_time_between(start_utc, datetime(2026, 2, 14, 2, 30, tzinfo=UTC)) == 3 * H


def test_naive_datetimes_and_negative_amounts_are_refused() -> None:
    naive = datetime(2026, 3, 3, 10)
    with pytest.raises(ValueError, match="timezone-aware"):
        add_working_time(naive, H)
    with pytest.raises(ValueError, match="timezone-aware"):
        add_working_days(naive, 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        working_time_between(sh(2026, 3, 3, 10), naive)
    with pytest.raises(ValueError, match="negative"):
        add_working_time(sh(2026, 3, 3, 10), -H)
    with pytest.raises(ValueError, match="negative"):
        add_working_days(sh(2026, 3, 3, 10), -1)
    with pytest.raises(TypeError):
        add_working_days(sh(2026, 3, 3, 10), 1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="more than 2500 working days"):
        add_working_days(sh(2026, 3, 3, 10), 2501)


# --- working time between two instants -----------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (sh(2026, 3, 3, 11), sh(2026, 3, 3, 14), 90 * MIN),
        (sh(2026, 3, 3, 12, 10), sh(2026, 3, 3, 13, 20), timedelta()),
        (sh(2026, 2, 13, 16), sh(2026, 2, 24, 10), 90 * MIN + 7 * H + 1 * H),
        (sh(2026, 9, 30, 10), sh(2026, 10, 13, 10), 35 * H),
        (sh(2026, 10, 1, 0), sh(2026, 10, 8, 0), timedelta()),
        (sh(2026, 1, 1), sh(2027, 1, 1), 248 * 7 * H),
        (sh(2026, 3, 3, 14), sh(2026, 3, 3, 10), timedelta()),
        (sh(2026, 3, 3, 14), sh(2026, 3, 3, 14), timedelta()),
    ],
)
def test_working_time_between_vectors(start: datetime, end: datetime, expected: timedelta) -> None:
    assert working_time_between(start, end) == expected


def _reference_working_minutes(start: datetime, minutes: int) -> datetime:
    """Minute-by-minute reference from the JSON file itself (independent of the code)."""
    raw = json.loads(CN_2026.read_text(encoding="utf-8"))
    holidays = {date.fromisoformat(d) for days in raw["holidays"].values() for d in days}
    workdays = {date.fromisoformat(d) for d in raw["workdays"]}

    def working(moment: datetime) -> bool:
        day = moment.date()
        if day not in workdays and (day in holidays or day.weekday() >= 5):
            return False
        clock = moment.time()
        return time(9) <= clock < time(12) or time(13, 30) <= clock < time(17, 30)

    moment = start
    while minutes:
        if working(moment):
            minutes -= 1
        moment += MIN
    return moment


def test_add_working_time_agrees_with_a_minute_by_minute_reference() -> None:
    rng = random.Random(20260214)
    for _ in range(40):
        start = sh(2026, 1, 1) + rng.randrange(0, 350 * 24 * 60) * MIN
        minutes = rng.randrange(1, 5 * 7 * 60)
        expected = _reference_working_minutes(start, minutes)
        # The reference stops right after the last counted minute: 17:30, not 09:00 next day.
        assert add_working_time(start, minutes * MIN) == expected, (start, minutes)


def test_working_time_between_is_the_inverse_of_add_working_time() -> None:
    rng = random.Random(4)
    calendar = current_calendar()  # one snapshot, as a timer tick would use
    hours_options = [default_office_hours(), OfficeHours.parse("08:30-12:00,14:00-18:00")]
    for _ in range(2000):
        start = sh(2026, 1, 1) + timedelta(microseconds=rng.randrange(0, 360 * 86_400 * 10**6))
        amount = timedelta(microseconds=rng.randrange(0, 20 * 7 * 3600 * 10**6))
        hours = rng.choice(hours_options)
        end = calendar.add_working_time(start, amount, hours)
        assert end >= start
        assert calendar.working_time_between(start, end, hours) == amount, (start, amount)


# --- office hours --------------------------------------------------------------------------


def test_office_hours_parse_and_count_per_day() -> None:
    hours = OfficeHours.parse(" 09:00-12:00 , 13:30-17:30 ")
    assert hours.periods == ((time(9), time(12)), (time(13, 30), time(17, 30)))
    assert hours.per_day == 7 * H
    assert str(hours) == "09:00-12:00,13:30-17:30"
    assert default_office_hours() == hours


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("9-12", "HH:MM-HH:MM"),
        ("12:00-09:00", "ends before it starts"),
        ("09:00-12:00,11:00-13:00", "overlaps"),
        ("13:00-14:00,09:00-12:00", "overlaps or precedes"),
        ("09:00-24:00", "not a time of day"),
        ("09:00-12:60", "not a time of day"),
        ("09:00-12:00,", "HH:MM-HH:MM"),
    ],
)
def test_bad_office_hours_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OfficeHours.parse(text)


def test_other_office_hours_are_counted_within_their_periods() -> None:
    hours = OfficeHours.parse("08:30-12:00,14:00-18:00")  # 7.5 h a day
    assert hours.per_day == timedelta(hours=7, minutes=30)
    # Friday 16:00: 2 h on Friday, 1 h on the make-up Saturday from 08:30.
    assert add_working_time(sh(2026, 2, 13, 16), 3 * H, hours) == sh(2026, 2, 14, 9, 30)
    assert add_working_days(sh(2026, 3, 3, 8, 30), 1, hours) == sh(2026, 3, 3, 18)
    with override_settings(HUB_OFFICE_HOURS="08:30-12:00,14:00-18:00"):
        assert default_office_hours() == hours
        assert add_working_time(sh(2026, 3, 3, 12), H) == sh(2026, 3, 3, 15)


def test_a_bad_office_hours_setting_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_OFFICE_HOURS", "9 to 5")
    with pytest.raises(ImproperlyConfigured, match="HUB_OFFICE_HOURS"):
        env_office_hours("HUB_OFFICE_HOURS")
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "hub.settings",
            "HUB_OFFICE_HOURS": "17:30-09:00",
        },
    )
    assert result.returncode != 0
    assert "HUB_OFFICE_HOURS" in result.stderr and "ends before it starts" in result.stderr


# --- a year nobody imported ------------------------------------------------------------------


def test_a_year_not_imported_falls_back_to_the_weekend_rule_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="hub.workcalendar")
    assert is_working_day(date(2027, 1, 1)) is True  # a Friday; its holiday is unknown
    assert is_working_day(date(2027, 1, 2)) is False  # Saturday
    # Thursday 31 Dec 2026 16:00 + 3 h runs into Friday 1 Jan 2027.
    assert add_working_time(sh(2026, 12, 31, 16), 3 * H) == sh(2027, 1, 1, 10, 30)
    warnings = [r for r in caplog.records if "no working calendar imported for 2027" in r.message]
    assert len(warnings) == 1
    with pytest.raises(CalendarMissing, match="no working calendar imported for 2027"):
        require_calendar(date(2026, 12, 31), date(2027, 1, 1))
    require_calendar(date(2026, 12, 31))


def test_missing_years_asks_for_next_year_from_december() -> None:
    assert missing_years(date(2026, 11, 30)) == []
    assert missing_years(date(2026, 12, 1)) == [2027]
    assert missing_years(date(2028, 6, 1)) == [2028]


# --- importing a year ------------------------------------------------------------------------


def _import(actor: Any, data: Any, capture: Any) -> CalendarYear:
    with capture(execute=True):
        return do_import_calendar_year(actor, data)


def test_staff_import_a_year_and_every_process_sees_it(
    users: dict[str, User], django_capture_on_commit_callbacks: Any
) -> None:
    assert is_working_day(date(2027, 3, 3)) is True  # Wednesday, before the import
    before = current_calendar()
    assert current_calendar() is before  # cached: no rebuild without a change
    row = _import(users["staff"], year_file(), django_capture_on_commit_callbacks)
    assert row.year == 2027 and row.imported_by == "staff"
    assert is_working_day(date(2027, 3, 3)) is False  # imported holiday
    assert is_working_day(date(2027, 3, 6)) is True  # imported make-up Saturday
    assert missing_years(date(2026, 12, 15)) == []
    assert CalendarDay.objects.get(date=date(2027, 1, 1)).name == "元旦 New Year"


def test_another_process_import_is_seen_within_a_second(
    users: dict[str, User], django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert is_working_day(date(2027, 3, 3)) is True  # this process builds its snapshot
    with django_capture_on_commit_callbacks(execute=False):  # as if done elsewhere...
        do_import_calendar_year(users["staff"], year_file())
    cache.set(working_time.CALENDAR_VERSION_KEY, 99, None)  # ...which bumped the version
    assert is_working_day(date(2027, 3, 3)) is True  # the snapshot is trusted for a second
    later = time_module.monotonic() + working_time.CALENDAR_RECHECK_SECONDS + 0.1
    monkeypatch.setattr(working_time, "monotonic", lambda: later)
    assert is_working_day(date(2027, 3, 3)) is False


def test_re_importing_a_year_replaces_its_days(
    users: dict[str, User], django_capture_on_commit_callbacks: Any
) -> None:
    _import(users["staff"], year_file(), django_capture_on_commit_callbacks)
    second = year_file(
        source="corrected", holidays={"元旦 New Year": ["2027-01-01", "2027-01-04"]}, workdays=[]
    )
    _import(users["staff"], second, django_capture_on_commit_callbacks)
    assert CalendarYear.objects.filter(year=2027).count() == 1
    assert CalendarYear.objects.get(year=2027).source == "corrected"
    assert sorted(CalendarDay.objects.filter(date__year=2027).values_list("date", flat=True)) == [
        date(2027, 1, 1),
        date(2027, 1, 4),
    ]
    assert is_working_day(date(2027, 3, 3)) is True
    assert is_working_day(date(2027, 1, 4)) is False
    assert CalendarDay.objects.filter(date__year=2026).count() == 39  # other years untouched


def test_re_importing_the_shipped_file_changes_nothing(
    users: dict[str, User], django_capture_on_commit_callbacks: Any
) -> None:
    before = set(CalendarDay.objects.values_list("date", "kind", "name"))
    data = decode_calendar_file(CN_2026.read_bytes())
    _import(users["staff"], data, django_capture_on_commit_callbacks)
    assert set(CalendarDay.objects.values_list("date", "kind", "name")) == before


@pytest.mark.parametrize("who", ["nobody", "host", "dept", "observer"])
def test_only_staff_may_import_a_calendar(
    users: dict[str, User], who: str, django_capture_on_commit_callbacks: Any
) -> None:
    with pytest.raises(ActionForbidden):
        _import(users[who], year_file(), django_capture_on_commit_callbacks)
    assert not CalendarYear.objects.filter(year=2027).exists()


def test_a_superuser_and_the_command_line_may_import(
    django_capture_on_commit_callbacks: Any,
) -> None:
    root = User.objects.create_superuser("root", password="pw-root")
    assert _import(root, year_file(2027), django_capture_on_commit_callbacks).imported_by == "root"
    row = _import(COMMAND_LINE, year_file(2028), django_capture_on_commit_callbacks)
    assert row.imported_by == "command line"


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (year_file(holidays={"元旦": ["2028-01-01"]}), "2028-01-01 is not in 2027"),
        (year_file(holidays={"元旦": ["2027-02-30"]}), "not a real date"),
        (year_file(holidays={"元旦": ["2027-1-1"]}), "YYYY-MM-DD"),
        (year_file(holidays={"元旦": [20270101]}), "YYYY-MM-DD"),
        (year_file(workdays=["2027-01-01"]), "listed twice"),
        (year_file(holidays={"a": ["2027-01-01"], "b": ["2027-01-01"]}), "listed twice"),
        (year_file(workdays=["2027-03-04"]), "is a weekday already"),
        (year_file(holidays={}), "No holidays"),
        (year_file(holidays=["2027-01-01"]), "“holidays” must be an object"),
        (year_file(holidays={"元旦": "2027-01-01"}), "must list its dates"),
        (year_file(workdays="2027-03-06"), "“workdays” must be a list"),
        ({**year_file(), "year": "2027"}, "“year” must be a whole number"),
        ({**year_file(), "year": 1850}, "“year” must be a whole number"),
        (year_file(timezone="UTC"), "Asia/Shanghai"),
        (year_file(holiday={"x": []}), "Unknown keys: holiday"),
        ({"year": 2027, "holidays": {"元旦": ["2027-01-01"]}}, "“workdays” is missing"),
        ([2027], "one JSON object"),
    ],
)
@pytest.mark.usefixtures("english")
def test_a_bad_calendar_file_is_refused_with_its_reason_and_changes_nothing(
    users: dict[str, User], data: Any, problem: str, django_capture_on_commit_callbacks: Any
) -> None:
    with pytest.raises(CalendarImportError) as refused:
        _import(users["staff"], data, django_capture_on_commit_callbacks)
    assert refused.value.code == "invalid_calendar"
    assert any(problem in line for line in refused.value.problems), refused.value.problems
    assert not CalendarYear.objects.exclude(year=2026).exists()
    assert CalendarDay.objects.count() == 39


@pytest.mark.usefixtures("english")
def test_every_problem_is_reported_at_once() -> None:
    data = year_file(holidays={"元旦": ["2027-02-30", "2026-01-01"]}, workdays=["2027-03-04"])
    with pytest.raises(CalendarImportError) as refused:
        parse_calendar(data)
    assert len(refused.value.problems) == 3


def test_holidays_on_a_weekend_are_fine() -> None:
    parsed = parse_calendar(year_file(holidays={"周末 Weekend": ["2027-01-02", "2027-01-03"]}))
    assert [kind for _day, kind, _name in parsed.days] == ["holiday", "holiday", "workday"]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"{not json", r"not valid JSON \(line 1"),
        ("{}".encode("utf-16"), "not UTF-8"),
        (b" " * (300 * 1024), "larger than"),
    ],
)
@pytest.mark.usefixtures("english")
def test_unreadable_files_are_refused_clearly(raw: bytes, problem: str) -> None:
    with pytest.raises(CalendarImportError, match=problem):
        decode_calendar_file(raw)


# --- the admin and the command -----------------------------------------------------------------


def _upload(data: Any) -> SimpleUploadedFile:
    raw = data if isinstance(data, bytes) else json.dumps(data, ensure_ascii=False).encode()
    return SimpleUploadedFile("cn-2027.json", raw, content_type="application/json")


def test_staff_import_a_year_in_the_admin(
    client: Any, users: dict[str, User], django_capture_on_commit_callbacks: Any
) -> None:
    staff = users["staff"]
    staff.is_staff = True  # may log in to the admin; the staff role does the rest
    staff.save()
    client.force_login(staff)
    listing = client.get("/admin/workcalendar/calendaryear/", HTTP_ACCEPT_LANGUAGE="en")
    assert listing.status_code == 200 and IMPORT_URL in listing.content.decode()
    assert client.get(IMPORT_URL).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            IMPORT_URL, {"file": _upload(year_file())}, HTTP_ACCEPT_LANGUAGE="en"
        )
    assert response.status_code == 302
    assert response["Location"].endswith("/admin/workcalendar/calendaryear/")
    assert CalendarYear.objects.get(year=2027).imported_by == "staff"
    assert is_working_day(date(2027, 3, 3)) is False
    page = client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Imported the working calendar for 2027: 2 holidays and 1 make-up workdays" in page
    year_page = client.get(
        f"/admin/workcalendar/calendaryear/{CalendarYear.objects.get(year=2027).pk}/change/"
    )
    assert year_page.status_code == 200 and "2027-03-06" in year_page.content.decode()


def test_a_bad_file_in_the_admin_shows_its_problems_and_changes_nothing(
    client: Any, users: dict[str, User]
) -> None:
    staff = users["staff"]
    staff.is_staff = True
    staff.save()
    client.force_login(staff)
    bad = year_file(workdays=["2027-01-01"])
    response = client.post(IMPORT_URL, {"file": _upload(bad)}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 422
    page = response.content.decode()
    assert "nothing was changed" in page and "2027-01-01 is listed twice" in page
    garbled = client.post(IMPORT_URL, {"file": _upload(b"\xff\xfe")}, HTTP_ACCEPT_LANGUAGE="en")
    assert garbled.status_code == 422 and "not UTF-8" in garbled.content.decode()
    assert not CalendarYear.objects.filter(year=2027).exists()


def test_the_admin_speaks_chinese_by_default(client: Any, users: dict[str, User]) -> None:
    staff = users["staff"]
    staff.is_staff = True
    staff.save()
    client.force_login(staff)
    response = client.post(IMPORT_URL, {"file": _upload(year_file(workdays=["2027-03-04"]))})
    assert "2027-03-04 被列为调休上班日，但它本来就是工作日" in response.content.decode()


def test_the_admin_refuses_non_staff(client: Any, users: dict[str, User]) -> None:
    nobody = users["nobody"]
    client.force_login(nobody)  # not allowed into the admin at all
    response = client.post(IMPORT_URL, {"file": _upload(year_file())})
    assert response.status_code == 302 and "/login/" in response["Location"]
    host = users["host"]
    host.is_staff = True  # may use the admin, but is not follow-up staff
    host.save()
    client.force_login(host)
    assert client.post(IMPORT_URL, {"file": _upload(year_file())}).status_code == 403
    assert client.get("/admin/workcalendar/calendaryear/").status_code == 403
    assert not CalendarYear.objects.filter(year=2027).exists()


def test_the_admin_warns_about_a_missing_year(
    client: Any, users: dict[str, User], time_machine: Any
) -> None:
    time_machine.move_to(sh(2026, 12, 2, 10))
    staff = users["staff"]
    staff.is_staff = True
    staff.save()
    client.force_login(staff)
    page = client.get("/admin/workcalendar/calendaryear/", HTTP_ACCEPT_LANGUAGE="en")
    assert "No working calendar is imported for 2027" in page.content.decode()


@pytest.mark.usefixtures("english")
def test_import_calendar_command(tmp_path: Path, django_capture_on_commit_callbacks: Any) -> None:
    good = tmp_path / "cn-2027.json"
    good.write_text(json.dumps(year_file(), ensure_ascii=False), encoding="utf-8")
    with django_capture_on_commit_callbacks(execute=True):
        call_command("import_calendar", str(good), stdout=(out := _Sink()))
    assert "Imported the working calendar for 2027: 2 holidays and 1 make-up workdays." in out.text
    assert is_working_day(date(2027, 3, 3)) is False
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(year_file(2028, workdays=["2027-03-06"])), encoding="utf-8")
    with pytest.raises(CommandError, match="is not in 2028"):
        call_command("import_calendar", str(bad))
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_calendar", str(tmp_path / "missing.json"))
    assert not CalendarYear.objects.filter(year=2028).exists()


class _Sink:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass
