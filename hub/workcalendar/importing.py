"""Importing a year's holidays and make-up workdays (the admin upload and ``import_calendar``).

The file format is that of ``hub/workcalendar/data/cn-2026.json``::

    {"year": 2026, "timezone": "Asia/Shanghai", "source": "…", "rule": "…",
     "holidays": {"春节 Spring Festival": ["2026-02-15", …], …},
     "workdays": ["2026-02-14", …]}

``timezone`` (must be Asia/Shanghai), ``source`` and ``rule`` (free text, not stored) are
optional; ``workdays`` may also be an object ``{name: [dates]}`` like ``holidays``.
Validation is strict and reports every problem at once; nothing is written unless the
whole file is valid. Importing a year again replaces that year's days in one transaction.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from hub.errors import ActionForbidden, DomainError
from hub.roles import Role, actor_label, roles_of
from hub.workcalendar.models import CalendarDay, CalendarYear, DayKind
from hub.workcalendar.working_time import bump_calendar_version

logger = logging.getLogger("hub.workcalendar")

DATA_DIR = Path(__file__).resolve().parent / "data"
#: Calendars shipped with the product and loaded by a data migration.
SHIPPED_FILES = ("cn-2026.json",)
#: A year's file is a few kilobytes; refuse anything that is clearly not one.
MAX_FILE_BYTES = 256 * 1024
FIRST_YEAR, LAST_YEAR = 2000, 2100
ALLOWED_KEYS = frozenset({"year", "timezone", "source", "rule", "holidays", "workdays"})
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class CalendarImportError(DomainError):
    """The calendar file is not valid; ``problems`` lists every reason."""

    code = "invalid_calendar"
    http_status = 422

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class SystemActor:
    """An actor that is not a user: the command line, or a data migration."""

    label: str


#: ``manage.py import_calendar`` runs with the rights of whoever has a shell on the server.
COMMAND_LINE = SystemActor("command line")


@dataclass(frozen=True)
class ParsedCalendar:
    year: int
    source: str
    #: (date, kind, name), sorted by date.
    days: tuple[tuple[date, str, str], ...]

    def count(self, kind: str) -> int:
        return sum(1 for _day, day_kind, _name in self.days if day_kind == kind)


def decode_calendar_file(raw: bytes) -> Any:
    """Bytes of an uploaded or read file → JSON value, with a clear error when it is not."""
    if len(raw) > MAX_FILE_BYTES:
        raise CalendarImportError(
            [
                _("The file is larger than %(limit)s KB: it is not a calendar file")
                % {"limit": MAX_FILE_BYTES // 1024}
            ]
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CalendarImportError([_("The file is not UTF-8 text")]) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise CalendarImportError(
            [
                _("The file is not valid JSON (line %(line)s, column %(column)s: %(reason)s)")
                % {"line": error.lineno, "column": error.colno, "reason": error.msg}
            ]
        ) from None


def _parse_date(value: Any, year: int | None, where: str, problems: list[str]) -> date | None:
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        problems.append(
            _("%(where)s: %(value)s is not a date written YYYY-MM-DD")
            % {"where": where, "value": json.dumps(value, ensure_ascii=False)}
        )
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        problems.append(
            _("%(where)s: %(value)s is not a real date") % {"where": where, "value": value}
        )
        return None
    if year is not None and day.year != year:
        problems.append(
            _("%(where)s: %(value)s is not in %(year)s")
            % {"where": where, "value": value, "year": year}
        )
        return None
    return day


def _named_lists(value: Any, key: str, problems: list[str]) -> list[tuple[str, Any]]:
    """``{name: [dates]}`` → [(name, dates)]; ``[dates]`` (workdays only) → [("", dates)]."""
    if key == "workdays" and isinstance(value, list):
        return [("", value)]
    if not isinstance(value, dict):
        problems.append(
            _("“%(key)s” must be an object mapping each name to a list of dates") % {"key": key}
            if key == "holidays"
            else _("“workdays” must be a list of dates (or an object mapping names to lists)")
        )
        return []
    groups = []
    for name, dates in value.items():
        if not name.strip() or len(name) > 80:
            problems.append(
                _("%(key)s: the name %(name)s must be 1 to 80 characters")
                % {"key": key, "name": json.dumps(name, ensure_ascii=False)}
            )
        if not isinstance(dates, list):
            problems.append(
                _("%(key)s: “%(name)s” must list its dates") % {"key": key, "name": name}
            )
            continue
        groups.append((name.strip()[:80], dates))
    return groups


def parse_calendar(data: Any) -> ParsedCalendar:
    """Validate a calendar file's JSON value strictly; raise :class:`CalendarImportError`
    listing every problem. A holiday may fall on a weekend; a make-up workday must be a
    Saturday or Sunday (on a weekday it would change nothing: surely a typo)."""
    if not isinstance(data, dict):
        raise CalendarImportError([_("The file must hold one JSON object (see cn-2026.json)")])
    problems: list[str] = []
    unknown = sorted(set(data) - ALLOWED_KEYS)
    if unknown:
        problems.append(
            _("Unknown keys: %(keys)s (allowed: %(allowed)s)")
            % {"keys": ", ".join(unknown), "allowed": ", ".join(sorted(ALLOWED_KEYS))}
        )
    year = data.get("year")
    if isinstance(year, bool) or not isinstance(year, int) or not FIRST_YEAR <= year <= LAST_YEAR:
        problems.append(
            _("“year” must be a whole number from %(first)s to %(last)s")
            % {"first": FIRST_YEAR, "last": LAST_YEAR}
        )
        year = None
    zone = data.get("timezone", "Asia/Shanghai")
    if zone != "Asia/Shanghai":
        problems.append(_("“timezone” must be Asia/Shanghai (the calendar is China's)"))
    source = data.get("source", "")
    if not isinstance(source, str):
        problems.append(_("“source” must be text"))
        source = ""
    if not isinstance(data.get("rule", ""), str):
        problems.append(_("“rule” must be text"))

    seen: dict[date, str] = {}
    days: list[tuple[date, str, str]] = []
    for key, kind in (("holidays", DayKind.HOLIDAY), ("workdays", DayKind.WORKDAY)):
        if key not in data:
            problems.append(_("“%(key)s” is missing") % {"key": key})
            continue
        for name, values in _named_lists(data[key], key, problems):
            where = f"{key} “{name}”" if name else key
            for value in values:
                day = _parse_date(value, year, where, problems)
                if day is None:
                    continue
                if day in seen:
                    problems.append(
                        _("%(date)s is listed twice (%(first)s and %(second)s)")
                        % {"date": value, "first": seen[day], "second": where}
                    )
                    continue
                seen[day] = where
                if kind == DayKind.WORKDAY and day.weekday() < 5:
                    problems.append(
                        _("%(date)s is listed as a make-up workday but is a weekday already")
                        % {"date": value}
                    )
                    continue
                days.append((day, str(kind), name))
    holidays = data.get("holidays")
    if isinstance(holidays, dict) and all(
        isinstance(dates, list) and not dates for dates in holidays.values()
    ):
        problems.append(_("No holidays are listed: this is not a year's schedule"))
    if problems:
        raise CalendarImportError(problems)
    assert year is not None
    return ParsedCalendar(year=year, source=source.strip(), days=tuple(sorted(days)))


def write_calendar_year(
    year_model: Any, day_model: Any, parsed: ParsedCalendar, *, imported_by: str, now: datetime
) -> tuple[Any, bool]:
    """Replace ``parsed.year``'s rows; returns (year row, whether it replaced an import).

    Takes the model classes so that the data migration can pass its historical models.
    Must run inside ``transaction.atomic()``: locks the year row (creating it if needed)
    so that two imports of one year run one after the other.
    """
    row, created = year_model.objects.get_or_create(
        year=parsed.year,
        defaults={"source": parsed.source, "imported_at": now, "imported_by": imported_by},
    )
    row = year_model.objects.select_for_update().get(pk=row.pk)
    day_model.objects.filter(calendar_year=row).delete()
    day_model.objects.bulk_create(
        day_model(calendar_year=row, date=day, kind=kind, name=name)
        for day, kind, name in parsed.days
    )
    row.source = parsed.source
    row.imported_at = now
    row.imported_by = imported_by
    row.save(update_fields=["source", "imported_at", "imported_by"])
    return row, not created


def can_import_calendar(actor: Any) -> bool:
    """Follow-up staff and superusers (who hold every role), and the command line."""
    return isinstance(actor, SystemActor) or Role.STAFF in roles_of(actor)


def check_import_calendar_year(actor: Any, data: Any) -> ParsedCalendar:
    """Permission first (nothing about the file is revealed to others), then validation."""
    if not can_import_calendar(actor):
        raise ActionForbidden(_("Only follow-up staff may import the working calendar"))
    return parse_calendar(data)


def do_import_calendar_year(actor: Any, data: Any, *, now: datetime | None = None) -> CalendarYear:
    """Import (or re-import) one year's holidays and make-up workdays from ``data``.

    Validates everything before writing; on any problem raises
    :class:`CalendarImportError` (or ``ActionForbidden``) and changes nothing. Replaces
    the year's days atomically, locking the year row; every process rebuilds its calendar
    after the commit. Audited in the log (``hub.workcalendar``) and on the row
    (``imported_by``, ``imported_at``).
    """
    now = now or timezone.now()
    parsed = check_import_calendar_year(actor, data)
    label = actor.label if isinstance(actor, SystemActor) else actor_label(actor)
    with transaction.atomic():
        row, replaced = write_calendar_year(
            CalendarYear, CalendarDay, parsed, imported_by=label, now=now
        )
        transaction.on_commit(bump_calendar_version)
    logger.info(
        "working calendar %s %s by %s: %d holidays, %d make-up workdays (source: %s)",
        parsed.year,
        "re-imported" if replaced else "imported",
        label,
        parsed.count(DayKind.HOLIDAY),
        parsed.count(DayKind.WORKDAY),
        parsed.source or "-",
    )
    return row


def load_shipped_calendars(year_model: Any, day_model: Any, now: datetime) -> list[int]:
    """Write the calendars shipped in ``data/`` (the data migration; tests that flushed
    the database call it with the real models). Returns the years written."""
    years = []
    for name in SHIPPED_FILES:
        parsed = parse_calendar(decode_calendar_file((DATA_DIR / name).read_bytes()))
        with transaction.atomic():
            write_calendar_year(
                year_model, day_model, parsed, imported_by=f"shipped {name}", now=now
            )
        years.append(parsed.year)
    return years
