"""Kennel's project package: settings, URLs, the Celery app, people, teams and the audit log."""

from portal.celery import app as celery_app

__all__ = ["celery_app"]
