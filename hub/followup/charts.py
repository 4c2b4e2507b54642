"""Small server-side charts (horizontal bars and lines) as SVG, with their data table.

One chart object renders to SVG for both outputs: inline in the HTML pages (with a
``<title>``/``<desc>`` pair for assistive technology, the CSS font stack) and embedded in
the PDF report (fpdf2 draws the SVG as vectors; ``font_family`` then names the CJK font
registered in the PDF, and titles are left out because fpdf2 does not draw them). Each
chart also carries its numbers as a :class:`DataTable`, which the pages show under the
chart and the XLSX export writes as cells under its native chart.

No dependency: a handful of rectangles, lines and texts. Text widths are estimated (CJK
characters one em, others about 0.6 em), which is enough to lay out labels; long labels
are cut with "…" and shown whole in the data table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape, quoteattr

from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from hub.followup.kpis import DepartmentKpis

#: The site's font stack (frontend/static/frontend/site.css), for SVG text in pages.
CSS_FONT = (
    "'PingFang SC', 'Hiragino Sans GB', 'Microsoft YaHei', 'Noto Sans SC', "
    "'Noto Sans CJK SC', 'WenQuanYi Micro Hei', system-ui, sans-serif"
)
#: Colours of the site palette; series take them in order.
PALETTE = ("#1f4e8c", "#b4161b", "#1e7a46", "#8a5a00", "#5b3a8c", "#3b7fc4", "#5b6575")
INK = "#1d2430"
MUTED = "#5b6575"
GRID = "#dde2ea"

#: Drawing widths: about the width a chart gets on a page, so its text stays legible.
BAR_WIDTH = 440
LINE_WIDTH = 520
FONT_SIZE = 13
BAR_HEIGHT = 20
BAR_GAP = 10
PAD = 8


def text_width(text: str, size: float = FONT_SIZE) -> float:
    """Estimated width of ``text`` in px at ``size`` (CJK and full-width one em)."""
    return sum(size if ord(ch) >= 0x2E80 else size * 0.6 for ch in text)


def fit(text: str, width: float, size: float = FONT_SIZE) -> str:
    """``text`` cut with "…" so it fits ``width`` px."""
    if text_width(text, size) <= width:
        return text
    out = ""
    for ch in text:
        if text_width(out + ch + "…", size) > width:
            break
        out += ch
    return out + "…"


def percent(value: float | None, digits: int = 1) -> str:
    """0.989 → "98.9%"; None (no denominator) → "—"."""
    if value is None:
        return "—"
    return f"{value * 100:.{digits}f}%"


def number(value: float | None) -> str:
    if value is None:
        return "—"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}"


@dataclass
class DataTable:
    """A chart's numbers: column headers and rows of display strings."""

    headers: list[str]
    rows: list[list[str]]


@dataclass
class Series:
    name: str
    values: list[float | None]
    color: str = ""


@dataclass
class Chart:
    """A chart, ready to render. ``kind`` is ``bar`` (one series, horizontal bars, one per
    label) or ``line`` (several series over ``labels`` on the x axis)."""

    key: str
    title: str
    kind: str
    labels: list[str]
    series: list[Series]
    description: str = ""
    max_value: float | None = None
    value_text: Callable[[float | None], str] = number
    table: DataTable = field(default_factory=lambda: DataTable([], []))
    #: For rates 0 is a result (0% completed); for counts, all zeros means nothing to draw.
    zero_is_data: bool = False

    @property
    def width(self) -> int:
        return LINE_WIDTH if self.kind == "line" else BAR_WIDTH

    @property
    def is_empty(self) -> bool:
        values = [v for s in self.series for v in s.values if v is not None]
        return not values or (not self.zero_is_data and not any(values))

    # --- SVG ------------------------------------------------------------------------

    def svg(self, *, font_family: str = CSS_FONT, for_pdf: bool = False) -> str:
        """The chart as an SVG document fragment (``<svg>…</svg>``)."""
        if self.kind == "line":
            body, height = self._line_body()
        else:
            body, height = self._bar_body()
        title_id, desc_id = f"chart-{self.key}-title", f"chart-{self.key}-desc"
        attrs = [
            'xmlns="http://www.w3.org/2000/svg"',
            f'viewBox="0 0 {self.width} {height}"',
            f'font-family="{font_family}"' if for_pdf else f"font-family={quoteattr(font_family)}",
            f'font-size="{FONT_SIZE}"',
        ]
        if for_pdf:
            attrs += [f'width="{self.width}"', f'height="{height}"']
            head = ""
        else:
            attrs += [
                'class="chart-svg"',
                'role="img"',
                f'aria-labelledby="{title_id} {desc_id}"',
                'preserveAspectRatio="xMinYMin meet"',
            ]
            head = (
                f'<title id="{title_id}">{escape(self.title)}</title>'
                f'<desc id="{desc_id}">{escape(self.description or self.summary())}</desc>'
            )
        return f"<svg {' '.join(attrs)}>{head}{body}</svg>"

    def html(self) -> SafeString:
        """Inline SVG for a template (every text is XML-escaped above)."""
        return mark_safe(self.svg())  # noqa: S308 - built from escaped parts only

    def summary(self) -> str:
        """A one-line text alternative: every label with its value(s)."""
        parts = []
        for i, label in enumerate(self.labels):
            values = ", ".join(
                (f"{s.name} " if len(self.series) > 1 else "") + self.value_text(s.values[i])
                for s in self.series
            )
            parts.append(f"{label}: {values}")
        return "; ".join(parts)

    def _scale_max(self) -> float:
        values = [v for s in self.series for v in s.values if v is not None]
        top = self.max_value if self.max_value is not None else max(values, default=0.0)
        return top if top > 0 else 1.0

    def _bar_body(self) -> tuple[str, int]:
        values = self.series[0].values if self.series else []
        color = (self.series[0].color if self.series else "") or PALETTE[0]
        label_width = min(
            max((text_width(label) for label in self.labels), default=0.0) + PAD,
            self.width * 0.42,
        )
        value_width = max((text_width(self.value_text(v)) for v in values), default=0.0) + PAD
        plot_x = label_width + PAD
        plot_width = max(self.width - plot_x - value_width - PAD, 40.0)
        top = self._scale_max()
        parts: list[str] = []
        y = PAD
        for label, value in zip(self.labels, values, strict=True):
            text_y = y + BAR_HEIGHT / 2 + FONT_SIZE * 0.35
            parts.append(
                f'<text x="{label_width:.1f}" y="{text_y:.1f}" text-anchor="end" '
                f'fill="{INK}">{escape(fit(label, label_width - PAD))}</text>'
            )
            parts.append(
                f'<rect x="{plot_x:.1f}" y="{y}" width="{plot_width:.1f}" '
                f'height="{BAR_HEIGHT}" fill="#eef1f5"/>'
            )
            bar = 0.0 if value is None else max(0.0, min(value / top, 1.0)) * plot_width
            if bar > 0:
                parts.append(
                    f'<rect x="{plot_x:.1f}" y="{y}" width="{bar:.1f}" '
                    f'height="{BAR_HEIGHT}" fill="{color}"/>'
                )
            parts.append(
                f'<text x="{plot_x + plot_width + PAD:.1f}" y="{text_y:.1f}" '
                f'fill="{MUTED if value is None else INK}">{escape(self.value_text(value))}</text>'
            )
            y += BAR_HEIGHT + BAR_GAP
        return "".join(parts), max(int(y - BAR_GAP + PAD), 2 * PAD)

    def _line_body(self) -> tuple[str, int]:
        height = 240
        legend_h = 22 if len(self.series) > 1 else 0
        left, right, top_pad, bottom = 52.0, 16.0, 12.0 + legend_h, 40.0
        width = self.width
        plot_w, plot_h = width - left - right, height - top_pad - bottom
        top = self._scale_max()
        parts: list[str] = []
        for i in range(5):  # horizontal grid with 0, ¼, ½, ¾ and the top value
            fraction = i / 4
            y = top_pad + plot_h * (1 - fraction)
            parts.append(
                f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
                f'stroke="{GRID}" stroke-width="1"/>'
            )
            parts.append(
                f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="12" '
                f'fill="{MUTED}">{escape(self.value_text(top * fraction))}</text>'
            )
        n = len(self.labels)
        step = plot_w / (n - 1) if n > 1 else 0.0

        def x_at(i: int) -> float:
            return left + (step * i if n > 1 else plot_w / 2)

        every = max(1, math.ceil(n / 8))  # at most about 8 x labels
        for i, label in enumerate(self.labels):
            if i % every and i != n - 1:
                continue
            parts.append(
                f'<text x="{x_at(i):.1f}" y="{height - bottom + 18}" text-anchor="middle" '
                f'font-size="12" fill="{MUTED}">{escape(fit(label, max(step * every, 60), 12))}'
                "</text>"
            )
        legend_x = left
        for index, series in enumerate(self.series):
            color = series.color or PALETTE[index % len(PALETTE)]
            if legend_h:
                parts.append(
                    f'<rect x="{legend_x:.1f}" y="4" width="12" height="12" fill="{color}"/>'
                    f'<text x="{legend_x + 16:.1f}" y="14" font-size="12" fill="{INK}">'
                    f"{escape(series.name)}</text>"
                )
                legend_x += 16 + text_width(series.name, 12) + 18
            # A gap (None) breaks the line: a period without a denominator has no rate.
            runs: list[list[tuple[float, float]]] = [[]]
            for i, value in enumerate(series.values):
                if value is None:
                    runs.append([])
                    continue
                y = top_pad + plot_h * (1 - max(0.0, min(value / top, 1.0)))
                runs[-1].append((x_at(i), y))
            for run in runs:
                if len(run) > 1:
                    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                    parts.append(
                        f'<polyline points="{points}" fill="none" stroke="{color}" '
                        'stroke-width="2"/>'
                    )
                for x, y in run:
                    parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>')
        axis_y = top_pad + plot_h
        parts.append(
            f'<line x1="{left}" y1="{axis_y:.1f}" x2="{width - right}" y2="{axis_y:.1f}" '
            f'stroke="{MUTED}" stroke-width="1"/>'
        )
        return "".join(parts), height


def bar_chart(
    key: str,
    title: str,
    items: Sequence[tuple[str, float | None]],
    *,
    value_header: str,
    label_header: str,
    max_value: float | None = None,
    value_text: Callable[[float | None], str] = number,
    color: str = "",
    description: str = "",
    zero_is_data: bool = False,
) -> Chart:
    """Horizontal bars, one per ``(label, value)``; ``None`` draws no bar and reads "—"."""
    labels = [label for label, _value in items]
    values = [value for _label, value in items]
    return Chart(
        key=key,
        title=title,
        kind="bar",
        labels=labels,
        series=[Series(value_header, values, color)],
        description=description,
        max_value=max_value,
        value_text=value_text,
        table=DataTable(
            [label_header, value_header], [[label, value_text(v)] for label, v in items]
        ),
        zero_is_data=zero_is_data,
    )


def line_chart(
    key: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    label_header: str,
    max_value: float | None = None,
    value_text: Callable[[float | None], str] = number,
    description: str = "",
    zero_is_data: bool = False,
) -> Chart:
    """Lines over ``labels`` (periods), one per series; ``None`` leaves a gap."""
    return Chart(
        key=key,
        title=title,
        kind="line",
        labels=list(labels),
        series=list(series),
        description=description,
        max_value=max_value,
        value_text=value_text,
        table=DataTable(
            [label_header, *(s.name for s in series)],
            [[label, *(value_text(s.values[i]) for s in series)] for i, label in enumerate(labels)],
        ),
        zero_is_data=zero_is_data,
    )


def department_bar_charts(rows: Sequence[DepartmentKpis], keys: Sequence[str]) -> list[Chart]:
    """One bar chart per key, in ``keys`` order, comparing departments: ``assigned`` (tasks
    assigned, a count), ``completion``, ``on_time`` or ``satisfaction`` (rates, 0–100%).

    Each chart has a bar per department of ``rows`` (in that order) that had a task assigned
    or dispatched or an evaluation in the period; the others would only add empty bars.
    Titles and headers are in the active language. The departments page and the weekly
    report both draw their department charts with this, so they show them alike."""
    active = [r for r in rows if r.assigned or r.dispatched or r.evaluated]
    rates: dict[str, tuple[str, str, Callable[[DepartmentKpis], float | None], str]] = {
        "completion": (
            _("Completion rate by department"),
            _("Completion rate"),
            lambda r: r.completion_rate,
            PALETTE[2],
        ),
        "on_time": (
            _("On-time rate by department"),
            _("On-time rate"),
            lambda r: r.on_time_rate,
            "",
        ),
        "satisfaction": (
            _("Satisfaction rate by department"),
            _("Satisfaction rate"),
            lambda r: r.satisfaction_rate,
            PALETTE[3],
        ),
    }
    charts = []
    for key in keys:
        if key == "assigned":
            chart = bar_chart(
                key,
                _("Tasks assigned by department"),
                [(r.department_name, r.assigned) for r in active],
                label_header=_("Department"),
                value_header=_("Assigned"),
                color=PALETTE[5],
            )
        else:
            title, value_header, rate, color = rates[key]
            chart = bar_chart(
                key,
                title,
                [(r.department_name, rate(r)) for r in active],
                label_header=_("Department"),
                value_header=value_header,
                max_value=1.0,
                value_text=percent,
                zero_is_data=True,
                color=color,
            )
        charts.append(chart)
    return charts
