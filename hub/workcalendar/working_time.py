"""Working-time arithmetic in Asia/Shanghai for follow-up deadlines (issue 4 §3).

Definitions
-----------
- A **working day** is Monday to Friday unless the imported calendar lists it as a
  holiday, or a Saturday/Sunday that the calendar lists as a make-up workday (调休).
- **Working time** is time inside the office periods (:class:`OfficeHours`, by default
  ``HUB_OFFICE_HOURS`` = 09:00-12:00, 13:30-17:30) on working days.
- ``add_working_days(start, n)`` is ``add_working_time(start, n * hours.per_day)``: "reply
  within 5 working days" means five full office days of working time counted from the start
  instant (a task accepted on Monday 10:00 is due the next Monday 10:00 when the week has no
  holiday), not "by the end of the fifth day".

Every function takes aware datetimes (a naive one raises ``ValueError``), computes in
Asia/Shanghai and returns aware datetimes **in Asia/Shanghai**. Asia/Shanghai has had no
daylight-saving time since 1991, so wall-clock arithmetic is exact.

A year nobody imported
----------------------
The calendar is data staff import per year. For a year that has not been imported the
functions do **not** refuse (a deadline near New Year must still be computable): they fall
back to the weekend rule alone (no holidays, no make-up days), log one warning per year
and process, and :func:`missing_years` tells the admin which years staff should import
(the admin shows it as a warning). A caller that must not guess calls
:func:`require_calendar`, which raises :class:`CalendarMissing`.

Speed
-----
The calendar's day sets are built once per process from the database and rebuilt only
when an import bumps the version in the shared cache (:class:`VersionedBuild`); the
version is checked at most once a second (:class:`RecheckedBuild`), so a call costs set
lookups only. Arithmetic steps whole days, and
:func:`working_time_between` counts the whole days in between without visiting them. A
caller handling many tasks per tick may take :func:`current_calendar` once and call its
methods on one consistent snapshot.
"""

from __future__ import annotations

import logging
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from time import monotonic
from typing import TypeVar
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from hub.workcalendar.office_hours import OfficeHours, clock_offset
from moderation.versioned import VersionedBuild

__all__ = [
    "SHANGHAI",
    "CalendarMissing",
    "OfficeHours",
    "WorkingCalendar",
    "add_working_days",
    "add_working_time",
    "bump_calendar_version",
    "count_working_days",
    "current_calendar",
    "default_office_hours",
    "is_working_day",
    "missing_years",
    "require_calendar",
    "working_time_between",
]

logger = logging.getLogger("hub.workcalendar")
T = TypeVar("T")

SHANGHAI = ZoneInfo("Asia/Shanghai")
CALENDAR_VERSION_KEY = "workcalendar:version"
#: How long a process trusts its calendar snapshot before asking the shared cache again.
CALENDAR_RECHECK_SECONDS = 1.0
ZERO = timedelta()
ONE_DAY = timedelta(days=1)
#: Longest span the arithmetic accepts, in working days (~10 years): far beyond any
#: deadline, and it keeps a mistaken huge amount from looping for minutes.
MAX_WORKING_DAYS = 2500
END_OF_DAY = timedelta(days=1)  # an offset past every office period

_warned_years: set[int] = set()
_warned_lock = threading.Lock()


class CalendarMissing(Exception):
    """No working calendar was imported for a year (raised by :func:`require_calendar`)."""

    def __init__(self, year: int) -> None:
        super().__init__(f"no working calendar imported for {year}")
        self.year = year


def _warn_missing(year: int) -> None:
    if year in _warned_years:
        return
    with _warned_lock:
        if year in _warned_years:
            return
        _warned_years.add(year)
    logger.warning(
        "no working calendar imported for %s: counting only Saturdays and Sundays as days off "
        "(import the year's holidays and make-up workdays in the admin)",
        year,
    )


def _local(moment: datetime, what: str) -> datetime:
    if not isinstance(moment, datetime):
        raise TypeError(f"{what} must be a datetime, not {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {moment.isoformat()}")
    return moment.astimezone(SHANGHAI)


def _at(day: date, offset: timedelta) -> datetime:
    return datetime.combine(day, time(), tzinfo=SHANGHAI) + offset


class WorkingCalendar:
    """An immutable snapshot of the imported calendar: which days are working days.

    ``holidays`` are days off whatever their weekday; ``workdays`` are make-up workdays
    (normally on a weekend); ``years`` are the years imported. Days of other years follow
    the weekend rule (see the module docstring).
    """

    def __init__(self, holidays: Iterable[date], workdays: Iterable[date], years: Iterable[int]):
        self.holidays = frozenset(holidays)
        self.workdays = frozenset(workdays)
        self.years = frozenset(years)
        # Only exceptions that change the weekend rule's answer matter when counting.
        self._weekday_holidays = sorted(
            d for d in self.holidays if d.weekday() < 5 and d not in self.workdays
        )
        self._weekend_workdays = sorted(d for d in self.workdays if d.weekday() >= 5)

    # --- days ---------------------------------------------------------------------------

    def is_working_day(self, day: date) -> bool:
        if isinstance(day, datetime):
            raise TypeError("is_working_day takes a date; use .astimezone(SHANGHAI).date()")
        if day.year not in self.years:
            _warn_missing(day.year)
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def count_working_days(self, first: date, last: date) -> int:
        """Working days from ``first`` to ``last``, both included (0 when last < first).

        Counts weekdays arithmetically and corrects by the exceptions in the range, so a
        range of years costs the same as a week.
        """
        if last < first:
            return 0
        for year in range(first.year, last.year + 1):
            if year not in self.years:
                _warn_missing(year)
        weeks, rest = divmod((last - first).days + 1, 7)
        count = weeks * 5
        weekday = first.weekday()
        count += sum(1 for i in range(rest) if (weekday + i) % 7 < 5)
        count -= bisect_right(self._weekday_holidays, last) - bisect_left(
            self._weekday_holidays, first
        )
        count += bisect_right(self._weekend_workdays, last) - bisect_left(
            self._weekend_workdays, first
        )
        return count

    # --- working time -------------------------------------------------------------------

    def add_working_time(
        self, start: datetime, amount: timedelta, hours: OfficeHours | None = None
    ) -> datetime:
        """The instant when ``amount`` of working time has elapsed after ``start``.

        - A start outside office hours (before, between periods, after, or on a day off)
          begins counting at the next office period.
        - ``amount == 0`` returns ``start`` itself (in Asia/Shanghai), even outside hours.
        - When the amount runs out exactly at the end of a period the result is that end
          (e.g. 17:30), never the start of the next period.
        - Negative amounts, and amounts beyond ``MAX_WORKING_DAYS``, raise ``ValueError``.
        """
        local = _local(start, "start")
        if not isinstance(amount, timedelta):
            raise TypeError(f"amount must be a timedelta, not {type(amount).__name__}")
        if amount < ZERO:
            raise ValueError(f"amount must not be negative, got {amount}")
        if amount == ZERO:
            return local
        hours = hours or default_office_hours()
        if amount > MAX_WORKING_DAYS * hours.per_day:
            raise ValueError(f"amount {amount} is more than {MAX_WORKING_DAYS} working days")
        periods = hours.offsets
        remaining = amount
        day = local.date()
        if self.is_working_day(day):
            clock = clock_offset(local)
            for begin, end in periods:
                if clock >= end:
                    continue
                begin = max(begin, clock)
                if remaining <= end - begin:
                    return _at(day, begin + remaining)
                remaining -= end - begin
        # Whole working days, one step per calendar day; stop on the day it runs out.
        per_day = hours.per_day
        day += ONE_DAY
        while True:
            if self.is_working_day(day):
                if remaining <= per_day:
                    break
                remaining -= per_day
            day += ONE_DAY
        for begin, end in periods:
            if remaining <= end - begin:
                return _at(day, begin + remaining)
            remaining -= end - begin
        raise AssertionError("unreachable: the remaining time fits in one working day")

    def add_working_days(
        self, start: datetime, days: int, hours: OfficeHours | None = None
    ) -> datetime:
        """``add_working_time(start, days * hours.per_day)``: full office days from the
        start instant (see the module docstring). ``days`` must be a non-negative int."""
        if isinstance(days, bool) or not isinstance(days, int):
            raise TypeError(f"days must be an int, not {type(days).__name__}")
        if days < 0:
            raise ValueError(f"days must not be negative, got {days}")
        hours = hours or default_office_hours()
        return self.add_working_time(start, days * hours.per_day, hours)

    def working_time_between(
        self, start: datetime, end: datetime, hours: OfficeHours | None = None
    ) -> timedelta:
        """Office time on working days in ``[start, end)``; zero when ``end <= start``.

        The inverse of :meth:`add_working_time`:
        ``working_time_between(s, add_working_time(s, x)) == x`` for every x ≥ 0. (The
        other way round holds only for an ``end`` inside office hours: an end in the
        evening maps back to 17:30.)
        """
        a = _local(start, "start")
        b = _local(end, "end")
        if b <= a:
            return ZERO
        hours = hours or default_office_hours()
        first, last = a.date(), b.date()
        if first == last:
            return self._office_time_on(first, clock_offset(a), clock_offset(b), hours)
        total = self._office_time_on(first, clock_offset(a), END_OF_DAY, hours)
        total += self._office_time_on(last, ZERO, clock_offset(b), hours)
        between = self.count_working_days(first + ONE_DAY, last - ONE_DAY)
        return total + between * hours.per_day

    def _office_time_on(
        self, day: date, low: timedelta, high: timedelta, hours: OfficeHours
    ) -> timedelta:
        """Office time on ``day`` between the wall-clock offsets ``low`` and ``high``."""
        if high <= low or not self.is_working_day(day):
            return ZERO
        total = ZERO
        for begin, end in hours.offsets:
            overlap = min(end, high) - max(begin, low)
            if overlap > ZERO:
                total += overlap
        return total


# --- the process's calendar ----------------------------------------------------------------


def _build_calendar() -> WorkingCalendar:
    from hub.workcalendar.models import CalendarDay, CalendarYear, DayKind

    holidays: list[date] = []
    workdays: list[date] = []
    for day, kind in CalendarDay.objects.values_list("date", "kind"):
        (holidays if kind == DayKind.HOLIDAY else workdays).append(day)
    years = CalendarYear.objects.values_list("year", flat=True)
    return WorkingCalendar(holidays, workdays, years)


class RecheckedBuild(VersionedBuild[T]):
    """A :class:`VersionedBuild` that asks the shared cache at most once per ``interval``.

    With Redis as the cache, the version lookup is a network round trip (~250 µs) that
    costs ten times the arithmetic, and a timer tick computes deadlines for every open
    task. A process therefore trusts its snapshot for ``interval`` seconds: another
    process's import is seen within that time; this process's own import (``bump``) and
    ``reset`` are seen at once.
    """

    def __init__(self, key: str, build: Callable[[], T], interval: float) -> None:
        super().__init__(key, build)
        self.interval = interval
        self._trusted_until = 0.0

    def get(self) -> T:
        built = self._built
        if built is not None and monotonic() < self._trusted_until:
            return built[1]
        value = super().get()
        self._trusted_until = monotonic() + self.interval
        return value

    def bump(self) -> None:
        super().bump()
        self._trusted_until = 0.0

    def reset(self) -> None:
        super().reset()
        self._trusted_until = 0.0


#: This process's snapshot; rebuilt when :func:`bump_calendar_version` is called anywhere
#: (seen by other processes within ``CALENDAR_RECHECK_SECONDS``).
calendar_build: RecheckedBuild[WorkingCalendar] = RecheckedBuild(
    CALENDAR_VERSION_KEY, _build_calendar, CALENDAR_RECHECK_SECONDS
)


def current_calendar() -> WorkingCalendar:
    """The calendar as imported, cached per process (one cache lookup to check freshness)."""
    return calendar_build.get()


def bump_calendar_version() -> None:
    """Tell every process that the calendar data changed (call after commit)."""
    calendar_build.bump()


@lru_cache(maxsize=8)
def _parse_office_hours(text: str) -> OfficeHours:
    return OfficeHours.parse(text)


def default_office_hours() -> OfficeHours:
    """``settings.HUB_OFFICE_HOURS`` (validated at start-up; a string is parsed too)."""
    value = settings.HUB_OFFICE_HOURS
    if isinstance(value, OfficeHours):
        return value
    return _parse_office_hours(str(value))


def is_working_day(day: date) -> bool:
    """Whether ``day`` (a date, not a datetime) is a working day in the imported calendar."""
    return current_calendar().is_working_day(day)


def count_working_days(first: date, last: date) -> int:
    """Working days from ``first`` to ``last``, both included."""
    return current_calendar().count_working_days(first, last)


def add_working_time(
    start: datetime, amount: timedelta, hours: OfficeHours | None = None
) -> datetime:
    """See :meth:`WorkingCalendar.add_working_time`."""
    return current_calendar().add_working_time(start, amount, hours)


def add_working_days(start: datetime, days: int, hours: OfficeHours | None = None) -> datetime:
    """See :meth:`WorkingCalendar.add_working_days`."""
    return current_calendar().add_working_days(start, days, hours)


def working_time_between(
    start: datetime, end: datetime, hours: OfficeHours | None = None
) -> timedelta:
    """See :meth:`WorkingCalendar.working_time_between`."""
    return current_calendar().working_time_between(start, end, hours)


def missing_years(today: date | None = None) -> list[int]:
    """Years deadlines may soon need that have no imported calendar.

    The current year always; from 1 December on also the next one (15 working days from
    mid-December reach into January). The State Council publishes the next year's
    schedule in November, so asking for it earlier would only be noise.
    """
    today = today or timezone.now().astimezone(SHANGHAI).date()
    wanted = [today.year] + ([today.year + 1] if today.month == 12 else [])
    imported = current_calendar().years
    return [year for year in wanted if year not in imported]


def require_calendar(*days: date) -> None:
    """Raise :class:`CalendarMissing` unless every day's year has an imported calendar."""
    imported = current_calendar().years
    for day in days:
        if day.year not in imported:
            raise CalendarMissing(day.year)
