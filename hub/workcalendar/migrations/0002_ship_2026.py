"""Ship 2026's holidays and make-up workdays, so that a fresh database has a calendar.
Later years are imported by staff in the admin (or with ``manage.py import_calendar``)."""

from django.db import migrations
from django.utils import timezone

from hub.workcalendar.importing import load_shipped_calendars


def forwards(apps, schema_editor):
    load_shipped_calendars(
        apps.get_model("workcalendar", "CalendarYear"),
        apps.get_model("workcalendar", "CalendarDay"),
        timezone.now(),
    )


class Migration(migrations.Migration):
    dependencies = [("workcalendar", "0001_calendar")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
