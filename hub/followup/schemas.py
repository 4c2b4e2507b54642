"""Shapes of the follow-up API (django-ninja / pydantic). Public shapes carry nothing
private: see :mod:`hub.followup.presenters`, the only place that fills them. Their free
texts (the task's text, published replies, public timeline notes) are
:data:`hub.protocol.PublicText`: personal data is masked by the type itself."""

from __future__ import annotations

from datetime import datetime

from ninja import Field, Schema

from hub.protocol import PublicText
from hub.wire import Int64, StoredText


class DepartmentRef(Schema):
    id: int
    name: str
    level: str


class TimelineEntry(Schema):
    at: datetime
    action: str
    label: str
    state: str
    department: str | None
    note: PublicText = Field("", description="Public remark, if any (internal notes never appear)")


class Signature(Schema):
    name: str
    at: datetime


class VoteTally(Schema):
    satisfied: int
    basic: int
    unsatisfied: int


class ReplyPublic(Schema):
    round: int = Field(description="1; 2 for the reply after a reopening")
    text: PublicText
    department: str
    published_at: datetime
    editor: Signature | None = Field(description="First review (一审)")
    section_head: Signature | None = Field(description="Second review (二审)")
    leader: Signature | None = Field(description="Sign-off (三审)")
    tone_overridden: bool = Field(
        description="Published although the tone check flagged it (staff recorded why)"
    )
    votes: VoteTally


class TaskPublic(Schema):
    id: int
    session_slug: str
    session_title: PublicText
    text: PublicText
    sector: str
    sector_label: str
    channel: str
    askers: int
    state: str
    state_label: str
    is_open: bool
    lead_department: DepartmentRef | None
    assisting_departments: list[DepartmentRef]
    created_at: datetime
    dispatched_at: datetime | None
    accept_deadline: datetime | None
    accepted_at: datetime | None
    reply_deadline: datetime | None = Field(description="None while the clock is paused")
    reply_paused: bool
    replied_at: datetime | None
    replied_on_time: bool | None
    closed_at: datetime | None
    updated_at: datetime
    supervision_level: int = Field(description="0 none, 1 department notified, 2 leadership")
    extension_days: int
    reopen_count: int
    overdue: bool


class TaskPublicDetail(TaskPublic):
    timeline: list[TimelineEntry]
    replies: list[ReplyPublic]


class TaskPublicList(Schema):
    items: list[TaskPublic]
    count: int


class ReplyStaff(Schema):
    round: int
    text: str
    department: str
    stage: str
    stage_label: str
    drafted_by: str
    editor: Signature | None
    section_head: Signature | None
    leader: Signature | None
    tone_flags: list[dict[str, str]]
    tone_override_reason: str
    published_at: datetime | None
    updated_at: datetime


class StaffAsker(Schema):
    id: int
    question_id: int
    channel: str
    name: str
    contact: str = Field(description="Masked (138****5678)")
    has_code: bool
    evaluated_latest: bool


class StaffEvent(Schema):
    at: datetime
    action: str
    label: str
    actor: str
    from_state: str
    to_state: str
    department: str | None
    note: str
    public: bool


class StaffTask(TaskPublic):
    is_public: bool
    question_id: int
    visibility: str
    assignment_note: str
    wait_reason: str
    requested_extension_days: int
    reply_budget_days: float | None
    reply_used_days: float
    reopen_requested: bool
    return_count: int
    dispatch_count: int
    askers_detail: list[StaffAsker] = []
    replies: list[ReplyStaff] = []
    events: list[StaffEvent] = []


class StaffTaskList(Schema):
    items: list[StaffTask]
    count: int


class Suggestion(Schema):
    department: DepartmentRef
    score: float
    reasons: list[str]


class ByCodeOut(Schema):
    question_id: int
    question_state: str
    task: TaskPublicDetail | None
    can_evaluate: bool
    evaluated: bool


# --- inputs ---------------------------------------------------------------------------------


class AssignIn(Schema):
    lead_department: Int64
    assisting_departments: list[Int64] = []
    sector: StoredText | None = None
    publish: bool | None = Field(None, description="Show on the public board (not if private)")
    public_text: StoredText | None = Field(None, max_length=2000)
    note: StoredText = Field("", max_length=2000)


class ReassignIn(Schema):
    lead_department: Int64
    assisting_departments: list[Int64] = []
    note: StoredText = Field("", max_length=2000)


class ReasonIn(Schema):
    reason: StoredText = Field(max_length=2000)


class NoteIn(Schema):
    note: StoredText = Field("", max_length=2000)


class ExtensionIn(Schema):
    days: Int64
    reason: StoredText = Field(max_length=2000)


class ApproveExtensionIn(Schema):
    days: Int64 | None = None
    note: StoredText = Field("", max_length=2000)


class ReplyIn(Schema):
    text: StoredText = Field(max_length=10000)


class CloseIn(Schema):
    resolved: bool
    note: StoredText = Field("", max_length=2000)


class EvaluationIn(Schema):
    resolved: StoredText = Field(description="yes | partly | no")
    satisfaction: StoredText = Field(description="satisfied | basic | unsatisfied")
    comment: StoredText = Field("", max_length=2000)


class CallbackIn(EvaluationIn):
    asker: Int64 = Field(description="TaskAsker id (see askers_detail)")


class VoteIn(Schema):
    verdict: StoredText = Field(description="satisfied | basic | unsatisfied")


class EvaluationOut(Schema):
    task: int
    round: int
    resolved: str
    satisfaction: str
    reopen_requested: bool
