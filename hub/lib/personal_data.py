"""The one personal-data policy: find and mask personal data in any text.

Every output a non-staff eye can see (viewer pages and streams, public APIs, Open311,
follow-up pages, exports, replay chapters, the FAQ, hot words, the observer console) passes
its free text through :func:`mask_personal_data` and its names through :func:`public_name`.

(Transitional: the finder still lives in :mod:`moderation.screening`; it moves here.)
"""

from __future__ import annotations

from moderation.screening import find_personal_data, mask_personal_data

__all__ = ["find_personal_data", "mask_personal_data", "public_name"]


def public_name(name: str) -> str:
    """A name as a non-staff output shows it: personal data masked; a name that is only
    a number (or only masked data) becomes "" so the page shows its own word (网友)."""
    masked = mask_personal_data(name or "").strip()
    if not masked or all(not ch.isalpha() or ch in "*＊" for ch in masked):
        return ""
    return masked
