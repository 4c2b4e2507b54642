"""``manage.py feed_demo``: a real server fed through its public interfaces (web API and
the two signed webhooks), then the public pages checked for personal numbers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from hub.intake.samples import SampleStream, id_number_check
from tests.live import DEMO_PASSWORD, Browserless, HubServer, prepare_database

COUNT = 200


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    folder = tmp_path_factory.mktemp("feed")
    database = folder / "hub.sqlite3"
    prepare_database(database)
    hub = HubServer(database, folder / "server.log", HUB_PROXY_HEADERS="1")
    yield hub
    hub.stop()


def _feed(server: HubServer, tmp_path: Path, *extra: str) -> tuple[dict, str]:
    out = StringIO()
    summary = tmp_path / "summary.json"
    call_command(
        "feed_demo",
        "--url",
        server.base,
        "--password",
        DEMO_PASSWORD,
        "--json",
        str(summary),
        *extra,
        stdout=out,
    )
    return json.loads(summary.read_text()), out.getvalue()


def test_feeding_the_demo_session_from_every_channel_leaks_no_phone_number(
    server: HubServer, tmp_path: Path
) -> None:
    summary, printed = _feed(server, tmp_path, "--count", str(COUNT), "--approve", "25")

    channels = summary["channels"]
    assert summary["questions"] == COUNT
    for name, row in channels.items():
        # Everything generated was sent and answered for: accepted, repeated or refused.
        assert row["not_sent"] == 0, name
        assert row["sent"] == row["generated"], name
        assert row["accepted"] + row["duplicates"] + sum(row["refused"].values()) == row["sent"]
        assert row["accepted"] > 0, name
    # Near-duplicates across channels were merged; abuse was held; illegal offers rejected
    # with their reason; invalid web submissions refused with a code.
    assert summary["merged"] >= COUNT // 5
    assert summary["held"] >= 1
    assert summary["rejected"].get("illegal", 0) >= 1
    assert set(summary["refused"]) <= {"too_short", "too_long"}
    assert summary["approved"] == 25
    assert summary["personal_numbers_sent"] >= 5
    assert summary["leaks"] == [] and summary["errors"] == []
    assert "none shows any of them" in printed

    # What the public sees: the approved questions, with personal data masked.
    viewer = Browserless(server)
    status, listing = viewer.request("GET", "/api/sessions/demo/questions")
    assert status == 200 and listing["count"] >= 25
    assert any("****" in q["text"] for q in listing["items"])
    status, insights = viewer.request("GET", "/api/sessions/demo/insights")
    assert status == 200 and insights["hot_words"] and insights["sectors"]


def test_webhook_retries_come_back_as_duplicates_never_as_new_questions(
    server: HubServer, tmp_path: Path
) -> None:
    """A second run sends new items (its own run id); the deliveries it sends twice, as
    webhooks retry, are recognised by their source ids."""
    summary, _ = _feed(
        server,
        tmp_path,
        *("--count", "120", "--approve", "0", "--seed", "7"),
        *("--microblog-batch", "10", "--retry-every", "2"),
    )
    blog = summary["channels"]["microblog"]
    assert blog["resent"] == 20  # two of the four deliveries of ten, sent twice
    assert blog["duplicates"] == blog["resent"]
    assert blog["accepted"] + sum(blog["refused"].values()) == blog["sent"] == 46
    assert summary["leaks"] == []


def test_a_session_that_takes_no_questions_is_refused_before_anything_is_sent(
    server: HubServer, tmp_path: Path
) -> None:
    with pytest.raises(CommandError, match="not found"):
        _feed(server, tmp_path, "--session", "no-such-session", "--count", "5")


def test_the_generated_personal_numbers_are_valid_so_screening_must_mask_them() -> None:
    samples = SampleStream(3).take(3000)
    ids = [n for s in samples for n in s.secrets if len(n) == 18]
    mobiles = [n for s in samples for n in s.secrets if len(n) == 11]
    assert ids and mobiles
    assert all(n[-1] == id_number_check(n[:17]) for n in ids)
    assert all(n[0] == "1" and n[1] in "3456789" for n in mobiles)
