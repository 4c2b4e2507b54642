"""The priority score the host may sort the queue by.

    score = 3·ln(1 + supports)
          + 4·ln(1 + other askers merged into the question)
          + channel weight
          + 2 · observer flags
          + min(minutes waited, 30) / 30

- supports: viewers' +1s; logarithmic, so a popular question leads without burying
  the rest.
- other askers: the same question asked again (on any channel) counts more than a +1:
  each is a citizen who took the trouble to ask.
- channel weight: callers on the line and people on site wait in real time (1.0, 1.5),
  typed questions can wait (web and microblog 0.5).
- observer flags: the citizen observer group may flag a question it thinks is being
  passed over; each flag adds 2.
- waiting time: up to +1 for half an hour in the queue, so nothing starves.

The score is computed when a question's console view is sent (after every change) and
shown with its parts, so a host can see why a question ranks where it does.
"""

from __future__ import annotations

import math
from datetime import datetime

CHANNEL_WEIGHTS = {"web": 0.5, "microblog": 0.5, "hotline": 1.0, "radio": 1.0, "onsite": 1.5}
SUPPORT_WEIGHT = 3.0
ASKER_WEIGHT = 4.0
OBSERVER_FLAG_WEIGHT = 2.0
AGE_CAP_MINUTES = 30.0


def priority_score(
    *,
    supports: int,
    other_askers: int,
    channel: str,
    observer_flags: int,
    received_at: datetime,
    now: datetime,
) -> float:
    waited = max(0.0, (now - received_at).total_seconds() / 60.0)
    score = (
        SUPPORT_WEIGHT * math.log1p(max(0, supports))
        + ASKER_WEIGHT * math.log1p(max(0, other_askers))
        + CHANNEL_WEIGHTS.get(channel, 0.5)
        + OBSERVER_FLAG_WEIGHT * max(0, observer_flags)
        + min(waited, AGE_CAP_MINUTES) / AGE_CAP_MINUTES
    )
    return round(score, 3)
