"""Issue 10 §1, the global plant-and-scan test: personal data typed into every writable text
field of every channel, in every written form, shows on no output a non-staff eye sees.

Planted (``tests/pii_scan_plant.py``) through the real write paths: web asks (text,
nickname, contact; private asks), the signed microblog (text, screen name) and hotline
(content, caller name, caller phone) webhooks, call-ins typed by the screener, the host's
reject and defer notes and the observer's flag note, the leader's live answer and answer
summary, agenda titles (public and confidential), guest labels on air, answer-library
entries, the session's description and guests, and every text of a follow-up task
(public text, wait, resume and extension reasons, the department's reply, callback and
evaluation comments, close note). Each (field, form) has its own number.

Scanned (``tests/pii_scan_outputs.py``): every GET route of the URL conf and of the API
routers, as an anonymous citizen and as the observer, with every planted id filled in and
the links those outputs offer (exports decoded); the viewer stream live, resumed with
``since`` and as a fresh snapshot; the observer's console socket; every published viewer
frame. A hit is a leak: (output × field × form).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.apps import apps
from django.core import serializers
from django.test import Client

from tests.pii_scan_forms import FORMS, Hit, Plants, scan
from tests.pii_scan_outputs import Crawler, Output, export_links, url_patterns
from tests.pii_scan_plant import Scene, plant_everything

REPORT = Path(__file__).resolve().parent.parent / "var" / "pii-scan-report.txt"
# Query variants asked of every public route (they matter where a route reads them: the
# viewer API's ``since``, searches, format switches); more for the routes that filter.
GENERIC_QUERIES = ["?since=0", "?q=经核实", "?format=csv", "?format=xml"]
ROUTE_QUERIES = {
    "followup/": ["?status=closed", "?status=open", "?q=反映"],
    "library/": ["?q=咨询", "?q=答复"],
    "api/library": ["?q=咨询", "?q=答复&limit=100"],
    "api/followup/tasks": ["?status=closed", "?limit=200"],
    "open311/v2/requests.json": ["?status=closed", "?status=open"],
    "api/sessions/<slug>/questions": ["?state=answered"],
}
MIN_ROUTES = 25
MIN_PLANTS = 400  # of 35 fields × 21 forms; an input may refuse some forms


def _stored(plants: Plants) -> set[tuple[str, str]]:
    """The plants found in the database (what staff work with): a plant missing here was
    lost or masked on the way in, and scanning for it would prove nothing."""
    labels = ("hub", "moderation", "streaming", "followup")
    text = []
    for config in apps.get_app_configs():
        if config.label in labels or config.name.startswith("hub."):
            for model in config.get_models():
                text.append(serializers.serialize("json", model.objects.all()))
    return {(h.field, h.form) for h in scan("database", "\n".join(text), plants)}


def _frames(name: str, frames: list[dict[str, Any]]) -> Output:
    return Output(name, "\n".join(json.dumps(f, ensure_ascii=False) for f in frames))


def _crawl(scene: Scene, users: dict[str, Any]) -> Crawler:
    observer = Client()
    observer.force_login(users["observer"])
    crawler = Crawler({"anonymous": Client(), "observer": observer}, scene.params)
    crawler.crawl_routes(
        {route: GENERIC_QUERIES + ROUTE_QUERIES.get(route, []) for route, _ in url_patterns()}
    )
    crawler.crawl_links()
    return crawler


def test_the_scanner_finds_every_form_and_not_its_masked_version() -> None:
    """The judge is checked first: each planted value, alone in a synthetic output (also
    HTML-escaped, JSON-escaped and URL-encoded), is found; its masked forms are not."""
    plants = Plants()
    for spec in FORMS:
        plants.value("self.check", spec.key)
    for plant in plants:
        for text in (
            f"问题：{plant.value}。",
            json.dumps({"t": plant.value}),  # \\uXXXX escapes
            "".join(f"&#{ord(c)};" for c in plant.value),
            "q=" + "".join(f"%{b:02X}" for b in plant.value.encode()),
        ):
            assert [(h.field, h.form) for h in scan("synthetic", text, [plant])] == [
                ("self.check", plant.form)
            ], (plant, text)
        core = plant.cores[0]
        for masked in (core[:3] + "*" * (len(core) - 7) + core[-4:], "*" * len(core)):
            assert scan("synthetic", f"问题：{masked}。", [plant]) == [], (plant, masked)
    assert not scan("synthetic", "2026-12-04T18:30:00 #123 id=4567", list(plants))


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("lexicon")
async def test_personal_data_planted_in_every_field_reaches_no_public_output(
    users: dict[str, Any], frames: Any
) -> None:
    started = time.monotonic()
    scene = await plant_everything(users)
    planted_in = time.monotonic() - started
    plants = scene.plants
    stored = await sync_to_async(_stored)(plants)
    crawler = await sync_to_async(_crawl)(scene, users)
    crawled_in = time.monotonic() - started - planted_in
    outputs = [
        *crawler.outputs,
        _frames("viewer stream: live frames", scene.viewer_frames),
        _frames("viewer stream: since=0 resume", scene.viewer_since_frames),
        _frames("viewer stream: snapshot after planting", scene.viewer_snapshot_after),
        _frames("viewer frames published (every viewer)", frames.viewer),
        _frames("observer console socket", scene.observer_frames),
    ]
    leaks: list[Hit] = []
    for output in outputs:
        leaks += scan(output.name, output.text, plants)
    report = crawler.report
    routes_scanned = len(report.public)
    summary = (
        f"forms planted × outputs scanned = {len(plants)} × {len(outputs)}, "
        f"leaks: {len(leaks)} ({len({(h.field, h.form) for h in leaks})} plants leaked; "
        f"{routes_scanned} public routes, {len(report.staff_only)} staff-only, "
        f"{len(report.not_get)} not GET; {len(plants.refused)} plants refused at input; "
        f"{scene.merged} questions merged; planting {planted_in:.0f} s, crawl {crawled_in:.0f} s)"
    )
    lines = [
        summary,
        "",
        "public routes: " + ", ".join(sorted(report.public)),
        "staff-only routes: " + ", ".join(sorted(report.staff_only)),
        "not GET: " + ", ".join(sorted(report.not_get)),
        "allowed (not data outputs): " + "; ".join(report.allowed),
        "exports scanned: " + ", ".join(export_links(crawler)),
        "refused at input: "
        + "; ".join(f"{f} × {m}: {why}" for (f, m), why in sorted(plants.refused.items())),
        "planting problems: " + "; ".join(scene.problems),
        "",
        "leaks (output × field × form):",
        *sorted(str(h) for h in leaks),
    ]
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text("\n".join(lines) + "\n")
    print("\n" + summary + f"\n(full report: {REPORT})")

    # The test scanned something real: the plants are stored, the outputs many.
    not_stored = sorted(set(plants.planted) - stored)
    assert not not_stored, f"planted but not found in the database: {not_stored}"
    assert len(plants) >= MIN_PLANTS, plants.refused
    assert routes_scanned > MIN_ROUTES, sorted(report.public)
    assert not report.errors, report.errors
    assert not report.unfillable, report.unfillable
    assert not report.unanswered, report.unanswered
    assert scene.viewer_frames and scene.viewer_since_frames and scene.observer_frames
    # And nothing leaked.
    assert not leaks, f"{len(leaks)} leaks:\n" + "\n".join(sorted(str(h) for h in leaks))
