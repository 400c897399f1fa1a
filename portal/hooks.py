"""Events that other apps react to, without the one that emits them importing those apps.

The core (people, teams, memberships) must not know which apps care about a change, and an app must not
import an app above it. The one that emits an event names it (the core's are ``Event`` below; an app's
live in its own ``hooks.py``); an app that must react registers a hook for it in its
``AppConfig.ready()``, the same pattern as the scoping rules (``portal.access.scope_rule``); the emitter
calls ``hooks_run`` and, for a question, reads the hooks' answers. Hooks run synchronously, in the
caller's transaction: a hook that has slow work to do enqueues it (after commit).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any


class Event(StrEnum):
    """The core's events."""

    # Who may act in a team changed (a membership, a member's portal role, someone let in or kept out).
    # Keyword argument: ``team_ids`` (list[int]), the teams concerned.
    TEAM_ROLES_CHANGED = "portal.team_roles_changed"


Hook = Callable[..., Any]

_HOOKS: dict[str, list[Hook]] = {}


def hook_register(event: str, hook: Hook) -> Hook:
    """Call ``hook(**kwargs)`` whenever ``event`` is run. Registering the same hook twice (an app
    registry set up again, as tests do) keeps one."""
    hooks = _HOOKS.setdefault(event, [])
    if hook not in hooks:
        hooks.append(hook)
    return hook


def hooks_run(event: str, **kwargs: Any) -> list[Any]:
    """Run every hook registered for ``event``, in registration order, and return their answers (an
    event that is a question, e.g. "may this team have one more VM?"). A hook's exception propagates:
    the caller's transaction rolls back, as it would if the emitter did the work itself."""
    return [hook(**kwargs) for hook in _HOOKS.get(event, ())]
