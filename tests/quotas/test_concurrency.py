"""The quota holds under real concurrency: PostgreSQL row locks, one connection per thread."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections

from kennel.celery import app
from provisioning import services as vms
from provisioning.models import VmRequest
from quotas import services
from quotas.models import TeamQuota
from tests.fixtures.fake_cloud import flavor, image

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def broker():
    """Accepted requests are enqueued on the real broker; nobody consumes them here."""
    yield
    app.control.purge()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_100_concurrent_requests_against_room_for_10_accept_exactly_10(fake_cloud, member, team, broker):
    services.quota_sync()
    TeamQuota.objects.filter(team=team, key="instances").update(limit=10)
    tiny, cirros = flavor("m1.tiny"), image("x86_64")
    barrier = threading.Barrier(100)
    accepted: list[int] = []
    refused: list[str] = []
    errors: list[BaseException] = []

    def request(n: int) -> None:
        try:
            barrier.wait()
            vm = vms.vm_request_submit(
                actor=member, team=team, name=f"vm{n}", image=cirros, flavor=tiny, source="test"
            )
            accepted.append(vm.pk)
        except ValidationError as error:
            refused.append(" ".join(error.messages))
        except BaseException as error:  # reported below, with the thread's failure
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=request, args=(n,)) for n in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors
    assert len(accepted) == 10 and len(refused) == 90
    assert all("allows 10" in message and "Instances" in message for message in refused)
    assert VmRequest.objects.filter(team=team).count() == 10
