"""Core events that apps react to, without the core importing them.

The core (people, teams, memberships) must not know which apps care about a change. An app that must
react registers a hook for the event in its ``AppConfig.ready()``, the same pattern as the scoping rules
(``portal.access.scope_rule``); the core's services call ``hooks_run`` after the change. Hooks run
synchronously, in the caller's transaction: a hook that has slow work to do enqueues it (after commit).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any


class Event(StrEnum):
    # Who may act in a team changed (a membership, a member's portal role, someone let in or kept out).
    # Keyword argument: ``team_ids`` (list[int]), the teams concerned.
    TEAM_ROLES_CHANGED = "team_roles_changed"


Hook = Callable[..., None]

_HOOKS: dict[Event, list[Hook]] = {}


def hook_register(event: Event, hook: Hook) -> Hook:
    """Call ``hook(**kwargs)`` whenever the core runs ``event``. Registering the same hook twice (an app
    registry set up again, as tests do) keeps one."""
    hooks = _HOOKS.setdefault(event, [])
    if hook not in hooks:
        hooks.append(hook)
    return hook


def hooks_run(event: Event, **kwargs: Any) -> None:
    """Run every hook registered for ``event``, in registration order; a hook's exception propagates
    (the caller's transaction rolls back, as it would if the core did the work itself)."""
    for hook in _HOOKS.get(event, ()):
        hook(**kwargs)
