"""The work page of follow-up staff and departments (``/followup/work/``). It only
renders: every change goes through the JSON API (``/api/followup/work/...``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from hub.followup.models import ReplyStage, Resolution, Satisfaction, TaskState
from hub.followup.permissions import followup_permissions, user_departments
from hub.followup.presenters import ACTION_LABELS
from hub.models import Department
from moderation.sectors import Sector


def _choices(choices: Any) -> dict[str, str]:
    return {value: str(label) for value, label in choices.choices}


def work_strings() -> dict[str, Any]:
    """Every string the work page script shows, in the request's language."""
    return {
        "states": _choices(TaskState),
        "stages": _choices(ReplyStage),
        "sectors": _choices(Sector),
        "resolutions": _choices(Resolution),
        "satisfactions": _choices(Satisfaction),
        "actions": {key: str(value) for key, value in ACTION_LABELS.items()},
        "buttons": {
            "assign": _("Assign"),
            "reassign": _("Reassign"),
            "dismiss": _("Dismiss"),
            "accept": _("Accept (签收)"),
            "return": _("Return (退单)"),
            "wait": _("Wait for the citizen"),
            "resume": _("Resume"),
            "request_extension": _("Request an extension"),
            "approve_extension": _("Approve the extension"),
            "refuse_extension": _("Refuse the extension"),
            "save_reply": _("Save the reply"),
            "editor_approve": _("Approve as editor (一审)"),
            "section_approve": _("Approve as section head (二审)"),
            "sign_off": _("Sign off as leader (三审)"),
            "send_back": _("Send back"),
            "override_tone": _("Publish despite the tone check"),
            "close_resolved": _("Close: resolved"),
            "close_unresolved": _("Close: unresolved"),
            "reopen": _("Reopen (重办)"),
            "callback": _("Record callback"),
        },
        "labels": {
            "lead": _("Lead department"),
            "assisting": _("Assisting departments"),
            "sector": _("Sector"),
            "publish": _("Show on the public board"),
            "note": _("Note"),
            "reason": _("Reason"),
            "days": _("Working days"),
            "reply": _("Reply"),
            "asker": _("Asker"),
            "resolved": _("Resolved?"),
            "satisfied": _("Satisfied?"),
            "comment": _("Comment"),
            "suggested": _("Suggested"),
            "accept_by": _("Accept by"),
            "reply_by": _("Reply by"),
            "paused": _("Clock paused"),
            "overdue": _("Overdue"),
            "supervision": _("Supervision level"),
            "askers": _("Askers"),
            "timeline": _("Timeline"),
            "tone_flags": _("Tone check found"),
            "reviews": _("Reviews"),
            "used": _("Working days used / allowed"),
            "reopen_requested": _("An asker asks for a reopening"),
            "none": _("No tasks here."),
            "all_states": _("All states"),
            "open_only": _("Open tasks"),
        },
        "done": _("Done."),
        "reason_required": _("Please give a reason."),
    }


@require_GET
@login_required(login_url="frontend:login")
@ensure_csrf_cookie
def work_page(request: HttpRequest) -> HttpResponse:
    user = request.user
    permissions = sorted(followup_permissions(user))
    config = {
        "lang": get_language() or settings.LANGUAGE_CODE,
        "time_zone": settings.TIME_ZONE,
        "api": "/api",
        "user": user.get_username(),
        "login_url": reverse("frontend:login"),
        "permissions": permissions,
        "departments": [
            {"id": d.pk, "name": d.name, "level": d.level}
            for d in Department.objects.order_by("level", "name")
        ],
        "my_departments": list(user_departments(user).values_list("pk", flat=True)),
    }
    return render(
        request,
        "followup/work.html",
        {"i18n": work_strings(), "page_config": config, "can_work": bool(permissions)},
    )
