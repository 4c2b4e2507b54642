"""The open moderation record of a session: what happened to every question, per channel.

Counts only, so it is public: the viewer page shows it, and the citizen observers read
the rejected questions and their reasons on the console. Definitions:

- received: questions taken in by the channel (duplicates of one source id count once);
- approved: questions a host approved at some point (even if later answered or withdrawn);
- rejected: questions now rejected, by reason code (automatic screening included);
- answered: answered live on air;
- deferred: questions a host deferred to follow-up at some point;
- unanswered: questions open when the session ended, now follow-up work;
- pending: still waiting for a host's decision.
"""

from __future__ import annotations

from django.db.models import Count

from hub import protocol
from hub.models import AuditEntry, Channel, Question, QuestionState


def _empty() -> dict[str, object]:
    return {
        "received": 0,
        "approved": 0,
        "rejected": {},
        "rejected_total": 0,
        "answered": 0,
        "deferred": 0,
        "unanswered": 0,
        "pending": 0,
    }


def moderation_record(session_id: int) -> protocol.ModerationRecord:
    rows: dict[str, dict[str, object]] = {channel: _empty() for channel in Channel.values}
    by_state = (
        Question.objects.filter(session_id=session_id)
        .values_list("channel", "state", "rejection_reason")
        .annotate(n=Count("id"))
        .order_by()
    )
    for channel, state, reason, n in by_state:
        row = rows[channel]
        row["received"] = int(row["received"]) + n  # type: ignore[call-overload]
        if state == QuestionState.REJECTED:
            rejected = row["rejected"]
            assert isinstance(rejected, dict)
            rejected[reason or "other"] = rejected.get(reason or "other", 0) + n
            row["rejected_total"] = int(row["rejected_total"]) + n  # type: ignore[call-overload]
        elif state == QuestionState.ANSWERED:
            row["answered"] = int(row["answered"]) + n  # type: ignore[call-overload]
        elif state == QuestionState.UNANSWERED:
            row["unanswered"] = int(row["unanswered"]) + n  # type: ignore[call-overload]
        elif state in (QuestionState.RECEIVED, QuestionState.PENDING):
            row["pending"] = int(row["pending"]) + n  # type: ignore[call-overload]
    for action, key in (("approve", "approved"), ("defer", "deferred")):
        ever = (
            AuditEntry.objects.filter(session_id=session_id, action=action)
            .values_list("question__channel")
            .annotate(n=Count("question", distinct=True))
            .order_by()
        )
        for channel, n in ever:
            rows[channel][key] = n
    channels = {c: protocol.RecordRow.model_validate(r) for c, r in rows.items()}
    total = _empty()
    for row in channels.values():
        for field in (
            "received",
            "approved",
            "rejected_total",
            "answered",
            "deferred",
            "unanswered",
            "pending",
        ):
            total[field] = int(total[field]) + getattr(row, field)  # type: ignore[call-overload]
        rejected = total["rejected"]
        assert isinstance(rejected, dict)
        for reason, n in row.rejected.items():
            rejected[reason] = rejected.get(reason, 0) + n
    return protocol.ModerationRecord(
        by_channel=channels, total=protocol.RecordRow.model_validate(total)
    )
