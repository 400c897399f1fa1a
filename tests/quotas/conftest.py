from __future__ import annotations

import pytest

from portal.celery import app
from tests.provisioning.conftest import fake_cloud  # noqa: F401  (the same fake cloud, linked teams)


@pytest.fixture
def eager_tasks():
    """Tasks run in the test's process when their transaction commits, as a worker would run them."""
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous
