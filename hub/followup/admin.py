"""Admin for the follow-up app. Staff edit the deadline policy per session kind and the
tone phrase list (a change rebuilds every process's matcher). Tasks, replies,
evaluations and notices are read-only here: they change only through the actions
(:mod:`hub.followup.actions`), which keep the timeline and the clocks consistent."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import transaction
from django.http import HttpRequest

from hub.followup.models import (
    DeadlinePolicy,
    Evaluation,
    FollowUpTask,
    Notice,
    TaskEvent,
    TaskReply,
    ToneTerm,
)
from hub.followup.tone import bump_tone_version


@admin.register(DeadlinePolicy)
class DeadlinePolicyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "session_kind",
        "accept_hours",
        "reply_days",
        "max_reply_days",
        "warn_percent",
        "escalate_hours",
    ]


@admin.register(ToneTerm)
class ToneTermAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["term", "category", "active", "note"]
    list_filter = ["category", "active"]
    search_fields = ["term", "note"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        transaction.on_commit(bump_tone_version)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        super().delete_model(request, obj)
        transaction.on_commit(bump_tone_version)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        super().delete_queryset(request, queryset)
        transaction.on_commit(bump_tone_version)


class _ReadOnly(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TaskEventInline(admin.TabularInline):  # type: ignore[type-arg]
    model = TaskEvent
    extra = 0
    can_delete = False
    fields = ("at", "actor_label", "action", "from_state", "to_state", "department", "note")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(FollowUpTask)
class FollowUpTaskAdmin(_ReadOnly):
    list_display = [
        "id",
        "state",
        "lead_department",
        "sector",
        "askers_count",
        "reply_deadline",
        "supervision_level",
        "created_at",
    ]
    list_filter = ["state", "sector", "supervision_level", "lead_department"]
    search_fields = ["public_text"]
    inlines = [TaskEventInline]


@admin.register(TaskReply)
class TaskReplyAdmin(_ReadOnly):
    list_display = ["task", "round", "department", "stage", "published_at"]
    list_filter = ["stage", "department"]


@admin.register(Evaluation)
class EvaluationAdmin(_ReadOnly):
    list_display = ["task", "department", "resolved", "satisfaction", "source", "at"]
    list_filter = ["resolved", "satisfaction", "source"]


@admin.register(Notice)
class NoticeAdmin(_ReadOnly):
    list_display = ["id", "task", "kind", "audience", "channel", "status", "attempts", "created_at"]
    list_filter = ["status", "kind", "audience"]
