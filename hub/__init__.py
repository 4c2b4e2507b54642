"""The hub: live sessions, the question queue, intake and real-time delivery."""

from hub.celery import app as celery_app

__all__ = ["celery_app"]
