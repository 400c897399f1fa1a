"""The Celery app: Redis broker, tasks discovered in every installed app's tasks.py."""

import os

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kennel.settings")

app = Celery("kennel")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def _logging_as_django_configures_it(**kwargs: object) -> None:
    """Workers and beat log as the web does (settings.LOGGING: plain or JSON, with request ids),
    instead of Celery's own set-up replacing it."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)
