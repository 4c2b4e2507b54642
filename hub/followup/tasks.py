"""Celery tasks of the follow-up app. ``followup_tick`` is on the beat schedule
(settings.CELERY_BEAT_SCHEDULE, every HUB_FOLLOWUP_TICK_SECONDS); ``deliver_notices`` is
queued after an action claims notices, so they leave without waiting for the next tick."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone


@shared_task(name="hub.followup.tasks.followup_tick", ignore_result=True)
def followup_tick() -> dict[str, int]:
    from hub.followup.timers import tick

    result = tick()
    return {
        "tasks_created": result.tasks_created,
        "notices_claimed": result.notices_claimed,
        "notices_tried": result.notices_tried,
    }


@shared_task(name="hub.followup.tasks.deliver_notices", ignore_result=True)
def deliver_notices() -> int:
    from hub.followup.notify import deliver_due_notices

    return deliver_due_notices(timezone.now())
