"""The asker's private code (查询评价码): reads the task's status and casts the asker's
evaluation, without an account.

- 12 characters from an alphabet without look-alikes (no 0/O, 1/I/L), shown in groups of
  four (``K7QM-4XPR-92HD``); about 60 bits, and lookups are rate-limited per address.
- Stored only as a keyed hash (HMAC-SHA256 under the site's secret key, via Django's
  ``salted_hmac``): the database never holds a usable code. Rotating ``HUB_SECRET_KEY``
  invalidates the codes already issued.
- Input is forgiving: case, spaces and dashes are ignored.

Issued (a) to a web viewer in the response to asking (``POST /api/sessions/{slug}/
questions`` returns ``private_code`` once), and (b) for askers from other channels when
their task is created, sent by SMS when they left a mobile number.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from hub.followup.models import AskerCode
from hub.models import Question

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
LENGTH = 12
_SALT = "hub.followup.asker-code"


def normalise_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def hash_code(code: str) -> str:
    return salted_hmac(_SALT, normalise_code(code), algorithm="sha256").hexdigest()


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, LENGTH, 4))


def issue_code(question: Question | int, *, now: datetime | None = None) -> str:
    """Give the question's asker a new private code and return it (the only time it is
    seen in clear). Issuing again replaces the previous code (a retried submission from
    the same browser gets a fresh one; the lost one stops working)."""
    now = now or timezone.now()
    question_id = question if isinstance(question, int) else question.pk
    for _attempt in range(5):
        code = new_code()
        try:
            with transaction.atomic():
                AskerCode.objects.update_or_create(
                    question_id=question_id,
                    defaults={"code_hash": hash_code(code), "created_at": now},
                )
            return code
        except IntegrityError:  # a 60-bit collision: astronomically rare, draw again
            continue
    raise RuntimeError("could not draw a unique private code")


def question_for_code(code: str) -> Question | None:
    """The question the code was issued for, or None for a wrong code."""
    if not code or len(normalise_code(code)) != LENGTH:
        return None
    row = (
        AskerCode.objects.select_related("question__session")
        .filter(code_hash=hash_code(code))
        .first()
    )
    return row.question if row else None
