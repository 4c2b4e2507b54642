"""Roles are Django groups. A superuser holds every role."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from hub.errors import ActionForbidden


class Role(models.TextChoices):
    HOST = "host", gettext_lazy("Host")
    LEADER = "leader", gettext_lazy("Leader / guest")
    SCREENER = "screener", gettext_lazy("Call screener")
    OBSERVER = "observer", gettext_lazy("Citizen observer")
    STAFF = "staff", gettext_lazy("Follow-up staff")
    DEPARTMENT = "department", gettext_lazy("Department")


#: Console actions each role may take. The observer changes nothing; it may only flag a
#: question it thinks is being passed over (a supervisory note that raises its priority).
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    Role.HOST: frozenset(
        {
            "approve",
            "reject",
            "queue",
            "reorder",
            "on_air",
            "off_air",
            "defer",
            "live_answer",
            "answered",
            "submit_call",
            "set_status",
            "flag",
            "merge",
            "unmerge",
            "set_sector",
            # answer library (moderation.answers)
            "answer_from_library",
            "edit_library",
            # live video (streaming.actions)
            "edit_agenda",
            "set_agenda_item",
            "invite_guest",
            "revoke_guest",
            "listen_guest",
            "guest_on_air",
            "guest_off_air",
            "handover_publisher",
            "rotate_stream_token",
        }
    ),
    Role.LEADER: frozenset({"live_answer", "answered"}),
    Role.SCREENER: frozenset({"submit_call", "answer_from_library"}),
    # Observers supervise: they may flag a question as passed over, and change nothing.
    Role.OBSERVER: frozenset({"flag"}),
    Role.STAFF: frozenset({"set_sector", "edit_library", "rotate_stream_token"}),
    Role.DEPARTMENT: frozenset(),
}

#: Roles that may open a session's console at all (read access to the whole queue).
CONSOLE_ROLES = frozenset({Role.HOST, Role.LEADER, Role.SCREENER, Role.OBSERVER, Role.STAFF})


def roles_of(user: Any) -> frozenset[str]:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    if user.is_superuser:
        return frozenset(Role.values)
    cached = getattr(user, "_hub_roles", None)
    if cached is None:
        cached = frozenset(user.groups.filter(name__in=Role.values).values_list("name", flat=True))
        user._hub_roles = cached
    return cached


def permissions_of(user: Any) -> frozenset[str]:
    allowed: set[str] = set()
    for role in roles_of(user):
        allowed |= ROLE_PERMISSIONS.get(role, frozenset())
    return frozenset(allowed)


def require_permission(user: Any, action: str) -> None:
    """Raise :class:`ActionForbidden` unless one of the user's roles allows ``action``."""
    if action not in permissions_of(user):
        raise ActionForbidden(
            _("Your role does not allow this action: %(action)s") % {"action": action}
        )


def actor_label(user: Any, fallback: str = "system") -> str:
    if user is not None and getattr(user, "is_authenticated", False):
        return str(user.get_username())
    return fallback
