"""Issue 10 §1, the global plant-and-scan test: personal data typed into every writable text
field of every channel, in every written form, shows on no output a non-staff eye sees.

Planted (``tests/pii_scan_plant.py``) through the real write paths: web asks (text,
nickname, contact; private asks), the signed microblog webhook (statuses and comments:
text, screen name) and hotline webhook (content, caller name, caller phone), call-ins
typed by the screener (text, name, phone), the host's reject and defer notes and the
observer's flag note, the leader's live answer and answer summary, agenda titles (public
and confidential), guest labels (on air, and links not used yet), answer-library entries,
the session's title, description and guests, and every text of a follow-up task (public
text, wait, resume, extension, return and dismiss reasons, the department's reply,
callback and evaluation comments, close note, reopen reason). Each (field, form) pair has
its own number: 27 forms of ``tests/pii_scan_forms.py`` in every field, and every form
``tests/pii_forms.py`` renders (342) in the long texts.

Scanned (``tests/pii_scan_outputs.py``): every GET route of the URL conf and of the API
routers, as an anonymous citizen, as the observer and as an account without a role, with
the planted ids filled in, a few query variants, and the links those outputs offer
(exports decoded); the viewer stream live, resumed with ``since`` and as a fresh
snapshot; the observer's console socket; every published viewer frame; and, in
chromium, the public pages and the observer's console page. A hit is a leak: (output ×
field × form). The report is printed and written to ``var/pii-scan-report.txt``
(``PII_SCAN_DUMP=<dir>`` also writes every output as scanned).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.apps import apps
from django.core import serializers
from django.test import Client

from tests.pii_scan_forms import FORMS, Hit, Plants, battery, scan, seen
from tests.pii_scan_outputs import Crawler, Output, export_links, url_patterns
from tests.pii_scan_plant import Scene, plant_everything
from tests.test_browser import browser  # noqa: F401 - the shared chromium fixture

REPORT = Path(__file__).resolve().parent.parent / "var" / "pii-scan-report.txt"
# Query variants asked of every public route (they matter where a route reads them: the
# viewer API's ``since``, searches, format switches); more for the routes that filter.
GENERIC_QUERIES = ["?since=0", "?q=经核实"]
ROUTE_QUERIES = {
    "followup/": ["?status=closed", "?status=open", "?q=反映"],
    "library/": ["?q=咨询", "?q=答复"],
    "api/library": ["?q=咨询", "?q=答复&limit=100"],
    "api/followup/tasks": ["?status=closed", "?limit=200"],
    "open311/v2/requests.json": ["?status=closed", "?status=open", "?format=xml"],
    "api/sessions/<slug>/questions": ["?state=answered"],
}
MIN_ROUTES = 25
BATTERY_FORMS = len(battery(Plants(), "count"))  # every form tests/pii_forms.py renders
# Fields whose object a non-staff eye is meant to see (masked): the scan must have seen
# their marker in some output, or it proved nothing about them. (Contacts, phones and
# private texts are never shown, so they are not here; they are scanned all the same.)
MUST_BE_SEEN = (
    "web.text",
    "web.nickname",
    "microblog.text",
    "microblog.screen_name",
    "hotline.content",
    "hotline.caller_name",
    "callin.text",
    "leader.live_answer",
    "leader.summary",
    "library.question",
    "library.answer",
    "agenda.title",
    "guest.label",
    "session.description",
    "host.reject_note",
    "task.public_text",
    "task.reply",
    "battery.web_text",
    "battery.microblog_text",
    "battery.description",
    "battery.library_answer",
    "battery.reply",
)
# Of 40 fields × 27 forms and 5 long texts × the 342 forms of tests/pii_forms.py (about
# 2,800); a contact or phone field may refuse what is not a phone number.
MIN_PLANTS = 2000


def count(keys: Any, field: str) -> int:
    return sum(1 for f, _ in keys if f == field)


def _staff_view(scene: Scene) -> str:
    """What staff work with: every row of the product's tables, and what the host's and
    the leader's consoles received."""
    text = [json.dumps(scene.staff_frames, ensure_ascii=False)]
    for config in apps.get_app_configs():
        if config.label in ("hub", "moderation", "streaming", "followup", "workcalendar"):
            for model in config.get_models():
                text.append(serializers.serialize("json", model.objects.all()))
    return "\n".join(text)


def _verify_planted(scene: Scene) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Plants whose number staff cannot see but whose marker they can were masked on the
    way in (kept, not counted as planted); plants of which staff see neither were lost.
    Returns (masked on input, lost). What is counted as planted is what staff can see."""
    staff = _staff_view(scene)
    plants = scene.plants
    with_number = {(h.field, h.form) for h in scan("staff view", staff, plants)}
    with_marker = seen(staff, plants.markers)
    masked, lost = [], []
    for key in sorted(set(plants.planted) - with_number):
        (masked if key in with_marker else lost).append(key)
        plants.refuse(*key, "masked on input" if key in with_marker else "lost on input")
    return masked, lost


def _staff_exports(users: dict[str, Any], plants: Plants) -> list[str]:
    """The weekly report's downloads as staff (staff-only, so not outputs of the scan):
    decoded like any output, to show the decoders read them and what they carry."""
    from django.utils import timezone

    from tests.pii_scan_outputs import decode

    staff = Client()
    staff.force_login(users["staff"])
    today = timezone.localdate().isoformat()
    lines = []
    for kind in ("xlsx", "pdf"):
        response = staff.get(f"/followup/report.{kind}?start={today}&end={today}")
        if response.status_code != 200:
            lines.append(f"report.{kind}: {response.status_code}")
            continue
        text = decode(response)
        assert "市城市管理局" in text, (kind, text[:500])  # the decoder reads the file
        readable = {(h.field, h.form) for h in scan(kind, text, plants)}
        lines.append(
            f"report.{kind} (staff): {len(text)} characters, {len(readable)} plants readable"
        )
    return lines


def _frames(name: str, frames: list[dict[str, Any]]) -> Output:
    return Output(name, "\n".join(json.dumps(f, ensure_ascii=False) for f in frames))


def _crawl(scene: Scene, users: dict[str, Any]) -> Crawler:
    # Non-staff readers: a citizen without an account, the observer (a citizen role) and an
    # account with no role at all (a role check written as "logged in" would show here).
    clients = {"anonymous": Client()}
    for name in ("observer", "nobody"):
        clients[name] = Client()
        clients[name].force_login(users[name])
    crawler = Crawler(clients, scene.params)
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
    battery(plants, "self.check")  # and every form tests/pii_forms.py renders
    assert len(plants) > 300
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
        # Among all the others, it is found as itself and nothing else is.
        found = scan("synthetic", f"问题：{plant.value}。", list(plants))
        assert [h.form for h in found] == [plant.form], (plant, found)
        core = plant.cores[0]
        for masked in (core[:3] + "*" * (len(core) - 7) + core[-4:], "*" * len(core)):
            assert scan("synthetic", f"问题：{masked}。", [plant]) == [], (plant, masked)
    assert not scan("synthetic", "2026-12-04T18:30:00 #123 id=4567", list(plants))


@pytest.mark.django_db
def test_a_new_public_route_that_leaks_is_scanned_without_being_listed(
    settings: Any, live_session: Any, ask: Any
) -> None:
    """The crawl takes its routes from the URL conf: a route added tomorrow (here by a URL
    conf that extends the product's) is fetched with the planted ids, and its unmasked
    output is a leak; a public route whose parameter nothing fills is reported."""
    plants = Plants()
    question = ask(f"请回电{plants.value('probe.text', 'mobile_spaced_digits')}谢谢")
    settings.ROOT_URLCONF = "tests.pii_scan_urls"
    crawler = Crawler(
        {"anonymous": Client()}, {"slug": [live_session.slug], "question_id": [str(question.pk)]}
    )
    crawler.crawl_routes({})
    leaks = [hit for o in crawler.outputs for hit in scan(o.name, o.text, list(plants))]
    assert [(h.output, h.field, h.form) for h in leaks] == [
        (
            f"GET /new-feature/questions/{question.pk}.json as anonymous",
            "probe.text",
            "mobile_spaced_digits",
        )
    ]
    assert any(
        u.startswith("new-feature/widgets/<str:widget_key>") for u in crawler.report.unfillable
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("lexicon")
@pytest.mark.timeout(600)  # about a minute alone; the machine is shared with 2 cores
async def test_personal_data_planted_in_every_field_reaches_no_public_output(
    users: dict[str, Any], frames: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    scene = await plant_everything(users)
    planted_in = time.monotonic() - started
    plants = scene.plants
    masked_on_input, lost = await sync_to_async(_verify_planted)(scene)
    crawler = await sync_to_async(_crawl)(scene, users)
    crawled_in = time.monotonic() - started - planted_in
    staff_exports = await sync_to_async(_staff_exports)(users, plants)
    outputs = [
        *crawler.outputs,
        *(Output(name, text) for name, text in scene.early_outputs),
        _frames("viewer stream: live frames", scene.viewer_frames),
        _frames("viewer stream: since=0 resume", scene.viewer_since_frames),
        _frames("viewer stream: snapshot after planting", scene.viewer_snapshot_after),
        _frames("viewer frames published (every viewer)", frames.viewer),
        _frames("observer console socket", scene.observer_frames),
    ]
    leaks: list[Hit] = []
    visible: set[tuple[str, str]] = set()
    planted = list(plants)
    for output in outputs:
        leaks += scan(output.name, output.text, planted)
        visible |= seen(output.text, plants.markers)
    seen_fields = sorted({f for f, _ in visible})
    unseen = sorted({f for f, _ in plants.planted} - set(seen_fields))
    report = crawler.report
    routes_scanned = len(report.public)
    summary = (
        f"forms planted × outputs scanned = {len(plants)} × {len(outputs)}, "
        f"leaks: {len(leaks)} ({len({(h.field, h.form) for h in leaks})} plants leaked; "
        f"{len(visible & set(plants.planted))} plants' objects reached a non-staff output; "
        f"{routes_scanned} public routes, {len(report.staff_only)} staff-only, "
        f"{len(report.not_get)} not GET; {len(plants.refused)} plants refused or masked at input; "
        f"{scene.merged} questions merged; planting {planted_in:.0f} s, "
        f"crawl {crawled_in:.0f} s ({crawler.requests} requests))"
    )
    lines = [
        summary,
        "",
        "public routes: " + ", ".join(sorted(report.public)),
        "staff-only routes: " + ", ".join(sorted(report.staff_only)),
        "not GET: " + ", ".join(sorted(report.not_get)),
        "public, parameter not fillable (a failure): " + "; ".join(report.unfillable),
        "filled, but nothing answered (a failure): " + "; ".join(report.unanswered),
        "5xx (a failure): " + "; ".join(report.errors),
        "allowed (not data outputs): " + "; ".join(report.allowed),
        "redirects (targets crawled): " + "; ".join(report.redirects),
        "no parameter, 404 (nothing to read): " + ", ".join(report.empty),
        "409 for every planted value (read while live instead): " + ", ".join(report.refused_state),
        "public exports scanned: " + ", ".join(export_links(crawler)),
        "staff exports (decoded, not outputs of this scan): " + "; ".join(staff_exports),
        "refused at input: "
        + "; ".join(f"{f} × {m}: {why}" for (f, m), why in sorted(plants.refused.items())),
        "masked on input (staff see the marker, not the number): "
        + ", ".join(f"{f} × {m}" for f, m in masked_on_input),
        "planting problems: " + "; ".join(scene.problems),
        "planting time: " + ", ".join(f"{k} {v:.1f} s" for k, v in scene.timings.items()),
        "fields seen (masked or not) in non-staff outputs: " + ", ".join(seen_fields),
        "fields never seen in non-staff outputs: " + ", ".join(unseen),
        "",
        "per field: planted / refused or masked at input / objects seen in non-staff outputs "
        "/ leaked",
        *(
            f"  {name}: {count(plants.planted, name)} / {count(plants.refused, name)} / "
            f"{count(visible, name)} / {count({(h.field, h.form) for h in leaks}, name)}"
            for name in plants.fields
        ),
        "",
        "leaks (output × field × form):",
        *sorted(str(h) for h in leaks),
    ]
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text("\n".join(lines) + "\n")
    if os.environ.get("PII_SCAN_DUMP"):  # every output as scanned, for whoever fixes a leak
        folder = Path(os.environ["PII_SCAN_DUMP"])
        folder.mkdir(parents=True, exist_ok=True)
        for n, output in enumerate(outputs):
            (folder / f"{n:04d}.txt").write_text(f"{output.name}\n\n{output.text}")
    with capsys.disabled():
        print("\n" + summary + f"\n(full report: {REPORT})")

    # Every field got every form: planted, or refused with a reason (never dropped).
    for name in plants.fields:
        forms = {m for f, m in plants.planted if f == name} | {
            m for f, m in plants.refused if f == name
        }
        expected = len(FORMS) if not name.startswith("battery.") else BATTERY_FORMS
        assert len(forms) == expected, (name, len(forms), expected)
    # The test scanned something real: the plants are stored, the outputs many.
    assert not lost, f"planted, and neither the number nor its marker reached staff: {lost}"
    assert len(plants) >= MIN_PLANTS, plants.refused
    assert routes_scanned > MIN_ROUTES, sorted(report.public)
    assert not set(MUST_BE_SEEN) - set(seen_fields), sorted(set(MUST_BE_SEEN) - set(seen_fields))
    assert not report.errors, report.errors
    assert not report.unfillable, report.unfillable
    assert not report.unanswered, report.unanswered
    assert scene.viewer_frames and scene.viewer_since_frames and scene.observer_frames
    # And nothing leaked.
    assert not leaks, f"{len(leaks)} leaks:\n" + "\n".join(sorted(str(h) for h in leaks))


# --- pages rendered in chromium ----------------------------------------------------------------

# Everything a reader can get out of a rendered page: the text shown, the text of hidden
# and collapsed elements (an expander's 原文), and the attributes that carry text.
PAGE_TEXT_JS = """() => {
  const out = [document.body.innerText, document.body.textContent];
  for (const el of document.querySelectorAll('*')) {
    for (const a of el.attributes) {
      if (['title', 'alt', 'placeholder', 'value', 'href', 'src', 'content'].includes(a.name)
          || a.name.startsWith('data-') || a.name.startsWith('aria-')) out.push(a.value);
    }
    if (el.shadowRoot) out.push(el.shadowRoot.textContent);
  }
  return out.join('\\n');
}"""
# What each page shows once its script has loaded its data (waited for before reading).
READY = {
    "viewer": '[data-testid="question-list"] li',
    "console": 'li[data-testid^="q-"]',
}


@pytest.fixture(scope="module")
def planted_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    import subprocess
    import sys

    from tests.live import ROOT, HubServer, prepare_database, server_env

    folder = tmp_path_factory.mktemp("pii-browser")
    database = folder / "hub.sqlite3"
    prepare_database(database)
    script = (
        "import django, json; django.setup(); "
        "from tests.pii_scan_plant import seed_for_server; "
        "print(json.dumps(seed_for_server(), ensure_ascii=False))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=server_env(database),
        check=True,
        capture_output=True,
        text=True,
    )
    seeded = json.loads(done.stdout.strip().splitlines()[-1])
    hub = HubServer(database, folder / "server.log")
    yield hub, seeded
    hub.stop()


def _plants_of(seeded: dict[str, Any]) -> Plants:
    from tests.pii_scan_forms import Plant

    plants = Plants()
    for field, form, value, cores in seeded["plants"]:
        plants.planted[(field, form)] = Plant(field, form, value, tuple(cores))
    plants.markers = {(f, m): marker for f, m, marker in seeded["markers"]}
    return plants


def _read_page(page: Any, url: str, ready: str | None = None) -> str:
    page.goto(url, wait_until="load")
    if ready:
        page.locator(ready).first.wait_for(timeout=15_000)
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    # A page that keeps a request open still shows what it loaded by then.
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_load_state("networkidle", timeout=5_000)
    return str(page.evaluate(PAGE_TEXT_JS))


@pytest.mark.browser
@pytest.mark.liveserver
@pytest.mark.timeout(600)
def test_public_pages_rendered_in_chromium_show_no_planted_personal_data(
    browser: Any,  # noqa: F811 - the fixture imported above
    planted_server: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.live import DEMO_PASSWORD
    from tests.pii_scan_plant import SLUG

    server, seeded = planted_server
    plants = _plants_of(seeded)
    params = seeded["params"]
    pages = [
        (f"/s/{SLUG}/", READY["viewer"]),
        (f"/s/{SLUG}/replay/", None),
        ("/followup/", None),
        ("/followup/?status=closed", None),
        ("/followup/departments/", None),
        ("/library/", None),
        ("/followup/code/", None),
        *((f"/followup/departments/{d}/", None) for d in params.get("department_id", [])),
        *((f"/followup/tasks/{t}/", None) for t in seeded["planted_tasks"]),
    ]
    anonymous = browser.new_context(locale="zh-CN").new_page()
    outputs = [
        Output(f"chromium {url} as anonymous", _read_page(anonymous, server.base + url, ready))
        for url, ready in pages
    ]
    # The asker looks their question up with the private code.
    anonymous.goto(f"{server.base}/followup/code/")
    anonymous.get_by_test_id("code-input").fill(params["code"][-1])  # a task's asker
    anonymous.get_by_test_id("code-submit").click()
    anonymous.get_by_test_id("code-task").wait_for(state="visible", timeout=15_000)
    outputs.append(Output("chromium /followup/code/ with a code", anonymous.evaluate(PAGE_TEXT_JS)))
    anonymous.context.close()
    # The observer (a citizen role) on the console page.
    observer = browser.new_context(locale="zh-CN").new_page()
    observer.goto(f"{server.base}/login/?next=/s/{SLUG}/console/")
    observer.get_by_test_id("login-username").fill("observer")
    observer.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    observer.get_by_test_id("login-submit").click()
    observer.wait_for_url(f"{server.base}/s/{SLUG}/console/")
    for url, ready in ((f"/s/{SLUG}/console/", READY["console"]), (f"/s/{SLUG}/", READY["viewer"])):
        outputs.append(
            Output(f"chromium {url} as observer", _read_page(observer, server.base + url, ready))
        )
    observer.context.close()

    leaks = [hit for output in outputs for hit in scan(output.name, output.text, plants)]
    visible = set().union(*(seen(o.text, plants.markers) for o in outputs))
    summary = (
        f"chromium: forms planted × pages rendered = {len(plants)} × {len(outputs)}, "
        f"leaks: {len(leaks)}"
    )
    REPORT.parent.mkdir(exist_ok=True)
    (REPORT.parent / "pii-scan-browser-report.txt").write_text(
        "\n".join([summary, "", *sorted(str(h) for h in leaks)]) + "\n"
    )
    with capsys.disabled():
        print("\n" + summary)
    # The pages showed the planted objects (masked): the scan read real content.
    shown = {f for f, _ in visible}
    for field in ("web.text", "hotline.content", "leader.summary", "task.reply", "library.answer"):
        assert field in shown, (field, sorted(shown))
    assert not leaks, f"{len(leaks)} leaks:\n" + "\n".join(sorted(str(h) for h in leaks))
