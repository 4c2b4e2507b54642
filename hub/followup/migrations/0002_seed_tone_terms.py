"""The starter list of phrases that block a reply; staff extend it in the admin."""

from django.db import migrations

from hub.followup.tone_seed import seed


def forwards(apps, schema_editor):
    seed(apps.get_model("followup", "ToneTerm"))


class Migration(migrations.Migration):
    dependencies = [("followup", "0001_initial")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
