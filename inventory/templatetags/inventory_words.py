"""The words a BMC or the cloud reports about hardware (a sensor's kind, health, a compute host's state
and status), in the reader's language. What arrives is a code ("fan", "warning", "up", "disabled"); a
code Kennel has no word for is shown as it came."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from inventory.models import HealthChoice

register = template.Library()

SENSOR_KINDS = {
    "temperature": _("Temperature"),
    "fan": pgettext_lazy("sensor kind", "Fan"),
    "power": pgettext_lazy("sensor kind", "Power draw"),
}
HEALTH = dict(HealthChoice.choices)
# Nova's hypervisor state (is its compute service answering?) and status (may it take new VMs?).
HOST_STATES = {
    "up": pgettext_lazy("compute host state", "up"),
    "down": pgettext_lazy("compute host state", "down"),
}
HOST_STATUSES = {
    "enabled": pgettext_lazy("compute host status", "enabled"),
    "disabled": pgettext_lazy("compute host status", "disabled"),
}


def _word(words: dict, code: object) -> str:
    return str(words.get(str(code), code if code not in (None, "") else "—"))


@register.filter
def sensor_kind(code: object) -> str:
    return _word(SENSOR_KINDS, code)


@register.filter
def health_word(code: object) -> str:
    return _word(HEALTH, code)


@register.filter
def host_state(code: object) -> str:
    return _word(HOST_STATES, code)


@register.filter
def host_status(code: object) -> str:
    return _word(HOST_STATUSES, code)
