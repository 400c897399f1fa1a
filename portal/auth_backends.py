"""Sign-in against the company directory (LDAP), after local accounts (settings.AUTHENTICATION_BACKENDS)."""

from __future__ import annotations

import logging

from django.contrib.auth.backends import ModelBackend

from portal import directory
from portal.directory_sync import directory_person_sync
from portal.origin import SYSTEM, origin

logger = logging.getLogger(__name__)


class DirectoryBackend(ModelBackend):
    """Checks the password against the directory, then brings the account in line with the person's
    entry and groups (portal.directory_sync) and signs in if it is active. A directory that does not
    answer is a refused sign-in (never a 500): local accounts, checked before, are not affected."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if not directory.directory_enabled() or not username or not password:
            return None
        try:
            person = directory.person_authenticate(username=username, password=password)
        except directory.DirectoryUnavailable as exc:
            logger.warning("directory sign-in of %r refused, the directory is unavailable: %s", username, exc)
            return None
        if person is None:
            return None
        user = directory_person_sync(person=person, source=origin(request) if request is not None else SYSTEM)
        return user if user is not None and self.user_can_authenticate(user) else None
