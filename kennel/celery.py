"""The Celery app: Redis broker, tasks discovered in every installed app's tasks.py."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kennel.settings")

app = Celery("kennel")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
