"""Regenerate the JSON Schemas embedded in docs/protocol.md from hub.protocol.

``python manage.py protocol_schema`` rewrites the block between the markers;
``--check`` exits non-zero when the document is stale (the test suite runs that check).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from hub import protocol

BEGIN = "<!-- BEGIN GENERATED SCHEMAS: python manage.py protocol_schema -->"
END = "<!-- END GENERATED SCHEMAS -->"
DOC = Path(settings.BASE_DIR) / "docs" / "protocol.md"


def generated_block() -> str:
    parts = [BEGIN, ""]
    for title, adapter in (
        ("Viewer frames (`/ws/sessions/{slug}/live`)", protocol.viewer_frame_adapter),
        (
            "Console frames, server to client (`/ws/sessions/{slug}/console`)",
            protocol.console_frame_adapter,
        ),
        ("Console commands, client to server", protocol.console_command_adapter),
    ):
        schema = adapter.json_schema()
        parts += [
            f"### {title}",
            "",
            "```json",
            json.dumps(schema, ensure_ascii=False, indent=2, sort_keys=True),
            "```",
            "",
        ]
    parts.append(END)
    return "\n".join(parts)


def render(document: str) -> str:
    if BEGIN not in document or END not in document:
        raise CommandError(f"{DOC} lacks the generated-schema markers")
    head, _, rest = document.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return head + generated_block() + tail


class Command(BaseCommand):
    help = "Regenerate (or --check) the schemas in docs/protocol.md"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--check", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        current = DOC.read_text(encoding="utf-8")
        wanted = render(current)
        if options["check"]:
            if wanted != current:
                raise CommandError(
                    "docs/protocol.md is stale: run python manage.py protocol_schema"
                )
            self.stdout.write("docs/protocol.md is up to date")
            return
        DOC.write_text(wanted, encoding="utf-8")
        self.stdout.write(f"wrote {DOC}")
