"""``python manage.py mask_event_log [--dry-run]``: apply the current personal-data policy
to the stored viewer event log (see :mod:`hub.actions.event_log`)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from hub.actions.event_log import do_mask_event_log


class Command(BaseCommand):
    help = "Mask personal data in stored viewer events (replayed to viewers with since=)"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would change, change nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        result = do_mask_event_log(dry_run=options["dry_run"])
        verb = "would change" if options["dry_run"] else "changed"
        self.stdout.write(f"{result.scanned} events scanned, {result.changed} {verb}")
        if result.unreadable:
            ids = ", ".join(str(i) for i in result.unreadable[:20])
            self.stdout.write(
                f"{len(result.unreadable)} events no longer match their schema, left as "
                f"stored (ids {ids}{' …' if len(result.unreadable) > 20 else ''})"
            )
