"""The open moderation record counts what happened to every question, per channel."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hub import protocol
from hub.actions.sessions import do_end_session
from moderation import actions as m

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("lexicon")]


def test_record_counts_every_outcome_per_channel_and_is_public(
    ask: Callable[..., Any], users: dict[str, Any], client: Any
) -> None:
    host, leader = users["host"], users["leader"]
    sid = None
    web = [ask(f"网页问题第{i}个，关于停车") for i in range(4)]
    hotline = [
        ask(f"热线工单第{i}个，关于噪音", channel="hotline", source_id=f"h{i}") for i in range(3)
    ]
    blog = ask("出售枪支的广告微博", channel="microblog", source_id="status:9")  # auto-rejected
    sid = web[0].session_id
    m.do_approve_question(host, sid, web[0].pk)
    m.do_put_on_air(host, sid, web[0].pk)
    m.do_mark_answered(leader, sid, web[0].pk, "已答复")
    m.do_approve_question(host, sid, web[1].pk)
    m.do_reject_question(host, sid, web[1].pk, "duplicate")  # approved, then withdrawn
    m.do_defer_question(host, sid, hotline[0].pk, "转交住建局")
    m.do_reject_question(host, sid, hotline[1].pk, "off_topic")
    do_end_session(host, sid)

    response = client.get("/api/sessions/live/record")
    assert response.status_code == 200
    record = protocol.ModerationRecord.model_validate(response.json())
    w, h, b = (record.by_channel[c] for c in ("web", "hotline", "microblog"))
    assert (w.received, w.approved, w.answered, w.rejected, w.unanswered, w.pending) == (
        4,
        2,
        1,
        {"duplicate": 1},
        2,
        0,
    )
    assert (h.received, h.deferred, h.rejected, h.unanswered) == (3, 1, {"off_topic": 1}, 2)
    assert (b.received, b.rejected, b.rejected_total) == (1, {"illegal": 1}, 1)
    assert record.total.received == 8
    assert record.total.rejected == {"duplicate": 1, "off_topic": 1, "illegal": 1}
    assert record.total.rejected_total == 3
    assert blog.state == "rejected"
    # Counts only: no question text and no personal data in the public record.
    assert "停车" not in response.content.decode()


def test_record_of_an_unknown_session_is_a_404(client: Any, db: Any) -> None:
    assert client.get("/api/sessions/nope/record").json()["code"] == "not_found"
