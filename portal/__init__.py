"""Kennel's core: people, teams, access (``restrict``/``can``), the audit log, the cloud gateway, the API
skeleton and the helpers every app builds on. It never imports an app or the project package (``kennel``)."""
