"""Messages stored when something happens (a VM's history, an import's progress, a step of an
onboarding) and shown later, in the language of whoever reads them.

A worker has no reader, so it cannot translate: it stores a catalogue id and named parameters
(``message_ref``: ``{"id": "vm.built", "params": {"host": "x2"}}``) beside the English text, and the
page, the API or the CLI renders the id's template in the reader's language. Each app defines its
messages once, in its ``stored_messages`` module (found by ``catalogue_load`` at start-up, so the core
never imports an app)::

    BUILT = message_define("vm.built", _("Built on %(host)s."))
    _event(vm, Status.ACTIVE, BUILT(host=server.host))

A parameter is a plain value (the cloud's own words, a name, a number: shown as they are) or another
message (``NO_REASON()``), translated with its parent. Rows stored before a message had an id keep
their English text and show it (``message_text``'s fallback); so does an id this release no longer
knows, or parameters that no longer fit its template.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils import translation
from django.utils.functional import Promise
from django.utils.module_loading import autodiscover_modules
from django.utils.translation import gettext_lazy as _

logger = logging.getLogger(__name__)

# id -> its template (a gettext_lazy string with %(name)s placeholders).
_CATALOGUE: dict[str, Promise] = {}

# How a message given as a parameter is stored inside its parent's parameters.
_NESTED = "$msg"

Scalar = str | int | float | bool | None


@dataclass(frozen=True)
class StoredMessage:
    """A catalogue id with its parameters: what is stored, rendered when read (``str()``)."""

    id: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.render()

    def render(self) -> str:
        """The message in the active language."""
        # Always formatted (a template's placeholders need their parameters, and "%%" its percent sign).
        return str(_CATALOGUE[self.id]) % {name: str(value) for name, value in self.params.items()}

    def english(self) -> str:
        """The message in English: the text stored beside the id (audit, search, older releases)."""
        with translation.override("en"):
            return self.render()

    def ref(self) -> dict[str, Any]:
        """What a row stores: JSON with the id and parameters (nested messages as ``{"$msg": …}``)."""
        return {"id": self.id, "params": {name: _store(value) for name, value in self.params.items()}}


class MessageKind:
    """One catalogue entry; calling it with the template's parameters makes a ``StoredMessage``."""

    def __init__(self, message_id: str, template: Promise) -> None:
        self.id = message_id
        self.template = template

    def __call__(self, **params: StoredMessage | Scalar) -> StoredMessage:
        return StoredMessage(self.id, params)

    def __repr__(self) -> str:
        return f"MessageKind({self.id!r})"


def message_join(first: StoredMessage, *more: StoredMessage) -> StoredMessage:
    """Sentences one after another (a space between them in English, none in Chinese)."""
    for message in more:
        first = _TWO_SENTENCES(first=first, second=message)
    return first


def message_define(message_id: str, template: Promise) -> MessageKind:
    """Add a message to the catalogue. An id names one meaning for good: a new wording of the same
    meaning keeps its id, a new meaning gets a new id (stored rows render with today's template)."""
    if message_id in _CATALOGUE:
        raise ValueError(f"message id {message_id!r} is defined twice")
    _CATALOGUE[message_id] = template
    return MessageKind(message_id, template)


_TWO_SENTENCES = message_define("portal.two_sentences", _("%(first)s %(second)s"))


def catalogue() -> dict[str, Promise]:
    """Every defined message: id -> template (for the translation tests and the API's docs)."""
    return dict(_CATALOGUE)


def catalogue_load() -> None:
    """Import every app's ``stored_messages`` module (PortalConfig.ready), so any process can render
    any stored id whether or not it imported the code that stores it."""
    autodiscover_modules("stored_messages")


def _store(value: Any) -> Any:
    if isinstance(value, StoredMessage):
        return {_NESTED: value.id, "params": {name: _store(v) for name, v in value.params.items()}}
    if isinstance(value, Promise):
        return str(value)
    return value


def _load(value: Any) -> Any:
    if isinstance(value, dict) and _NESTED in value:
        return StoredMessage(
            str(value[_NESTED]), {k: _load(v) for k, v in (value.get("params") or {}).items()}
        )
    return value


def message_from_ref(ref: Mapping[str, Any] | None) -> StoredMessage | None:
    """The message a row stored (``StoredMessage.ref()``), or None for none or an id unknown here."""
    if not ref or not isinstance(ref, Mapping) or ref.get("id") not in _CATALOGUE:
        return None
    params = ref.get("params") or {}
    return StoredMessage(str(ref["id"]), {name: _load(value) for name, value in params.items()})


def message_text(ref: Mapping[str, Any] | None, fallback: str = "") -> str:
    """What a row says, in the reader's language: its stored message rendered, else ``fallback`` (the
    English text stored with it: rows from before the catalogue, or an id this release dropped)."""
    message = message_from_ref(ref)
    if message is None:
        return fallback
    try:
        return message.render()
    except (KeyError, TypeError, ValueError):
        # Parameters that no longer fit the template (or a nested id that is gone): the stored text.
        logger.warning("stored message %s does not render with %s", message.id, dict(message.params))
        return fallback
