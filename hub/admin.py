"""Admin for sessions, departments and accounts. Session status and the question queue
are read-only here: they change only through the console's actions, which keep the audit
trail and tell viewers."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from hub.models import AuditEntry, Department, LiveSession, Question, SessionEvent


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "level"]
    list_filter = ["level"]
    search_fields = ["name"]
    filter_horizontal = ["members"]


@admin.register(LiveSession)
class LiveSessionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["title", "slug", "kind", "status", "scheduled_start"]
    list_filter = ["kind", "status"]
    search_fields = ["title", "slug"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["status", "started_at", "ended_at", "last_event_seq"]
    filter_horizontal = ["departments"]

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        if change:
            from hub.actions.sessions import do_publish_session_details

            do_publish_session_details(form.instance.pk)


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["id", "session", "channel", "state", "asker_name", "received_at"]
    list_filter = ["session", "channel", "state", "visibility"]
    search_fields = ["text", "asker_name"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "at",
        "session",
        "question",
        "actor_label",
        "action",
        "from_state",
        "to_state",
        "reason",
    ]
    list_filter = ["session", "action"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SessionEvent)
class SessionEventAdmin(AuditEntryAdmin):
    list_display = ["session", "seq", "type", "ts"]  # type: ignore[assignment]
    list_filter = ["session", "type"]  # type: ignore[assignment]
