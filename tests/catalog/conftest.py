"""Catalog tests run the services against the FakeCloud (it passes the contract suite, Glance part
included) and real qemu-img on small disks made in the test (tests/fixtures/disks.py);
test_integration.py uses the real cloud."""

from __future__ import annotations

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
