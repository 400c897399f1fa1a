"""Kennel's top floor: the project package that composes every app (settings, URLs, the Celery app, the
home page, the demo loader). Apps and the core never import it."""

from kennel.celery import app as celery_app

__all__ = ["celery_app"]
