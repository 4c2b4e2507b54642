"""The working calendar as data: one row per imported year, one row per exception day.

Only exceptions are stored. The weekend rule covers every other day: Monday to Friday
are working days, Saturday and Sunday are not. A ``holiday`` row makes a day off (a
statutory holiday, whatever weekday it falls on); a ``workday`` row makes a Saturday or
Sunday a working day (a make-up workday, 调休). Rows change only through
:func:`hub.workcalendar.importing.do_import_calendar_year`, which replaces a whole year.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class DayKind(models.TextChoices):
    HOLIDAY = "holiday", _("Holiday (day off)")
    WORKDAY = "workday", _("Make-up workday (调休)")


class CalendarYear(models.Model):
    """A year whose holidays and make-up workdays staff have imported."""

    year = models.PositiveSmallIntegerField(_("year"), unique=True)
    source = models.TextField(_("source"), blank=True, help_text=_("Where the schedule comes from"))
    imported_at = models.DateTimeField(_("imported at"))
    imported_by = models.CharField(_("imported by"), max_length=150, blank=True)

    class Meta:
        ordering = ["-year"]
        verbose_name = _("calendar year")
        verbose_name_plural = _("calendar years")

    def __str__(self) -> str:
        return str(self.year)


class CalendarDay(models.Model):
    """A day that breaks the weekend rule: a holiday, or a make-up workday on a weekend."""

    calendar_year = models.ForeignKey(
        CalendarYear, on_delete=models.CASCADE, related_name="days", verbose_name=_("year")
    )
    date = models.DateField(_("date"), unique=True)
    kind = models.CharField(_("kind"), max_length=10, choices=DayKind.choices)
    name = models.CharField(_("name"), max_length=80, blank=True)

    class Meta:
        ordering = ["date"]
        verbose_name = _("calendar day")
        verbose_name_plural = _("calendar days")

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.get_kind_display()} {self.name}".rstrip()
