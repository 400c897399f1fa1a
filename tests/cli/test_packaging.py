"""The CLI ships with the project: ``pip install`` of it installs the ``kennel`` script and every
package the portal needs."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def included(package: str) -> bool:
    patterns = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    return any(fnmatch.fnmatch(package, pattern) for pattern in patterns)


def test_the_kennel_script_is_the_clis_main():
    assert PYPROJECT["project"]["scripts"]["kennel"] == "kennel_cli.main:main"
    assert included("kennel_cli") and included("kennel_cli.commands")


def test_every_app_of_the_portal_is_in_the_package_list():
    ours = [app for app in settings.INSTALLED_APPS if (ROOT / app / "__init__.py").exists()]
    assert ours and [app for app in ours if not included(app)] == []


def test_the_cli_needs_nothing_outside_the_standard_library():
    import ast
    import sys

    imported = set()
    for path in (ROOT / "kennel_cli").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    assert imported - set(sys.stdlib_module_names) == {"kennel_cli"}
