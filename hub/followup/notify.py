"""The outbox: notices are rows (:class:`hub.followup.models.Notice`), sent exactly once.

Creating a notice is a claim: :func:`claim_notice` inserts the row inside the caller's
transaction, and the unique constraint on (task, kind, generation, recipient) refuses a
second one; two workers, or a worker restarted half-way, therefore never create the same
reminder twice. :func:`deliver_due_notices` sends each pending row while holding its row
lock (``SELECT … FOR UPDATE SKIP LOCKED``: a second worker skips it) and marks it sent in
the same transaction. A sender that raises is retried with exponential back-off; after
``HUB_FOLLOWUP_MAX_ATTEMPTS`` attempts the notice is marked failed and listed in the
weekly report (a persistent failure).

Senders are pluggable: ``HUB_FOLLOWUP_SMS_SENDER`` and ``HUB_FOLLOWUP_EMAIL_SENDER`` name a
class with ``send(notice) -> None`` (raise on failure). The default
:class:`LogSender` writes the message to the ``hub.followup.notices`` log. Notices
without an address (a department with no e-mail, askers who left no mobile) go to the log
sender too: they are still recorded and shown in the work pages.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any, Protocol

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.module_loading import import_string

from hub.followup.models import FollowUpTask, Notice, NoticeAudience, NoticeKind, NoticeStatus
from hub.models import Department

logger = logging.getLogger("hub.followup.notices")

_MOBILE = re.compile(r"^1[3-9]\d{9}$")


class Sender(Protocol):
    def send(self, notice: Notice) -> None: ...


class LogSender:
    """Writes each notice to the log (the embedded default and development)."""

    def send(self, notice: Notice) -> None:
        logger.info(
            "notice %s [%s → %s %s] %s",
            notice.pk,
            notice.kind,
            notice.channel,
            notice.address or notice.audience,
            notice.message,
        )


_sender_cache: dict[str, Any] = {}


def sender_for(channel: str) -> Sender:
    """The configured sender of a channel (``sms``, ``email``; anything else logs)."""
    configured = {
        "sms": settings.HUB_FOLLOWUP_SMS_SENDER,
        "email": settings.HUB_FOLLOWUP_EMAIL_SENDER,
    }.get(channel)
    path = str(configured or "hub.followup.notify.LogSender")
    sender = _sender_cache.get(path)
    if sender is None:
        sender = import_string(path)()
        _sender_cache[path] = sender
    return sender  # type: ignore[no-any-return]


def reset_senders() -> None:
    """Forget the sender instances (tests that change the settings)."""
    _sender_cache.clear()


# --- addresses ----------------------------------------------------------------------------


def department_address(department: Department | None) -> tuple[str, str]:
    """(channel, address): the members' e-mail addresses, or the log."""
    if department is None:
        return "log", ""
    emails = sorted(
        {e for e in department.members.exclude(email="").values_list("email", flat=True) if e}
    )
    return ("email", ",".join(emails)) if emails else ("log", "")


def leadership_address() -> tuple[str, str]:
    emails = list(settings.HUB_FOLLOWUP_LEADERSHIP_EMAILS)
    return ("email", ",".join(emails)) if emails else ("log", "")


def asker_address(contact: str) -> tuple[str, str]:
    """Askers are reached by SMS on a mobile number; otherwise only on the viewer page
    (by code) or by a hotline callback."""
    return ("sms", contact) if contact and _MOBILE.match(contact) else ("log", "")


# --- claiming -------------------------------------------------------------------------------


def claim_notice(
    task: FollowUpTask,
    kind: NoticeKind | str,
    *,
    generation: int,
    audience: str,
    message: str,
    now: datetime,
    department: Department | None = None,
    recipient: str = "",
    channel: str | None = None,
    address: str = "",
) -> Notice | None:
    """Insert the notice unless it exists; return it, or None when it was claimed
    before. Must run inside the caller's transaction (a savepoint isolates a conflict)."""
    if Notice.objects.filter(
        task=task, kind=kind, generation=generation, recipient=recipient
    ).exists():
        return None
    if channel is None:
        if audience == NoticeAudience.DEPARTMENT:
            channel, address = department_address(department)
        elif audience == NoticeAudience.LEADERSHIP:
            channel, address = leadership_address()
        else:
            channel = "log"
    try:
        with transaction.atomic():
            return Notice.objects.create(
                task=task,
                kind=kind,
                generation=generation,
                recipient=recipient,
                audience=audience,
                department=department,
                channel=channel,
                address=address,
                message=message,
                created_at=now,
                next_attempt_at=now,
            )
    except IntegrityError:  # claimed by a concurrent worker since our check
        return None


# --- delivery -------------------------------------------------------------------------------


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=settings.HUB_FOLLOWUP_RETRY_SECONDS * (2 ** max(0, attempts - 1)))


def deliver_one(now: datetime) -> Notice | None:
    """Send the oldest due notice nobody else is sending; None when there is none."""
    with transaction.atomic():
        notice = (
            Notice.objects.select_for_update(skip_locked=True)
            .filter(status=NoticeStatus.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")
            .first()
        )
        if notice is None:
            return None
        notice.attempts += 1
        try:
            sender_for(notice.channel).send(notice)
        except Exception as exc:  # any sender failure is recorded, never lost
            notice.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if notice.attempts >= settings.HUB_FOLLOWUP_MAX_ATTEMPTS:
                notice.status = NoticeStatus.FAILED
                logger.error("notice %s failed for good: %s", notice.pk, notice.last_error)
            else:
                notice.next_attempt_at = now + _backoff(notice.attempts)
                logger.warning("notice %s failed, will retry: %s", notice.pk, notice.last_error)
        else:
            notice.status = NoticeStatus.SENT
            notice.sent_at = now
            if notice.kind == NoticeKind.PRIVATE_CODE:
                # The code is only ever stored hashed; once sent, drop it from the outbox.
                notice.message = "(private code sent)"
        notice.save(
            update_fields=[
                "attempts",
                "last_error",
                "status",
                "next_attempt_at",
                "sent_at",
                "message",
            ]
        )
        return notice


def deliver_due_notices(now: datetime, *, limit: int = 500) -> int:
    """Send due notices (at most ``limit``, so one tick stays short); how many were tried."""
    tried = 0
    while tried < limit:
        if deliver_one(now) is None:
            break
        tried += 1
    return tried
