"""A starter lexicon and the default action per category; staff extend both in the admin."""

from django.db import migrations

from moderation.lexicon_seed import seed


def forwards(apps, schema_editor):
    seed(
        apps.get_model("moderation", "CategoryPolicy"), apps.get_model("moderation", "LexiconEntry")
    )


class Migration(migrations.Migration):
    dependencies = [("moderation", "0001_lexicon")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
