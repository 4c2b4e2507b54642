"""``manage.py import_calendar cn-2027.json``: the admin's "Import year…" from a shell."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from hub.errors import DomainError
from hub.workcalendar.importing import (
    COMMAND_LINE,
    CalendarImportError,
    decode_calendar_file,
    do_import_calendar_year,
)
from hub.workcalendar.models import DayKind


class Command(BaseCommand):
    help = (
        "Import one year's holidays and make-up workdays from a JSON file (format of "
        "hub/workcalendar/data/cn-2026.json); importing a year again replaces it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="the year's calendar file (JSON)")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        try:
            raw = path.read_bytes()
        except OSError as error:
            raise CommandError(
                _("Cannot read %(path)s: %(reason)s") % {"path": path, "reason": error.strerror}
            ) from None
        try:
            row = do_import_calendar_year(COMMAND_LINE, decode_calendar_file(raw))
        except CalendarImportError as error:
            raise CommandError(
                _("%(path)s was not imported; nothing was changed:") % {"path": path}
                + "".join(f"\n  - {problem}" for problem in error.problems)
            ) from None
        except DomainError as error:
            raise CommandError(error.message) from None
        holidays = row.days.filter(kind=DayKind.HOLIDAY).count()
        workdays = row.days.filter(kind=DayKind.WORKDAY).count()
        self.stdout.write(
            _(
                "Imported the working calendar for %(year)s: %(holidays)s holidays and "
                "%(workdays)s make-up workdays."
            )
            % {"year": row.year, "holidays": holidays, "workdays": workdays}
        )
