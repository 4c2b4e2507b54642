"""Control-plane models of live video (issue 5): the studio publisher, the agenda of a
meeting, call-in guests and recordings.

The media itself (WHIP/WHEP/HLS, composition, recording files) belongs to the engine
(:mod:`streaming.engine`); it reports what happens through the action functions of
:mod:`streaming.actions`, which are the only writers of these rows.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from hub.models import LiveSession


class StudioStream(models.Model):
    """One per session: who may publish the programme and whether it is on the wire.

    ``publisher_token_hash`` is the SHA-256 of the bearer token (tokens are 32 random
    bytes, so a fast hash is enough; the plain token is shown once, when it is set).
    ``publisher_resource_id`` is the engine's WHIP resource of the publisher that is
    connected now (empty: nobody publishes). ``handover_until`` is the end of the window
    in which a second publisher may replace the current one.
    """

    session = models.OneToOneField(
        LiveSession, on_delete=models.CASCADE, related_name="studio", verbose_name=_("session")
    )
    publisher_token_hash = models.CharField(max_length=64, blank=True)
    publisher_token_hint = models.CharField(
        _("token hint"), max_length=8, blank=True, help_text=_("The last characters of the token")
    )
    publisher_token_set_at = models.DateTimeField(_("token set at"), null=True, blank=True)
    publisher_resource_id = models.CharField(max_length=120, blank=True)
    publisher_connected_at = models.DateTimeField(null=True, blank=True)
    handover_until = models.DateTimeField(null=True, blank=True)
    live = models.BooleanField(_("signal on the wire"), default=False)
    current_item = models.ForeignKey(
        "AgendaItem",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("current agenda item"),
    )

    class Meta:
        verbose_name = _("studio stream")
        verbose_name_plural = _("studio streams")

    def __str__(self) -> str:
        return f"studio of {self.session_id}"


class AgendaItem(models.Model):
    """One item of a meeting's agenda. A confidential (涉密) item is never shown: its title
    is hidden from the public and the public picture is blanked while it is current."""

    session = models.ForeignKey(
        LiveSession, on_delete=models.CASCADE, related_name="agenda", verbose_name=_("session")
    )
    position = models.PositiveIntegerField(_("position"))
    title = models.CharField(_("title"), max_length=200)
    confidential = models.BooleanField(_("confidential"), default=False)

    class Meta:
        ordering = ["session", "position", "id"]
        verbose_name = _("agenda item")
        verbose_name_plural = _("agenda items")
        constraints = [
            models.UniqueConstraint(fields=["session", "position"], name="agenda_unique_position")
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.title}"


class GuestState(models.TextChoices):
    INVITED = "invited", _("Invited")
    WAITING = "waiting", _("In the waiting room")
    ON_AIR = "on_air", _("On air")
    LEFT = "left", _("Left")
    REVOKED = "revoked", _("Invitation withdrawn")


class GuestKind(models.TextChoices):
    CALLER = "caller", _("Caller")
    GUEST = "guest", _("Remote guest")


class GuestInvite(models.Model):
    """A one-time link that lets a caller or remote guest join from a browser.

    invited → waiting (the guest connects; the link is used up) → on_air ⇄ waiting →
    left (the guest hangs up or drops). An invitation that nobody used may be withdrawn
    (revoked). The link stops working after ``expires_at`` and after its first use.
    """

    session = models.ForeignKey(LiveSession, on_delete=models.CASCADE, related_name="guest_invites")
    label = models.CharField(_("label"), max_length=60)
    kind = models.CharField(
        _("kind"), max_length=10, choices=GuestKind.choices, default=GuestKind.CALLER
    )
    token_hash = models.CharField(max_length=64, unique=True)
    state = models.CharField(
        _("state"), max_length=10, choices=GuestState.choices, default=GuestState.INVITED
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"))
    expires_at = models.DateTimeField(_("expires at"))
    used_at = models.DateTimeField(_("joined at"), null=True, blank=True)
    on_air_since = models.DateTimeField(null=True, blank=True)
    left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("guest invitation")
        verbose_name_plural = _("guest invitations")
        indexes = [models.Index(fields=["session", "state"])]

    def __str__(self) -> str:
        return f"{self.label} ({self.state})"


class Recording(models.Model):
    """A recording the engine made of a session's programme. ``path`` is where the engine
    keeps it (relative to its recordings directory); ``ended_at`` is empty while it runs."""

    session = models.ForeignKey(LiveSession, on_delete=models.CASCADE, related_name="recordings")
    path = models.CharField(_("path"), max_length=400)
    started_at = models.DateTimeField(_("started at"))
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)

    class Meta:
        ordering = ["started_at", "id"]
        verbose_name = _("recording")
        verbose_name_plural = _("recordings")
        constraints = [
            models.UniqueConstraint(fields=["session", "path"], name="recording_unique_path"),
            models.UniqueConstraint(
                fields=["session"],
                condition=Q(ended_at__isnull=True),
                name="recording_one_running_per_session",
            ),
        ]

    def __str__(self) -> str:
        return self.path
