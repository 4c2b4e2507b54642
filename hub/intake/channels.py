"""Channel adapters: turn microblog and 12345 hotline payloads into IntakeItems.

Each adapter returns per-item outcomes so that one bad item in a batch never loses the
good ones, and the sender learns exactly which items were refused and why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from hub.errors import DomainError, IntakeRejected
from hub.intake.pipeline import (
    BadCharacters,
    IntakeItem,
    IntakeResult,
    do_intake_batch,
    normalise_text,
)
from hub.models import Channel, LiveSession, SessionStatus
from hub.text import escape_unsafe, is_clean_id

_HASHTAG = re.compile(r"#([^#\s]{1,60})#")
_SLUG = re.compile(r"[-a-zA-Z0-9_]{1,60}")


class PayloadRejected(DomainError):
    """The payload as a whole is unusable (not an object, no items, too many items)."""

    code = "bad_payload"
    http_status = 400


@dataclass
class BatchOutcome:
    """What became of each item of a delivery. Items are added in order (:meth:`add`), then
    :meth:`run` takes them all in with one :func:`do_intake_batch`; each list keeps the
    order of the delivery. Every outcome names its item by ``source_id`` (escaped if it
    holds characters an id may not) and by ``item``, the JSON pointer of the item in the
    delivery (``/statuses/3``, ``/orders/0``; ``""`` for an order sent at the top level),
    which names it even when its id is missing or refused."""

    accepted: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    _queued: list[tuple[str | None, str, IntakeItem | DomainError]] = field(
        default_factory=list, repr=False
    )

    def as_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected}

    def add(self, source_id: str | None, item: IntakeItem | DomainError, pointer: str) -> None:
        """Queue an item for intake, or an error found by the adapter itself; ``pointer``
        is where the item is in the delivery."""
        self._queued.append((source_id, pointer, item))

    def run(self) -> BatchOutcome:
        queued, self._queued = self._queued, []
        items = [item for _, _, item in queued if isinstance(item, IntakeItem)]
        outcomes = iter(do_intake_batch(items)) if items else iter(())
        for source_id, pointer, item in queued:
            outcome = next(outcomes) if isinstance(item, IntakeItem) else item
            # Echoed safely: an id refused for its characters is shown with them escaped.
            shown = escape_unsafe(source_id) if source_id is not None else None
            if isinstance(outcome, IntakeResult):
                target = self.accepted if outcome.created else self.duplicates
                target.append(
                    {"source_id": shown, "item": pointer, "question": outcome.question.pk}
                )
            else:
                self.rejected.append(
                    {
                        "source_id": shown,
                        "item": pointer,
                        "code": outcome.code,
                        "message": outcome.message,
                    }
                )
        return self


def _session_by_slug(slug: Any) -> LiveSession:
    if not isinstance(slug, str) or not _SLUG.fullmatch(slug):
        raise PayloadRejected(_('"session" must be a session slug'), code="bad_session")
    session = LiveSession.objects.filter(slug=slug).first()
    if session is None:
        raise PayloadRejected(_("Unknown session %(s)s") % {"s": slug}, code="unknown_session")
    return session


def _sessions_by_hashtag() -> dict[str, int]:
    rows = (
        LiveSession.objects.exclude(microblog_hashtag="")
        .filter(status__in=[SessionStatus.COLLECTING, SessionStatus.LIVE])
        .values_list("microblog_hashtag", "pk")
    )
    return {normalise_text(tag.strip("#＃")): pk for tag, pk in rows}


def _item_id(value: Any) -> str | None:
    """An item's id as text, without surrounding whitespace (as intake compares ids): a
    string or an integer (not a boolean); None if absent, blank or of another type."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    return str(value).strip() or None


def _id_refusal(value: str, what: str, code: str) -> BadCharacters | None:
    """The refusal of an id holding a control, unstorable or bidirectional character."""
    if is_clean_id(value):
        return None
    return BadCharacters(
        _("The %(what)s holds a control or invalid character") % {"what": what}, code=code
    )


def _name(value: Any) -> str:
    """A display name as sent: a string (or a number); anything else counts as none."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return ""
    return str(value)


def _items(payload: Any, key: str) -> list[Any]:
    items = payload.get(key) or []
    if not isinstance(items, list):
        raise PayloadRejected(_('"%(k)s" must be a list') % {"k": key}, code="bad_payload")
    return items


def intake_microblog(payload: Any) -> BatchOutcome:
    """Weibo shapes: ``{"statuses": [...]}`` (mentions) and ``{"comments": [...]}``, each
    item with ``id`` (or ``idstr``), ``text``, ``created_at`` and ``user{id, screen_name}``.
    The session is the top-level ``"session"`` slug, else a configured ``#hashtag#``."""
    if not isinstance(payload, dict):
        raise PayloadRejected(_("The payload must be a JSON object"))
    statuses, comments = _items(payload, "statuses"), _items(payload, "comments")
    if not statuses and not comments:
        raise PayloadRejected(_('The payload has no "statuses" or "comments"'), code="empty")
    if len(statuses) + len(comments) > settings.HUB_INTAKE_MAX_ITEMS:
        raise PayloadRejected(
            _("At most %(n)s items per request") % {"n": settings.HUB_INTAKE_MAX_ITEMS},
            code="too_many_items",
        )
    session_id = _session_by_slug(payload["session"]).pk if "session" in payload else None
    hashtags = _sessions_by_hashtag() if session_id is None else {}
    outcome = BatchOutcome()
    for kind, key, entries in (("status", "statuses", statuses), ("comment", "comments", comments)):
        for position, entry in enumerate(entries):
            pointer = f"/{key}/{position}"
            if not isinstance(entry, dict):
                outcome.add(
                    None, IntakeRejected(_("Each item must be an object"), code="bad_item"), pointer
                )
                continue
            raw_id = _item_id(entry.get("idstr")) or _item_id(entry.get("id"))
            if raw_id is None:
                outcome.add(
                    None, IntakeRejected(_("The item has no id"), code="missing_id"), pointer
                )
                continue
            source_id = f"{kind}:{raw_id}"
            refusal = _id_refusal(raw_id, _("id"), "bad_id")
            if refusal is not None:
                outcome.add(source_id, refusal, pointer)
                continue
            text = entry.get("text")
            raw_user = entry.get("user")
            user: dict[str, Any] = raw_user if isinstance(raw_user, dict) else {}
            user_id = _item_id(user.get("idstr")) or _item_id(user.get("id")) or ""
            refusal = _id_refusal(user_id, _("user id"), "bad_user_id")
            if refusal is not None:
                outcome.add(source_id, refusal, pointer)
                continue
            target = session_id
            if target is None and isinstance(text, str):
                # Match on normalised text: ＃市長熱線＃ finds the session tagged 市长热线.
                tags = _HASHTAG.findall(normalise_text(text[:5000]))
                target = next((hashtags[tag] for tag in tags if tag in hashtags), None)
            if target is None:
                outcome.add(
                    source_id,
                    IntakeRejected(
                        _('No session named: add "session" or a session\'s #hashtag#'),
                        code="no_session",
                    ),
                    pointer,
                )
                continue
            item = IntakeItem(
                session_id=target,
                channel=Channel.MICROBLOG,
                text=text if isinstance(text, str) else None,  # type: ignore[arg-type]
                source_id=source_id,
                asker_name=_name(user.get("screen_name")),
                asker_ref=f"weibo:{user_id}",
                truncate_name=True,
            )
            outcome.add(source_id, item, pointer)
    return outcome.run()


def intake_hotline(payload: Any) -> BatchOutcome:
    """12345 work orders: ``{"session": slug, "orders": [{"order_id", "content",
    "caller_name"?, "caller_phone"?, "channel"? ("hotline" | "radio"), "private"?}]}``;
    a single order may also be sent at the top level beside ``"session"``."""
    if not isinstance(payload, dict):
        raise PayloadRejected(_("The payload must be a JSON object"))
    session = _session_by_slug(payload.get("session"))
    listed = "orders" in payload
    orders = _items(payload, "orders") if listed else [payload]
    if not orders:
        raise PayloadRejected(_('"orders" is empty'), code="empty")
    if len(orders) > settings.HUB_INTAKE_MAX_ITEMS:
        raise PayloadRejected(
            _("At most %(n)s items per request") % {"n": settings.HUB_INTAKE_MAX_ITEMS},
            code="too_many_items",
        )
    outcome = BatchOutcome()
    for position, order in enumerate(orders):
        pointer = f"/orders/{position}" if listed else ""
        if not isinstance(order, dict):
            outcome.add(
                None, IntakeRejected(_("Each order must be an object"), code="bad_item"), pointer
            )
            continue
        order_id = _item_id(order.get("order_id"))
        if order_id is None:
            outcome.add(
                None, IntakeRejected(_("The order has no order_id"), code="missing_id"), pointer
            )
            continue
        refusal = _id_refusal(order_id, _("order_id"), "bad_id")
        if refusal is not None:
            outcome.add(order_id, refusal, pointer)
            continue
        channel = order.get("channel") or Channel.HOTLINE
        if not isinstance(channel, str) or channel not in (Channel.HOTLINE, Channel.RADIO):
            outcome.add(
                order_id,
                IntakeRejected(_('"channel" must be "hotline" or "radio"'), code="bad_channel"),
                pointer,
            )
            continue
        phone = str(order.get("caller_phone") or "")
        item = IntakeItem(
            session_id=session.pk,
            channel=channel,
            text=order.get("content"),  # type: ignore[arg-type]
            source_id=order_id,
            asker_name=_name(order.get("caller_name")),
            asker_ref=f"tel:{phone}" if phone else "",
            contact=phone,
            private=bool(order.get("private", False)),
            truncate_name=True,
        )
        outcome.add(order_id, item, pointer)
    return outcome.run()
