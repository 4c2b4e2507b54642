"""Domain models of a live session and its single question queue.

Nothing here is written to directly by views, consumers or tasks: every change goes
through an action function in :mod:`hub.actions` or :mod:`moderation.actions`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class SessionKind(models.TextChoices):
    INTERVIEW = "interview", _("Online interview")
    MEETING = "meeting", _("Executive meeting livestream")
    QA = "qa", _("All-media Q&A")


class SessionStatus(models.TextChoices):
    ANNOUNCED = "announced", _("Announced")
    COLLECTING = "collecting", _("Collecting questions")
    LIVE = "live", _("Live")
    ENDED = "ended", _("Ended")


class DepartmentLevel(models.TextChoices):
    CITY = "city", _("City")
    COUNTY = "county", _("County")
    TOWN = "town", _("Town")


class Department(models.Model):
    """A department or county/town government that can answer questions and take tasks."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    level = models.CharField(
        _("level"), max_length=10, choices=DepartmentLevel.choices, default=DepartmentLevel.CITY
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="departments", verbose_name=_("members")
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("department")
        verbose_name_plural = _("departments")

    def __str__(self) -> str:
        return self.name


class LiveSession(models.Model):
    """One broadcast: an interview, a meeting or a Q&A, with its own queue and event log.

    ``last_event_seq`` is the sequence number of the newest public event; it is only ever
    advanced by :func:`hub.events.record_public_event` while the row is locked.
    """

    slug = models.SlugField(_("slug"), max_length=60, unique=True)
    kind = models.CharField(_("kind"), max_length=12, choices=SessionKind.choices)
    status = models.CharField(
        _("status"), max_length=12, choices=SessionStatus.choices, default=SessionStatus.ANNOUNCED
    )
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    scheduled_start = models.DateTimeField(_("scheduled start"))
    scheduled_end = models.DateTimeField(_("scheduled end"))
    guests = models.JSONField(
        _("guests"), default=list, blank=True, help_text=_('List of {"name": …, "title": …}')
    )
    departments = models.ManyToManyField(
        Department, blank=True, related_name="sessions", verbose_name=_("responsible departments")
    )
    microblog_hashtag = models.CharField(
        _("microblog hashtag"),
        max_length=60,
        blank=True,
        help_text=_("Without the # signs; microblog posts carrying #tag# join this session"),
    )
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    last_event_seq = models.BigIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-scheduled_start"]
        verbose_name = _("live session")
        verbose_name_plural = _("live sessions")

    def __str__(self) -> str:
        return self.title

    @property
    def accepts_questions(self) -> bool:
        return self.status in (SessionStatus.COLLECTING, SessionStatus.LIVE)


class Channel(models.TextChoices):
    WEB = "web", _("Web")
    MICROBLOG = "microblog", _("Microblog")
    HOTLINE = "hotline", _("Hotline 12345")
    RADIO = "radio", _("Radio call-in")
    ONSITE = "onsite", _("On site")


class Visibility(models.TextChoices):
    PUBLIC = "public", _("Public")
    PRIVATE = "private", _("Private")


class QuestionState(models.TextChoices):
    RECEIVED = "received", _("Received")
    PENDING = "pending", _("Pending review")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    QUEUED = "queued", _("Queued for the guest")
    ON_AIR = "on_air", _("On air")
    ANSWERED = "answered", _("Answered")
    DEFERRED = "deferred", _("Deferred to follow-up")
    UNANSWERED = "unanswered", _("Unanswered")
    MERGED = "merged", _("Merged into the same question")


class RejectionReason(models.TextChoices):
    """The fixed list a host picks from; the free-text note adds detail."""

    DUPLICATE = "duplicate", _("Duplicate of another question")
    OFF_TOPIC = "off_topic", _("Off topic for this session")
    ABUSIVE = "abusive", _("Abusive or insulting")
    PERSONAL_DATA = "personal_data", _("Exposes personal data")
    ILLEGAL = "illegal", _("Illegal content")
    ADVERTISING = "advertising", _("Advertising or spam")
    UNCLEAR = "unclear", _("Cannot be understood")
    OTHER = "other", _("Other (see note)")


class Question(models.Model):
    session = models.ForeignKey(LiveSession, on_delete=models.PROTECT, related_name="questions")
    text = models.TextField(_("text"))
    original_text = models.TextField(
        _("original text"), help_text=_("As received, before normalisation")
    )
    channel = models.CharField(_("channel"), max_length=12, choices=Channel.choices)
    channel_source_id = models.CharField(
        _("channel source id"), max_length=120, null=True, blank=True
    )
    asker_name = models.CharField(_("asker"), max_length=60, blank=True)
    asker_ref = models.CharField(
        _("asker reference"),
        max_length=120,
        blank=True,
        help_text=_("Browser id, microblog user id or caller number: who asked, for rate limits"),
    )
    contact = models.CharField(_("private contact"), max_length=40, blank=True)
    visibility = models.CharField(
        _("visibility"), max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC
    )
    received_at = models.DateTimeField(_("received at"))
    state = models.CharField(
        _("state"), max_length=12, choices=QuestionState.choices, default=QuestionState.RECEIVED
    )
    supports = models.PositiveIntegerField(_("supports"), default=0)
    queue_position = models.PositiveIntegerField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.CharField(max_length=20, choices=RejectionReason.choices, blank=True)
    rejection_note = models.TextField(blank=True)
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_members",
        help_text=_("The canonical question this one was merged into (same question asked again)"),
    )
    merge_score = models.FloatField(null=True, blank=True)
    similar = models.JSONField(
        default=list,
        blank=True,
        help_text=_('Questions it resembles but was not merged into: [{"id": …, "score": …}]'),
    )
    sector = models.CharField(_("sector"), max_length=20, default="other", db_index=True)
    sector_source = models.CharField(
        _("sector set by"),
        max_length=10,
        default="auto",
        help_text=_('"auto" (the classifier) or "staff" (a correction that trains it)'),
    )
    screening_flags = models.JSONField(
        default=list,
        blank=True,
        help_text=_("What screening found: category, action, kind, masked match"),
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="submitted_questions",
        help_text=_("The screener who typed a call-in"),
    )
    # Set at intake (moderation.answers.library_hints). Indexed only where set (below):
    # entries are retired, hardly ever deleted, and most questions have no hint.
    library_hint = models.ForeignKey(
        "moderation.LibraryEntry",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        verbose_name=_("answer library hint"),
        help_text=_("The answer library entry most like the question when it arrived"),
    )
    library_hint_score = models.FloatField(_("answer library hint score"), null=True, blank=True)

    class Meta:
        ordering = ["received_at", "id"]
        verbose_name = _("question")
        verbose_name_plural = _("questions")
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "channel_source_id"],
                condition=Q(channel_source_id__isnull=False),
                name="question_unique_channel_source",
            ),
            models.UniqueConstraint(
                fields=["session"],
                condition=Q(state="on_air"),
                name="question_one_on_air_per_session",
            ),
        ]
        indexes = [
            models.Index(fields=["session", "state"]),
            models.Index(fields=["session", "asker_ref", "received_at"]),
            models.Index(
                fields=["library_hint"],
                condition=Q(library_hint__isnull=False),
                name="question_library_hint",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.text[:30]}"

    @property
    def is_public(self) -> bool:
        """Shown to viewers: public, published by a host, and not withdrawn by a rejection."""
        return (
            self.visibility == Visibility.PUBLIC
            and self.published_at is not None
            and self.state not in (QuestionState.REJECTED, QuestionState.MERGED)
        )


class QuestionSupport(models.Model):
    """One viewer's +1; one per browser id and question."""

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="support_rows")
    browser_id = models.CharField(max_length=64)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["question", "browser_id"], name="support_once")
        ]

    def __str__(self) -> str:
        return f"+1 #{self.question_id}"


class LiveAnswer(models.Model):
    """What the guest said on air, summarised by the leader or the host."""

    question = models.OneToOneField(Question, on_delete=models.PROTECT, related_name="live_answer")
    summary = models.TextField(_("summary"), blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    on_air_at = models.DateTimeField(_("on air at"))
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    #: Set when the answer was taken from the answer library instead of being given on
    #: air; ``on_air_at`` is then the moment it was answered, not a moment of the broadcast.
    library_entry = models.ForeignKey(
        "moderation.LibraryEntry",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="answers",
        verbose_name=_("answered from the library"),
    )

    class Meta:
        verbose_name = _("live answer")
        verbose_name_plural = _("live answers")

    def __str__(self) -> str:
        return f"answer to #{self.question_id}"


class AuditEntry(models.Model):
    """One row per action: who did what, when, from which state to which, and why."""

    session = models.ForeignKey(LiveSession, on_delete=models.PROTECT, related_name="audit")
    question = models.ForeignKey(
        Question, null=True, blank=True, on_delete=models.PROTECT, related_name="audit"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=60, help_text=_("Username, or the system part"))
    action = models.CharField(max_length=40)
    from_state = models.CharField(max_length=12, blank=True)
    to_state = models.CharField(max_length=12, blank=True)
    reason = models.CharField(max_length=40, blank=True)
    note = models.TextField(blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action}"


class SessionEvent(models.Model):
    """The public event log of a session: what viewers saw, in order, replayable by seq."""

    session = models.ForeignKey(LiveSession, on_delete=models.CASCADE, related_name="events")
    seq = models.BigIntegerField()
    type = models.CharField(max_length=40)
    data = models.JSONField()
    ts = models.DateTimeField()

    class Meta:
        ordering = ["seq"]
        constraints = [models.UniqueConstraint(fields=["session", "seq"], name="event_unique_seq")]

    def __str__(self) -> str:
        return f"{self.session_id}#{self.seq} {self.type}"


class IntakeCursor(models.Model):
    """Where a polling channel adapter got to (e.g. the newest microblog id seen), so a
    restarted worker neither misses nor re-reads items. Re-reading is harmless anyway:
    intake is idempotent on source ids."""

    name = models.CharField(max_length=60, unique=True)
    value = models.CharField(max_length=120, blank=True)
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name}={self.value}"
