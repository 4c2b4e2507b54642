"""The event frame the two reference servers, (a) and (b), broadcast.

It has the hub's viewer-frame shape, ``{"type", "seq", "ts", "data"}``, is encoded the way
``hub.events.encode_frame`` encodes (compact JSON, ``ensure_ascii=False``, ``ts`` an ISO 8601
UTC string) and its ``data`` mirrors a ``PublicQuestion`` with Chinese text, so the frame
is about as large as the hub's ``question_published`` frame (~350 bytes of UTF-8; the
harness submits the same text to the hub). Every server encodes a frame once per event
and sends the same text to every viewer.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

#: The ``type`` of a reference-server frame.
BENCH_TYPE = "bench"

#: Path the harness opens on a reference server, once its viewers are connected, to start
#: the producer. Viewers use any other path.
START_PATH = "/start"

SAMPLE_TEXT = "请问老旧小区加装电梯的补贴政策今年有什么变化？"
SAMPLE_ASKER = "王先生"


def make_frame(seq: int, now: datetime | None = None) -> str:
    """Encode event ``seq`` stamped with ``now`` (default: the current UTC time)."""
    ts = (now or datetime.now(UTC)).isoformat()
    data: dict[str, Any] = {
        "id": 100_000 + seq,
        "text": SAMPLE_TEXT,
        "channel": "hotline",
        "asker": SAMPLE_ASKER,
        "supports": 0,
        "state": "approved",
        "received_at": ts,
        "published_at": ts,
        "answer": None,
    }
    frame = {"type": BENCH_TYPE, "seq": seq, "ts": ts, "data": data}
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


def frame_size(seq: int = 1) -> int:
    """Size in bytes (UTF-8) of a typical reference frame."""
    return len(make_frame(seq).encode())
