"""URLs of the follow-up pages (see :mod:`hub.followup.pages`); included from
``hub/followup/urls.py``. Public: the board, task pages, the code lookup and department
pages. Staff: the weekly report, its downloads and archive."""

from django.urls import path, re_path

from hub.followup import pages

app_name = "followup_pages"

urlpatterns = [
    path("followup/", pages.board, name="board"),
    path("followup/tasks/<int:task_id>/", pages.task_page, name="task"),
    path("followup/code/", pages.code_page, name="code"),
    path("followup/departments/", pages.departments_page, name="departments"),
    path("followup/departments/<int:department_id>/", pages.department_page, name="department"),
    path("followup/report/", pages.report_page, name="report"),
    path("followup/report.pdf", pages.report_pdf, name="report_pdf"),
    path("followup/report.xlsx", pages.report_xlsx, name="report_xlsx"),
    path("followup/report/archive/", pages.report_archive_now, name="report_archive_now"),
    re_path(
        r"^followup/report/archive/(?P<name>[\w.-]+)$",
        pages.report_archive_file,
        name="report_archive_file",
    ),
]
