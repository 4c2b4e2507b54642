"""Viewers' +1 on public questions, and the coalesced publication of support counts."""

from __future__ import annotations

import threading
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from hub.browser import NoBrowserId
from hub.errors import IllegalTransition, NotFound
from hub.events import lock_session, record_public_event
from hub.models import Question, QuestionSupport
from hub.protocol import SupportCount, SupportsData
from hub.throttle import AddressLimitReached, take_slot

#: How long a session's per-address support count is kept (longer than any broadcast).
SUPPORT_CAP_TTL_SECONDS = 7 * 24 * 3600


def do_support_question(
    browser_id: str,
    session_id: int,
    question_id: int,
    *,
    now: datetime | None = None,
    address: str | None = None,
) -> int:
    """Record one viewer's support; idempotent per browser id. Returns the count.

    ``browser_id`` must be a verified page-issued id (:func:`hub.browser.
    check_browser_may_count`). With ``address`` (the client address; the API always
    passes it) the support also takes one of the address's
    ``HUB_SUPPORTS_PER_ADDRESS_PER_SESSION`` in this session, or is refused with
    :class:`~hub.throttle.AddressLimitReached`; repeating a support already counted takes
    nothing and is never refused. The count is published to viewers by
    :data:`support_coalescer`, at most a few times a second per session, not once per
    click.
    """
    now = now or timezone.now()
    if not browser_id:
        raise NoBrowserId(_("Your browser has no visitor id: reload the page and try again"))
    question = Question.objects.filter(pk=question_id, session_id=session_id).first()
    if question is None:
        raise NotFound(_("Question #%(id)s is not in this session") % {"id": question_id})
    if not question.is_public:
        raise IllegalTransition(_("Only published questions can be supported"), code="not_public")
    if QuestionSupport.objects.filter(question=question, browser_id=browser_id).exists():
        return Question.objects.values_list("supports", flat=True).get(pk=question.pk)
    slot = None
    if address is not None:
        slot = take_slot(
            f"support:{session_id}",
            address,
            settings.HUB_SUPPORTS_PER_ADDRESS_PER_SESSION,
            SUPPORT_CAP_TTL_SECONDS,
        )
        if slot is None:
            raise AddressLimitReached(
                _("Too many supports in this session from your network (at most %(n)s per address)")
                % {"n": settings.HUB_SUPPORTS_PER_ADDRESS_PER_SESSION}
            )
    try:
        with transaction.atomic():
            QuestionSupport.objects.create(question=question, browser_id=browser_id, created_at=now)
            Question.objects.filter(pk=question.pk).update(supports=F("supports") + 1)
    except IntegrityError:
        # This browser's support raced with itself: same answer, no double count.
        if slot is not None:
            slot.give_back()
    else:
        support_coalescer.mark(session_id, question.pk)
    return Question.objects.values_list("supports", flat=True).get(pk=question.pk)


def do_publish_support_counts(
    session_id: int, question_ids: set[int], *, now: datetime | None = None
) -> None:
    """Publish one ``supports`` event with the current counts of the given questions."""
    now = now or timezone.now()
    with transaction.atomic():
        session = lock_session(session_id)
        rows = (
            Question.objects.filter(session=session, pk__in=question_ids)
            .annotate(members=Count("merged_members", filter=Q(merged_members__state="merged")))
            .values_list("pk", "supports", "members")
        )
        counts = [
            SupportCount(id=pk, supports=n, askers=1 + members) for pk, n, members in sorted(rows)
        ]
        if counts:
            record_public_event(session, "supports", SupportsData(questions=counts), now)


class SupportCoalescer:
    """Collects supported question ids per session and flushes them periodically.

    A daemon thread flushes every ``HUB_SUPPORT_COALESCE_SECONDS``; :meth:`flush` may also
    be called directly (tests do). Marks are kept under a lock, so views running in worker
    threads can mark concurrently.
    """

    def __init__(self) -> None:
        self._dirty: dict[int, set[int]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.autostart = True

    def mark(self, session_id: int, question_id: int) -> None:
        with self._lock:
            self._dirty.setdefault(session_id, set()).add(question_id)
            if self.autostart and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(
                    target=self._run, name="support-coalescer", daemon=True
                )
                self._thread.start()

    def flush(self) -> None:
        with self._lock:
            dirty, self._dirty = self._dirty, {}
        for session_id, question_ids in dirty.items():
            do_publish_support_counts(session_id, question_ids)

    def _run(self) -> None:
        import time

        from django.db import close_old_connections

        interval = settings.HUB_SUPPORT_COALESCE_SECONDS
        while True:
            time.sleep(interval)
            try:
                self.flush()
            except Exception:
                import logging

                logging.getLogger(__name__).exception("support counts flush failed")
            finally:
                close_old_connections()


support_coalescer = SupportCoalescer()
