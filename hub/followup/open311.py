"""Follow-up tasks as Open311 GeoReport v2 service requests (read-only, JSON).

    GET /open311/v2/services.json           the service list: one service per sector
    GET /open311/v2/requests.json           service requests (public tasks only)
    GET /open311/v2/requests/{id}.json      one service request (a one-element list)

Field names are exactly those of GeoReport v2. Mapping:

- ``service_request_id``: the task number; ``service_code``/``service_name``: the sector;
- ``status``: ``open`` while the task is open (pending to replied), ``closed`` once
  closed or dismissed; ``status_notes``: the task's state in words, and the published
  reply's text when there is one;
- ``description``: the public (masked) text; ``agency_responsible``: the lead department;
  ``status_notes`` and ``description`` are public output: personal data in them is
  masked (``hub.lib.personal_data``);
- ``requested_datetime``: when the task was created (the session ended);
  ``updated_datetime``: its last change; ``expected_datetime``: the reply deadline (null
  while paused or when not assigned);
- ``address``, ``lat``, ``long``, ``media_url``: not collected by the hub (null / empty).

Query parameters of ``requests.json``: ``service_request_id`` (comma-separated),
``service_code`` (comma-separated), ``start_date`` / ``end_date`` (W3C date-times with a
zone, bounding ``requested_datetime``), ``status`` (``open``, ``closed`` or both
comma-separated). As the spec suggests, the default window is the last 90 days and at
most 1000 requests are returned. Errors are GeoReport's ``[{"code", "description"}]`` with
the HTTP status, also for unknown paths under ``/open311/``, ids that are not numbers and
wrong methods (:mod:`hub.middleware` gives them that form). Private tasks never appear.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from hub.followup.models import OPEN_STATES, FollowUpTask, ReplyStage
from hub.lib.personal_data import mask_personal_data
from hub.wire import INT64_MAX
from moderation.sectors import SEED_KEYWORDS, Sector

DEFAULT_WINDOW = timedelta(days=90)
MAX_REQUESTS = 1000


def _json(data: Any, status: int = 200) -> JsonResponse:
    return JsonResponse(data, status=status, safe=False, json_dumps_params={"ensure_ascii": False})


def _error(status: int, description: str) -> JsonResponse:
    return _json([{"code": status, "description": description}], status)


@require_GET
def services(request: HttpRequest) -> JsonResponse:
    rows = []
    for sector in Sector:
        keywords = SEED_KEYWORDS.get(sector, [])
        rows.append(
            {
                "service_code": sector.value,
                "service_name": str(sector.label),
                "description": str(sector.label),
                "metadata": False,
                "type": "batch",
                "keywords": ",".join(keywords[:10]),
                "group": _("Follow-up of live sessions"),
            }
        )
    return _json(rows)


def _service_request(task: FollowUpTask) -> dict[str, Any]:
    reply = (
        task.replies.filter(stage=ReplyStage.PUBLISHED).order_by("-round").first()
        if task.replied_at or task.closed_at
        else None
    )
    notes = str(task.get_state_display())
    if reply is not None:
        notes = f"{notes}: {mask_personal_data(reply.text)}"
    try:
        service_name = str(Sector(task.sector).label)
    except ValueError:
        service_name = task.sector
    return {
        "service_request_id": str(task.pk),
        "status": "open" if task.state in OPEN_STATES else "closed",
        "status_notes": notes,
        "service_name": service_name,
        "service_code": task.sector,
        "description": mask_personal_data(task.public_text),
        "agency_responsible": task.lead_department.name if task.lead_department else None,
        "service_notice": None,
        "requested_datetime": task.created_at.isoformat(),
        "updated_datetime": task.updated_at.isoformat(),
        "expected_datetime": task.reply_deadline.isoformat() if task.reply_deadline else None,
        "address": None,
        "address_id": None,
        "zipcode": None,
        "lat": None,
        "long": None,
        "media_url": None,
    }


def _public() -> Any:
    return (
        FollowUpTask.objects.filter(is_public=True)
        .exclude(question__visibility="private")
        .select_related("lead_department")
    )


def _date(value: str, name: str) -> datetime:
    """A W3C date-time with a zone, or ValueError (also for a real date the database
    cannot compare: year 1 or 9999 pushed off the calendar by its zone)."""
    parsed = parse_datetime(value.replace(" ", "+"))
    if parsed is not None and timezone.is_aware(parsed):
        try:
            parsed.astimezone(UTC)
        except OverflowError:
            parsed = None
    if parsed is None or timezone.is_naive(parsed):
        raise ValueError(
            _("%(name)s must be a W3C date-time with a zone, e.g. 2026-10-01T00:00:00+08:00")
            % {"name": name}
        )
    return parsed


@require_GET
def service_requests(request: HttpRequest) -> JsonResponse:
    tasks = _public()
    ids = request.GET.get("service_request_id", "").strip()
    if ids:
        wanted = [i for i in ids.split(",") if i]
        # ASCII digits only: "²".isdigit() is true, but int() refuses it.
        if not all(i.isascii() and i.isdigit() for i in wanted):
            return _error(400, _("service_request_id must be numbers separated by commas"))
        # A number beyond the ids' range (bigint) names no request.
        numbers = [n for n in (int(i) for i in wanted if len(i) <= 19) if n <= INT64_MAX]
        rows = tasks.filter(pk__in=numbers).order_by("-created_at", "-id")
        return _json([_service_request(t) for t in rows[:MAX_REQUESTS]])
    codes = [c for c in request.GET.get("service_code", "").split(",") if c]
    if codes:
        unknown = set(codes) - set(Sector.values)
        if unknown:
            return _error(400, _("Unknown service_code: %(c)s") % {"c": ",".join(sorted(unknown))})
        tasks = tasks.filter(sector__in=codes)
    statuses = [s for s in request.GET.get("status", "").split(",") if s]
    if statuses:
        if not set(statuses) <= {"open", "closed"}:
            return _error(400, _("status must be open, closed or both"))
        if statuses == ["open"]:
            tasks = tasks.filter(state__in=OPEN_STATES)
        elif statuses == ["closed"]:
            tasks = tasks.exclude(state__in=OPEN_STATES)
    try:
        start_raw = request.GET.get("start_date", "")
        end_raw = request.GET.get("end_date", "")
        end = _date(end_raw, "end_date") if end_raw else None
        start = _date(start_raw, "start_date") if start_raw else None
    except ValueError as exc:
        return _error(400, str(exc))
    if start is None and end is None:
        start = timezone.now() - DEFAULT_WINDOW
    if start is not None:
        tasks = tasks.filter(created_at__gte=start)
    if end is not None:
        tasks = tasks.filter(created_at__lte=end)
    rows = tasks.order_by("-created_at", "-id")[:MAX_REQUESTS]
    return _json([_service_request(t) for t in rows])


@require_GET
def service_request(request: HttpRequest, request_id: int) -> JsonResponse:
    task = _public().filter(pk=request_id).first() if request_id <= INT64_MAX else None
    if task is None:
        return _error(404, _("Service request %(id)s not found") % {"id": request_id})
    return _json([_service_request(task)])
