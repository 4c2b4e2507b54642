"""Pages of live video: the replay page and the guest's join page; plus the strings and
config the viewer and console partials hand to their scripts (see
:mod:`streaming.templatetags.stage`).

The pages only render; everything they change goes through the API and the engine's
endpoints (``/guest/<token>``, ``/whep/<slug>``, ``/hls/<slug>/…``).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.templatetags.static import static
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from frontend.views import js_strings
from hub.errors import DomainError
from hub.models import LiveSession, SessionStatus
from streaming import actions
from streaming.models import GuestState

HLS_SCRIPT = "streaming/vendor/hls.js/hls.light.min.js"


def stage_strings() -> dict[str, Any]:
    """Every string the live video scripts show, translated now."""
    return {
        "confidential_item": _("Confidential item"),
        "confidential_blank": _("Confidential item: the broadcast resumes after it"),
        "signal_lost": _("Signal interrupted. Waiting for the studio…"),
        "no_signal": _("The broadcast has not started yet."),
        "connecting_video": _("Connecting to the broadcast…"),
        "guest_on_air": _("On the line: {label}"),
        "mode_webrtc": _("Low-latency stream"),
        "mode_hls": _("Standard stream"),
        "current_item": _("Now: {title}"),
        "between_items": _("Between agenda items"),
        "replay_link": _("Replay the answer"),
        "replay_at": _("Jump to {time}"),
        "replay_none": _("There is no recording of this session."),
        "replay_wait": _("The replay will be available after the session ends."),
        "chapter_agenda": _("Agenda"),
        "chapter_question": _("Question"),
        "video_error": _("The video cannot be played in this browser."),
        # Console.
        "go_to_item": _("Go to this item"),
        "agenda_saved": _("Agenda saved."),
        "agenda_empty": _("No agenda yet."),
        "confidential": _("Confidential"),
        "remove_item": _("Remove"),
        "item_title": _("Title of the item"),
        "invite_sent": _("Link for {label} (works once): {url}"),
        "copied": _("Copied"),
        "listen": _("Listen"),
        "stop_listening": _("Stop listening"),
        "put_on_air": _("Put on air"),
        "take_off_air": _("Take off air"),
        "revoke": _("Withdraw link"),
        "publisher_connected": _("Studio signal: connected"),
        "publisher_absent": _("Studio signal: none"),
        "token_hint": _("Publisher token ends with …{hint}, set {time}"),
        "token_none": _("No publisher token is set."),
        "new_token": _("New publisher token (shown only now): {token}"),
        "confirm_rotate": _(
            "Rotate the publisher token? The studio needs the new token to reconnect."
        ),
        "handover_open": _("Hand-over open until {time}: the next publisher replaces this one."),
        "guest_states": {value: str(label) for value, label in GuestState.choices},
        "guest_kinds": {"caller": _("Caller"), "guest": _("Remote guest")},
        # Guest page.
        "guest_need_media": _(
            "Please allow the microphone (and the camera if you join with video)."
        ),
        "guest_joining": _("Joining…"),
        "guest_waiting": _("You are in the waiting room. The host will bring you on air."),
        "guest_on_air_now": _("You are on air. Please speak."),
        "guest_left": _("You have left. Thank you."),
        "guest_failed": _("Could not join: {message}"),
        "guest_dropped": _("The connection dropped. Ask the host for a new link."),
    }


def stage_config(session: LiveSession, page: str) -> dict[str, Any]:
    slug = session.slug
    return {
        "page": page,
        "slug": slug,
        "kind": session.kind,
        "status": session.status,
        "api": f"/api/streaming/sessions/{slug}",
        "whep": f"/whep/{slug}",
        "hls": f"/hls/{slug}/index.m3u8",
        "hls_script": static(HLS_SCRIPT),
        "replay": f"/s/{slug}/replay/",
        "strings": stage_strings(),
    }


def _base_config(request: HttpRequest, page: str, **extra: Any) -> dict[str, Any]:
    user = request.user
    return {
        "lang": get_language() or settings.LANGUAGE_CODE,
        "time_zone": settings.TIME_ZONE,
        "api": "/api",
        "ws": "/ws",
        "user": user.get_username() if user.is_authenticated else None,
        "page": page,
        **extra,
    }


@require_GET
@ensure_csrf_cookie
def replay(request: HttpRequest, slug: str) -> HttpResponse:
    """The recording of an ended session with its chapters; ``?q=<question id>`` opens
    at that question's answer."""
    session = get_object_or_404(LiveSession, slug=slug)
    return render(
        request,
        "streaming/replay.html",
        {
            "session": session,
            "ended": session.status == SessionStatus.ENDED,
            "i18n": js_strings(),
            "page_config": _base_config(request, "replay", slug=slug),
            "stage_config": stage_config(session, "replay"),
        },
    )


@require_GET
@never_cache
def guest_join(request: HttpRequest, token: str) -> HttpResponse:
    """The page a caller or remote guest opens from the link. Looking does not use the
    link up: joining (the engine's ``POST /guest/<token>``) does."""
    error = None
    invite = None
    try:
        invite = actions.find_invite(token)
        actions.check_invite_usable(invite, timezone.now())
    except DomainError as exc:
        error = exc
    session = invite.session if invite else None
    config = _base_config(
        request,
        "guest",
        join_url=f"/guest/{token}",
        status_url=f"/api/streaming/guests/{token}",
        kind=invite.kind if invite else None,
    )
    return render(
        request,
        "streaming/guest_join.html",
        {
            "invite": invite,
            "session": session,
            "error": error,
            "i18n": js_strings(),
            "page_config": config,
            "stage_config": {"strings": stage_strings()},
        },
        status=200 if error is None else (error.http_status if error.http_status != 401 else 404),
    )
