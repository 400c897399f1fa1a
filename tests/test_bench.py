"""`make bench`'s plumbing (no timing here: the figures are the benchmarks' own business).

The benchmark cloud is a second devcloud whose ports all move by DEVCLOUD_PORT_OFFSET; the runner finds
every benchmark module and knows which ones need that cloud.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench import run

ROOT = Path(__file__).resolve().parents[1]
CONTROL = ROOT / "devcloud" / "src" / "kennel_devcloud" / "control.py"


def devcloud_settings(tmp_path: Path, **env: str) -> dict:
    """control.py's ports, root and RabbitMQ node name as a process with ``env`` sees them."""
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(CONTROL.parent.parent)!r})\n"
        "from kennel_devcloud import control\n"
        "print(json.dumps({'ports': control.PORTS, 'root': str(control.ROOT), 'venv': str(control.VENV),"
        " 'node': control.RABBITMQ_NODE, 'keystone': control.KEYSTONE_URL}))\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DEVCLOUD_")}
    out = subprocess.run(
        [sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def test_a_second_devcloud_moves_every_port_and_keeps_its_own_root(tmp_path):
    first = devcloud_settings(tmp_path)
    second = devcloud_settings(
        tmp_path,
        DEVCLOUD_ROOT=str(tmp_path / "benchcloud"),
        DEVCLOUD_PORT_OFFSET="100",
        DEVCLOUD_VENV=str(tmp_path / "lent-venv"),
    )
    assert second["ports"] == {name: port + 100 for name, port in first["ports"].items()}
    assert set(second["ports"].values()).isdisjoint(first["ports"].values())
    assert second["keystone"] == f"http://127.0.0.1:{first['ports']['keystone'] + 100}/v3"
    assert second["root"] == str(tmp_path / "benchcloud")
    assert second["venv"] == str(tmp_path / "lent-venv")
    # The first cloud's RabbitMQ keeps its node name (its data folder is named after it).
    assert first["node"] == "devcloud@localhost"
    assert second["node"] != first["node"]


def test_the_seed_registers_the_catalog_on_the_moved_ports(monkeypatch):
    sys.path.insert(0, str(ROOT / "devcloud" / "src"))
    try:
        from kennel_devcloud import seed
    finally:
        sys.path.remove(str(ROOT / "devcloud" / "src"))
    monkeypatch.setattr(seed, "PORT_OFFSET", 100)
    assert seed._moved("http://127.0.0.1:8774/v2.1") == "http://127.0.0.1:8874/v2.1"
    assert seed._moved("http://127.0.0.1:9696") == "http://127.0.0.1:9796"


def test_the_runner_finds_every_benchmark_and_no_helper():
    found = run.discover()
    assert {"horizon", "load", "vm_pages", "dashboard", "mirror", "bmc_poll", "vm_overhead"} <= set(found)
    assert not [name for name in found if name.startswith("_") or name in ("run", "report", "locustfile")]
    cloudy = {name for name in found if run.needs_cloud(name)}
    assert {"horizon", "load", "vm_overhead"} <= cloudy
    assert "vm_pages" not in cloudy and "mirror" not in cloudy


def test_an_unknown_benchmark_is_refused_with_the_list(capsys):
    assert run.main(["no_such_bench"]) == 2
    assert "horizon" in capsys.readouterr().err
