"""The working-day calendar in Asia/Shanghai (weekends, statutory holidays, make-up
workdays) and working-time arithmetic for deadlines (issue 4 §3)."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkCalendarConfig(AppConfig):
    name = "hub.workcalendar"
    label = "workcalendar"
    verbose_name = _("Working calendar")
