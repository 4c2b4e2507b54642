"""Who may do what to a follow-up task.

Two layers, both checked by every ``check_*`` in :mod:`hub.followup.actions`:

1. the role (a Django group, see :mod:`hub.roles`) must allow the action: staff (工作人员)
   sort, assign, chase, approve extensions, close and reopen; departments (承办单位)
   accept, return, work on and reply to their tasks;
2. for a department action, the user must be a member of the task's *lead* department
   (``Department.members``); assisting departments may read the task but not act on it.

A superuser holds every role and passes the membership check. The permissions live here
rather than in ``hub.roles.ROLE_PERMISSIONS`` because they are the follow-up app's own
vocabulary; :func:`hub.roles.roles_of` is the one source of who has which role.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from hub.errors import ActionForbidden
from hub.models import Department
from hub.roles import Role, roles_of

STAFF_ACTIONS = frozenset(
    {
        "assign",
        "reassign",
        "dismiss",
        "approve_extension",
        "refuse_extension",
        "resume",
        "override_tone",
        "record_callback",
        "close",
        "reopen",
        "view_all",
    }
)
DEPARTMENT_ACTIONS = frozenset(
    {
        "accept",
        "return",
        "wait",
        "resume",
        "request_extension",
        "draft_reply",
        "review_reply",
        "view_own",
    }
)

FOLLOWUP_PERMISSIONS: dict[str, frozenset[str]] = {
    Role.STAFF: STAFF_ACTIONS,
    Role.DEPARTMENT: DEPARTMENT_ACTIONS,
}


def followup_permissions(user: Any) -> frozenset[str]:
    allowed: set[str] = set()
    for role in roles_of(user):
        allowed |= FOLLOWUP_PERMISSIONS.get(role, frozenset())
    return frozenset(allowed)


def require_followup_permission(user: Any, action: str) -> None:
    """Raise :class:`ActionForbidden` unless one of the user's roles allows ``action``."""
    if action not in followup_permissions(user):
        raise ActionForbidden(
            _("Your role does not allow this follow-up action: %(action)s") % {"action": action}
        )


def is_member(user: Any, department_id: int | None) -> bool:
    if user is None or not getattr(user, "is_authenticated", False) or department_id is None:
        return False
    if user.is_superuser:
        return True
    return bool(user.departments.filter(pk=department_id).exists())


def require_member(user: Any, department_id: int | None) -> None:
    """Raise :class:`ActionForbidden` unless the user belongs to the department."""
    if not is_member(user, department_id):
        raise ActionForbidden(
            _("Only members of the task's lead department may do this"), code="not_member"
        )


def user_departments(user: Any) -> QuerySet[Department]:
    """The departments whose tasks the user works on (all of them for a superuser)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return Department.objects.none()
    if user.is_superuser:
        return Department.objects.all()
    return Department.objects.filter(members=user)


def can_view_all(user: Any) -> bool:
    return "view_all" in followup_permissions(user)
