"""Actions of live video's control plane (issue 5): studio publisher, agenda, call-in
guests, recordings.

The media engine (:mod:`streaming.engine`) codes against the functions named in its
contract: :func:`authenticate_publisher`, :func:`do_publisher_connected`,
:func:`do_publisher_disconnected`, :func:`do_guest_connect`, :func:`do_guest_disconnect`,
:func:`check_listen_guest`, :func:`current_program_state`, :func:`do_recording_started`,
:func:`do_recording_finished`, :func:`do_media_engine_started`. Host commands (move the
agenda, invite, on/off air, hand over, rotate the token) are the other ``do_*`` functions;
views call them, never ``.save()``.

Locking contract (same as :mod:`hub.actions`): every ``do_*`` runs in
``transaction.atomic()``, locks the session row first (:func:`hub.events.lock_session`),
then the studio or invitation row. Public frames go through
:func:`hub.events.record_public_event`, console frames through
:func:`hub.events.send_console_event`; both are sent after commit. When the programme
state (confidential item, guests on air) changes, :func:`notify_program_state` tells the
engine after commit, in-process listeners first, then the channel layer group
``stream.<session id>`` (message type ``program.state``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from hub import protocol
from hub.actions.common import write_audit
from hub.errors import ActionForbidden, BadToken, DomainError, IllegalTransition, NotFound
from hub.events import lock_session, record_public_event, send_console_event
from hub.models import LiveSession, SessionStatus
from hub.roles import require_permission
from streaming.models import AgendaItem, GuestInvite, GuestKind, GuestState, Recording, StudioStream

logger = logging.getLogger(__name__)

ENGINE = "engine"  # actor label of what the media engine reports
MAX_AGENDA_ITEMS = 100
TOKEN_BYTES = 32


# --- grants returned to the engine -----------------------------------------------------


@dataclass(frozen=True)
class PublishGrant:
    """The engine may accept this WHIP publisher. ``replaces`` is the resource id of the
    publisher it hands over from (the engine closes that one), or ``None``."""

    session_id: int
    slug: str
    replaces: str | None = None


@dataclass(frozen=True)
class GuestGrant:
    invite_id: int
    session_id: int
    slug: str
    label: str
    kind: str


# --- helpers ---------------------------------------------------------------------------


def hash_token(token: str) -> str:
    """SHA-256 hex of a token. Tokens are random (≥ 24 bytes), so no slow hash is needed."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def _studio(session: LiveSession) -> StudioStream:
    """The session's studio row, locked (created on first use). Call with the session
    row locked, inside ``atomic()``."""
    StudioStream.objects.get_or_create(session=session)
    return StudioStream.objects.select_for_update().get(session=session)


def _session_by_slug(slug: str) -> LiveSession:
    session = LiveSession.objects.filter(slug=slug).first()
    if session is None:
        raise NotFound(_("Unknown session %(slug)s") % {"slug": slug})
    return session


def _require_not_ended(session: LiveSession) -> None:
    if session.status == SessionStatus.ENDED:
        raise IllegalTransition(_("The session has ended"), code="session_ended")


def _lock_invite(session_id: int, invite_id: int) -> GuestInvite:
    invite = GuestInvite.objects.select_for_update().filter(pk=invite_id).first()
    if invite is None or invite.session_id != session_id:
        raise NotFound(_("Guest #%(id)s is not in this session") % {"id": invite_id})
    return invite


def _guard_guest(invite: GuestInvite, allowed: Iterable[str], to: str) -> None:
    if invite.state not in allowed:
        raise IllegalTransition(
            _("Cannot move guest %(label)s from %(from)s to %(to)s")
            % {
                "label": invite.label,
                "from": invite.get_state_display(),
                "to": GuestState(to).label,
            }
        )


def _set_guest_state(
    invite: GuestInvite,
    to: str,
    actor: Any,
    action: str,
    now: datetime,
    *,
    reason: str = "",
    **fields: Any,
) -> str:
    from_state = invite.state
    invite.state = to
    for name, value in fields.items():
        setattr(invite, name, value)
    invite.save(update_fields=["state", *fields])
    write_audit(
        session_id=invite.session_id,
        question=None,
        actor=actor,
        action=action,
        now=now,
        from_state=from_state,
        to_state=to,
        reason=reason,
        note=f"guest #{invite.pk} {invite.label}",
        system_label=ENGINE,
    )
    return from_state


# --- presenters ------------------------------------------------------------------------


def public_agenda_item(item: AgendaItem | None) -> protocol.AgendaItemPublic | None:
    if item is None:
        return None
    return protocol.AgendaItemPublic(
        id=item.pk,
        position=item.position,
        title="" if item.confidential else item.title,
        confidential=item.confidential,
    )


def public_agenda(session_id: int) -> list[protocol.AgendaItemPublic]:
    items = AgendaItem.objects.filter(session_id=session_id).order_by("position", "id")
    return [item for item in map(public_agenda_item, items) if item is not None]


def staff_guest(invite: GuestInvite) -> protocol.StaffGuest:
    return protocol.StaffGuest(
        id=invite.pk,
        label=invite.label,
        kind=invite.kind,  # type: ignore[arg-type]
        state=invite.state,  # type: ignore[arg-type]
        created_at=invite.created_at,
        expires_at=invite.expires_at,
        used_at=invite.used_at,
        on_air_since=invite.on_air_since,
        left_at=invite.left_at,
    )


def _guests_on_air(session_id: int) -> list[GuestInvite]:
    return list(
        GuestInvite.objects.filter(session_id=session_id, state=GuestState.ON_AIR).order_by(
            "on_air_since", "id"
        )
    )


def stage_snapshot(session_id: int) -> protocol.StageSnapshot:
    """What a joining viewer needs to know about the live video (see SnapshotData.stage)."""
    studio = StudioStream.objects.select_related("current_item").filter(session_id=session_id)
    row = studio.first()
    return protocol.StageSnapshot(
        live=bool(row and row.live),
        agenda=public_agenda(session_id),
        current_item=public_agenda_item(row.current_item if row else None),
        guests_on_air=[
            protocol.GuestRef(id=g.pk, label=g.label) for g in _guests_on_air(session_id)
        ],
    )


#: Guests the console lists: everyone but withdrawn invitations and those who left long ago.
CONSOLE_GUEST_STATES = (GuestState.INVITED, GuestState.WAITING, GuestState.ON_AIR, GuestState.LEFT)


def staff_stage(session_id: int) -> protocol.StaffStage:
    """Everything the console shows about live video."""
    row = StudioStream.objects.select_related("current_item").filter(session_id=session_id).first()
    items = AgendaItem.objects.filter(session_id=session_id).order_by("position", "id")
    guests = GuestInvite.objects.filter(session_id=session_id, state__in=CONSOLE_GUEST_STATES)
    current = row.current_item if row else None
    return protocol.StaffStage(
        live=bool(row and row.live),
        agenda=[
            protocol.StaffAgendaItem(
                id=i.pk, position=i.position, title=i.title, confidential=i.confidential
            )
            for i in items
        ],
        current_item=current.pk if current else None,
        confidential=bool(current and current.confidential),
        publisher=protocol.PublisherInfo(
            connected=bool(row and row.publisher_resource_id),
            connected_at=row.publisher_connected_at if row else None,
            token_set=bool(row and row.publisher_token_hash),
            token_hint=row.publisher_token_hint if row else "",
            token_set_at=row.publisher_token_set_at if row else None,
            handover_until=row.handover_until if row else None,
        ),
        guests=[staff_guest(g) for g in guests.order_by("created_at", "id")],
    )


def _publish_stage(session_id: int, now: datetime) -> None:
    """Send the console the whole stage after commit (built now, inside the lock)."""
    send_console_event(session_id, "stage", staff_stage(session_id), now)


# --- programme state for the engine ----------------------------------------------------

#: In-process listeners ``(session_id, state)`` called after commit when the programme
#: state changes (the engine registers one when it runs in the same process).
program_state_listeners: list[Callable[[int, dict[str, Any]], None]] = []


def stream_group(session_id: int) -> str:
    return f"stream.{session_id}"


def current_program_state(session_id: int) -> dict[str, Any]:
    """What the engine composes: ``{"confidential": bool, "on_air_guest_ids": [int]}``.

    ``confidential`` is true while the current agenda item is confidential: the public
    picture and sound must be blanked (a slate) until the host moves on.
    """
    row = StudioStream.objects.select_related("current_item").filter(session_id=session_id).first()
    confidential = bool(row and row.current_item and row.current_item.confidential)
    return {
        "confidential": confidential,
        "on_air_guest_ids": [g.pk for g in _guests_on_air(session_id)],
    }


def notify_program_state(session_id: int) -> None:
    """After commit, tell the engine the programme state changed (read fresh then)."""
    transaction.on_commit(partial(_send_program_state, session_id))


def _send_program_state(session_id: int) -> None:
    state = current_program_state(session_id)
    for listener in list(program_state_listeners):
        try:
            listener(session_id, state)
        except Exception:
            logger.exception("programme state listener failed for session %s", session_id)
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            stream_group(session_id),
            {"type": "program.state", "session_id": session_id, "state": state},
        )
    except Exception:
        logger.exception("programme state for session %s not sent", session_id)


# --- studio publisher ------------------------------------------------------------------


def authenticate_publisher(
    slug: str, bearer_token: str | None, *, handover: bool = False, now: datetime | None = None
) -> PublishGrant:
    """May this WHIP publisher publish the session's programme?

    Raises :class:`NotFound` for an unknown session, :class:`BadToken` for a missing or
    wrong token (also when no token was ever set), ``IllegalTransition`` (code
    ``session_ended``) after the session ended, and ``IllegalTransition`` (code
    ``publisher_active``, HTTP 409) when a publisher is connected and the host has not
    opened a hand-over window (:func:`do_hand_over_publisher`). Within the window any
    publisher with the token is accepted and the grant names the one it replaces.
    ``handover=True`` (the publisher asked to take over explicitly) changes nothing but
    the message: it still needs the host's window. Reads only; the window is used up
    when the replacement connects (:func:`do_publisher_connected`).
    """
    now = now or timezone.now()
    session = _session_by_slug(slug)
    studio = StudioStream.objects.filter(session=session).first()
    expected = studio.publisher_token_hash if studio else ""
    if not bearer_token or not expected:
        raise BadToken(_("A publisher token is required (Authorization: Bearer …)"))
    if not hmac.compare_digest(hash_token(bearer_token), expected):
        raise BadToken(_("The publisher token is not valid for this session"))
    _require_not_ended(session)
    assert studio is not None
    current = studio.publisher_resource_id or None
    if current is None:
        return PublishGrant(session_id=session.pk, slug=session.slug)
    if studio.handover_until is not None and studio.handover_until > now:
        return PublishGrant(session_id=session.pk, slug=session.slug, replaces=current)
    if handover:
        raise IllegalTransition(
            _("The host has not handed the studio over; ask the host to hand over first"),
            code="publisher_active",
        )
    raise IllegalTransition(
        _("Another publisher is on the air for this session"), code="publisher_active"
    )


def do_publisher_connected(session_id: int, resource_id: str, now: datetime) -> None:
    """The engine accepted a publisher: it becomes the session's one publisher (a hand-over
    window is used up), and viewers hear ``stream_state`` live=true if it was off."""
    with transaction.atomic():
        session = lock_session(session_id)
        studio = _studio(session)
        replaced = studio.publisher_resource_id
        was_live = studio.live
        studio.publisher_resource_id = resource_id
        studio.publisher_connected_at = now
        studio.live = True
        studio.handover_until = None
        studio.save(
            update_fields=[
                "publisher_resource_id",
                "publisher_connected_at",
                "live",
                "handover_until",
            ]
        )
        write_audit(
            session_id=session_id,
            question=None,
            actor=None,
            action="publisher_connected",
            now=now,
            note=f"{resource_id} (replaces {replaced})" if replaced else resource_id,
            system_label=ENGINE,
        )
        if not was_live:
            record_public_event(session, "stream_state", protocol.StreamStateData(live=True), now)
        _publish_stage(session_id, now)


def do_publisher_disconnected(
    session_id: int, resource_id: str, now: datetime, *, reason: str = ""
) -> None:
    """The engine lost a publisher. Only the current one matters: a publisher that was
    replaced by a hand-over leaving changes nothing. Viewers hear live=false. ``reason``
    goes to the audit row (empty: the publisher left or dropped; see
    :func:`do_media_engine_started`)."""
    with transaction.atomic():
        session = lock_session(session_id)
        studio = _studio(session)
        if studio.publisher_resource_id != resource_id:
            return
        studio.publisher_resource_id = ""
        studio.publisher_connected_at = None
        was_live = studio.live
        studio.live = False
        studio.save(update_fields=["publisher_resource_id", "publisher_connected_at", "live"])
        write_audit(
            session_id=session_id,
            question=None,
            actor=None,
            action="publisher_disconnected",
            now=now,
            reason=reason,
            note=resource_id,
            system_label=ENGINE,
        )
        if was_live:
            record_public_event(session, "stream_state", protocol.StreamStateData(live=False), now)
        _publish_stage(session_id, now)


def check_hand_over_publisher(actor: Any, session: LiveSession) -> None:
    require_permission(actor, "handover_publisher")
    _require_not_ended(session)


def do_hand_over_publisher(actor: Any, session_id: int, *, now: datetime | None = None) -> datetime:
    """Open a window of HUB_PUBLISHER_HANDOVER_SECONDS in which a second publisher with
    the token replaces the current one (e.g. the backup encoder takes over). Returns its
    end. Audited."""
    now = now or timezone.now()
    with transaction.atomic():
        session = lock_session(session_id)
        check_hand_over_publisher(actor, session)
        studio = _studio(session)
        studio.handover_until = now + timedelta(seconds=settings.HUB_PUBLISHER_HANDOVER_SECONDS)
        studio.save(update_fields=["handover_until"])
        write_audit(
            session_id=session_id,
            question=None,
            actor=actor,
            action="publisher_handover",
            now=now,
            note=f"until {studio.handover_until.isoformat()}",
        )
        _publish_stage(session_id, now)
    return studio.handover_until


def check_set_publisher_token(actor: Any, session: LiveSession) -> None:
    require_permission(actor, "rotate_stream_token")


def do_set_publisher_token(
    actor: Any, session_id: int, token: str | None = None, *, now: datetime | None = None
) -> str:
    """Set (or rotate, with ``token=None``: a fresh random one) the studio publisher's
    bearer token and return it in plain text: this is the only time it can be seen, only
    its hash is stored. A publisher already connected stays connected; the next one needs
    the new token. A chosen token must be 16 to 200 characters."""
    now = now or timezone.now()
    if token is not None and not 16 <= len(token) <= 200:
        raise DomainError(_("A publisher token has 16 to 200 characters"), code="bad_token_format")
    plain = token or new_token()
    with transaction.atomic():
        session = lock_session(session_id)
        check_set_publisher_token(actor, session)
        studio = _studio(session)
        studio.publisher_token_hash = hash_token(plain)
        studio.publisher_token_hint = plain[-4:]
        studio.publisher_token_set_at = now
        studio.save(
            update_fields=["publisher_token_hash", "publisher_token_hint", "publisher_token_set_at"]
        )
        write_audit(
            session_id=session_id,
            question=None,
            actor=actor,
            action="publisher_token",
            now=now,
            note=f"…{studio.publisher_token_hint}",
        )
        _publish_stage(session_id, now)
    return plain


# --- agenda ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AgendaEntry:
    """One row of an agenda edit: ``id`` keeps an existing item (and its place as the
    current item), ``None`` adds one."""

    title: str
    confidential: bool = False
    id: int | None = None


def check_edit_agenda(actor: Any, session: LiveSession, entries: list[AgendaEntry]) -> None:
    require_permission(actor, "edit_agenda")
    _require_not_ended(session)
    if len(entries) > MAX_AGENDA_ITEMS:
        raise DomainError(
            _("An agenda has at most %(n)s items") % {"n": MAX_AGENDA_ITEMS}, code="bad_agenda"
        )
    for entry in entries:
        if not entry.title.strip() or len(entry.title.strip()) > 200:
            raise DomainError(
                _("Each agenda item needs a title of 1 to 200 characters"), code="bad_agenda"
            )
    ids = [e.id for e in entries if e.id is not None]
    if len(ids) != len(set(ids)):
        raise DomainError(_("An agenda item is listed twice"), code="bad_agenda")
    known = set(AgendaItem.objects.filter(session=session, pk__in=ids).values_list("pk", flat=True))
    missing = sorted(set(ids) - known)
    if missing:
        raise NotFound(_("Agenda item #%(id)s is not in this session") % {"id": missing[0]})


def do_edit_agenda(
    actor: Any, session_id: int, entries: list[AgendaEntry], *, now: datetime | None = None
) -> list[AgendaItem]:
    """Replace the agenda with ``entries`` in that order. Items left out are removed; if
    the current item is removed the meeting is between items. Viewers get the new public
    agenda (and the current item again when its title or confidentiality changed)."""
    now = now or timezone.now()
    with transaction.atomic():
        session = lock_session(session_id)
        check_edit_agenda(actor, session, entries)
        studio = _studio(session)
        before = public_agenda_item(studio.current_item)
        was_confidential = bool(studio.current_item and studio.current_item.confidential)
        existing = {i.pk: i for i in AgendaItem.objects.select_for_update().filter(session=session)}
        kept = {e.id for e in entries if e.id is not None}
        removed = [pk for pk in existing if pk not in kept]
        if studio.current_item_id in removed:
            studio.current_item = None
            studio.save(update_fields=["current_item"])
        AgendaItem.objects.filter(pk__in=removed).delete()
        # Positions are unique: move the kept ones out of the way before renumbering.
        offset = MAX_AGENDA_ITEMS * 10 + max([i.position for i in existing.values()] + [0])
        for pk in kept:
            AgendaItem.objects.filter(pk=pk).update(position=offset + pk)
        items = []
        for position, entry in enumerate(entries, start=1):
            if entry.id is None:
                item = AgendaItem.objects.create(
                    session=session,
                    position=position,
                    title=entry.title.strip(),
                    confidential=entry.confidential,
                )
            else:
                item = existing[entry.id]
                item.position = position
                item.title = entry.title.strip()
                item.confidential = entry.confidential
                item.save(update_fields=["position", "title", "confidential"])
            items.append(item)
        write_audit(
            session_id=session_id,
            question=None,
            actor=actor,
            action="agenda_edit",
            now=now,
            note="; ".join(
                f"{'[涉密] ' if e.confidential else ''}{e.title.strip()}" for e in entries
            )[:2000],
        )
        record_public_event(
            session, "agenda", protocol.AgendaData(items=public_agenda(session_id)), now
        )
        studio.refresh_from_db()
        after = public_agenda_item(studio.current_item)
        if after != before:
            record_public_event(session, "agenda_item", protocol.AgendaItemData(item=after), now)
        if bool(studio.current_item and studio.current_item.confidential) != was_confidential:
            notify_program_state(session_id)
        _publish_stage(session_id, now)
    return items


def check_set_agenda_item(
    actor: Any, session: LiveSession, item_id: int | None
) -> AgendaItem | None:
    require_permission(actor, "set_agenda_item")
    _require_not_ended(session)
    if item_id is None:
        return None
    item = AgendaItem.objects.filter(session=session, pk=item_id).first()
    if item is None:
        raise NotFound(_("Agenda item #%(id)s is not in this session") % {"id": item_id})
    return item


def do_set_agenda_item(
    actor: Any, session_id: int, item_id: int | None, *, now: datetime | None = None
) -> AgendaItem | None:
    """The meeting moves to an agenda item (``None``: between items). Audited. Viewers get
    ``agenda_item`` (a confidential item without its title); when the item is
    confidential the engine blanks the public picture. Moving to the current item again
    is refused (``illegal_transition``): nothing would change."""
    now = now or timezone.now()
    with transaction.atomic():
        session = lock_session(session_id)
        item = check_set_agenda_item(actor, session, item_id)
        studio = _studio(session)
        previous = studio.current_item
        if (previous.pk if previous else None) == item_id:
            raise IllegalTransition(_("The meeting is on this item already"))
        studio.current_item = item
        studio.save(update_fields=["current_item"])
        write_audit(
            session_id=session_id,
            question=None,
            actor=actor,
            action="agenda_item",
            now=now,
            from_state=str(previous.pk) if previous else "",
            to_state=str(item.pk) if item else "",
            reason="confidential" if item and item.confidential else "",
            note=item.title if item else "",
        )
        record_public_event(
            session, "agenda_item", protocol.AgendaItemData(item=public_agenda_item(item)), now
        )
        if bool(previous and previous.confidential) != bool(item and item.confidential):
            notify_program_state(session_id)
        _publish_stage(session_id, now)
    return item


# --- call-in guests --------------------------------------------------------------------


@dataclass(frozen=True)
class Invitation:
    invite: GuestInvite
    token: str

    @property
    def path(self) -> str:
        """The one-time link's path (``/guest/<token>/join``)."""
        return f"/guest/{self.token}/join"


def check_invite_guest(actor: Any, session: LiveSession, label: str, kind: str) -> None:
    require_permission(actor, "invite_guest")
    _require_not_ended(session)
    if not label.strip() or len(label.strip()) > 60:
        raise DomainError(_("A guest needs a label of 1 to 60 characters"), code="bad_label")
    if kind not in GuestKind.values:
        raise DomainError(_("Unknown guest kind %(k)s") % {"k": kind}, code="bad_kind")


def do_invite_guest(
    actor: Any,
    session_id: int,
    label: str,
    kind: str = GuestKind.CALLER,
    *,
    now: datetime | None = None,
) -> Invitation:
    """Create a one-time link for a caller or remote guest. The token is returned once
    (only its hash is kept); the link works once, until HUB_GUEST_INVITE_TTL_SECONDS."""
    now = now or timezone.now()
    token = new_token()
    with transaction.atomic():
        session = lock_session(session_id)
        check_invite_guest(actor, session, label, kind)
        invite = GuestInvite.objects.create(
            session=session,
            label=label.strip(),
            kind=kind,
            token_hash=hash_token(token),
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
            created_at=now,
            expires_at=now + timedelta(seconds=settings.HUB_GUEST_INVITE_TTL_SECONDS),
        )
        write_audit(
            session_id=session_id,
            question=None,
            actor=actor,
            action="guest_invite",
            now=now,
            to_state=GuestState.INVITED,
            note=f"guest #{invite.pk} {invite.label}",
        )
        send_console_event(session_id, "guest", staff_guest(invite), now)
    return Invitation(invite=invite, token=token)


def find_invite(token: str) -> GuestInvite:
    """The invitation a link token names, or :class:`NotFound` (code ``invite_unknown``)."""
    invite = (
        GuestInvite.objects.select_related("session").filter(token_hash=hash_token(token)).first()
        if token
        else None
    )
    if invite is None:
        raise NotFound(_("This guest link is not valid"), code="invite_unknown")
    return invite


def check_invite_usable(invite: GuestInvite, now: datetime) -> None:
    """Refuse a link that was used, withdrawn or has expired, or whose session ended."""
    if invite.state == GuestState.REVOKED:
        raise IllegalTransition(_("This guest link was withdrawn"), code="invite_revoked")
    if invite.used_at is not None or invite.state != GuestState.INVITED:
        raise IllegalTransition(_("This guest link has been used already"), code="invite_used")
    if invite.expires_at <= now:
        raise IllegalTransition(_("This guest link has expired"), code="invite_expired")
    _require_not_ended(invite.session)


def do_guest_connect(token: str, now: datetime) -> GuestGrant:
    """A guest's browser reached the engine with its link: the link is used up and the
    guest waits in the waiting room (the host sees them). Raises :class:`NotFound`
    (``invite_unknown``) or ``IllegalTransition`` (``invite_used``, ``invite_expired``,
    ``invite_revoked``, ``session_ended``)."""
    found = find_invite(token)
    with transaction.atomic():
        lock_session(found.session_id)
        invite = _lock_invite(found.session_id, found.pk)
        invite.session = found.session
        check_invite_usable(invite, now)
        _set_guest_state(invite, GuestState.WAITING, None, "guest_joined", now, used_at=now)
        send_console_event(invite.session_id, "guest", staff_guest(invite), now)
        _publish_stage(invite.session_id, now)
    return GuestGrant(
        invite_id=invite.pk,
        session_id=invite.session_id,
        slug=found.session.slug,
        label=invite.label,
        kind=invite.kind,
    )


def do_guest_disconnect(invite_id: int, now: datetime, *, reason: str = "") -> None:
    """The guest hung up or dropped: waiting or on air → left (off air for viewers).
    Calling it again for a guest who left is harmless. Unknown id: :class:`NotFound`.
    ``reason`` goes to the audit row (see :func:`do_media_engine_started`)."""
    session_id = (
        GuestInvite.objects.filter(pk=invite_id).values_list("session_id", flat=True).first()
    )
    if session_id is None:
        raise NotFound(_("Unknown guest #%(id)s") % {"id": invite_id})
    with transaction.atomic():
        session = lock_session(session_id)
        invite = _lock_invite(session_id, invite_id)
        if invite.state not in (GuestState.WAITING, GuestState.ON_AIR):
            return
        from_state = _set_guest_state(
            invite,
            GuestState.LEFT,
            None,
            "guest_left",
            now,
            reason=reason,
            left_at=now,
            on_air_since=None,
        )
        if from_state == GuestState.ON_AIR:
            _publish_guest_on_air(session, invite, False, now)
        send_console_event(session_id, "guest", staff_guest(invite), now)
        _publish_stage(session_id, now)


def check_listen_guest(user: Any, invite_id: int, *, slug: str | None = None) -> None:
    """May ``user`` listen to this guest (console preview)? Host permission, a guest of
    the session named by ``slug`` (when given) who is connected (waiting or on air)."""
    require_permission(user, "listen_guest")
    invite = GuestInvite.objects.select_related("session").filter(pk=invite_id).first()
    if invite is None or (slug is not None and invite.session.slug != slug):
        raise NotFound(_("Unknown guest #%(id)s") % {"id": invite_id})
    if invite.state not in (GuestState.WAITING, GuestState.ON_AIR):
        raise IllegalTransition(
            _("Guest %(label)s is not connected") % {"label": invite.label}, code="guest_absent"
        )


def _publish_guest_on_air(
    session: LiveSession, invite: GuestInvite, on_air: bool, now: datetime
) -> None:
    record_public_event(
        session,
        "guest_on_air",
        protocol.GuestOnAirData(
            guest=protocol.GuestRef(id=invite.pk, label=invite.label), on_air=on_air
        ),
        now,
    )
    notify_program_state(session.pk)


def check_put_guest_on_air(actor: Any, session: LiveSession, invite: GuestInvite) -> None:
    require_permission(actor, "guest_on_air")
    if session.status != SessionStatus.LIVE:
        raise IllegalTransition(_("Guests go on air only while the session is live"))
    _guard_guest(invite, {GuestState.WAITING}, GuestState.ON_AIR)


def do_put_guest_on_air(
    actor: Any, session_id: int, invite_id: int, *, now: datetime | None = None
) -> GuestInvite:
    """waiting → on_air: the engine mixes the guest into the programme; viewers see
    "连线中: <label>"."""
    now = now or timezone.now()
    with transaction.atomic():
        session = lock_session(session_id)
        invite = _lock_invite(session_id, invite_id)
        check_put_guest_on_air(actor, session, invite)
        _set_guest_state(invite, GuestState.ON_AIR, actor, "guest_on_air", now, on_air_since=now)
        _publish_guest_on_air(session, invite, True, now)
        send_console_event(session_id, "guest", staff_guest(invite), now)
        _publish_stage(session_id, now)
    return invite


def check_take_guest_off_air(actor: Any, invite: GuestInvite) -> None:
    require_permission(actor, "guest_off_air")
    _guard_guest(invite, {GuestState.ON_AIR}, GuestState.WAITING)


def do_take_guest_off_air(
    actor: Any, session_id: int, invite_id: int, *, now: datetime | None = None
) -> GuestInvite:
    """on_air → waiting: the guest stays connected (the host may bring them back)."""
    now = now or timezone.now()
    with transaction.atomic():
        session = lock_session(session_id)
        invite = _lock_invite(session_id, invite_id)
        check_take_guest_off_air(actor, invite)
        _set_guest_state(invite, GuestState.WAITING, actor, "guest_off_air", now, on_air_since=None)
        _publish_guest_on_air(session, invite, False, now)
        send_console_event(session_id, "guest", staff_guest(invite), now)
        _publish_stage(session_id, now)
    return invite


def check_revoke_guest(actor: Any, invite: GuestInvite) -> None:
    require_permission(actor, "revoke_guest")
    _guard_guest(invite, {GuestState.INVITED}, GuestState.REVOKED)


def do_revoke_guest(
    actor: Any, session_id: int, invite_id: int, *, now: datetime | None = None
) -> GuestInvite:
    """invited → revoked: an unused link stops working."""
    now = now or timezone.now()
    with transaction.atomic():
        lock_session(session_id)
        invite = _lock_invite(session_id, invite_id)
        check_revoke_guest(actor, invite)
        _set_guest_state(invite, GuestState.REVOKED, actor, "guest_revoke", now)
        send_console_event(session_id, "guest", staff_guest(invite), now)
        _publish_stage(session_id, now)
    return invite


# --- the media engine (re)starts ---------------------------------------------------------

#: Audit reason of a publisher or guest cleared because the engine that held it is gone.
ENGINE_RESTARTED = "engine_restarted"


def do_media_engine_started(now: datetime) -> int:
    """The media engine starts (or restarts) and holds no peer yet: every studio
    publisher and every connected guest the control plane still counts is gone.

    A media process that crashed or was killed could not report its peers leaving, so
    the control plane would keep a publisher "connected" (the next WHIP publisher would
    get 409 ``publisher_active``, viewers would see the signal as on the wire) and
    guests waiting or on air. Each of them goes the way a drop goes, through
    :func:`do_publisher_disconnected` and :func:`do_guest_disconnect` (one transaction
    per row, audited with reason ``engine_restarted``): viewers hear ``stream_state``
    live=false and ``guest_on_air`` off, the console gets its stage. Returns how many
    publishers and guests it found; calling it again finds none.

    There is one media process (deploy/nginx.conf sends every WHIP, WHEP and guest
    request to it), so an engine that starts is the only one: it calls this before it
    accepts any peer (:meth:`streaming.media.engine.MediaEngine.publish` and the others).
    """
    publishers = list(
        StudioStream.objects.exclude(publisher_resource_id="")
        .order_by("session_id")
        .values_list("session_id", "publisher_resource_id")
    )
    guests = list(
        GuestInvite.objects.filter(state__in=(GuestState.WAITING, GuestState.ON_AIR))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for session_id, resource_id in publishers:
        do_publisher_disconnected(session_id, resource_id, now, reason=ENGINE_RESTARTED)
    for invite_id in guests:
        do_guest_disconnect(invite_id, now, reason=ENGINE_RESTARTED)
    if publishers or guests:
        logger.warning(
            "media engine started: %s publisher(s) and %s guest(s) of a previous engine are gone",
            len(publishers),
            len(guests),
        )
    return len(publishers) + len(guests)


# --- recordings ------------------------------------------------------------------------


def do_recording_started(session_id: int, path: str, started_at: datetime) -> Recording:
    """The engine started recording the programme to ``path``. A recording still marked
    running (the engine stopped without saying so) is closed at ``started_at``."""
    if not path or len(path) > 400:
        raise DomainError(_("A recording path has 1 to 400 characters"), code="bad_path")
    with transaction.atomic():
        lock_session(session_id)
        Recording.objects.filter(session_id=session_id, ended_at__isnull=True).update(
            ended_at=started_at
        )
        recording = Recording.objects.create(
            session_id=session_id, path=path, started_at=started_at
        )
        write_audit(
            session_id=session_id,
            question=None,
            actor=None,
            action="recording_started",
            now=started_at,
            note=path,
            system_label=ENGINE,
        )
    return recording


def do_recording_finished(session_id: int, path: str, ended_at: datetime) -> Recording:
    """The engine closed the recording at ``path``. Unknown path: :class:`NotFound`."""
    with transaction.atomic():
        lock_session(session_id)
        recording = (
            Recording.objects.select_for_update().filter(session_id=session_id, path=path).first()
        )
        if recording is None:
            raise NotFound(_("Unknown recording %(path)s") % {"path": path})
        recording.ended_at = max(ended_at, recording.started_at)
        recording.save(update_fields=["ended_at"])
        write_audit(
            session_id=session_id,
            question=None,
            actor=None,
            action="recording_finished",
            now=ended_at,
            note=path,
            system_label=ENGINE,
        )
    return recording


__all__ = [
    "ActionForbidden",
    "GuestGrant",
    "PublishGrant",
    "authenticate_publisher",
    "check_listen_guest",
    "current_program_state",
    "do_guest_connect",
    "do_guest_disconnect",
    "do_media_engine_started",
    "do_publisher_connected",
    "do_publisher_disconnected",
    "do_recording_finished",
    "do_recording_started",
]
