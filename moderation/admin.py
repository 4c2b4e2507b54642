"""Staff edit the screening lexicon and the action per category here; every change makes
each process rebuild its matching automaton before the next question."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import HttpRequest

from moderation import answers
from moderation.models import CategoryPolicy, LexiconEntry, LibraryEntry
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


@admin.register(LibraryEntry)
class LibraryEntryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Staff curate the answer library: edit, publish as FAQ, retire. Saving goes through
    :mod:`moderation.answers` (permission check, index rebuild in every process); entries
    are never deleted, because answered questions point at them."""

    list_display = ["question_text", "sector", "department", "source", "published", "retired"]
    list_filter = ["published", "retired", "source", "sector"]
    search_fields = ["question_text", "answer_text"]
    readonly_fields = ["source", "source_question", "times_used", "created_by", "created_at"]
    fields = [
        "question_text",
        "answer_text",
        "sector",
        "department",
        "published",
        "retired",
        *readonly_fields,
    ]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change:
            created = answers.do_add_library_entry(
                request.user,
                question_text=obj.question_text,
                answer_text=obj.answer_text,
                sector=obj.sector,
                department_id=obj.department_id,
                published=obj.published,
            )
            obj.pk = created.pk
            return
        editable = ["question_text", "answer_text", "sector", "department", "published", "retired"]
        changes = {
            ("department_id" if name == "department" else name): getattr(
                obj, "department_id" if name == "department" else name
            )
            for name in form.changed_data
            if name in editable
        }
        if changes:
            answers.do_update_library_entry(request.user, obj.pk, **changes)
