"""Admin of live video: read-only views of the studio, agendas, guest links and
recordings. Every change goes through the console (streaming.actions), which keeps the
audit trail and tells viewers; tokens are never shown (only their hint)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from streaming.models import AgendaItem, GuestInvite, Recording, StudioStream


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(StudioStream)
class StudioStreamAdmin(ReadOnlyAdmin):
    list_display = ["session", "live", "publisher_token_hint", "publisher_token_set_at"]
    exclude = ["publisher_token_hash"]


@admin.register(AgendaItem)
class AgendaItemAdmin(ReadOnlyAdmin):
    list_display = ["session", "position", "title", "confidential"]
    list_filter = ["session", "confidential"]


@admin.register(GuestInvite)
class GuestInviteAdmin(ReadOnlyAdmin):
    list_display = ["session", "label", "kind", "state", "created_at", "expires_at", "used_at"]
    list_filter = ["session", "state", "kind"]
    exclude = ["token_hash"]


@admin.register(Recording)
class RecordingAdmin(ReadOnlyAdmin):
    list_display = ["session", "path", "started_at", "ended_at"]
    list_filter = ["session"]
