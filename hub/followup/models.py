"""Follow-up tasks (事后跟踪): what happens to a question the session did not answer.

Overview (the public pages read these; only actions in :mod:`hub.followup.actions` write):

- :class:`FollowUpTask` — one per *merged group* of unanswered questions (the canonical
  :class:`hub.models.Question`), with every asker of the group as a :class:`TaskAsker`.
  Its ``state`` follows :class:`TaskState`; its deadlines are stored on the row.
- :class:`TaskEvent` — the task's audit trail and timeline: one row per action (who,
  when, from which state to which, why). Rows with ``public=True`` form the public
  timeline; their ``public_note`` is the only free text shown to the public.
- :class:`TaskReply` — a department's reply, reviewed at three levels (三审: editor,
  section head, leader) and tone-checked before it is published. One task can have
  several replies over time (a reopened task gets a new one); ``round`` numbers them.
- :class:`Evaluation` — an asker's verdict on a published reply (by private code, or
  recorded by hotline staff on a callback): resolved? satisfied? comment.
- :class:`PublicVote` — anyone's public online evaluation (网上评议) of a published reply,
  one per browser id.
- :class:`AskerCode` — the hashed private code a web asker receives when asking; it reads
  the task's status and casts the asker's evaluation.
- :class:`Notice` — the outbox: reminders, supervision notices (督办) and messages to
  askers. The unique constraint on (task, kind, generation, recipient) makes "sent" a
  database fact, so no reminder is ever sent twice.
- :class:`DeadlinePolicy` — deadlines per session kind (staff-editable in the admin);
  without a row the defaults below apply.
- :class:`ToneTerm` — the staff-editable list of rude, evasive, preachy or cold phrases
  that block a reply's publication (雷人回复).

Deadlines count *working time* (see :mod:`hub.workcalendar.working_time`): office hours on
working days, so "5 working days" skips weekends and public holidays.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from hub.models import Department, LiveSession, Question, SessionKind

# --- deadlines ------------------------------------------------------------------------

DEFAULT_ACCEPT_HOURS = 3
DEFAULT_REPLY_DAYS = 5
DEFAULT_MAX_REPLY_DAYS = 15
DEFAULT_WARN_PERCENT = 80
DEFAULT_ESCALATE_HOURS = 8
#: A task may be reopened (重办) this many times.
REOPEN_LIMIT = 1


class DeadlinePolicy(models.Model):
    """Deadlines for the tasks of one kind of session. A kind without a row uses the
    defaults (3 working hours to accept, 5 working days to reply, at most 15 working days
    in total with extensions, a warning at 80% of the time, level-2 supervision 8 working
    hours after level 1). Changes apply to tasks dispatched afterwards."""

    session_kind = models.CharField(
        _("session kind"), max_length=12, choices=SessionKind.choices, unique=True
    )
    accept_hours = models.PositiveSmallIntegerField(
        _("working hours to accept"), default=DEFAULT_ACCEPT_HOURS
    )
    reply_days = models.PositiveSmallIntegerField(
        _("working days to reply"), default=DEFAULT_REPLY_DAYS
    )
    max_reply_days = models.PositiveSmallIntegerField(
        _("most working days to reply, extensions included"), default=DEFAULT_MAX_REPLY_DAYS
    )
    warn_percent = models.PositiveSmallIntegerField(
        _("warn at this percentage of the time used"), default=DEFAULT_WARN_PERCENT
    )
    escalate_hours = models.PositiveSmallIntegerField(
        _("working hours from level-1 to level-2 supervision"), default=DEFAULT_ESCALATE_HOURS
    )

    class Meta:
        verbose_name = _("deadline policy")
        verbose_name_plural = _("deadline policies")
        constraints = [
            models.CheckConstraint(
                condition=Q(reply_days__gte=1)
                & Q(max_reply_days__gte=models.F("reply_days"))
                & Q(accept_hours__gte=1)
                & Q(warn_percent__gte=1)
                & Q(warn_percent__lte=99),
                name="deadline_policy_sane",
            )
        ]

    def __str__(self) -> str:
        return str(SessionKind(self.session_kind).label)


# --- tasks ----------------------------------------------------------------------------


class TaskState(models.TextChoices):
    """The task's lifecycle.

    ::

        pending ──assign──▶ dispatched ──accept──▶ in_progress ──publish reply──▶ replied
                               │  ▲                  │  ▲   │                      │
                          return  reassign       wait  resume  request extension  close
                               ▼  │                  ▼  │   ▼                      ▼
                            returned           waiting_citizen  extension_requested  closed_*
                                                              (approve / refuse → in_progress)
        replied / closed_* ──reopen (once, staff)──▶ in_progress
        pending / returned ──dismiss (staff)──▶ dismissed
    """

    PENDING = "pending", _("Awaiting assignment")
    DISPATCHED = "dispatched", _("Dispatched, awaiting acceptance")
    RETURNED = "returned", _("Returned by the department")
    IN_PROGRESS = "in_progress", _("Accepted, in progress")
    WAITING_CITIZEN = "waiting_citizen", _("Waiting for the citizen")
    EXTENSION_REQUESTED = "extension_requested", _("Extension requested")
    REPLIED = "replied", _("Replied")
    CLOSED_RESOLVED = "closed_resolved", _("Closed, resolved")
    CLOSED_UNRESOLVED = "closed_unresolved", _("Closed, unresolved")
    DISMISSED = "dismissed", _("Dismissed: nothing to handle")


#: States in which a task is open (Open311 "open"); the rest are closed.
OPEN_STATES = frozenset(
    {
        TaskState.PENDING,
        TaskState.DISPATCHED,
        TaskState.RETURNED,
        TaskState.IN_PROGRESS,
        TaskState.WAITING_CITIZEN,
        TaskState.EXTENSION_REQUESTED,
        TaskState.REPLIED,
    }
)
#: Closed by handling (counted as 办结). A dismissed task (spam, abuse, not a matter for
#: any department: staff decide before assigning) is closed too but counts for nobody.
CLOSED_STATES = frozenset({TaskState.CLOSED_RESOLVED, TaskState.CLOSED_UNRESOLVED})
#: States in which the lead department works on the task (the reply clock may run).
WORKING_STATES = frozenset(
    {TaskState.IN_PROGRESS, TaskState.WAITING_CITIZEN, TaskState.EXTENSION_REQUESTED}
)


class FollowUpTask(models.Model):
    """One follow-up task: an unanswered question group, assigned to departments.

    Clocks (all working time, see module docstring):

    - accept clock: from ``dispatched_at`` to ``accept_deadline`` (3 working hours by
      default); stops when the department accepts (``accepted_at``).
    - reply clock: starts at dispatch as well (the department's 5 working days count from
      the moment it received the task), stops when a reply is published. It pauses while
      the task waits for the citizen: ``reply_used`` holds the working time consumed by
      finished stretches and ``reply_clock_started_at`` the start of the running one (None
      while paused or stopped). ``reply_budget`` is the working time allowed (5 days;
      extensions raise it to at most 15 days). ``reply_deadline`` is the moment the budget
      runs out if the clock keeps running (None while paused).
    - ``deadline_generation`` grows whenever the department or the budget changes
      (dispatch, reassignment, approved extension, reopening): reminders are sent once per
      step *per generation*, so a new deadline gets its own warning.

    Public fields: ``public_text`` (the masked, host-approved text of the question, or the
    text staff approved for publication when assigning) is shown only when ``is_public``;
    private questions are never public. Askers' names, contacts and browser ids are never
    shown: they stay on :class:`hub.models.Question` and :class:`TaskAsker`.
    """

    session = models.ForeignKey(
        LiveSession, on_delete=models.PROTECT, related_name="followup_tasks"
    )
    question = models.OneToOneField(
        Question,
        on_delete=models.PROTECT,
        related_name="followup_task",
        help_text=_("The canonical question of the merged group"),
    )
    state = models.CharField(
        _("state"), max_length=20, choices=TaskState.choices, default=TaskState.PENDING
    )
    is_public = models.BooleanField(
        _("public"),
        default=False,
        help_text=_("Shown on the public board (never for a private question)"),
    )
    public_text = models.TextField(_("public text"), blank=True)
    sector = models.CharField(_("sector"), max_length=20, default="other", db_index=True)
    channel = models.CharField(
        _("channel"), max_length=12, help_text=_("Channel of the canonical question")
    )
    askers_count = models.PositiveIntegerField(_("askers"), default=1)

    # assignment (梳理交办)
    lead_department = models.ForeignKey(
        Department,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="lead_tasks",
        verbose_name=_("lead department"),
    )
    assisting_departments = models.ManyToManyField(
        Department,
        blank=True,
        related_name="assisting_tasks",
        verbose_name=_("assisting departments"),
    )
    assignment_note = models.TextField(_("assignment note"), blank=True)
    dispatch_count = models.PositiveIntegerField(default=0)
    return_count = models.PositiveIntegerField(default=0)

    # deadlines
    dispatched_at = models.DateTimeField(_("dispatched at"), null=True, blank=True)
    accept_deadline = models.DateTimeField(_("accept by"), null=True, blank=True)
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)
    reply_budget = models.DurationField(_("working time allowed to reply"), null=True, blank=True)
    reply_used = models.DurationField(_("working time used"), default=timedelta(0))
    reply_clock_started_at = models.DateTimeField(null=True, blank=True)
    reply_deadline = models.DateTimeField(_("reply by"), null=True, blank=True)
    deadline_generation = models.PositiveIntegerField(default=0)
    extension_days = models.PositiveSmallIntegerField(
        _("working days granted by extensions"), default=0
    )
    requested_extension_days = models.PositiveSmallIntegerField(default=0)
    wait_reason = models.TextField(_("why waiting for the citizen"), blank=True)
    supervision_level = models.PositiveSmallIntegerField(
        _("supervision level"),
        default=0,
        help_text=_("0 none, 1 notice to the department, 2 reported to the leadership"),
    )

    # outcome
    replied_at = models.DateTimeField(_("replied at"), null=True, blank=True)
    replied_on_time = models.BooleanField(
        null=True, blank=True, help_text=_("The latest reply was published within the deadline")
    )
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    reopen_count = models.PositiveSmallIntegerField(_("times reopened"), default=0)
    reopen_requested = models.BooleanField(
        default=False,
        help_text=_("An asker found the reply unresolved and unsatisfying; staff to review"),
    )

    created_at = models.DateTimeField(_("created at"))
    updated_at = models.DateTimeField(_("updated at"))

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("follow-up task")
        verbose_name_plural = _("follow-up tasks")
        indexes = [
            models.Index(fields=["state"]),
            models.Index(fields=["lead_department", "state"]),
            models.Index(fields=["is_public", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.public_text[:30]}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def reply_clock_running(self) -> bool:
        return self.reply_clock_started_at is not None


class TaskAsker(models.Model):
    """One asker of the group (the canonical question or one merged into it)."""

    task = models.ForeignKey(FollowUpTask, on_delete=models.CASCADE, related_name="askers")
    question = models.OneToOneField(
        Question, on_delete=models.PROTECT, related_name="followup_asker"
    )

    class Meta:
        ordering = ["question_id"]
        verbose_name = _("asker")
        verbose_name_plural = _("askers")

    def __str__(self) -> str:
        return f"task {self.task_id} ← #{self.question_id}"


class TaskEvent(models.Model):
    """The audit row of every task action, and the task's timeline.

    ``public`` rows are the public timeline; only ``public_note`` (never ``note``, which
    may name people or hold internal remarks) is shown there.
    """

    task = models.ForeignKey(FollowUpTask, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=60)
    action = models.CharField(max_length=40)
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20, blank=True)
    department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.TextField(blank=True)
    public = models.BooleanField(default=False)
    public_note = models.TextField(blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]
        verbose_name = _("task event")
        verbose_name_plural = _("task events")
        indexes = [models.Index(fields=["action", "at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action}"


# --- replies and the three-level review (三审) ----------------------------------------


class ReplyStage(models.TextChoices):
    DRAFTING = "drafting", _("Drafting")
    SECTION_REVIEW = "section_review", _("Awaiting the section head")
    LEADER_REVIEW = "leader_review", _("Awaiting the leader's sign-off")
    BLOCKED = "blocked", _("Blocked by the tone check")
    PUBLISHED = "published", _("Published")


class TaskReply(models.Model):
    """A department's reply. The editor's review (一审) moves it from drafting to the
    section head (二审), then to the leader (三审); the leader's sign-off publishes it
    unless the tone check flags it (then it is ``blocked`` until edited, which starts the
    review again, or overridden by staff with a recorded reason). Each reviewer must be a
    different member of the lead department; names and times are kept and shown with the
    published reply. Any reviewer may send it back to drafting with a note."""

    task = models.ForeignKey(FollowUpTask, on_delete=models.CASCADE, related_name="replies")
    round = models.PositiveSmallIntegerField(default=1, help_text=_("1, then 2 after a reopening"))
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+")
    text = models.TextField(_("reply"))
    stage = models.CharField(max_length=20, choices=ReplyStage.choices, default=ReplyStage.DRAFTING)
    drafted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    editor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    editor_at = models.DateTimeField(null=True, blank=True)
    section_head = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    section_head_at = models.DateTimeField(null=True, blank=True)
    leader = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    leader_at = models.DateTimeField(null=True, blank=True)
    #: Display names frozen at signing time: {"editor": "…", "section_head": …, "leader": …}.
    signers = models.JSONField(default=dict, blank=True)
    tone_flags = models.JSONField(
        default=list, blank=True, help_text=_('[{"term", "category"}] found by the tone check')
    )
    tone_override_reason = models.TextField(blank=True)
    tone_override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    tone_override_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["task_id", "round"]
        verbose_name = _("reply")
        verbose_name_plural = _("replies")
        constraints = [
            models.UniqueConstraint(fields=["task", "round"], name="reply_one_per_round")
        ]

    def __str__(self) -> str:
        return f"reply {self.round} to task {self.task_id}"


class ToneCategory(models.TextChoices):
    RUDE = "rude", _("Rude")
    EVASIVE = "evasive", _("Evasive")
    PREACHY = "preachy", _("Preachy")
    COLD = "cold", _("Cold / buck-passing")


class ToneTerm(models.Model):
    """A phrase that must not appear in a published reply (matched on folded text)."""

    term = models.CharField(_("phrase"), max_length=60, unique=True)
    category = models.CharField(_("category"), max_length=10, choices=ToneCategory.choices)
    active = models.BooleanField(_("active"), default=True)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        ordering = ["category", "term"]
        verbose_name = _("tone phrase")
        verbose_name_plural = _("tone phrases")

    def __str__(self) -> str:
        return self.term


# --- evaluation -----------------------------------------------------------------------


class Resolution(models.TextChoices):
    YES = "yes", _("Resolved")
    PARTLY = "partly", _("Partly resolved")
    NO = "no", _("Not resolved")


class Satisfaction(models.TextChoices):
    SATISFIED = "satisfied", _("Satisfied")
    BASIC = "basic", _("Basically satisfied")
    UNSATISFIED = "unsatisfied", _("Unsatisfied")


class EvaluationSource(models.TextChoices):
    CODE = "code", _("By the asker's private code")
    CALLBACK = "callback", _("Recorded by hotline staff on a callback")


class Evaluation(models.Model):
    """One asker's verdict on one published reply (once per asker and reply)."""

    task = models.ForeignKey(FollowUpTask, on_delete=models.CASCADE, related_name="evaluations")
    reply = models.ForeignKey(TaskReply, on_delete=models.CASCADE, related_name="evaluations")
    asker = models.ForeignKey(TaskAsker, on_delete=models.CASCADE, related_name="evaluations")
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+")
    resolved = models.CharField(_("resolved"), max_length=10, choices=Resolution.choices)
    satisfaction = models.CharField(_("satisfaction"), max_length=12, choices=Satisfaction.choices)
    comment = models.TextField(_("comment"), blank=True)
    source = models.CharField(max_length=10, choices=EvaluationSource.choices)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]
        verbose_name = _("evaluation")
        verbose_name_plural = _("evaluations")
        constraints = [
            models.UniqueConstraint(fields=["reply", "asker"], name="evaluation_once_per_reply")
        ]

    def __str__(self) -> str:
        return f"{self.resolved}/{self.satisfaction} on task {self.task_id}"


class PublicVote(models.Model):
    """网上评议: anyone's verdict on a published reply, one per browser id and reply."""

    reply = models.ForeignKey(TaskReply, on_delete=models.CASCADE, related_name="votes")
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+")
    browser_id = models.CharField(max_length=64)
    verdict = models.CharField(max_length=12, choices=Satisfaction.choices)
    at = models.DateTimeField()

    class Meta:
        verbose_name = _("public vote")
        verbose_name_plural = _("public votes")
        constraints = [
            models.UniqueConstraint(fields=["reply", "browser_id"], name="public_vote_once")
        ]

    def __str__(self) -> str:
        return f"{self.verdict} on reply {self.reply_id}"


class AskerCode(models.Model):
    """The asker's private code, stored only as a keyed hash (HMAC of the secret key).

    Issued when a web viewer asks (shown once in the ask response) or, for other channels,
    when the task is created (sent by SMS when the asker left a mobile number)."""

    question = models.OneToOneField(Question, on_delete=models.CASCADE, related_name="asker_code")
    code_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("asker code")
        verbose_name_plural = _("asker codes")

    def __str__(self) -> str:
        return f"code of #{self.question_id}"


# --- the outbox: reminders, supervision, messages to askers ----------------------------


class NoticeKind(models.TextChoices):
    ACCEPT_WARNING = "accept_warning", _("Acceptance deadline near")
    ACCEPT_SUPERVISION_1 = "accept_supervision_1", _("Not accepted in time: supervision 1")
    ACCEPT_SUPERVISION_2 = "accept_supervision_2", _("Not accepted in time: supervision 2")
    REPLY_WARNING = "reply_warning", _("Reply deadline near")
    REPLY_SUPERVISION_1 = "reply_supervision_1", _("Reply overdue: supervision 1")
    REPLY_SUPERVISION_2 = "reply_supervision_2", _("Reply overdue: supervision 2")
    REPLY_PUBLISHED = "reply_published", _("Reply published (to the asker)")
    PRIVATE_CODE = "private_code", _("Private code (to the asker)")


SUPERVISION_KINDS = frozenset(
    {
        NoticeKind.ACCEPT_SUPERVISION_1,
        NoticeKind.ACCEPT_SUPERVISION_2,
        NoticeKind.REPLY_SUPERVISION_1,
        NoticeKind.REPLY_SUPERVISION_2,
    }
)


class NoticeAudience(models.TextChoices):
    DEPARTMENT = "department", _("The department")
    LEADERSHIP = "leadership", _("Staff leadership")
    ASKER = "asker", _("The asker")


class NoticeStatus(models.TextChoices):
    PENDING = "pending", _("Waiting to be sent")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed (gave up)")


class Notice(models.Model):
    """One message to send, exactly once.

    Created (claimed) by the timer tick or an action inside the transaction that decides
    it is due; the unique constraint on (task, kind, generation, recipient) means a second
    worker, or the same worker after a restart, cannot create it again. Delivery locks the
    row (``SELECT … FOR UPDATE SKIP LOCKED``), sends, and marks it sent in the same
    transaction. A sender that keeps raising is retried with back-off and, after
    ``HUB_FOLLOWUP_MAX_ATTEMPTS``, marked failed (listed in the weekly report).

    ``recipient`` is "" for department and leadership notices and ``asker:<id>`` for a
    message to one asker; ``address`` (private) is the phone number or e-mail used.
    """

    task = models.ForeignKey(FollowUpTask, on_delete=models.CASCADE, related_name="notices")
    kind = models.CharField(max_length=24, choices=NoticeKind.choices)
    generation = models.PositiveIntegerField(default=0)
    recipient = models.CharField(max_length=40, blank=True, default="")
    audience = models.CharField(max_length=12, choices=NoticeAudience.choices)
    department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    channel = models.CharField(max_length=10, default="log", help_text=_("sms, email or log"))
    address = models.CharField(max_length=200, blank=True)
    message = models.TextField()
    status = models.CharField(
        max_length=10, choices=NoticeStatus.choices, default=NoticeStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("notice")
        verbose_name_plural = _("notices")
        constraints = [
            models.UniqueConstraint(
                fields=["task", "kind", "generation", "recipient"], name="notice_once"
            )
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.kind} task {self.task_id} gen {self.generation}"
