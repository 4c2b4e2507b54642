"""The weekly report (专报) for people: one view model rendered as HTML (the staff page),
PDF (fpdf2, charts embedded as vector SVG, Chinese text in a CJK font from Debian) and
XLSX (xlsxwriter, one sheet per table and native Excel charts); and the weekly archive.

- :func:`report_view` turns :class:`hub.followup.report.WeeklyReport` (the data, built by
  :mod:`hub.followup.report`) into translated sections: summary figures, charts
  (:mod:`hub.followup.charts`) and tables of typed cells. Every output reads only this
  view, so the three formats always say the same thing.
- Nothing private is in it: askers' names and contacts are not in the report data;
  private questions appear by number and department only; notice errors are masked for
  personal numbers (they may quote an address).
- :func:`archive_week` writes a week's PDF and XLSX under ``HUB_MEDIA_ROOT/reports``
  (``weekly-2026-W47.pdf`` …), atomically; :func:`archive_last_week` is what the Celery
  beat runs every hour (it does nothing once the last complete week is on disk, so a
  missed or doubled beat is harmless); :func:`archived_reports` lists the files.

Periods are whole days in the site's time zone (Asia/Shanghai): ``[first day 00:00,
day after the last day 00:00)``; a week runs Monday to Sunday.
"""

from __future__ import annotations

import io
import logging
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from celery import shared_task
from django.conf import settings
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from hub.followup.charts import PALETTE, Chart, bar_chart, department_bar_charts, percent
from hub.followup.kpis import DEFINITIONS, DepartmentKpis
from hub.followup.models import NoticeAudience, NoticeKind, Satisfaction, TaskState
from hub.followup.report import WeeklyReport, weekly_report
from hub.lib.personal_data import mask_personal_data
from hub.models import Channel

logger = logging.getLogger(__name__)

#: Longest period a report or department page may cover (a bigger range is refused).
MAX_PERIOD_DAYS = 366


# --- periods ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Whole local days ``first``…``last`` (inclusive) as the half-open ``[start, end)``."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.first, time.min))

    @property
    def end(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.last + timedelta(days=1), time.min))

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def label(self) -> str:
        return f"{self.first.isoformat()} – {self.last.isoformat()}"

    def query(self) -> str:
        return f"start={self.first.isoformat()}&end={self.last.isoformat()}"


def week_of(day: date) -> Period:
    """The Monday-to-Sunday week holding ``day``."""
    monday = day - timedelta(days=day.weekday())
    return Period(monday, monday + timedelta(days=6))


def last_full_week(now: datetime) -> Period:
    """The latest week that has ended by ``now`` (local time)."""
    today = timezone.localtime(now).date()
    return week_of(today - timedelta(days=7))


def iso_week_name(period: Period) -> str:
    year, week, _day = period.first.isocalendar()
    return f"{year}-W{week:02d}"


# --- the view model ---------------------------------------------------------------------------

#: Column kinds: how a cell is shown and typed in the XLSX.
TEXT, INT, RATE, DAYS, WHEN = "text", "int", "rate", "days", "when"


@dataclass
class Table:
    key: str
    title: str
    headers: list[str]
    kinds: list[str]
    rows: list[list[Any]]
    note: str = ""
    empty: str = ""
    footer: list[Any] | None = None

    def display_rows(self) -> list[list[str]]:
        return [[display(v, k) for v, k in zip(row, self.kinds, strict=True)] for row in self.rows]

    def display_footer(self) -> list[str] | None:
        if self.footer is None:
            return None
        return [display(v, k) for v, k in zip(self.footer, self.kinds, strict=True)]


@dataclass
class ReportView:
    title: str
    period: Period
    generated_at: datetime
    summary: list[tuple[str, str]]
    charts: list[Chart]
    tables: list[Table]
    definitions: list[tuple[str, str]] = field(default_factory=list)


def display(value: Any, kind: str) -> str:
    """A cell as text: rates in %, days with 2 decimals, times local, None as "—"."""
    if value is None or value == "":
        return "—" if kind != TEXT else ""
    if kind == RATE:
        return percent(value)
    if kind == DAYS:
        return f"{value:.2f}"
    if kind == WHEN:
        return formats.date_format(timezone.localtime(value), "Y-m-d H:i")
    return str(value)


def _label(choices: Any, code: str) -> str:
    try:
        return str(choices(code).label)
    except ValueError:
        return code


def case_reason_label(code: str) -> str:
    """What each reason code of a good or bad case means, in the reader's language."""
    special = {
        "unsatisfied": _("An asker was unsatisfied"),
        "tone_override": _("Published over the tone check"),
        "returned": _("Returned by the department"),
    }
    if code in special:
        return special[code]
    if code in Satisfaction.values:
        return _label(Satisfaction, code)
    return _label(NoticeKind, code)


def private_text(text: str) -> str:
    return text or _("(a private question: not shown)")


KPI_COLUMNS: list[tuple[str, str, Callable[[DepartmentKpis], Any]]] = [
    ("assigned", INT, lambda r: r.assigned),
    ("closed", INT, lambda r: r.closed),
    ("completion_rate", RATE, lambda r: r.completion_rate),
    ("on_time_rate", RATE, lambda r: r.on_time_rate),
    ("resolution_rate", RATE, lambda r: r.resolution_rate),
    ("satisfaction_rate", RATE, lambda r: r.satisfaction_rate),
    ("return_rate", RATE, lambda r: r.return_rate),
    ("accept_overdue", INT, lambda r: r.accept_overdue),
    ("reply_overdue", INT, lambda r: r.reply_overdue),
    ("overdue_now", INT, lambda r: r.overdue_now),
    ("supervisions", INT, lambda r: len(r.supervisions)),
    ("reopened", INT, lambda r: r.reopened),
]


def kpi_headers() -> dict[str, str]:
    """Short column names of the KPI figures (the definitions say what each one means)."""
    return {
        "assigned": _("Assigned"),
        "closed": _("Closed"),
        "completion_rate": _("Completion rate"),
        "on_time_rate": _("On-time rate"),
        "resolution_rate": _("Resolution rate"),
        "satisfaction_rate": _("Satisfaction rate"),
        "return_rate": _("Return rate"),
        "accept_overdue": _("Accepted late"),
        "reply_overdue": _("Replied late"),
        "overdue_now": _("Overdue now"),
        "supervisions": _("Supervision steps"),
        "reopened": _("Reopened"),
    }


def kpi_table(rows: Sequence[DepartmentKpis], total: DepartmentKpis | None) -> Table:
    headers = kpi_headers()
    return Table(
        key="departments",
        title=_("Departments"),
        headers=[_("Department"), *(headers[key] for key, _k, _f in KPI_COLUMNS)],
        kinds=[TEXT, *(kind for _key, kind, _f in KPI_COLUMNS)],
        rows=[[r.department_name, *(get(r) for _key, _kind, get in KPI_COLUMNS)] for r in rows],
        footer=(
            [_("All departments"), *(get(total) for _key, _kind, get in KPI_COLUMNS)]
            if total is not None
            else None
        ),
        note=_("Rates without a denominator read “—”. The definitions are at the end."),
    )


def kpi_definitions() -> list[tuple[str, str]]:
    return [(str(label), str(text)) for label, text in DEFINITIONS.values()]


def report_view(report: WeeklyReport, period: Period) -> ReportView:
    """The translated report, in the active language."""
    channels = [
        (_label(Channel, code), report.by_channel.get(code, 0), report.askers_by_channel.get(code))
        for code in Channel.values
        if report.by_channel.get(code) or report.askers_by_channel.get(code)
    ]
    charts = [
        bar_chart(
            "channels",
            _("New tasks by channel"),
            [(name, tasks) for name, tasks, _askers in channels],
            label_header=_("Channel"),
            value_header=_("Tasks"),
        ),
        *department_bar_charts(report.by_department, ("assigned", "completion", "satisfaction")),
        bar_chart(
            "hot_topics",
            _("Hot topics"),
            [(word, round(heat * 100)) for word, heat in report.hot_topics[:10]],
            label_header=_("Topic"),
            value_header=_("Heat (hottest = 100)"),
            max_value=100,
            color=PALETTE[1],
        ),
    ]
    tables = [
        kpi_table(report.by_department, report.totals),
        Table(
            key="channels",
            title=_("Counts by channel"),
            headers=[_("Channel"), _("Tasks"), _("Askers")],
            kinds=[TEXT, INT, INT],
            rows=[[name, tasks, askers or 0] for name, tasks, askers in channels],
            footer=[_("Total"), report.tasks_created, report.askers],
            note=_("Askers include everyone whose question was merged into a task."),
            empty=_("No new task in this period."),
        ),
        Table(
            key="sectors",
            title=_("Counts by sector"),
            headers=[_("Sector"), _("Tasks")],
            kinds=[TEXT, INT],
            rows=[[str(v["label"]), v["tasks"]] for v in report.by_sector.values()],
            empty=_("No new task in this period."),
        ),
        Table(
            key="hot_topics",
            title=_("Hot topics"),
            headers=[_("Rank"), _("Topic"), _("Heat (hottest = 100)")],
            kinds=[INT, TEXT, INT],
            rows=[[i, w, round(h * 100)] for i, (w, h) in enumerate(report.hot_topics, 1)],
            note=_("Keywords of the period's questions, each weighted by how many people asked."),
            empty=_("No new task in this period."),
        ),
        Table(
            key="good_cases",
            title=_("Good cases"),
            headers=[_("Task"), _("Question"), _("Department"), _("Working days"), _("Verdicts")],
            kinds=[INT, TEXT, TEXT, DAYS, TEXT],
            rows=[
                [
                    c.task_id,
                    private_text(c.text),
                    c.department,
                    c.reply_working_days,
                    "、".join(case_reason_label(r) for r in c.reasons),
                ]
                for c in report.good_cases
            ],
            note=_("Replied on time in the period, and every asker who rated it was satisfied."),
            empty=_("None in this period."),
        ),
        Table(
            key="bad_cases",
            title=_("Bad cases"),
            headers=[_("Task"), _("Question"), _("Department"), _("State"), _("Why")],
            kinds=[INT, TEXT, TEXT, TEXT, TEXT],
            rows=[
                [
                    c.task_id,
                    private_text(c.text),
                    c.department,
                    _label(TaskState, c.state),
                    "、".join(case_reason_label(r) for r in c.reasons),
                ]
                for c in report.bad_cases
            ],
            note=_(
                "Supervised (督办), rated unsatisfied, published over the tone check or "
                "returned in the period."
            ),
            empty=_("None in this period."),
        ),
        Table(
            key="overdue",
            title=_("Overdue tasks"),
            headers=[
                _("Task"),
                _("Question"),
                _("Department"),
                _("State"),
                _("Working days late"),
                _("Supervision level"),
            ],
            kinds=[INT, TEXT, TEXT, TEXT, DAYS, INT],
            rows=[
                [
                    o.task_id,
                    private_text(o.text),
                    o.department,
                    _label(TaskState, o.state),
                    o.overdue_working_days,
                    o.supervision_level,
                ]
                for o in report.overdue
            ],
            note=_("Open tasks overdue when the report was made, most overdue first."),
            empty=_("No task is overdue."),
        ),
        Table(
            key="failures",
            title=_("Persistent failures"),
            headers=[
                _("Notice"),
                _("Task"),
                _("Kind"),
                _("To"),
                _("Channel"),
                _("Attempts"),
                _("Last error"),
                _("Raised"),
            ],
            kinds=[INT, INT, TEXT, TEXT, TEXT, INT, TEXT, WHEN],
            rows=[
                [
                    f.notice_id,
                    f.task_id,
                    _label(NoticeKind, f.kind),
                    _label(NoticeAudience, f.audience),
                    f.channel,
                    f.attempts,
                    mask_personal_data(f.last_error)[:200],
                    f.created_at,
                ]
                for f in report.failures
            ],
            note=_(
                "Notices that could not be sent after every retry; they stay listed until "
                "dealt with."
            ),
            empty=_("None."),
        ),
    ]
    total = report.totals
    summary = [
        (_("New tasks"), str(report.tasks_created)),
        (_("Askers"), str(report.askers)),
        (_("Completion rate"), percent(total.completion_rate)),
        (_("On-time rate"), percent(total.on_time_rate)),
        (_("Satisfaction rate"), percent(total.satisfaction_rate)),
        (_("Overdue now"), str(len(report.overdue))),
    ]
    return ReportView(
        title=_("Follow-up weekly report (专报)"),
        period=period,
        generated_at=report.generated_at,
        summary=summary,
        charts=charts,
        tables=tables,
        definitions=kpi_definitions(),
    )


def build_report(period: Period, *, now: datetime | None = None) -> ReportView:
    return report_view(weekly_report(period.start, period.end, now=now), period)


def file_stem(view: ReportView) -> str:
    return f"followup-report-{view.period.first.isoformat()}-{view.period.last.isoformat()}"


# --- PDF ---------------------------------------------------------------------------------------


class ReportFontMissing(RuntimeError):
    """No CJK font: the PDF cannot print Chinese."""


#: Debian's CJK fonts, best first: (path, face to pick in a collection by family name).
FONT_CANDIDATES: list[tuple[str, str]] = [
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "Noto Sans CJK SC"),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "WenQuanYi Micro Hei"),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", "WenQuanYi Zen Hei"),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", ""),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", ""),
]
PDF_FONT = "cjk"
#: Size of a chart's pixel on paper: its 13 px labels print at about 9 pt.
PDF_MM_PER_PX = 0.25


def find_cjk_font() -> tuple[Path, int]:
    """The first installed font of :data:`FONT_CANDIDATES` and its face number in the
    collection (0 for a single font). Raises :class:`ReportFontMissing` when none is."""
    for path_text, family in FONT_CANDIDATES:
        path = Path(path_text)
        if not path.exists():
            continue
        index = 0
        if path.suffix == ".ttc" and family:
            from fontTools.ttLib import TTCollection

            collection = TTCollection(str(path), lazy=True)
            for i, face in enumerate(collection.fonts):
                if face["name"].getDebugName(1) == family:
                    index = i
                    break
            collection.close()
        return path, index
    raise ReportFontMissing(
        _(
            "The PDF report needs a Chinese font and none is installed. Install Debian's "
            "fonts-noto-cjk or fonts-wqy-microhei (make fonts) and try again."
        )
    )


def render_pdf(view: ReportView) -> bytes:
    """The report as a PDF (A4): summary, charts as vector graphics, then every table."""
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    font_path, face = find_cjk_font()
    # fontTools reports every step of subsetting the font at INFO: noise in the server log.
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    footer_text = _("Page %(page)s of %(pages)s")

    class ReportPDF(FPDF):
        def footer(self) -> None:
            self.set_y(-12)
            self.set_font(PDF_FONT, size=8)
            self.set_text_color(91, 101, 117)
            self.cell(
                0,
                6,
                f"{view.title} · {view.period.label()} · "
                + footer_text % {"page": self.page_no(), "pages": "{nb}"},
                align="C",
            )

    pdf = ReportPDF(orientation="P", unit="mm", format="A4")
    pdf.set_title(f"{view.title} {view.period.label()}")
    pdf.set_creator("hub.followup")
    pdf.set_lang(translation.get_language() or settings.LANGUAGE_CODE)
    pdf.add_font(PDF_FONT, fname=str(font_path), collection_font_number=face)
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(True, margin=16)
    pdf.add_page()
    ink, muted, blue = (29, 36, 48), (91, 101, 117), (31, 78, 140)

    def write(text: str, line_height: float) -> None:
        # Left-aligned: justified CJK text would be stretched at the few spaces it has.
        pdf.multi_cell(0, line_height, text, new_x="LMARGIN", new_y="NEXT", align="L")

    pdf.set_font(PDF_FONT, size=18)
    pdf.set_text_color(*blue)
    write(view.title, 9)
    pdf.set_font(PDF_FONT, size=10)
    pdf.set_text_color(*muted)
    generated = display(view.generated_at, WHEN)
    write(
        _("Period: %(period)s · generated %(when)s")
        % {"period": view.period.label(), "when": generated},
        6,
    )
    pdf.ln(2)

    heading = FontFace(family=PDF_FONT, color=(255, 255, 255), fill_color=blue)
    pdf.set_text_color(*ink)
    pdf.set_font(PDF_FONT, size=10)
    with pdf.table(
        col_widths=tuple(1 for _item in view.summary),
        text_align="CENTER",
        headings_style=heading,
        line_height=6,
    ) as table:
        table.row([label for label, _value in view.summary])
        table.row([value for _label, value in view.summary])
    pdf.ln(4)

    def section(title: str) -> None:
        if pdf.will_page_break(30):
            pdf.add_page()
        pdf.set_font(PDF_FONT, size=13)
        pdf.set_text_color(*blue)
        write(title, 8)
        pdf.set_text_color(*ink)
        pdf.set_font(PDF_FONT, size=9)

    width = pdf.epw
    for chart in view.charts:
        section(chart.title)
        if chart.is_empty:
            pdf.set_text_color(*muted)
            write(_("No data in this period."), 6)
            pdf.set_text_color(*ink)
            continue
        svg = chart.svg(font_family=PDF_FONT, for_pdf=True).encode()
        chart_width = min(width, chart.width * PDF_MM_PER_PX)
        height = chart_width * _svg_ratio(svg)
        if pdf.will_page_break(height):
            pdf.add_page()
        pdf.image(io.BytesIO(svg), w=chart_width, h=height)
        pdf.ln(2)

    for tbl in view.tables:
        section(tbl.title)
        if tbl.note:
            pdf.set_text_color(*muted)
            write(tbl.note, 5)
            pdf.set_text_color(*ink)
        rows = tbl.display_rows()
        if not rows:
            pdf.set_text_color(*muted)
            write(tbl.empty or "—", 6)
            pdf.set_text_color(*ink)
            continue
        footer = tbl.display_footer()
        size = 7 if len(tbl.headers) > 8 else 8.5
        pdf.set_font(PDF_FONT, size=size)
        with pdf.table(
            col_widths=_col_widths(tbl),
            headings_style=heading,
            line_height=size * 0.55,
            text_align="LEFT",
        ) as table:
            table.row(tbl.headers)
            for row in [*rows, *([footer] if footer else [])]:
                table.row(row)
        pdf.ln(3)

    section(_("Definitions"))
    for label, text in view.definitions:
        pdf.set_font(PDF_FONT, size=9.5)
        write(label, 5.5)
        pdf.set_font(PDF_FONT, size=8.5)
        pdf.set_text_color(*muted)
        write(text, 5)
        pdf.set_text_color(*ink)
        pdf.ln(1)
    return bytes(pdf.output())


def _svg_ratio(svg: bytes) -> float:
    match = re.search(rb'viewBox="0 0 ([\d.]+) ([\d.]+)"', svg)
    if not match:
        return 0.5
    return float(match.group(2)) / float(match.group(1))


def _col_widths(tbl: Table) -> tuple[float, ...]:
    """Text columns get more room than numbers; the question column the most."""
    weights = []
    for header, kind in zip(tbl.headers, tbl.kinds, strict=True):
        if kind == TEXT:
            weights.append(4.0 if header in (_("Question"), _("Last error")) else 2.2)
        else:
            weights.append(1.2)
    return tuple(weights)


# --- XLSX ------------------------------------------------------------------------------------


def render_xlsx(view: ReportView) -> bytes:
    """The report as a workbook: a summary sheet with the native charts, one sheet per
    table, and the definitions. Numbers stay numbers (rates as % formatted fractions)."""
    import xlsxwriter

    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "default_date_format": "yyyy-mm-dd hh:mm"})
    book.set_properties({"title": f"{view.title} {view.period.label()}", "author": "hub.followup"})
    bold = book.add_format({"bold": True})
    title_fmt = book.add_format({"bold": True, "font_size": 16, "font_color": PALETTE[0]})
    head = book.add_format(
        {"bold": True, "bg_color": PALETTE[0], "font_color": "#FFFFFF", "text_wrap": True}
    )
    wrap = book.add_format({"text_wrap": True, "valign": "top"})
    rate = book.add_format({"num_format": "0.0%"})
    days = book.add_format({"num_format": "0.00"})
    when = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    muted = book.add_format({"font_color": "#5B6575", "italic": True})
    formats_by_kind = {RATE: rate, DAYS: days, WHEN: when, TEXT: wrap}

    summary = book.add_worksheet(_sheet_name(_("Summary")))
    summary.set_column(0, 0, 28)
    summary.set_column(1, 1, 18)
    summary.write(0, 0, view.title, title_fmt)
    summary.write(1, 0, _("Period"), bold)
    summary.write(1, 1, view.period.label())
    summary.write(2, 0, _("Generated"), bold)
    summary.write(2, 1, display(view.generated_at, WHEN))
    for i, (name, shown) in enumerate(view.summary):
        summary.write(4 + i, 0, name, bold)
        summary.write(4 + i, 1, shown)

    # Chart data goes on its own sheet; each native chart sits on the summary sheet.
    data = book.add_worksheet(_sheet_name(_("Chart data")))
    data_row = 0
    anchor_row = 4 + len(view.summary) + 2
    for chart in view.charts:
        data.write(data_row, 0, chart.title, bold)
        first = data_row + 1
        for i, label in enumerate(chart.labels):
            data.write_string(first + i, 0, label)
            value = chart.series[0].values[i] if chart.series else None
            if value is None:
                data.write_blank(first + i, 1, None)
            elif chart.max_value == 1.0:
                data.write_number(first + i, 1, value, rate)
            else:
                data.write_number(first + i, 1, value)
        last = first + max(len(chart.labels), 1) - 1
        data_row = last + 2
        summary.write(anchor_row, 3, chart.title, bold)
        if chart.is_empty:
            summary.write(anchor_row + 1, 3, _("No data in this period."), muted)
            anchor_row += 3
            continue
        native = book.add_chart({"type": "bar"})
        sheet = data.get_name()
        native.add_series(
            {
                "name": chart.series[0].name,
                "categories": [sheet, first, 0, last, 0],
                "values": [sheet, first, 1, last, 1],
                "fill": {"color": chart.series[0].color or PALETTE[0]},
                "data_labels": {"value": True},
            }
        )
        native.set_title({"name": chart.title})
        native.set_legend({"none": True})
        native.set_y_axis({"reverse": True})  # first label on top, as on the page
        if chart.max_value is not None:
            native.set_x_axis(
                {"min": 0, "max": chart.max_value}
                | ({"num_format": "0%"} if chart.max_value == 1.0 else {})
            )
        rows_high = max(14, 4 + 2 * len(chart.labels))
        native.set_size({"width": 640, "height": rows_high * 20})
        summary.insert_chart(anchor_row + 1, 3, native)
        anchor_row += rows_high + 2
    data.set_column(0, 0, 30)

    for tbl in view.tables:
        sheet = book.add_worksheet(_sheet_name(tbl.title))
        sheet.write(0, 0, tbl.title, title_fmt)
        if tbl.note:
            sheet.write(1, 0, tbl.note, muted)
        for col, (header, kind) in enumerate(zip(tbl.headers, tbl.kinds, strict=True)):
            sheet.write(3, col, header, head)
            width = 40 if header in (_("Question"), _("Last error")) else 14
            sheet.set_column(col, col, width if kind == TEXT else 12)
        rows = [*tbl.rows, *([tbl.footer] if tbl.footer else [])]
        for r, row in enumerate(rows, start=4):
            is_footer = tbl.footer is not None and r == 4 + len(tbl.rows)
            for col, (value, kind) in enumerate(zip(row, tbl.kinds, strict=True)):
                _write_cell(
                    sheet, r, col, value, kind, formats_by_kind, bold if is_footer else None
                )
        if not tbl.rows:
            sheet.write(4, 0, tbl.empty or "—", muted)
        sheet.freeze_panes(4, 0)

    definitions = book.add_worksheet(_sheet_name(_("Definitions")))
    definitions.set_column(0, 0, 30)
    definitions.set_column(1, 1, 90)
    for i, (label, text) in enumerate(view.definitions):
        definitions.write(i, 0, label, bold)
        definitions.write(i, 1, text, wrap)
    book.close()
    return out.getvalue()


def _write_cell(
    sheet: Any, row: int, col: int, value: Any, kind: str, fmts: dict[str, Any], bold: Any
) -> None:
    if value is None or value == "":
        sheet.write_blank(row, col, None)
    elif kind in (INT, RATE, DAYS):
        sheet.write_number(row, col, value, fmts.get(kind))
    elif kind == WHEN:
        sheet.write_datetime(row, col, timezone.localtime(value).replace(tzinfo=None), fmts[WHEN])
    else:
        sheet.write_string(row, col, str(value), bold or fmts[TEXT])


def _sheet_name(title: str) -> str:
    """Excel sheet names: at most 31 characters, none of []:*?/\\."""
    return re.sub(r"[\[\]:*?/\\]", " ", title)[:31]


# --- the weekly archive ------------------------------------------------------------------------

ARCHIVE_NAME = re.compile(r"^weekly-(\d{4})-W(\d{2})\.(pdf|xlsx)$")


def archive_dir() -> Path:
    return Path(settings.HUB_MEDIA_ROOT) / "reports"


@dataclass
class ArchivedReport:
    name: str
    period: Period
    files: dict[str, str]  # format → file name


def archived_reports() -> list[ArchivedReport]:
    """The weekly files on disk, newest week first."""
    folder = archive_dir()
    weeks: dict[str, ArchivedReport] = {}
    if folder.is_dir():
        for path in folder.iterdir():
            match = ARCHIVE_NAME.match(path.name)
            if not match:
                continue
            year, week, kind = int(match[1]), int(match[2]), match[3]
            try:
                monday = date.fromisocalendar(year, week, 1)
            except ValueError:
                continue
            name = f"{year}-W{week:02d}"
            entry = weeks.setdefault(name, ArchivedReport(name, week_of(monday), {}))
            entry.files[kind] = path.name
    return sorted(weeks.values(), key=lambda a: a.period.first, reverse=True)


def _write_atomic(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def archive_week(period: Period, *, now: datetime | None = None) -> list[Path]:
    """Write the week's PDF and XLSX (in the site's language) and return their paths;
    files already there are kept, so calling it twice writes nothing new."""
    stem = archive_dir() / f"weekly-{iso_week_name(period)}"
    targets = {"pdf": stem.with_suffix(".pdf"), "xlsx": stem.with_suffix(".xlsx")}
    missing = {kind: path for kind, path in targets.items() if not path.exists()}
    if not missing:
        return []
    with translation.override(settings.LANGUAGE_CODE):
        view = build_report(period, now=now)
        renderers = {"pdf": render_pdf, "xlsx": render_xlsx}
        for kind, path in missing.items():
            _write_atomic(path, renderers[kind](view))
            logger.info("weekly report written: %s", path)
    return list(missing.values())


def archive_last_week(*, now: datetime | None = None) -> list[Path]:
    return archive_week(last_full_week(now or timezone.now()), now=now)


@shared_task(name="hub.followup.exports.archive_weekly_report", ignore_result=True)
def archive_weekly_report() -> list[str]:
    """Celery beat (hourly): write last week's report files if they are not there yet."""
    return [str(p) for p in archive_last_week()]
