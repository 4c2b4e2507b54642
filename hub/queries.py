"""Read-side helpers: snapshots and listings built from the database."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from hub import protocol
from hub.models import LiveSession, Question, QuestionState, Visibility
from hub.presenters import member_sources, public_question, session_info, staff_question


def public_questions(session: LiveSession | int) -> QuerySet[Question]:
    """Questions a viewer may see: public, published, not withdrawn."""
    return (
        Question.objects.filter(
            session=session, visibility=Visibility.PUBLIC, published_at__isnull=False
        )
        .exclude(state__in=[QuestionState.REJECTED, QuestionState.MERGED])
        .select_related("live_answer__answered_by")
        .order_by("published_at", "id")
    )


def viewer_snapshot(session_id: int) -> protocol.SnapshotData:
    session = LiveSession.objects.prefetch_related("departments").get(pk=session_id)
    rows = list(public_questions(session))
    members = member_sources([q.pk for q in rows])
    questions = [public_question(q, members.get(q.pk, {})) for q in rows]
    on_air = next((q.id for q in questions if q.state == QuestionState.ON_AIR), None)
    from streaming.actions import stage_snapshot  # streaming builds on hub, not the reverse

    return protocol.SnapshotData(
        session=session_info(session),
        questions=questions,
        on_air=on_air,
        stage=stage_snapshot(session_id),
    )


def staff_questions(session: LiveSession | int) -> QuerySet[Question]:
    """Questions as :func:`hub.presenters.staff_question` needs them, without a query
    each (the library hint's entry without its answer: the console shows its question)."""
    return (
        Question.objects.filter(session=session)
        .select_related("live_answer__answered_by", "submitted_by", "library_hint")
        .defer("library_hint__answer_text")
        .annotate(observer_flag_count=Count("observer_flags"))
    )


def channel_counts(session: LiveSession | int) -> protocol.ChannelCounts:
    rows = (
        Question.objects.filter(session=session)
        .values_list("channel", "state")
        .annotate(n=Count("id"))
        .order_by()
    )
    by_channel: dict[str, int] = {}
    by_state: dict[str, int] = {}
    by_channel_state: dict[str, dict[str, int]] = {}
    for channel, state, n in rows:
        by_channel[channel] = by_channel.get(channel, 0) + n
        by_state[state] = by_state.get(state, 0) + n
        by_channel_state.setdefault(channel, {})[state] = n
    return protocol.ChannelCounts(
        by_channel=by_channel, by_state=by_state, by_channel_state=by_channel_state
    )


def console_snapshot(session_id: int) -> protocol.ConsoleSnapshot:
    session = LiveSession.objects.prefetch_related("departments").get(pk=session_id)
    rows = list(staff_questions(session).order_by("received_at", "id"))
    members = member_sources([q.pk for q in rows])
    questions = [staff_question(q, members.get(q.pk, {})) for q in rows]
    return protocol.ConsoleSnapshot(
        session=session_info(session), questions=questions, counts=channel_counts(session)
    )
