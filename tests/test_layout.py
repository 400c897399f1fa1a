"""Rules of the house that code review would otherwise have to catch."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PORTAL_PACKAGES = (
    "kennel",
    "portal",
    "provisioning",
    "inventory",
    "catalog",
    "quotas",
    "onboarding",
    "usage",
    "blueprints",
)
# The floors: the core (people, teams, access, audit, the cloud gateway) <- the apps <- the top floor
# (settings, URLs, the home page, the demo). Arrows only point down; the emulators and the local cloud
# are never imported by any of them.
CORE, TOP = "portal", "kennel"
EMULATORS = ("devcloud", "kennel_devcloud", "bmcsim", "devldap", "exportersim")
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


def test_each_app_has_the_house_shape():
    # A module may have grown into a package of the same name (inventory/services/): either counts.
    shape = {"models", "services", "selectors", "tasks", "forms", "views", "urls", "api"}
    for app in ("provisioning", "inventory", "catalog", "quotas", "onboarding", "blueprints"):
        assert shape <= {p.name.removesuffix(".py") for p in (ROOT / app).iterdir()}, app
        assert {"serializers.py", "views.py", "urls.py"} <= {p.name for p in (ROOT / app / "api").iterdir()}


# --- the direction of every import --------------------------------------------------------------------


def apps_in(root: Path) -> list[str]:
    """Every Django app of the middle floor: a package with an ``apps.py`` that is neither floor."""
    return sorted(p.parent.name for p in root.glob("*/apps.py") if p.parent.name not in (CORE, TOP))


def imports_in(root: Path, package: str):
    """``(file, line, imported module)`` for every import in the package, top-level or inside a
    function (a lazy import is an arrow too), relative ones resolved."""
    for path in sorted((root / package).rglob("*.py")):
        module = ".".join(path.relative_to(root).with_suffix("").parts)
        here = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = here[: len(here) - node.level + 1] if node.level else []
                names = [".".join([*base, *([node.module] if node.module else [])])]
            else:
                continue
            for name in names:
                yield str(path.relative_to(root)), node.lineno, name


def upward_imports(root: Path) -> list[str]:
    """Every arrow that points the wrong way, as ``file:line imports module (why)``."""
    apps = apps_in(root)
    wrong = []
    for package in [CORE, *apps, TOP]:
        for file, line, name in imports_in(root, package):
            top = name.split(".")[0]
            if top in EMULATORS:
                why = "the emulators and the local cloud are never imported"
            elif package == CORE and top in (*apps, TOP):
                why = "the core never imports an app or the top floor"
            elif package in apps and top == TOP:
                why = "an app never imports the top floor"
            else:
                continue
            wrong.append(f"{file}:{line} imports {name} ({why})")
    return wrong


def app_import_cycle(root: Path) -> list[str]:
    """One loop in the graph of which app imports which (``[a, b, a]`` with the imports behind each
    arrow), or ``[]`` when there is none."""
    apps = apps_in(root)
    edges: dict[str, dict[str, str]] = defaultdict(dict)
    for app in apps:
        for file, line, name in imports_in(root, app):
            target = name.split(".")[0]
            if target in apps and target != app:
                edges[app].setdefault(target, f"{file}:{line} imports {name}")
    done: set[str] = set()

    def visit(app: str, path: list[str]) -> list[str]:
        if app in path:
            loop = [*path[path.index(app) :], app]
            return [f"{a} -> {b}: {edges[a][b]}" for a, b in pairwise(loop)]
        if app in done:
            return []
        for target in sorted(edges[app]):
            if found := visit(target, [*path, app]):
                return found
        done.add(app)
        return []

    for app in apps:
        if found := visit(app, []):
            return found
    return []


def test_every_import_points_down_and_none_reaches_the_emulators():
    assert upward_imports(ROOT) == []


def test_the_apps_import_each_other_without_a_loop():
    assert app_import_cycle(ROOT) == []


def test_the_checks_see_planted_violations(tmp_path):
    """The two checks above, on a small tree with one of each wrong arrow: they cannot pass blindly."""
    files = {
        "portal/apps.py": "",
        "portal/services.py": "def f():\n    from shop.services import sell\n",
        "kennel/apps.py": "from shop import views\n",
        "shop/apps.py": "",
        "shop/views.py": "from kennel.urls import urlpatterns\nfrom . import services\n",
        "shop/services.py": "import stock.models\nfrom bmcsim.demo import DEMO_BMCS\n",
        "stock/apps.py": "",
        "stock/models.py": "from ..shop import services\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert apps_in(tmp_path) == ["shop", "stock"]
    assert upward_imports(tmp_path) == [
        "portal/services.py:2 imports shop.services (the core never imports an app or the top floor)",
        "shop/services.py:2 imports bmcsim.demo (the emulators and the local cloud are never imported)",
        "shop/views.py:1 imports kennel.urls (an app never imports the top floor)",
    ]
    assert app_import_cycle(tmp_path) == [
        "shop -> stock: shop/services.py:1 imports stock.models",
        "stock -> shop: stock/models.py:1 imports shop",
    ]
