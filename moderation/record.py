"""The open moderation record of a session: what happened to every question, per channel.

Counts only, so it is public: the viewer page shows it, and the citizen observers read
the rejected questions and their reasons on the console. Definitions:

- received: questions taken in by the channel (duplicates of one source id count once);
- merged: questions merged into another asking the same thing (their askers count there);
- approved: questions a host approved at some point (even if later answered or withdrawn);
- rejected: questions now rejected, by reason code (automatic screening included);
- answered: answered live on air;
- deferred: questions a host deferred to follow-up at some point;
- unanswered: questions open when the session ended, now follow-up work;
- pending: still waiting for a host's decision.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from django.db.models import Count

from hub import protocol
from hub.models import AuditEntry, Channel, Question, QuestionState

COUNTED = ("received", "merged", "approved", "answered", "deferred", "unanswered", "pending")


@dataclass
class _Row:
    counts: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)

    def add(self, other: _Row) -> None:
        self.counts.update(other.counts)
        self.rejected.update(other.rejected)

    def out(self) -> protocol.RecordRow:
        return protocol.RecordRow(
            **{key: self.counts[key] for key in COUNTED},
            rejected=dict(self.rejected),
            rejected_total=sum(self.rejected.values()),
        )


def moderation_record(session_id: int) -> protocol.ModerationRecord:
    rows = {channel: _Row() for channel in Channel.values}
    by_state = (
        Question.objects.filter(session_id=session_id)
        .values_list("channel", "state", "rejection_reason")
        .annotate(n=Count("id"))
        .order_by()
    )
    for channel, state, reason, n in by_state:
        row = rows[channel]
        row.counts["received"] += n
        if state == QuestionState.REJECTED:
            row.rejected[reason or "other"] += n
        elif state == QuestionState.ANSWERED:
            row.counts["answered"] += n
        elif state == QuestionState.MERGED:
            row.counts["merged"] += n
        elif state == QuestionState.UNANSWERED:
            row.counts["unanswered"] += n
        elif state in (QuestionState.RECEIVED, QuestionState.PENDING):
            row.counts["pending"] += n
    for action, key in (("approve", "approved"), ("defer", "deferred")):
        ever = (
            AuditEntry.objects.filter(session_id=session_id, action=action)
            .values_list("question__channel")
            .annotate(n=Count("question", distinct=True))
            .order_by()
        )
        for channel, n in ever:
            rows[channel].counts[key] = n
    total = _Row()
    for row in rows.values():
        total.add(row)
    return protocol.ModerationRecord(
        by_channel={channel: row.out() for channel, row in rows.items()}, total=total.out()
    )
