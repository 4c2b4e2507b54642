"""Admin for sessions, departments and accounts. Session status and the question queue
are read-only here: they change only through the console's actions, which keep the audit
trail and tell viewers."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.http import HttpRequest, HttpResponse

from hub.models import AuditEntry, Department, LiveSession, Question, SessionEvent
from hub.throttle import LoginThrottled, login_wait


class ThrottledAdminLoginForm(AdminAuthenticationForm):
    """The admin login behind the same throttle as ``/api/auth/login`` (the backend,
    :class:`hub.throttle.ThrottledModelBackend`, enforces it; this form says so clearly
    instead of "wrong password" and marks the request for a 429 status)."""

    def clean(self) -> dict[str, Any]:
        username = str(self.data.get("username") or "")
        self._refuse_if_throttled(username)
        try:
            return super().clean()
        except forms.ValidationError:
            self._refuse_if_throttled(username)  # this failure may have been the last
            raise

    def _refuse_if_throttled(self, username: str) -> None:
        wait = login_wait(self.request, username)
        if wait:
            if self.request is not None:
                self.request.hub_login_wait = wait  # type: ignore[attr-defined]
            raise forms.ValidationError(LoginThrottled(wait).message, code="login_throttled")


admin.site.login_form = ThrottledAdminLoginForm


def admin_login(request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
    """``/admin/login/``: the admin's own login page, answered 429 with ``Retry-After``
    while the address or the username is locked out by the login throttle."""
    response = admin.site.login(request, extra_context)
    wait = getattr(request, "hub_login_wait", 0)
    if wait:
        response.status_code = 429
        response["Retry-After"] = str(wait)
    return response


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
