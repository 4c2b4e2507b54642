from django.apps import AppConfig


class WorkCalendarConfig(AppConfig):
    name = "hub.workcalendar"
    label = "workcalendar"
    verbose_name = "Working calendar"
