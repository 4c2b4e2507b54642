"""Page views. They only render templates: every change goes through the JSON API and the
WebSockets, which the pages' ES modules talk to.

Each page gets two JSON blocks (rendered with ``json_script``, so they are safe to embed):
``#i18n``, the translated strings the scripts need, and ``#page-config``, the session slug,
endpoints and limits.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from hub.lib.personal_data import mask_personal_data, public_name
from hub.models import (
    Channel,
    LiveSession,
    QuestionState,
    RejectionReason,
    SessionKind,
    SessionStatus,
)
from hub.roles import Role
from moderation.models import ScreeningAction, ScreeningCategory
from moderation.sectors import Sector

LOGIN_URL = "frontend:login"

#: Display order of sessions on the index page.
_STATUS_ORDER: dict[str, int] = {
    SessionStatus.LIVE: 0,
    SessionStatus.COLLECTING: 1,
    SessionStatus.ANNOUNCED: 2,
    SessionStatus.ENDED: 3,
}


def _choices(choices: Any) -> dict[str, str]:
    return {value: str(label) for value, label in choices.choices}


def js_strings() -> dict[str, Any]:
    """Every string the page scripts show, translated into the request's language."""
    return {
        # Labels of the protocol's enumerations.
        "states": _choices(QuestionState),
        "channels": _choices(Channel),
        "statuses": _choices(SessionStatus),
        "kinds": _choices(SessionKind),
        "reasons": _choices(RejectionReason),
        "flag_categories": _choices(ScreeningCategory),
        "flag_actions": _choices(ScreeningAction),
        "sectors": _choices(Sector),
        "flag_kinds": {
            "lexicon": _("lexicon word"),
            "mobile": _("mobile number"),
            "landline": _("landline number"),
            "id_number": _("ID number"),
            "bank_card": _("bank card number"),
            "email": _("e-mail address"),
            "handle": _("contact handle (QQ, WeChat)"),
            "link": _("link"),
            "flood": _("too many questions from one asker"),
            "repeat": _("same text again from one asker"),
        },
        "held": _("Held by screening: review before approving"),
        # How a question's state reads to the public.
        "viewer_states": {
            "approved": _("Waiting"),
            "queued": _("Up next"),
            "on_air": _("On air"),
            "answered": _("Answered"),
            "deferred": _("Follow-up"),
            "unanswered": _("To be answered after the session"),
        },
        "roles": _choices(Role),
        "actions": {
            "approve": _("Approve"),
            "reject": _("Reject"),
            "queue": _("Queue"),
            "reorder": _("Reorder"),
            "on_air": _("Put on air"),
            "off_air": _("Take off air"),
            "defer": _("Defer"),
            "flag": _("Flag as passed over"),
            "merge": _("Merge"),
            "unmerge": _("Undo merge"),
            "live_answer": _("Live answer"),
            "answered": _("Mark answered"),
            "submit_call": _("Submit call"),
            "set_status": _("Change status"),
        },
        # Connection.
        "connecting": _("Connecting…"),
        "connected": _("Connected"),
        "reconnecting": _("Connection lost. Reconnecting…"),
        "reconnecting_in": _("Connection lost. Reconnecting in {seconds} s…"),
        "session_not_found": _("This session does not exist or has been removed."),
        "forbidden_ws": _(
            "You are not allowed to open this console. Sign in with a staff account."
        ),
        # Generic errors.
        "network_error": _("Network error. Please check your connection and try again."),
        "server_error": _("The server could not handle the request. Please try again later."),
        "invalid_input": _("Some of the input is not valid."),
        "not_connected": _(
            "Not connected: the action was not sent. Please wait for the connection."
        ),
        "ack_timeout": _(
            "No reply from the server. The action may not have been applied; check the queue."
        ),
        "connection_lost": _(
            "The connection dropped before a reply. Check the queue before retrying."
        ),
        "done": _("Done: {action}"),
        "close": _("Close"),
        # Shared question display.
        "anonymous": _("Anonymous citizen"),
        "private": _("Not public"),
        "supports_n": _("{count} supports"),
        "askers_n": _("{count} people asked"),
        "answer": _("Answer"),
        "answered_at": _("Answered at {time}"),
        "received_at": _("Received {time}"),
        # Viewer page.
        "support": _("Support"),
        "supported": _("Supported"),
        "support_title": _("I want this question answered too"),
        "no_on_air": _("No question is on air right now."),
        "answer_pending": _("The answer summary will appear here while the guest speaks."),
        "empty_list": _("No published questions yet. Be the first to ask!"),
        "empty_filter": _("No questions in this view."),
        "sending": _("Sending…"),
        "ask_thanks": _("Thank you. Your question will appear after review."),
        "rate_limited": _("You are sending too fast. Please wait {seconds} s and try again."),
        "not_accepting": _("This session is not taking questions now."),
        "announced_note": _("Question collection has not started yet. Please come back later."),
        "ended_note": _("This session has ended. Thank you for taking part."),
        "chars": _("{count}/{max}"),
        "too_short": _("Please write at least {min} characters."),
        "too_long": _("Please keep your question under {max} characters."),
        "mine": _("Your question"),
        # Console.
        "confirm_end": _("End this session? Viewers will no longer be able to ask questions."),
        "contact": _("Contact"),
        "original_text": _("Original text"),
        "private_hidden": _(
            "Private question: its text is for the host and the follow-up staff only"
        ),
        "typed_by": _("Typed by {user}"),
        "reason": _("Reason"),
        "note": _("Note"),
        "move_up": _("Move up"),
        "move_down": _("Move down"),
        "no_match": _("No questions match the filters."),
        "showing": _("Showing {shown} of {total}"),
        "empty_order": _("No question is queued."),
        "nothing_on_air": _("Nothing is on air."),
        "read_only": _("Read-only access: you can watch the queue but not act on it."),
        "signed_in_as": _("Signed in as {user} ({roles})"),
        "choose_reason": _("Please choose a reason."),
        "not_live": _("The session is not live"),
        "not_possible": _("Cannot {action}: the question is {state}."),
        "note_required": _("Please add a note for “Other”."),
        "total": _("Total"),
        "not_accepted_by_reason": _("Not accepted, by reason"),
        "priority": _("Priority"),
        "priority_help": _(
            "3·ln(1+supports) + 4·ln(1+other askers) + channel weight + 2·observer flags "
            "+ waiting time (up to 1 for 30 minutes)"
        ),
        "observer_flags_n": _("Flagged by observers: {count}"),
        "position": _("No. {n}"),
        "channel": _("Channel"),
        "col_review": _("To review"),
        "col_active": _("Active"),
        "col_answered": _("Answered"),
        "col_followup": _("Follow-up"),
        "col_rejected": _("Rejected"),
        "on_air_for": _("On air for {time}"),
        "next_up": _("Next"),
        # Console: merging the same question asked again.
        "col_merged": _("Merged"),
        "sources_help": _("People who asked it, per channel (merged repeats included)"),
        "similar_heading": _("Similar questions"),
        "library_answer_with": _("Answer with this"),
        "library_show_answer": _("Show the answer"),
        "library_used": _("used {n} times"),
        "library_answered": _("Question #{id} answered from the library"),
        "library_for": _("for #{id}"),
        "answered_from_library": _("Answered from the answer library"),
        "similar_to": _("Similar to #{id} ({score})"),
        "score_help": _("Similarity score from 0 to 1; 1 means the same wording"),
        "merge_into_n": _("Merge into #{id}"),
        "merge_into_dots": _("Merge into…"),
        "merged_into": _("Merged into #{id}"),
        "merged_into_score": _("Merged into #{id} ({score})"),
        "merged_by_host": _("Merged by the host"),
        "merged_done": _("#{id} merged into #{into}."),
        "unmerged_done": _("Merge undone: #{id} is back in review."),
        "merged_hidden": _("{count} merged hidden"),
        "merge_target_required": _("Enter the number of the question to merge into."),
        "merge_self": _("A question cannot be merged into itself."),
        "merge_unknown": _("Question #{id} is not in this session."),
        "merge_bad_target": _("Question #{id} cannot take merged questions: it is {state}."),
        # Insights: hot words and sectors (viewer page and console).
        "no_hot_words": _("No hot words yet."),
        "no_sectors": _("No questions to count yet."),
        "heat_n": _("Heat {heat}/100"),
        "sector_share": _("questions ({percent}%)"),
        "sector": _("Sector"),
        "sector_staff": _("(staff)"),
        "sector_staff_help": _("Sector corrected by staff"),
        "sector_auto_help": _("Sector guessed automatically; correct it if it is wrong"),
        "set_sector": _("Change sector"),
        "sector_set": _("#{id} moved to {sector}."),
        # Leader screen.
        "leader_waiting": _("Waiting for the host to put a question on air."),
        "sync_idle": _("Type the answer summary; viewers see it live."),
        "sync_sending": _("Sending…"),
        "sync_sent": _("Shown to viewers"),
        "sync_offline": _("Not sent: reconnecting…"),
        "marked_answered": _("Marked as answered."),
        "no_answer_permission": _("Your account cannot write answers."),
        # Screener page.
        "call_sent": _("Call #{id} entered into the queue."),
        "call_sent_noid": _("Call entered into the queue."),
        "call_text_required": _("Please type the caller's question."),
        "no_call_permission": _("Your account cannot submit calls."),
        "no_calls": _("No calls submitted from this page yet."),
        "call_waiting": _("Waiting for the server…"),
        "call_failed": _("Not entered"),
        # Login.
        "login_failed": _("Wrong username or password."),
        "signing_in": _("Signing in…"),
        "signed_out": _("You have signed out."),
    }


def _config(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    user = request.user
    config: dict[str, Any] = {
        "lang": get_language() or settings.LANGUAGE_CODE,
        "time_zone": settings.TIME_ZONE,
        "api": "/api",
        "ws": "/ws",
        "user": user.get_username() if user.is_authenticated else None,
        "login_url": reverse(LOGIN_URL),
    }
    config.update(extra)
    return config


def _guests(session: LiveSession) -> list[dict[str, str]]:
    """The session's guests as ``{"name", "title"}``, tolerating hand-edited JSON, with
    personal data masked as on every public output (a name that is only a number is left
    out)."""
    guests = []
    for guest in session.guests if isinstance(session.guests, list) else []:
        if isinstance(guest, dict) and guest.get("name"):
            name, title = str(guest["name"]), str(guest.get("title") or "")
        elif isinstance(guest, str) and guest:
            name, title = guest, ""
        else:
            continue
        if public_name(name):
            guests.append({"name": public_name(name), "title": mask_personal_data(title)})
    return guests


def _session_context(request: HttpRequest, slug: str, page: str) -> dict[str, Any]:
    session = get_object_or_404(LiveSession.objects.prefetch_related("departments"), slug=slug)
    config = _config(
        request,
        page=page,
        slug=session.slug,
        heartbeat_seconds=settings.HUB_HEARTBEAT_SECONDS,
        question_min_chars=settings.HUB_QUESTION_MIN_CHARS,
        question_max_chars=settings.HUB_QUESTION_MAX_CHARS,
        name_max_chars=settings.HUB_NAME_MAX_CHARS,
        status=session.status,
    )
    return {
        "session": session,
        "guests": _guests(session),
        "departments": [d.name for d in session.departments.all()],
        "i18n": js_strings(),
        "page_config": config,
        "reasons": RejectionReason.choices,
        "channels": Channel.choices,
        "states": QuestionState.choices,
        "call_channels": [
            (Channel.HOTLINE, Channel.HOTLINE.label),
            (Channel.RADIO, Channel.RADIO.label),
            (Channel.ONSITE, Channel.ONSITE.label),
        ],
        "name_max_chars": settings.HUB_NAME_MAX_CHARS,
        "question_max_chars": settings.HUB_QUESTION_MAX_CHARS,
    }


@require_GET
@ensure_csrf_cookie
def index(request: HttpRequest) -> HttpResponse:
    sessions = list(LiveSession.objects.prefetch_related("departments")[:200])
    sessions.sort(
        key=lambda s: (
            _STATUS_ORDER.get(s.status, 9),
            # Upcoming sessions soonest first, ended ones most recent first.
            -s.scheduled_start.timestamp()
            if s.status == SessionStatus.ENDED
            else s.scheduled_start.timestamp(),
        )
    )
    return render(
        request,
        "frontend/index.html",
        {"sessions": sessions, "i18n": js_strings(), "page_config": _config(request, page="index")},
    )


@require_GET
@ensure_csrf_cookie
def viewer(request: HttpRequest, slug: str) -> HttpResponse:
    return render(request, "frontend/viewer.html", _session_context(request, slug, "viewer"))


@require_GET
@login_required(login_url=LOGIN_URL)
@ensure_csrf_cookie
def console(request: HttpRequest, slug: str) -> HttpResponse:
    return render(request, "frontend/console.html", _session_context(request, slug, "console"))


@require_GET
@login_required(login_url=LOGIN_URL)
@ensure_csrf_cookie
def leader(request: HttpRequest, slug: str) -> HttpResponse:
    return render(request, "frontend/leader.html", _session_context(request, slug, "leader"))


@require_GET
@login_required(login_url=LOGIN_URL)
@ensure_csrf_cookie
def screener(request: HttpRequest, slug: str) -> HttpResponse:
    return render(request, "frontend/screener.html", _session_context(request, slug, "screener"))


@require_GET
@ensure_csrf_cookie
def login(request: HttpRequest) -> HttpResponse:
    next_url = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = ""
    next_url = next_url or "/"
    return render(
        request,
        "frontend/login.html",
        {
            "next_url": next_url,
            "i18n": js_strings(),
            "page_config": _config(request, page="login", next=next_url),
        },
    )


@require_GET
def library(request: HttpRequest) -> HttpResponse:
    """The public answer library (常见问题): published entries, searched by similar question
    or by words, filtered by sector. Rendered on the server: it works without scripts."""
    from moderation.answers import public_library_entry, search_library

    query = request.GET.get("q", "").strip()[:200]
    sector = request.GET.get("sector", "")
    if sector not in Sector.values:
        sector = ""
    entries = [
        public_library_entry(e)
        for e in search_library(query, published_only=True, sector=sector, limit=50)
    ]
    return render(
        request,
        "frontend/library.html",
        {
            "entries": entries,
            "query": query,
            "sector": sector,
            "sectors": Sector.choices,
            "i18n": js_strings(),
            "page_config": _config(request, page="library"),
        },
    )
