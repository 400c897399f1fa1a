"""Catalog tests run the services against the FakeCloud (it passes the contract suite, Glance part
included) and real qemu-img on small disks made in the test; test_integration.py uses the real cloud."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from portal.cloud import override
from portal.cloud.fake import FakeCloud
from provisioning.services import catalog_refresh


@pytest.fixture
def import_dirs(settings, tmp_path):
    settings.KENNEL_IMPORT_DIR = tmp_path / "incoming"
    settings.KENNEL_IMPORT_WORK_DIR = tmp_path / "work"
    settings.KENNEL_IMPORT_DIR.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "work" / "uploading")
    (tmp_path / "work" / "uploading").mkdir(parents=True)
    return settings.KENNEL_IMPORT_DIR


@pytest.fixture
def fake(db):
    fake = FakeCloud()
    with override(fake):
        catalog_refresh()
        yield fake


def make_qcow2(path: Path, size: str = "64M", data_mib: int = 1) -> Path:
    """A qcow2 with ``data_mib`` MiB of written data (qemu-io), so it is not all holes."""
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), size], check=True)
    if data_mib:
        subprocess.run(
            ["qemu-io", "-f", "qcow2", "-c", f"write -P 0xab 0 {data_mib}M", str(path)],
            check=True,
            capture_output=True,
        )
    return path
