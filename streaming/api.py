"""HTTP API of live video's control plane (mounted at ``/api/streaming``).

Host commands (agenda, guests, publisher) need a signed-in console user and Django's
CSRF header; each calls one action of :mod:`streaming.actions`, which checks the role.
Errors are the API's coded ``{"code", "message"}`` bodies (see :mod:`hub.api`).
Public reads: the stage of a session (what the viewer snapshot carries) and its replay.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema
from pydantic import ValidationError as PydanticValidationError

from hub import protocol
from hub.errors import ActionForbidden, DomainError, NotFound
from hub.lib.personal_data import mask_personal_data
from hub.models import LiveSession, SessionStatus
from hub.presenters import ConsoleAudience, console_stage_view
from hub.roles import CONSOLE_ROLES, roles_of
from hub.wire import Error, Int64, StoredText, errors
from streaming import actions
from streaming.replay import chapters, finished_recordings, recording_url

router = Router(tags=["live video"])


class LoginRequired(DomainError):
    code = "login_required"
    http_status = 401


class CsrfFailed(DomainError):
    code = "csrf"
    http_status = 403


def _session(slug: str) -> LiveSession:
    session = LiveSession.objects.filter(slug=slug).first()
    if session is None:
        raise NotFound(_("Unknown session %(slug)s") % {"slug": slug})
    return session


def _staff(request: HttpRequest, *, write: bool) -> Any:
    """The signed-in user; for writes also the CSRF check (the API has no other auth).
    Roles are checked by the actions themselves."""
    user = request.user
    if not user.is_authenticated:
        raise LoginRequired(_("Please sign in first"))
    if write:
        from ninja.utils import check_csrf

        if check_csrf(request) is not None:
            raise CsrfFailed(_("The CSRF token is missing or wrong; reload the page"))
    return user


# --- schemas ---------------------------------------------------------------------------


#: Every error answer (hub.wire.Error).
ErrorOut = Error


class AgendaEntryIn(Schema):
    id: Int64 | None = Field(None, description="An existing item to keep; omit to add one")
    title: StoredText = Field(max_length=200)
    confidential: bool = False


class AgendaIn(Schema):
    items: list[AgendaEntryIn] = Field(max_length=actions.MAX_AGENDA_ITEMS)


class CurrentItemIn(Schema):
    item: Int64 | None = Field(description="The agenda item the meeting moves to; null: none")


class InviteIn(Schema):
    label: StoredText = Field(max_length=200, description="Shown on air: 连线中: <label>")
    kind: Literal["caller", "guest"] = "caller"


class InviteOut(Schema):
    guest: protocol.StaffGuest
    token: str
    url: str = Field(description="The one-time link to send to the guest")


class HandoverOut(Schema):
    handover_until: datetime


class TokenIn(Schema):
    token: StoredText | None = Field(
        None, min_length=16, max_length=200, description="Omit for a fresh random token"
    )


class TokenOut(Schema):
    token: str = Field(description="Shown once: only its hash is kept")
    hint: str


class RecordingOut(Schema):
    id: int
    url: str
    started_at: datetime
    ended_at: datetime
    duration: float


class ChapterOut(Schema):
    kind: Literal["question", "agenda"]
    recording_id: int
    offset: float
    at: datetime
    question_id: int | None
    text: str
    confidential: bool


class ReplayOut(Schema):
    available: bool
    status: str
    recordings: list[RecordingOut]
    chapters: list[ChapterOut]


#: What a console command answers besides success: 400 malformed (body, address), 401
#: not signed in, 403 role or CSRF, 404 unknown session or guest, 409 not now, 415 a body
#: that is not JSON, 422 a body that does not match.
STAFF_ERRORS: dict[int, Any] = errors(400, 401, 403, 404, 409, 415, 422)
#: What a public read answers besides success.
READ_ERRORS: dict[int, Any] = errors(400, 404)


# --- public reads ----------------------------------------------------------------------


@router.get("/sessions/{slug}/stage", response={200: protocol.StageSnapshot, **READ_ERRORS})
def public_stage(request: HttpRequest, slug: str) -> Any:
    """What viewers see of the live video: signal, agenda (confidential titles hidden),
    current item, guests on air."""
    return actions.stage_snapshot(_session(slug).pk)


@router.get("/sessions/{slug}/replay", response={200: ReplayOut, **READ_ERRORS})
def replay(request: HttpRequest, slug: str) -> Any:
    """The finished recordings of an ended session and its chapter marks. Before the end
    ``available`` is false and both lists are empty."""
    session = _session(slug)
    recordings = finished_recordings(session) if session.status == SessionStatus.ENDED else []
    return {
        "available": bool(recordings),
        "status": session.status,
        "recordings": [
            {
                "id": r.pk,
                "url": recording_url(r),
                "started_at": r.started_at,
                "ended_at": r.ended_at,
                "duration": (r.ended_at - r.started_at).total_seconds() if r.ended_at else 0.0,
            }
            for r in recordings
        ],
        "chapters": [asdict(c) for c in chapters(session, recordings)],
    }


# --- console ---------------------------------------------------------------------------


@router.get("/sessions/{slug}/console", response={200: protocol.StaffStage, **STAFF_ERRORS})
def console_stage(request: HttpRequest, slug: str) -> Any:
    """The whole stage as the console shows it (full agenda titles, waiting room,
    publisher). Console roles only."""
    user = _staff(request, write=False)
    session = _session(slug)
    roles = roles_of(user)
    if not roles & CONSOLE_ROLES:
        raise ActionForbidden(_("Log in with a console role to open this page"))
    # The observer is a citizen: no confidential titles, personal data masked.
    audience = ConsoleAudience.of(roles, user.get_username())
    return console_stage_view(audience, actions.staff_stage(session.pk))


@router.put("/sessions/{slug}/agenda", response={200: protocol.StaffStage, **STAFF_ERRORS})
def edit_agenda(request: HttpRequest, slug: str, body: AgendaIn) -> Any:
    """Replace the agenda (host). Items keep their id when listed with it."""
    user = _staff(request, write=True)
    session = _session(slug)
    entries = [
        actions.AgendaEntry(title=e.title, confidential=e.confidential, id=e.id) for e in body.items
    ]
    actions.do_edit_agenda(user, session.pk, entries)
    return actions.staff_stage(session.pk)


@router.post("/sessions/{slug}/agenda/current", response={200: protocol.StaffStage, **STAFF_ERRORS})
def set_current_item(request: HttpRequest, slug: str, body: CurrentItemIn) -> Any:
    """Move the meeting to an agenda item (host; audited)."""
    user = _staff(request, write=True)
    session = _session(slug)
    actions.do_set_agenda_item(user, session.pk, body.item)
    return actions.staff_stage(session.pk)


@router.post("/sessions/{slug}/guests", response={201: InviteOut, **STAFF_ERRORS})
def invite_guest(request: HttpRequest, slug: str, body: InviteIn) -> Any:
    """Invite a caller or remote guest; the answer carries the one-time link (shown once)."""
    user = _staff(request, write=True)
    session = _session(slug)
    invitation = actions.do_invite_guest(user, session.pk, body.label, body.kind)
    return 201, {
        "guest": actions.staff_guest(invitation.invite),
        "token": invitation.token,
        "url": request.build_absolute_uri(invitation.path),
    }


def _guest_command(request: HttpRequest, slug: str, guest_id: Int64, do: Any) -> Any:
    user = _staff(request, write=True)
    session = _session(slug)
    return actions.staff_guest(do(user, session.pk, guest_id))


@router.post(
    "/sessions/{slug}/guests/{guest_id}/on_air",
    response={200: protocol.StaffGuest, **STAFF_ERRORS},
)
def guest_on_air(request: HttpRequest, slug: str, guest_id: Int64) -> Any:
    """Put a guest from the waiting room on air (host)."""
    return _guest_command(request, slug, guest_id, actions.do_put_guest_on_air)


@router.post(
    "/sessions/{slug}/guests/{guest_id}/off_air",
    response={200: protocol.StaffGuest, **STAFF_ERRORS},
)
def guest_off_air(request: HttpRequest, slug: str, guest_id: Int64) -> Any:
    """Take a guest off air, back to the waiting room (host)."""
    return _guest_command(request, slug, guest_id, actions.do_take_guest_off_air)


@router.post(
    "/sessions/{slug}/guests/{guest_id}/revoke",
    response={200: protocol.StaffGuest, **STAFF_ERRORS},
)
def revoke_guest(request: HttpRequest, slug: str, guest_id: Int64) -> Any:
    """Withdraw an unused invitation (host)."""
    return _guest_command(request, slug, guest_id, actions.do_revoke_guest)


@router.post("/sessions/{slug}/publisher/handover", response={200: HandoverOut, **STAFF_ERRORS})
def hand_over_publisher(request: HttpRequest, slug: str) -> Any:
    """Let a second publisher replace the current one for a short while (host)."""
    user = _staff(request, write=True)
    session = _session(slug)
    return {"handover_until": actions.do_hand_over_publisher(user, session.pk)}


@router.post("/sessions/{slug}/publisher/token", response={200: TokenOut, **STAFF_ERRORS})
def rotate_publisher_token(request: HttpRequest, slug: str) -> Any:
    """Set or rotate the studio publisher's bearer token (host or staff); returned once.
    No JSON body (or ``{}``): a fresh random token; ``{"token": "…"}``: that token."""
    user = _staff(request, write=True)
    session = _session(slug)
    chosen = None
    if request.content_type == "application/json" and request.body.strip():
        try:
            chosen = TokenIn.model_validate_json(request.body).token
        except PydanticValidationError:
            raise DomainError(_('The body must be {"token": "…"}'), code="invalid") from None
    token = actions.do_set_publisher_token(user, session.pk, chosen)
    return {"token": token, "hint": token[-4:]}


class GuestStatusOut(Schema):
    id: int
    label: str
    kind: str
    state: str
    session: str
    title: str


@router.get("/guests/{token}", response={200: GuestStatusOut, **READ_ERRORS})
def guest_status(request: HttpRequest, token: str) -> Any:
    """Where the guest holding this link is (the join page polls it: waiting room, on air,
    left). The link identifies its guest even after it was used."""
    invite = actions.find_invite(token)
    return {
        "id": invite.pk,
        # Anyone holding the link reads this: personal data masked as on public outputs.
        "label": mask_personal_data(invite.label),
        "kind": invite.kind,
        "state": invite.state,
        "session": invite.session.slug,
        "title": mask_personal_data(invite.session.title),
    }
