"""Staff see the imported years and days here and import a year from a JSON file
("Import year…" on the calendar years list). Rows are read-only: a year changes only by
importing it again, through :func:`do_import_calendar_year`, which replaces it whole."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from hub.errors import DomainError
from hub.workcalendar.importing import (
    MAX_FILE_BYTES,
    CalendarImportError,
    can_import_calendar,
    decode_calendar_file,
    do_import_calendar_year,
)
from hub.workcalendar.models import CalendarDay, CalendarYear, DayKind
from hub.workcalendar.working_time import missing_years


class CalendarImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("Calendar file (JSON)"),
        help_text=gettext_lazy("Same format as cn-2026.json; importing a year again replaces it."),
    )


def warn_missing_years(request: HttpRequest) -> None:
    for year in missing_years():
        messages.warning(
            request,
            _(
                "No working calendar is imported for %(year)s: deadlines in %(year)s count only "
                "Saturdays and Sundays as days off. Import the State Council's holiday schedule "
                "for %(year)s."
            )
            % {"year": year},
        )


class _ReadOnly:
    """Calendar rows change only by importing a year."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class _StaffMayView(_ReadOnly):
    """Follow-up staff (and superusers) see the calendar without model permissions."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can_import_calendar(request.user) or super().has_view_permission(  # type: ignore[misc]
            request, obj
        )

    def has_module_permission(self, request: HttpRequest) -> bool:
        return can_import_calendar(request.user) or super().has_module_permission(request)  # type: ignore[misc]


class CalendarDayInline(_ReadOnly, admin.TabularInline):  # type: ignore[type-arg]
    model = CalendarDay
    fields = readonly_fields = ("date", "kind", "name")
    extra = 0

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return True  # shown only inside the year's page, which checks permission


@admin.register(CalendarYear)
class CalendarYearAdmin(_StaffMayView, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "year",
        "holiday_count",
        "workday_count",
        "source",
        "imported_at",
        "imported_by",
    ]
    fields = readonly_fields = ("year", "source", "imported_at", "imported_by")
    inlines = [CalendarDayInline]
    change_list_template = "admin/workcalendar/calendaryear/change_list.html"

    def get_queryset(self, request: HttpRequest) -> Any:
        return (
            super()
            .get_queryset(request)
            .annotate(
                holidays=Count("days", filter=Q(days__kind=DayKind.HOLIDAY)),
                workdays=Count("days", filter=Q(days__kind=DayKind.WORKDAY)),
            )
        )

    @admin.display(description=gettext_lazy("holidays"), ordering="holidays")
    def holiday_count(self, obj: Any) -> int:
        return int(obj.holidays)

    @admin.display(description=gettext_lazy("make-up workdays"), ordering="workdays")
    def workday_count(self, obj: Any) -> int:
        return int(obj.workdays)

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="workcalendar_calendaryear_import",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        if request.method == "GET":
            warn_missing_years(request)
        context = {**(extra_context or {}), "can_import": can_import_calendar(request.user)}
        return super().changelist_view(request, context)

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """Upload a year's file; on any problem show every reason and change nothing."""
        if not can_import_calendar(request.user):
            raise PermissionDenied
        form = CalendarImportForm(request.POST or None, request.FILES or None)
        problems: list[str] = []
        status = 200
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                data = decode_calendar_file(upload.read(MAX_FILE_BYTES + 1))
                row = do_import_calendar_year(request.user, data)
            except CalendarImportError as error:
                problems, status = error.problems, error.http_status
            except DomainError as error:
                problems, status = [error.message], error.http_status
            else:
                messages.success(
                    request,
                    _(
                        "Imported the working calendar for %(year)s: %(holidays)s holidays and "
                        "%(workdays)s make-up workdays."
                    )
                    % {
                        "year": row.year,
                        "holidays": row.days.filter(kind=DayKind.HOLIDAY).count(),
                        "workdays": row.days.filter(kind=DayKind.WORKDAY).count(),
                    },
                )
                return redirect("admin:workcalendar_calendaryear_changelist")
        elif request.method == "POST":
            status = 400
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Import a year's working calendar"),
            "form": form,
            "problems": problems,
            "missing_years": missing_years(),
        }
        return TemplateResponse(
            request, "admin/workcalendar/calendaryear/import.html", context, status=status
        )


@admin.register(CalendarDay)
class CalendarDayAdmin(_StaffMayView, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["date", "kind", "name", "calendar_year"]
    list_filter = ["calendar_year", "kind"]
    search_fields = ["name"]
    date_hierarchy = "date"
