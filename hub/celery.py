"""The Celery application. Broker: HUB_CELERY_BROKER_URL, else HUB_REDIS_URL, else memory
(tasks then run eagerly inside the web process, which is what the embedded default wants)."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")

app = Celery("hub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
