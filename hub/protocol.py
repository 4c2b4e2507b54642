"""The real-time protocol: the schema of every event and console command.

These pydantic models are the single source of truth. ``docs/protocol.md`` embeds their
JSON Schema (regenerate with ``python manage.py protocol_schema``; a test fails when the
document is stale), and the test suite validates every frame the server sends against them.

Viewer frames (``/ws/sessions/{slug}/live``) are ``{"type", "seq", "ts", "data"}``.
Stored events have strictly increasing ``seq`` per session. ``snapshot`` and ``heartbeat``
are not stored: they carry the seq of the newest stored event at the time they were made.

Personal data: every free-text field a non-staff eye can see is a :data:`PublicText`
(personal data masked by :func:`hub.lib.personal_data.mask_personal_data` whenever the
model is built or validated) and every name a :data:`PublicName` (masked the same way; a
name that is only a number becomes "" and pages show their own word, 网友). A presenter
cannot forget it: the mask is part of the type. Masking is idempotent, so validating a
frame again (tests, replays) changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter

from hub.lib.personal_data import mask_personal_data, public_name


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


#: Free text shown to non-staff eyes: personal data masked (138****5678, 110105********123X).
PublicText = Annotated[str, AfterValidator(mask_personal_data)]
#: A person's name shown to non-staff eyes: masked like text; "" when only a number was given.
PublicName = Annotated[str, AfterValidator(public_name)]


# --- Shared shapes ---------------------------------------------------------------------


class Guest(_Strict):
    name: PublicName
    title: PublicText = ""


class SessionInfo(_Strict):
    slug: str
    title: PublicText
    kind: Literal["interview", "meeting", "qa"]
    status: Literal["announced", "collecting", "live", "ended"]
    description: PublicText
    scheduled_start: datetime
    scheduled_end: datetime
    started_at: datetime | None
    ended_at: datetime | None
    guests: list[Guest]
    departments: list[str]


class AnswerInfo(_Strict):
    summary: PublicText
    on_air_at: datetime
    answered_at: datetime | None
    answered_by: str
    library_entry: int | None = Field(
        default=None,
        description="Set when the question was answered from the answer library, not on air",
    )


class PublicQuestion(_Strict):
    """A question as any viewer may see it: no contact, no private question ever."""

    id: int
    text: PublicText
    channel: Literal["web", "microblog", "hotline", "radio", "onsite"]
    asker: PublicName
    supports: int
    state: Literal["approved", "queued", "on_air", "answered", "deferred", "unanswered"]
    received_at: datetime
    published_at: datetime
    answer: AnswerInfo | None
    askers: int = Field(ge=1, description="How many people asked it, merged repeats included")


class ScreeningFlag(_Strict):
    """What screening found. ``match`` is the masked form for personal data."""

    category: Literal["abuse", "personal_data", "illegal", "spam"]
    action: Literal["hold", "reject", "mask"]
    kind: Literal[
        "lexicon",
        "mobile",
        "landline",
        "id_number",
        "bank_card",
        "email",
        "handle",
        "link",
        "flood",
        "repeat",
    ]
    match: PublicText


class SimilarRef(_Strict):
    id: int
    score: float


class LibraryHint(_Strict):
    """The answer library entry most like a question, found when it arrived."""

    entry: int = Field(description="The library entry's id")
    score: float = Field(ge=0, le=1, description="Similarity score, 1 means the same wording")
    question: PublicText = Field(description="The entry's question (at most 80 characters)")


class StaffQuestion(_Strict):
    """A question as the console sees it. ``contact`` is masked (138****5678), and so is
    personal data in ``text``, ``original_text``, ``rejection_note`` and flags' ``match``
    (a link's match is its URL only): the raw text is for the staff role (admin) only.
    ``held`` means screening asks the host to look before approving.

    Per role (hub.presenters.ConsoleAudience): host and staff get it whole; the observer
    and the leader get ``asker`` as the public sees it, the leader no ``contact``. A private
    question reaches the observer, the leader and screeners other than the one who typed
    it in with ``text``, ``original_text``, ``asker``, ``contact``, ``rejection_note``,
    the answer's ``summary`` and flags' ``match`` empty, no ``similar`` and no
    ``library_hint``: that it exists, its channel, state and handling only."""

    id: int
    text: PublicText
    original_text: PublicText
    channel: Literal["web", "microblog", "hotline", "radio", "onsite"]
    asker: str
    contact: str
    visibility: Literal["public", "private"]
    state: Literal[
        "received",
        "pending",
        "approved",
        "rejected",
        "queued",
        "on_air",
        "answered",
        "deferred",
        "unanswered",
        "merged",
    ]
    supports: int
    received_at: datetime
    published_at: datetime | None
    queue_position: int | None
    rejection_reason: str
    rejection_note: PublicText
    submitted_by: str
    answer: AnswerInfo | None
    flags: list[ScreeningFlag]
    held: bool
    observer_flags: int
    priority: float
    askers: int
    sources: dict[str, int]
    merged_into: int | None
    merge_score: float | None
    similar: list[SimilarRef]
    sector: str
    sector_source: Literal["auto", "staff"]
    library_hint: LibraryHint | None = Field(
        default=None,
        description=(
            "The answer library entry most like the question when it arrived (score at "
            "least 0.5), unless retired since: the host may answer it from the library"
        ),
    )


class ChannelCounts(_Strict):
    """Per-channel totals, then per-state totals, for the console's live counters."""

    by_channel: dict[str, int]
    by_state: dict[str, int]
    by_channel_state: dict[str, dict[str, int]]


class RecordRow(_Strict):
    """One line of the open moderation record (see moderation.record for definitions)."""

    received: int
    merged: int
    approved: int
    rejected: dict[str, int]
    rejected_total: int
    answered: int
    deferred: int
    unanswered: int
    pending: int


class HotWord(_Strict):
    word: PublicText
    heat: float


class Insights(_Strict):
    """Hot words (heat normalised to the hottest, 1.0) and published questions per sector."""

    hot_words: list[HotWord]
    sectors: dict[str, int]


class ModerationRecord(_Strict):
    by_channel: dict[str, RecordRow]
    total: RecordRow


# --- Viewer events --------------------------------------------------------------------


class QuestionRef(_Strict):
    id: int


class AnswerLive(_Strict):
    question_id: int
    summary: PublicText


class SupportCount(_Strict):
    id: int
    supports: int
    askers: int


class SupportsData(_Strict):
    questions: list[SupportCount]


class UnansweredData(_Strict):
    ids: list[int]


class AgendaItemPublic(_Strict):
    """An agenda item as viewers see it: ``title`` is empty when the item is confidential
    (涉密); pages show a translated "confidential item" in its place."""

    id: int
    position: int
    title: PublicText
    confidential: bool


class AgendaItemData(_Strict):
    """The item the meeting is on now (``null``: between items)."""

    item: AgendaItemPublic | None


class AgendaData(_Strict):
    """The whole public agenda, sent again whenever the host edits it."""

    items: list[AgendaItemPublic]


class GuestRef(_Strict):
    id: int
    label: PublicText


class GuestOnAirData(_Strict):
    """A caller or remote guest went on air (``on_air`` true) or off air."""

    guest: GuestRef
    on_air: bool


class StreamStateData(_Strict):
    """Whether the studio signal is on the wire; false means 信号中断 (the page keeps its
    player and resumes by itself when the publisher is back)."""

    live: bool


class StageSnapshot(_Strict):
    """Live video state for a viewer joining: agenda, current item, guests on air."""

    live: bool
    agenda: list[AgendaItemPublic]
    current_item: AgendaItemPublic | None
    guests_on_air: list[GuestRef]


class SnapshotData(_Strict):
    session: SessionInfo
    questions: list[PublicQuestion]
    on_air: int | None
    stage: StageSnapshot | None = None


class Empty(_Strict):
    pass


class _Frame(_Strict):
    seq: int = Field(ge=0)
    ts: datetime


class SessionStateEvent(_Frame):
    type: Literal["session_state"]
    data: SessionInfo


class QuestionPublishedEvent(_Frame):
    type: Literal["question_published"]
    data: PublicQuestion


class QuestionWithdrawnEvent(_Frame):
    type: Literal["question_withdrawn"]
    data: QuestionRef


class QuestionOnAirEvent(_Frame):
    type: Literal["question_on_air"]
    data: PublicQuestion


class QuestionOffAirEvent(_Frame):
    type: Literal["question_off_air"]
    data: PublicQuestion


class AnswerLiveEvent(_Frame):
    type: Literal["answer_live"]
    data: AnswerLive


class QuestionAnsweredEvent(_Frame):
    type: Literal["question_answered"]
    data: PublicQuestion


class QuestionDeferredEvent(_Frame):
    type: Literal["question_deferred"]
    data: PublicQuestion


class QuestionsUnansweredEvent(_Frame):
    type: Literal["questions_unanswered"]
    data: UnansweredData


class SupportsEvent(_Frame):
    type: Literal["supports"]
    data: SupportsData


class SnapshotEvent(_Frame):
    type: Literal["snapshot"]
    data: SnapshotData


class HeartbeatEvent(_Frame):
    type: Literal["heartbeat"]
    data: Empty


class AgendaItemEvent(_Frame):
    type: Literal["agenda_item"]
    data: AgendaItemData


class AgendaEvent(_Frame):
    type: Literal["agenda"]
    data: AgendaData


class GuestOnAirEvent(_Frame):
    type: Literal["guest_on_air"]
    data: GuestOnAirData


class StreamStateEvent(_Frame):
    type: Literal["stream_state"]
    data: StreamStateData


ViewerFrame = Annotated[
    SessionStateEvent
    | QuestionPublishedEvent
    | QuestionWithdrawnEvent
    | QuestionOnAirEvent
    | QuestionOffAirEvent
    | AnswerLiveEvent
    | QuestionAnsweredEvent
    | QuestionDeferredEvent
    | QuestionsUnansweredEvent
    | SupportsEvent
    | SnapshotEvent
    | HeartbeatEvent
    | AgendaItemEvent
    | AgendaEvent
    | GuestOnAirEvent
    | StreamStateEvent,
    Field(discriminator="type"),
]
viewer_frame_adapter: TypeAdapter[Any] = TypeAdapter(ViewerFrame)

#: Event types that are stored in the session's log and carry a fresh seq.
STORED_EVENT_TYPES = frozenset(
    {
        "session_state",
        "question_published",
        "question_withdrawn",
        "question_on_air",
        "question_off_air",
        "answer_live",
        "question_answered",
        "question_deferred",
        "questions_unanswered",
        "supports",
        "agenda_item",
        "agenda",
        "guest_on_air",
        "stream_state",
    }
)

#: WebSocket close codes of the viewer stream.
CLOSE_UNKNOWN_SESSION = 4404
CLOSE_TOO_SLOW_RESYNC = 4429
CLOSE_SERVER_RESTART = 1012


# --- Console: server → client ----------------------------------------------------------


class ConsoleHello(_Strict):
    user: str
    roles: list[str]
    permissions: list[str]


class ConsoleSnapshot(_Strict):
    session: SessionInfo
    questions: list[StaffQuestion]
    counts: ChannelCounts


class Ack(_Strict):
    id: str | int | None
    action: str
    result: dict[str, Any]


class Refusal(_Strict):
    id: str | int | None
    action: str | None
    code: str
    message: str


class _ConsoleFrame(_Strict):
    ts: datetime


class ConsoleHelloFrame(_ConsoleFrame):
    type: Literal["hello"]
    data: ConsoleHello


class ConsoleSnapshotFrame(_ConsoleFrame):
    type: Literal["snapshot"]
    data: ConsoleSnapshot


class ConsoleQuestionFrame(_ConsoleFrame):
    type: Literal["question"]
    data: StaffQuestion


class QuestionsBatch(_Strict):
    """Many questions' new staff views at once: a batch taken in from a channel (a
    microblog delivery, a burst of web questions) with the earlier questions its repeats
    were merged into. Apply each like the data of a ``question`` frame, in order."""

    questions: list[StaffQuestion]


class ConsoleQuestionsBatchFrame(_ConsoleFrame):
    type: Literal["questions_batch"]
    data: QuestionsBatch


#: Console frames stay well under the WebSocket message limit (Daphne's default, 1 MiB):
#: a busy session's snapshot, or a very big batch, is sent as several frames.
FRAME_BUDGET_BYTES = 512 * 1024


def staff_question_chunks(
    questions: list[StaffQuestion], budget: int = FRAME_BUDGET_BYTES
) -> list[list[StaffQuestion]]:
    """``questions`` in order, cut into lists whose frames stay under ``budget`` bytes
    (estimated from the texts, at most 3 bytes a character, plus the fixed fields)."""
    chunks: list[list[StaffQuestion]] = [[]]
    size = 0
    for question in questions:
        estimate = 1024 + 3 * (
            len(question.text) + len(question.original_text) + len(question.rejection_note)
        )
        if chunks[-1] and size + estimate > budget:
            chunks.append([])
            size = 0
        chunks[-1].append(question)
        size += estimate
    return chunks if chunks[-1] else []


class ConsoleSessionFrame(_ConsoleFrame):
    type: Literal["session_state"]
    data: SessionInfo


class ConsoleCountsFrame(_ConsoleFrame):
    type: Literal["counts"]
    data: ChannelCounts


class ConsoleAckFrame(_ConsoleFrame):
    type: Literal["ack"]
    data: Ack


class ConsoleErrorFrame(_ConsoleFrame):
    type: Literal["error"]
    data: Refusal


class ConsoleHeartbeatFrame(_ConsoleFrame):
    type: Literal["heartbeat"]
    data: Empty


class StaffGuest(_Strict):
    """A call-in guest as the host sees it (waiting room and on air)."""

    id: int
    label: str
    kind: Literal["caller", "guest"]
    state: Literal["invited", "waiting", "on_air", "left", "revoked"]
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    on_air_since: datetime | None
    left_at: datetime | None


class StaffAgendaItem(_Strict):
    id: int
    position: int
    title: str
    confidential: bool


class PublisherInfo(_Strict):
    """The studio publisher: connected or not, and which token is set (hint only; the
    token itself is shown once, when it is set or rotated)."""

    connected: bool
    connected_at: datetime | None
    token_set: bool
    token_hint: str
    token_set_at: datetime | None
    handover_until: datetime | None


class StaffStage(_Strict):
    """Everything the console shows about live video, sent whole after every change."""

    live: bool
    agenda: list[StaffAgendaItem]
    current_item: int | None
    confidential: bool
    publisher: PublisherInfo
    guests: list[StaffGuest]


class ConsoleGuestFrame(_ConsoleFrame):
    """A guest joined the waiting room, went on or off air, or left."""

    type: Literal["guest"]
    data: StaffGuest


class ConsoleStageFrame(_ConsoleFrame):
    type: Literal["stage"]
    data: StaffStage


ConsoleFrame = Annotated[
    ConsoleHelloFrame
    | ConsoleSnapshotFrame
    | ConsoleQuestionFrame
    | ConsoleQuestionsBatchFrame
    | ConsoleSessionFrame
    | ConsoleCountsFrame
    | ConsoleAckFrame
    | ConsoleErrorFrame
    | ConsoleHeartbeatFrame
    | ConsoleGuestFrame
    | ConsoleStageFrame,
    Field(discriminator="type"),
]
console_frame_adapter: TypeAdapter[Any] = TypeAdapter(ConsoleFrame)


# --- Console: client → server commands -------------------------------------------------

CommandId = str | int | None


class _Command(_Strict):
    id: CommandId = None


class ApproveCommand(_Command):
    action: Literal["approve"]
    question: int


class RejectCommand(_Command):
    action: Literal["reject"]
    question: int
    reason: Literal[
        "duplicate",
        "off_topic",
        "abusive",
        "personal_data",
        "illegal",
        "advertising",
        "unclear",
        "other",
    ]
    note: str = Field(default="", max_length=1000)


class QueueCommand(_Command):
    action: Literal["queue"]
    question: int


class ReorderCommand(_Command):
    action: Literal["reorder"]
    order: list[int] = Field(max_length=5000)


class OnAirCommand(_Command):
    action: Literal["on_air"]
    question: int


class OffAirCommand(_Command):
    action: Literal["off_air"]
    question: int


class DeferCommand(_Command):
    action: Literal["defer"]
    question: int
    note: str = Field(default="", max_length=1000)


class LiveAnswerCommand(_Command):
    action: Literal["live_answer"]
    question: int
    summary: str = Field(max_length=2000)


class AnsweredCommand(_Command):
    action: Literal["answered"]
    question: int
    summary: str = Field(default="", max_length=2000)


class SubmitCallCommand(_Command):
    action: Literal["submit_call"]
    channel: Literal["hotline", "radio", "onsite"]
    text: str = Field(max_length=10000)
    name: str = Field(default="", max_length=200)
    phone: str = Field(default="", max_length=40)
    private: bool = False


class MergeCommand(_Command):
    """Merge a question into another that asks the same thing (undo with unmerge)."""

    action: Literal["merge"]
    question: int
    into: int


class UnmergeCommand(_Command):
    action: Literal["unmerge"]
    question: int


class SetSectorCommand(_Command):
    """Correct a question's sector; corrections train the sector classifier."""

    action: Literal["set_sector"]
    question: int
    sector: Literal[
        "education",
        "housing",
        "labour",
        "security",
        "transport",
        "environment",
        "health",
        "market",
        "civil",
        "agriculture",
        "other",
    ]


class FlagCommand(_Command):
    """An observer marks a question as deserving attention (raises its priority)."""

    action: Literal["flag"]
    question: int
    note: str = Field(default="", max_length=500)


class AnswerFromLibraryCommand(_Command):
    """Answer a waiting question at once with an answer library entry's answer."""

    action: Literal["answer_from_library"]
    question: int
    entry: int


class SessionStatusCommand(_Command):
    action: Literal["set_status"]
    status: Literal["collecting", "live", "ended"]


ConsoleCommand = Annotated[
    ApproveCommand
    | RejectCommand
    | QueueCommand
    | ReorderCommand
    | OnAirCommand
    | OffAirCommand
    | DeferCommand
    | LiveAnswerCommand
    | AnsweredCommand
    | SubmitCallCommand
    | SessionStatusCommand
    | FlagCommand
    | MergeCommand
    | UnmergeCommand
    | SetSectorCommand
    | AnswerFromLibraryCommand,
    Field(discriminator="action"),
]
console_command_adapter: TypeAdapter[Any] = TypeAdapter(ConsoleCommand)
