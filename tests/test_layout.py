"""Rules of the house that code review would otherwise have to catch."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PORTAL_PACKAGES = ("kennel", "portal", "provisioning", "inventory", "catalog", "quotas", "onboarding")
IMPORTS_OPENSTACK = re.compile(r"^\s*(import|from) (openstack|keystoneauth1)\b", re.M)


def python_files(*packages: str):
    for package in packages:
        yield from (ROOT / package).rglob("*.py")


def test_only_the_cloud_gateway_imports_openstacksdk():
    offenders = [
        str(path.relative_to(ROOT))
        for path in python_files(*PORTAL_PACKAGES)
        if IMPORTS_OPENSTACK.search(path.read_text()) and path != ROOT / "portal/cloud/openstack.py"
    ]
    assert offenders == []


def test_the_portal_never_imports_the_devcloud():
    offenders = [
        str(path.relative_to(ROOT))
        for path in python_files(*PORTAL_PACKAGES)
        if re.search(r"^\s*(import|from) (kennel_)?devcloud\b", path.read_text(), re.M)
    ]
    assert offenders == []


def test_each_app_has_the_house_shape():
    shape = {"models.py", "services.py", "selectors.py", "tasks.py", "forms.py", "views.py", "urls.py", "api"}
    for app in ("provisioning", "inventory", "catalog", "quotas", "onboarding"):
        assert shape <= {p.name for p in (ROOT / app).iterdir()}, app
        assert {"serializers.py", "views.py", "urls.py"} <= {p.name for p in (ROOT / app / "api").iterdir()}
