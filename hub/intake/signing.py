"""Webhook signatures: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``
and ``X-Hub-Timestamp: <unix seconds>``, refused outside ±HUB_SIGNATURE_TOLERANCE_SECONDS.

The signature covers the raw body, as the channel systems send it. A replayed body inside
the time window is harmless: items carry source ids and intake is idempotent on them.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from django.conf import settings
from django.utils.translation import gettext as _

from hub.errors import DomainError

_UNIX_SECONDS = re.compile(r"-?[0-9]{1,19}")


class SignatureRejected(DomainError):
    code = "bad_signature"
    http_status = 401


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str, body: bytes, signature: str | None, timestamp: str | None, now: float
) -> None:
    """Raise :class:`SignatureRejected` unless the body is signed and fresh."""
    if not signature:
        raise SignatureRejected(_("Missing X-Hub-Signature-256 header"), code="missing_signature")
    if not timestamp:
        raise SignatureRejected(_("Missing X-Hub-Timestamp header"), code="missing_timestamp")
    stamp = timestamp.strip()
    # ASCII digits only (int() also reads other scripts' digits), of a sane length.
    if not _UNIX_SECONDS.fullmatch(stamp):
        raise SignatureRejected(_("X-Hub-Timestamp must be unix seconds"), code="bad_timestamp")
    sent_at = int(stamp)
    tolerance = settings.HUB_SIGNATURE_TOLERANCE_SECONDS
    if abs(now - sent_at) > tolerance:
        raise SignatureRejected(
            _("X-Hub-Timestamp is more than %(s)s seconds from the server's clock")
            % {"s": tolerance},
            code="stale_timestamp",
        )
    # Compared as bytes: a header may carry any Latin-1 character, and compare_digest
    # refuses non-ASCII strings with a TypeError.
    sent = signature.strip().encode("utf-8", "surrogateescape")
    if not hmac.compare_digest(sign(secret, body).encode(), sent):
        raise SignatureRejected(_("The signature does not match the body"), code="bad_signature")
