"""Celery tasks. ``poll_microblog`` runs on the beat schedule when HUB_MICROBLOG_API_URL is
set (see settings.CELERY_BEAT_SCHEDULE) and feeds the same intake as the webhook."""

from __future__ import annotations

import logging
import urllib.parse
import urllib.request
from typing import Any

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from hub.intake.channels import PayloadRejected, intake_microblog
from hub.models import IntakeCursor
from hub.text import loads_json

logger = logging.getLogger(__name__)

#: Weibo-style endpoints polled, relative to HUB_MICROBLOG_API_URL, and the list key each
#: returns: mentions of the official account, and comments that mention it.
ENDPOINTS = (("statuses/mentions.json", "statuses"), ("comments/mentions.json", "comments"))
TIMEOUT_SECONDS = 10


def _cursor(name: str) -> str:
    return IntakeCursor.objects.filter(name=name).values_list("value", flat=True).first() or ""


#: A cursor is an id of at most this many ASCII digits (a microblog id has 16 or so);
#: anything else the API sends is not a position and never moves the cursor.
CURSOR_MAX_DIGITS = 30


def is_cursor_id(value: str) -> bool:
    """ASCII digits only (``"²".isdigit()`` is true, but ``int("²")`` raises), bounded."""
    return value.isascii() and value.isdigit() and len(value) <= CURSOR_MAX_DIGITS


def do_advance_cursor(name: str, value: str) -> None:
    """Record the newest id seen; ids are compared as integers, never moved backwards.
    A value that is not a cursor id (see :func:`is_cursor_id`) is ignored."""
    if not is_cursor_id(value):
        return
    current = _cursor(name)
    if is_cursor_id(current) and int(value) <= int(current):
        return
    IntakeCursor.objects.update_or_create(
        name=name, defaults={"value": value, "updated_at": timezone.now()}
    )


def _fetch(url: str) -> Any:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"HUB_MICROBLOG_API_URL must be http(s): {url!r}")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
        # The same limits as a webhook body: depth, huge numbers, UTF-8 (UnreadableJSON).
        return loads_json(response.read(settings.HUB_INTAKE_MAX_BODY_BYTES + 1))


@shared_task(name="hub.tasks.poll_microblog", ignore_result=True)
def poll_microblog() -> dict[str, int]:
    """Fetch new mentions and comments since the stored cursor and take them in.

    Slow network I/O happens outside any transaction; each item is then stored by the
    intake pipeline in its own transaction. Items route to sessions by hashtag.
    """
    base = settings.HUB_MICROBLOG_API_URL
    totals = {"accepted": 0, "duplicates": 0, "rejected": 0}
    if not base:
        return totals
    for path, key in ENDPOINTS:
        cursor_name = f"microblog:{key}"
        query = {"count": "100", "since_id": _cursor(cursor_name) or "0"}
        if settings.HUB_MICROBLOG_API_TOKEN:
            query["access_token"] = settings.HUB_MICROBLOG_API_TOKEN
        url = f"{base.rstrip('/')}/{path}?{urllib.parse.urlencode(query)}"
        try:
            payload = _fetch(url)
        except Exception as exc:  # network trouble: try again on the next beat
            logger.warning("polling %s failed: %s", path, exc)
            continue
        items = payload.get(key) if isinstance(payload, dict) else None
        if not items:
            continue
        try:
            outcome = intake_microblog({key: items})
        except PayloadRejected as exc:
            logger.warning("microblog poll payload refused: %s", exc.message)
            continue
        for name in totals:
            totals[name] += len(getattr(outcome, name))
        for entry in outcome.rejected:
            logger.info("microblog item %s refused: %s", entry["source_id"], entry["message"])
        ids = [str(i.get("idstr") or i.get("id")) for i in items if isinstance(i, dict)]
        numeric = [i for i in ids if is_cursor_id(i)]
        if numeric:
            do_advance_cursor(cursor_name, max(numeric, key=int))
    return totals
