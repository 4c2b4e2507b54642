"""The weekly report (专报) as people get it: the staff HTML page for a date range, the PDF
(Chinese text, charts, page count) and the XLSX (typed cells, native charts), the weekly
archive written by the Celery beat task, and nothing private in any of them."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import pypdfium2
import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation
from openpyxl import load_workbook

from hub.followup import exports
from hub.followup.exports import Period, build_report, render_pdf, render_xlsx
from hub.followup.models import Notice, NoticeAudience, NoticeKind, NoticeStatus
from tests.followup_steps import World
from tests.test_followup_pages import PRIVATE_STRINGS, Dataset, at, build_dataset, zh

pytestmark = pytest.mark.django_db

WEEK = "start=2026-03-02&end=2026-03-08"
#: Staff-only files may show a contact masked (as the hub shows it to non-staff), never more.
EXPORT_SECRETS = [s for s in PRIVATE_STRINGS if s != "138****5678"]


@pytest.fixture
def march(time_machine: Any) -> Any:
    """The clock at Monday 2 March 2026 09:00, before the session and its tasks are made."""
    time_machine.move_to(at(2, 9, 0), tick=False)
    return time_machine


@pytest.fixture
def dataset(march: Any, followup: World) -> Dataset:
    data = build_dataset(followup, march)
    # A notice that failed for good, whose error quotes a phone number (it must be masked).
    Notice.objects.create(
        task=data.lift,
        kind=NoticeKind.REPLY_PUBLISHED,
        generation=99,
        recipient="asker:test",
        audience=NoticeAudience.ASKER,
        channel="sms",
        address="13812345678",
        message="…",
        status=NoticeStatus.FAILED,
        attempts=5,
        last_error="gateway refused 13812345678: number barred",
        created_at=at(3, 11),
        next_attempt_at=at(3, 11),
    )
    return data


@pytest.fixture
def staff_client(client: Client, dataset: Dataset) -> Client:
    client.force_login(dataset.world.staff)
    return client


def pdf_text(content: bytes) -> tuple[int, str]:
    """The page count and the text of a PDF (read with PDFium), whitespace removed."""
    document = pypdfium2.PdfDocument(content)
    text = "".join(page.get_textpage().get_text_range() for page in document)
    count = len(document)
    document.close()
    return count, re.sub(r"\s+", "", text)


def xlsx_values(content: bytes) -> dict[str, list[tuple[Any, ...]]]:
    book = load_workbook(io.BytesIO(content), data_only=True)
    return {sheet.title: list(sheet.iter_rows(values_only=True)) for sheet in book.worksheets}


def test_report_page_shows_the_week_for_staff(staff_client: Client, dataset: Dataset) -> None:
    response = staff_client.get(f"/followup/report/?{WEEK}")
    assert response.status_code == 200
    html = response.content.decode()
    assert "2026-03-02 – 2026-03-08" in html
    for key in ("departments", "channels", "sectors", "hot_topics", "good_cases", "bad_cases"):
        assert f'data-testid="report-{key}"' in html, key
    for key in ("channels", "assigned", "completion", "satisfaction", "hot_topics"):
        assert f'data-testid="chart-{key}"' in html, key
    good = re.search(r'data-testid="report-good_cases">(.*?)</section>', html, re.S)
    assert good is not None and "加装电梯" in good.group(1)
    bad = re.search(r'data-testid="report-bad_cases">(.*?)</section>', html, re.S)
    assert bad is not None
    assert "区间车" in bad.group(1) and zh("Returned by the department") in bad.group(1)
    # Overdue now (Tuesday 10 March): bus (not accepted) and the private task, by number only.
    overdue = re.search(r'data-testid="report-overdue">(.*?)</section>', html, re.S)
    assert overdue is not None
    assert f"<td>{dataset.bus.pk}</td>" in overdue.group(1)
    assert f"<td>{dataset.private.pk}</td>" in overdue.group(1)
    assert zh("(a private question: not shown)") in overdue.group(1)
    assert "gateway refused 138****5678" in html  # masked, as in every export
    for secret in EXPORT_SECRETS:
        assert secret not in html, secret
    assert 'href="/followup/report.pdf?start=2026-03-02&amp;end=2026-03-08"' in html


def test_report_page_defaults_to_last_week(staff_client: Client, dataset: Dataset) -> None:
    html = staff_client.get("/followup/report/").content.decode()
    # "Now" is Tuesday 10 March 2026: last week is 2 to 8 March.
    assert 'value="2026-03-02"' in html and 'value="2026-03-08"' in html


def test_pdf_download_has_chinese_text_charts_and_every_section(
    staff_client: Client, dataset: Dataset
) -> None:
    response = staff_client.get(f"/followup/report.pdf?{WEEK}")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert "followup-report-2026-03-02-2026-03-08.pdf" in response["Content-Disposition"]
    content = response.content
    assert content.startswith(b"%PDF-")
    pages, text = pdf_text(content)
    assert pages >= 2
    assert len(re.findall(rb"/Type\s*/Page\b", content)) == pages
    last_page = zh("Page %(page)s of %(pages)s") % {"page": pages, "pages": pages}
    for expected in (
        zh("Follow-up weekly report (专报)"),
        "2026-03-02–2026-03-08",
        "市住房和城乡建设局",
        "按时办结率",
        "加装电梯",
        "50.0%",
        "33.3%",
        zh("Bad cases"),
        zh("Overdue tasks"),
        zh("Hot topics"),
        last_page,
    ):
        assert re.sub(r"\s+", "", expected) in text, expected
    # The charts are drawn in the PDF (vector SVG): the channel chart's label and value.
    assert zh("New tasks by channel") in text
    for secret in EXPORT_SECRETS:
        assert secret not in text, secret


def test_xlsx_download_has_typed_cells_and_native_charts(
    staff_client: Client, dataset: Dataset
) -> None:
    response = staff_client.get(f"/followup/report.xlsx?{WEEK}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    content = response.content
    sheets = xlsx_values(content)
    departments = sheets[zh("Departments")]
    header = departments[3]
    assert header[0] == zh("Department")
    housing = next(row for row in departments if row[0] == "市住房和城乡建设局")
    values = dict(zip(header, housing, strict=True))
    assert values[zh("Assigned")] == 2 and values[zh("Closed")] == 1
    assert values[zh("Completion rate")] == pytest.approx(0.5)
    assert values[zh("Return rate")] == pytest.approx(1 / 3)
    assert values[zh("Satisfaction rate")] == pytest.approx(1.0)
    assert values[zh("On-time rate")] == pytest.approx(1.0)
    assert values[zh("Resolution rate")] == pytest.approx(0.5)
    assert values[zh("Overdue now")] == 1
    assert any(row[0] == zh("All departments") for row in departments)
    # lift, bus and private were asked on the web; lift's other askers called and posted.
    channels = {row[0]: row[1:] for row in sheets[zh("Counts by channel")][4:]}
    assert channels[zh("Web")] == (3, 3)
    assert channels[zh("Hotline 12345")] == (0, 1)
    assert channels[zh("Total")] == (3, 5)
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        charts = [n for n in archive.namelist() if re.match(r"xl/charts/chart\d+\.xml", n)]
    assert len(charts) == 5
    flat = repr(sheets)
    for secret in EXPORT_SECRETS:
        assert secret not in flat, secret


def test_english_report_files_are_english(staff_client: Client, dataset: Dataset) -> None:
    response = staff_client.get(f"/followup/report.xlsx?{WEEK}", HTTP_ACCEPT_LANGUAGE="en")
    sheets = xlsx_values(response.content)
    assert "Departments" in sheets and "Definitions" in sheets
    pdf = staff_client.get(f"/followup/report.pdf?{WEEK}", HTTP_ACCEPT_LANGUAGE="en")
    _pages, text = pdf_text(pdf.content)
    assert "Follow-upweeklyreport" in text and "市住房和城乡建设局" in text


def test_a_bad_range_download_is_refused_with_a_message(
    staff_client: Client, dataset: Dataset
) -> None:
    response = staff_client.get("/followup/report.pdf?start=2026-03-08&end=2026-03-02")
    assert response.status_code == 400
    assert "2026" not in response.content.decode() and response.content
    response = staff_client.get("/followup/report.xlsx?start=2024-01-01&end=2026-03-02")
    assert response.status_code == 400


def test_pdf_without_a_cjk_font_fails_with_a_clear_message(
    staff_client: Client, dataset: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exports, "FONT_CANDIDATES", [("/nonexistent/font.ttc", "")])
    with pytest.raises(exports.ReportFontMissing, match="fonts-noto-cjk"):
        with translation.override("en"):
            render_pdf(build_report(Period(date(2026, 3, 2), date(2026, 3, 8))))
    response = staff_client.get(f"/followup/report.pdf?{WEEK}")
    assert response.status_code == 503
    assert "fonts-noto-cjk" in response.content.decode()


def test_weekly_archive_writes_last_weeks_files_once_and_lists_them(
    staff_client: Client, dataset: Dataset, settings: Any, tmp_path: Path
) -> None:
    settings.HUB_MEDIA_ROOT = tmp_path
    written = exports.archive_weekly_report()
    assert sorted(Path(p).name for p in written) == ["weekly-2026-W10.pdf", "weekly-2026-W10.xlsx"]
    assert exports.archive_weekly_report() == []  # already there: nothing rewritten
    folder = tmp_path / "reports"
    assert (folder / "weekly-2026-W10.pdf").read_bytes().startswith(b"%PDF-")
    assert zh("Departments") in xlsx_values((folder / "weekly-2026-W10.xlsx").read_bytes())
    html = staff_client.get("/followup/report/").content.decode()
    assert 'data-testid="archive-2026-W10"' in html
    download = staff_client.get("/followup/report/archive/weekly-2026-W10.xlsx")
    assert download.status_code == 200
    assert b"".join(download.streaming_content).startswith(b"PK")
    assert staff_client.get("/followup/report/archive/..%2Fsecret.pdf").status_code == 404
    assert staff_client.get("/followup/report/archive/weekly-2026-W11.pdf").status_code == 404


def test_staff_can_save_last_week_now_without_a_beat(
    staff_client: Client, dataset: Dataset, settings: Any, tmp_path: Path
) -> None:
    settings.HUB_MEDIA_ROOT = tmp_path
    response = staff_client.post("/followup/report/archive/", follow=True)
    assert response.status_code == 200
    assert (tmp_path / "reports" / "weekly-2026-W10.pdf").exists()
    assert 'data-testid="report-message"' in response.content.decode()


def test_the_beat_runs_the_weekly_archive() -> None:
    entries = [e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()]
    assert "hub.followup.exports.archive_weekly_report" in entries
    assert "hub.followup.exports" in settings.CELERY_IMPORTS


def test_report_files_agree_with_the_html(staff_client: Client, dataset: Dataset) -> None:
    with translation.override("zh-hans"):
        view = build_report(Period(date(2026, 3, 2), date(2026, 3, 8)))
        pdf, xlsx = render_pdf(view), render_xlsx(view)
    summary = dict(view.summary)
    assert summary[zh("New tasks")] == "3" and summary[zh("Overdue now")] == "2"
    assert summary[zh("Askers")] == "5" and summary[zh("Completion rate")] == "33.3%"
    _pages, text = pdf_text(pdf)
    for label, value in view.summary:
        assert re.sub(r"\s+", "", label) in text and value in text, label
    cells = xlsx_values(xlsx)[zh("Summary")]
    assert all((label, value) in [row[:2] for row in cells] for label, value in view.summary)
