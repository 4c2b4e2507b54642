"""Screening configuration: the lexicon and the action taken for each category.

Both are edited by staff in the admin. Any change bumps a version in the cache, so every
process rebuilds its matching automaton on its next screening (see moderation.screening).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ScreeningCategory(models.TextChoices):
    ABUSE = "abuse", _("Abuse")
    PERSONAL_DATA = "personal_data", _("Personal data")
    ILLEGAL = "illegal", _("Illegal content")
    SPAM = "spam", _("Advertising / spam")


class ScreeningAction(models.TextChoices):
    HOLD = "hold", _("Hold for review")
    REJECT = "reject", _("Reject automatically")
    MASK = "mask", _("Mask the words")


#: The rejection reason recorded when a category's action is "reject".
CATEGORY_REASONS = {
    ScreeningCategory.ABUSE: "abusive",
    ScreeningCategory.PERSONAL_DATA: "personal_data",
    ScreeningCategory.ILLEGAL: "illegal",
    ScreeningCategory.SPAM: "advertising",
}

DEFAULT_ACTIONS = {
    ScreeningCategory.ABUSE: ScreeningAction.HOLD,
    ScreeningCategory.PERSONAL_DATA: ScreeningAction.MASK,
    ScreeningCategory.ILLEGAL: ScreeningAction.REJECT,
    ScreeningCategory.SPAM: ScreeningAction.HOLD,
}


class CategoryPolicy(models.Model):
    category = models.CharField(
        _("category"), max_length=20, choices=ScreeningCategory.choices, unique=True
    )
    action = models.CharField(_("action"), max_length=10, choices=ScreeningAction.choices)

    class Meta:
        verbose_name = _("screening policy")
        verbose_name_plural = _("screening policies")

    def __str__(self) -> str:
        return f"{self.get_category_display()}: {self.get_action_display()}"


class LexiconEntry(models.Model):
    term = models.CharField(_("term"), max_length=60, unique=True)
    category = models.CharField(_("category"), max_length=20, choices=ScreeningCategory.choices)
    active = models.BooleanField(_("active"), default=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["category", "term"]
        verbose_name = _("lexicon entry")
        verbose_name_plural = _("lexicon")

    def __str__(self) -> str:
        return self.term


class ObserverFlag(models.Model):
    """A citizen observer's note that a question deserves attention. It changes no state;
    it raises the question's priority and is visible on every console."""

    question = models.ForeignKey(
        "hub.Question", on_delete=models.CASCADE, related_name="observer_flags"
    )
    observer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    note = models.CharField(_("note"), max_length=500, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["question", "observer"], name="observer_flag_once")
        ]
        verbose_name = _("observer flag")
        verbose_name_plural = _("observer flags")

    def __str__(self) -> str:
        return f"{self.observer_id} → #{self.question_id}"


class LibrarySource(models.TextChoices):
    LIVE = "live", _("Answered live")
    STAFF = "staff", _("Written by staff")


class LibraryEntry(models.Model):
    """One question and its answer in the answer library (咨询答问库), shared by every
    session and channel.

    Entries come from questions answered live (their public text and the answer summary,
    added when the question is marked answered) or are written by staff. ``published``
    entries form the public FAQ; the others serve host and screeners only. Retired entries
    are kept for the record (questions answered from them still point at them) but are
    never suggested again. Every write goes through :mod:`moderation.answers`.
    """

    question_text = models.TextField(_("question"))
    answer_text = models.TextField(_("answer"))
    sector = models.CharField(_("sector"), max_length=20, default="other", db_index=True)
    department = models.ForeignKey(
        "hub.Department",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="library_entries",
        verbose_name=_("department"),
    )
    source = models.CharField(_("source"), max_length=10, choices=LibrarySource.choices)
    source_question = models.OneToOneField(
        "hub.Question",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="library_entry",
        verbose_name=_("answered question"),
    )
    published = models.BooleanField(_("published as FAQ"), default=False)
    retired = models.BooleanField(_("retired"), default=False)
    times_used = models.PositiveIntegerField(_("times used"), default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"))
    updated_at = models.DateTimeField(_("updated at"))

    class Meta:
        ordering = ["-times_used", "-pk"]
        verbose_name = _("library entry")
        verbose_name_plural = _("answer library")

    def __str__(self) -> str:
        return self.question_text[:40]
