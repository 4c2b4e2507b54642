"""The documented priority score."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from moderation.priority import priority_score

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def score(**kw: object) -> float:
    base: dict[str, object] = {
        "supports": 0,
        "other_askers": 0,
        "channel": "web",
        "observer_flags": 0,
        "received_at": NOW,
        "now": NOW,
    }
    base.update(kw)
    return priority_score(**base)  # type: ignore[arg-type]


def test_score_follows_the_documented_formula() -> None:
    assert score() == 0.5
    assert score(supports=9) == round(3 * 2.302585 + 0.5, 3)
    assert score(channel="onsite") == 1.5
    assert score(observer_flags=2) == 4.5
    assert score(received_at=NOW - timedelta(minutes=15)) == 1.0
    assert score(received_at=NOW - timedelta(hours=5)) == 1.5  # waiting time is capped


def test_another_asker_counts_more_than_a_support() -> None:
    assert score(other_askers=1) > score(supports=1)


def test_callers_on_the_line_rank_above_typed_questions() -> None:
    assert score(channel="hotline") > score(channel="microblog")
