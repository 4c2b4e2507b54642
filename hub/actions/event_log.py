"""Apply the current personal-data policy to the stored viewer event log.

Viewer events are stored already masked (their data is built from :mod:`hub.protocol`
models, whose free texts are ``PublicText``). The log is replayed as stored, though (a
viewer resuming with ``since``, a process filling a gap), so events stored before the
policy knew a written form would go out again with the number in them. After the policy
changes, :func:`do_mask_event_log` (``python manage.py mask_event_log``) re-validates every
stored event through its frame schema, which masks again, and saves the events that
change. Idempotent: a second run changes nothing. Running processes keep their recent
frames in memory: restart them after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from hub import protocol
from hub.models import SessionEvent

BATCH = 500


@dataclass(frozen=True)
class MaskedLog:
    scanned: int
    changed: int
    unreadable: list[int]  # ids of stored events that no longer match their schema


def masked_event_data(event: SessionEvent) -> dict[str, Any] | None:
    """The event's data as the protocol builds it today, or None when the stored data no
    longer matches the event's schema (left alone and reported)."""
    frame = {"type": event.type, "seq": event.seq, "ts": event.ts, "data": event.data}
    try:
        validated = protocol.viewer_frame_adapter.validate_python(frame)
    except ValueError:
        return None
    data: dict[str, Any] = validated.data.model_dump(mode="json")
    return data


def do_mask_event_log(*, dry_run: bool = False) -> MaskedLog:
    """Re-mask every stored viewer event (see the module docstring); with ``dry_run``
    only count what would change. Events are read and written in batches of
    :data:`BATCH` by id, each batch in its own transaction with its rows locked (the log
    is append-only: nothing else writes these rows)."""
    scanned = changed = 0
    unreadable: list[int] = []
    last = 0
    while True:
        with transaction.atomic():
            rows = list(
                SessionEvent.objects.select_for_update().filter(pk__gt=last).order_by("pk")[:BATCH]
            )
            if not rows:
                break
            last = rows[-1].pk
            for event in rows:
                scanned += 1
                data = masked_event_data(event)
                if data is None:
                    unreadable.append(event.pk)
                elif data != event.data:
                    changed += 1
                    if not dry_run:
                        event.data = data
                        event.save(update_fields=["data"])
    return MaskedLog(scanned=scanned, changed=changed, unreadable=unreadable)
