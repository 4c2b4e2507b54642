"""Demo data of live video (called by ``manage.py load_demo``): the publisher token of
every demo session, and a live executive meeting ``meeting`` with an agenda whose second
item is confidential. Safe to run again: the token is set anew (it follows
``HUB_DEMO_STREAM_TOKEN``), an existing meeting is left as it is."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from hub.actions.sessions import do_create_session, do_go_live, do_open_collection
from hub.errors import DomainError
from hub.models import LiveSession, SessionKind
from streaming.actions import AgendaEntry, do_edit_agenda, do_set_publisher_token

MEETING_SLUG = "meeting"
AGENDA = [
    AgendaEntry("审议《城市更新三年行动方案（2026—2028年）》"),
    AgendaEntry("研究有关人事任免事项", confidential=True),
    AgendaEntry("听取全市防汛备汛工作情况汇报"),
    AgendaEntry("研究进一步优化营商环境若干措施"),
]


def load(host: Any, write: Any = print) -> None:
    """Create the demo meeting if missing; set the demo publisher token on every demo
    session (``demo`` and ``meeting``)."""
    if not LiveSession.objects.filter(slug=MEETING_SLUG).exists():
        now = timezone.now()
        meeting = do_create_session(
            host,
            slug=MEETING_SLUG,
            kind=SessionKind.MEETING,
            title="市政府第二十七次常务会议",
            description="常务会议全程直播；涉密议题不公开播出，其间直播画面暂停。",
            scheduled_start=now - timedelta(minutes=5),
            scheduled_end=now + timedelta(hours=2),
            guests=[{"name": "王市长", "title": "主持会议"}],
        )
        do_open_collection(host, meeting.pk)
        do_go_live(host, meeting.pk)
        do_edit_agenda(host, meeting.pk, AGENDA)
        write(f"Demo meeting '{MEETING_SLUG}' is live with {len(AGENDA)} agenda items.")
    token = settings.HUB_DEMO_STREAM_TOKEN
    for session in LiveSession.objects.filter(slug__in=["demo", MEETING_SLUG]):
        try:
            do_set_publisher_token(host, session.pk, token)
        except DomainError as exc:
            write(f"HUB_DEMO_STREAM_TOKEN not set on '{session.slug}': {exc.message}")
