"""Replay of an ended session: its finished recordings and chapter marks.

A chapter is a moment of the programme a viewer may jump to: each public question's
on-air time (``LiveAnswer.on_air_at``, the last time the host put it on air) and each
move of the agenda (from the public ``agenda_item`` events, so a confidential item shows
no title). Its ``offset`` is seconds from the start of the recording that contains it;
moments outside every finished recording get no chapter. Chapter texts are public:
personal data masked (events stored before the mask was applied included).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hub.lib.personal_data import mask_personal_data
from hub.models import LiveSession, SessionEvent, SessionStatus
from hub.queries import public_questions
from streaming.models import Recording

#: Where the engine serves recordings stored under a relative path: paths are relative to
#: ``HUB_MEDIA_ROOT`` (``hls/<slug>/<run>.m3u8``) and served at the same path from the site
#: root (``/hls/<slug>/<name>``, see :mod:`streaming.views`).
RECORDINGS_URL = "/"


@dataclass(frozen=True)
class Chapter:
    kind: str  # "question" | "agenda"
    recording_id: int
    offset: float
    at: datetime
    question_id: int | None = None
    text: str = ""
    confidential: bool = False


def recording_url(recording: Recording) -> str:
    """Where a browser fetches the recording: its HLS VOD playlist. An absolute path or
    URL stored by the engine is used as is; a relative path is served under
    :data:`RECORDINGS_URL`."""
    path = recording.path
    if path.startswith(("/", "http://", "https://")):
        return path
    return f"{RECORDINGS_URL}{path.lstrip('/')}"


def finished_recordings(session: LiveSession | int) -> list[Recording]:
    return list(
        Recording.objects.filter(session=session, ended_at__isnull=False).order_by(
            "started_at", "id"
        )
    )


def _locate(recordings: list[Recording], at: datetime) -> tuple[Recording, float] | None:
    for recording in recordings:
        assert recording.ended_at is not None
        if recording.started_at <= at <= recording.ended_at:
            return recording, (at - recording.started_at).total_seconds()
    return None


def chapters(session: LiveSession, recordings: list[Recording] | None = None) -> list[Chapter]:
    """Chapters of a session in time order (see the module docstring)."""
    recordings = finished_recordings(session) if recordings is None else recordings
    if not recordings:
        return []
    found: list[Chapter] = []
    for question in public_questions(session).filter(live_answer__isnull=False):
        at = question.live_answer.on_air_at
        located = _locate(recordings, at)
        if located:
            found.append(
                Chapter(
                    kind="question",
                    recording_id=located[0].pk,
                    offset=round(located[1], 3),
                    at=at,
                    question_id=question.pk,
                    text=mask_personal_data(question.text),
                )
            )
    for event in SessionEvent.objects.filter(session=session, type="agenda_item").order_by("seq"):
        item = event.data.get("item") if isinstance(event.data, dict) else None
        if not isinstance(item, dict):
            continue
        located = _locate(recordings, event.ts)
        if located:
            found.append(
                Chapter(
                    kind="agenda",
                    recording_id=located[0].pk,
                    offset=round(located[1], 3),
                    at=event.ts,
                    text=mask_personal_data(str(item.get("title") or "")),
                    confidential=bool(item.get("confidential")),
                )
            )
    found.sort(key=lambda c: (c.at, c.kind != "agenda"))
    return found


def replay_available(session: LiveSession) -> bool:
    return session.status == SessionStatus.ENDED and bool(finished_recordings(session))
