"""One VM's story, followed by its request id: the web's log line, the worker's (a real Celery worker
logging JSON) and Nova's own API log on the local cloud all carry the id the request came with."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from portal.request_ids import request_id_new
from portal.services import team_link_project
from provisioning import services
from provisioning.models import VmRequest
from tests.fixtures.fake_cloud import offer_every_image
from tests.live import ROOT, celery_worker
from tests.polling import eventually
from tests.portal.test_request_ids import json_lines

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
Status = VmRequest.Status
NOVA_API_LOG = Path(os.environ.get("DEVCLOUD_ROOT", ROOT / "var" / "devcloud")) / "log" / "nova-api.log"
WORKER_LOG = ROOT / "var" / "test-worker.log"


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _lines_since(path: Path, offset: int) -> list[str]:
    with path.open("rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace").splitlines()


def test_one_vm_request_is_followed_by_its_id_from_web_to_worker_to_nova(member, team):
    team_link_project(actor=None, team=team, project="alpha")
    services.catalog_refresh()
    offer_every_image()
    request_id = request_id_new()
    worker_from, nova_from = _size(WORKER_LOG), _size(NOVA_API_LOG)
    api = APIClient()
    api.force_authenticate(member)
    with celery_worker(env={"KENNEL_LOG_FORMAT": "json"}):
        with json_lines("kennel.requests") as web:
            response = api.post(
                "/api/v1/vms/",
                {"team": team.slug, "name": "rid-story", "image": "cirros-0.6-x86_64", "flavor": "m1.tiny"},
                format="json",
                headers={"X-Request-ID": request_id},
            )
        assert response.status_code == 201, response.content
        assert response["X-Request-ID"] == request_id
        vm = VmRequest.objects.get(name="rid-story")
        eventually(
            lambda: VmRequest.objects.get(pk=vm.pk).status,
            lambda s: s in (Status.ACTIVE, Status.FAILED),
            timeout=150,
            what="building rid-story",
        )
        vm.refresh_from_db()
        assert vm.status == Status.ACTIVE, vm.status_message
        services.vm_delete_request(actor=member, vm=vm, source="test")
        eventually(
            lambda: VmRequest.objects.get(pk=vm.pk).status,
            lambda s: s == Status.DELETED,
            timeout=120,
            what="deleting rid-story",
        )

    (web_line,) = [line for line in web if line["path"] == "/api/v1/vms/"]
    assert web_line["request_id"] == request_id and web_line["status"] == 201

    worker = [json.loads(line) for line in _lines_since(WORKER_LOG, worker_from) if line.startswith("{")]
    build = [
        line
        for line in worker
        if line.get("task") == "provisioning.tasks.vm_request_build" and line.get("request_id") == request_id
    ]
    assert build, f"the worker wrote no JSON line for the build with {request_id}"
    finished = [line for line in build if line["logger"] == "kennel.tasks"]
    assert finished and finished[-1]["outcome"] == "succeeded"

    nova = [line for line in _lines_since(NOVA_API_LOG, nova_from) if request_id in line]
    created = [line for line in nova if '"POST /v2.1/servers"' in line]
    assert created, f"Nova logged no server creation with {request_id}"
    # The deletion was asked for without a request: it has ids of its own, not this one.
    assert not any(f'"DELETE /v2.1/servers/{vm.server_id}' in line for line in nova)
    print(f"\nweb:    {json.dumps(web_line)}\nworker: {json.dumps(finished[-1])}\nnova:   {created[0]}")
