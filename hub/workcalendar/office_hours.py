"""Office hours: the daily periods in which working time is counted.

A leaf module (no models, no app registry) so that ``hub/settings.py`` can validate
``HUB_OFFICE_HOURS`` at start-up. Times are Asia/Shanghai wall-clock times; a period may
not cross midnight (``24:00`` is not accepted: the last period ends at ``23:59`` at most).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.core.exceptions import ImproperlyConfigured

DEFAULT_OFFICE_HOURS = "09:00-12:00,13:30-17:30"

_PERIOD = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def clock_offset(moment: time | datetime) -> timedelta:
    """Wall-clock offset of a time of day (or of a datetime's clock) from midnight."""
    return timedelta(
        hours=moment.hour,
        minutes=moment.minute,
        seconds=moment.second,
        microseconds=moment.microsecond,
    )


@dataclass(frozen=True)
class OfficeHours:
    """Daily office periods in Asia/Shanghai local time, sorted, non-overlapping.

    Construction validates: at least one period; each period starts before it ends; the
    periods are in order and do not overlap (one may start exactly where the previous one
    ended). Times are naive (the zone is always Asia/Shanghai).
    """

    periods: tuple[tuple[time, time], ...]
    #: The periods as (start, end) offsets from midnight, computed once for the arithmetic.
    offsets: tuple[tuple[timedelta, timedelta], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.periods:
            raise ValueError("office hours need at least one period")
        previous_end: time | None = None
        for start, end in self.periods:
            if not isinstance(start, time) or not isinstance(end, time):
                raise ValueError("office hours periods are pairs of datetime.time")
            if start.tzinfo is not None or end.tzinfo is not None:
                raise ValueError("office hours are Asia/Shanghai wall-clock times: no tzinfo")
            if start >= end:
                raise ValueError(f"office period {start:%H:%M}-{end:%H:%M} ends before it starts")
            if previous_end is not None and start < previous_end:
                raise ValueError(
                    f"office period {start:%H:%M}-{end:%H:%M} overlaps or precedes the one "
                    f"ending at {previous_end:%H:%M} (list periods in order, without overlap)"
                )
            previous_end = end
        object.__setattr__(
            self,
            "offsets",
            tuple((clock_offset(start), clock_offset(end)) for start, end in self.periods),
        )

    @classmethod
    def parse(cls, text: str) -> OfficeHours:
        """``"09:00-12:00,13:30-17:30"`` → periods. Raises ``ValueError`` saying what is wrong."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError("office hours are empty (expected e.g. 09:00-12:00,13:30-17:30)")
        periods = []
        for part in text.split(","):
            match = _PERIOD.match(part)
            if match is None:
                raise ValueError(f"office period {part.strip()!r} is not HH:MM-HH:MM")
            h1, m1, h2, m2 = (int(group) for group in match.groups())
            for hour, minute in ((h1, m1), (h2, m2)):
                if hour > 23 or minute > 59:
                    raise ValueError(
                        f"office period {part.strip()!r}: {hour:02d}:{minute:02d} is not a time "
                        "of day (00:00 to 23:59)"
                    )
            periods.append((time(h1, m1), time(h2, m2)))
        return cls(tuple(periods))

    @property
    def per_day(self) -> timedelta:
        """Total office time in one working day (7h30 for the default hours)."""
        return sum((end - start for start, end in self.offsets), timedelta())

    def __str__(self) -> str:
        return ",".join(f"{start:%H:%M}-{end:%H:%M}" for start, end in self.periods)


def env_office_hours(name: str, default: str = DEFAULT_OFFICE_HOURS) -> OfficeHours:
    """Read office hours from the environment; a malformed value stops start-up."""
    value = os.environ.get(name)
    text = default if value is None else value
    try:
        return OfficeHours.parse(text)
    except ValueError as error:
        raise ImproperlyConfigured(f"{name}={text!r} is not valid office hours: {error}") from None
