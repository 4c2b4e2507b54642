"""Staff edit the screening lexicon and the action per category here; every change makes
each process rebuild its matching automaton before the next question."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import HttpRequest

from moderation.models import CategoryPolicy, LexiconEntry
from moderation.screening import bump_lexicon_version


@admin.register(LexiconEntry)
class LexiconEntryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["term", "category", "active", "note", "updated_at", "updated_by"]
    list_filter = ["category", "active"]
    search_fields = ["term", "note"]
    readonly_fields = ["updated_at", "updated_by"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(CategoryPolicy)
class CategoryPolicyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["category", "action"]


@receiver([post_save, post_delete], sender=LexiconEntry)
@receiver([post_save, post_delete], sender=CategoryPolicy)
def _lexicon_changed(**kwargs: Any) -> None:
    bump_lexicon_version()
