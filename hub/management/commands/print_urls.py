"""Print where the product runs and how to log in (used by ``make run``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from hub.management.commands.load_demo import ACCOUNTS


class Command(BaseCommand):
    help = "Print the URLs and demo logins."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args: Any, **options: Any) -> None:
        base = f"http://127.0.0.1:{options['port']}"
        lines = [
            "",
            "政民互动直播平台 · Government live interaction hub",
            f"  Viewer page      {base}/s/demo/",
            f"  Host console     {base}/s/demo/console/",
            f"  Leader screen    {base}/s/demo/leader/",
            f"  Screener page    {base}/s/demo/screener/",
            f"  All sessions     {base}/",
            f"  Admin            {base}/admin/",
            f"  API docs         {base}/api/docs  (OpenAPI: {base}/api/openapi.json)",
            f"  Viewer stream    ws://127.0.0.1:{options['port']}/ws/sessions/demo/live",
            "",
            f"  Logins (password from HUB_DEMO_PASSWORD, now: {settings.HUB_DEMO_PASSWORD}):",
        ]
        lines += [f"    {name:<9} {role}" for name, (role, _) in ACCOUNTS.items()]
        lines += [
            "",
            "  Live video (streaming):",
            f"    Meeting (agenda, one confidential item)  {base}/s/meeting/",
            f"    Replay after the end                     {base}/s/demo/replay/",
            f"    Studio publisher (WHIP)                  {base}/whip/demo, …/whip/meeting",
            f"    Publisher token (HUB_DEMO_STREAM_TOKEN)  {settings.HUB_DEMO_STREAM_TOKEN}",
            f"    Test pattern: .venv/bin/python -m streaming.publish_test_pattern "
            f"--url {base}/whip/demo --token {settings.HUB_DEMO_STREAM_TOKEN}",
        ]
        lines += [
            "",
            "  After the broadcast (follow-up) and the answer library:",
            f"    Public tracking board     {base}/followup/",
            f"    Departments and KPIs      {base}/followup/departments/",
            f"    Follow my question (code) {base}/followup/code/",
            f"    Staff / department work   {base}/followup/work/  (staff, dept)",
            f"    Weekly report (专报)      {base}/followup/report/  (staff)",
            f"    Open311 GeoReport v2      {base}/open311/v2/requests.json",
            f"    Answer library (FAQ)      {base}/library/",
        ]
        lines += [
            "",
            "  Database: " + settings.DATABASES["default"]["NAME"].__str__(),
            "  Fan-out and channel layer: "
            + ("Redis " + str(settings.REDIS_URL) if settings.REDIS_URL else "in-process"),
            "",
        ]
        self.stdout.write("\n".join(lines))
