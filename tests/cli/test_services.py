"""``kennel blueprint ...`` and ``kennel service ...`` against a live Kennel with the fake cloud (tasks
run eagerly, so each change is finished when the command returns)."""

from __future__ import annotations

import pytest

from blueprints import services

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_lead_deploys_scales_upgrades_rolls_back_and_deletes_a_service(
    kennel, logged_in, lead, admin, member, team, fake_cloud, eager_tasks, tmp_path
):
    services.blueprint_examples_load(source="test")
    logged_in(lead)
    listed = kennel("blueprint", "list")
    assert listed.code == 0 and "ci-agent" in listed.out and "squid-proxy" in listed.out
    exported = kennel("blueprint", "export", "ci-agent")
    assert exported.code == 0 and exported.out.startswith("kennel_blueprint: 1"), exported.err
    deployed = kennel(
        "service", "deploy", "ci", "--blueprint", "ci-agent", "--team", team.slug,
        "--count", "x86_64=1", "--count", "ppc64le=1", "--param", "executors=4",
        "--maintainer", member.username, "--wait",
    )  # fmt: skip
    assert deployed.code == 0, deployed.err
    assert "ready" in deployed.out and "ci-x86-1" in deployed.out and "ci-ppc-2" in deployed.out
    shown = kennel("service", "show", "ci", "--json").json()
    assert shown["parameters"]["executors"] == 4 and shown["maintainers"] == [member.username]
    assert {(vm["architecture"], vm["state"]) for vm in shown["vms"]} == {
        ("x86_64", "running"),
        ("ppc64le", "running"),
    }
    refused = kennel(
        "service",
        "deploy",
        "bad",
        "--blueprint",
        "ci-agent",
        "--team",
        team.slug,
        "--count",
        "x86_64=1",
        "--param",
        "executors=99",
    )
    assert refused.code != 0 and "16" in refused.err
    scaled = kennel(
        "service", "scale", "ci", "--count", "x86_64=2", "--count", "ppc64le=1", "--wait", "--json"
    )
    assert scaled.code == 0, scaled.err
    assert sorted(vm["architecture"] for vm in scaled.json()["vms"]) == ["ppc64le", "x86_64", "x86_64"]

    newer = tmp_path / "ci-agent.yaml"
    newer.write_text(exported.out.replace("- git\n", "- git\n- make\n"))
    assert kennel("blueprint", "import", str(newer)).code != 0  # a lead keeps only their team's
    logged_in(admin)
    imported = kennel("blueprint", "import", str(newer), "--note", "make")
    assert imported.code == 0 and "version 2" in imported.out, imported.err
    logged_in(lead)
    upgraded = kennel("service", "upgrade", "ci", "--wait", "--json")
    assert upgraded.code == 0, upgraded.err
    assert upgraded.json()["version"] == 2 and {vm["version"] for vm in upgraded.json()["vms"]} == {2}
    rolled = kennel("service", "rollback", "ci", "--wait", "--json")
    assert rolled.code == 0 and {vm["version"] for vm in rolled.json()["vms"]} == {1}, rolled.err
    assert kennel("service", "delete", "ci").code == 2  # no terminal, no --yes
    deleted = kennel("service", "delete", "ci", "--yes", "--wait", "--json")
    assert deleted.code == 0 and deleted.json()["status"] == "deleted" and deleted.json()["vms"] == []
    assert "ci" not in kennel("service", "list").out.split()


def test_service_show_says_who_reaches_its_ports(kennel, logged_in, lead, team, fake_cloud, eager_tasks):
    from onboarding.models import SecurityRule

    services.blueprint_examples_load(source="test")
    logged_in(lead)
    deployed = kennel(
        "service", "deploy", "files", "--blueprint", "http-file-server", "--team", team.slug,
        "--count", "x86_64=1", "--param", "port=8080", "--wait",
    )  # fmt: skip
    assert deployed.code == 0, deployed.err
    shown = kennel("service", "show", "files")
    assert "8080/tcp from the team's own VMs only" in shown.out, shown.out
    SecurityRule.objects.create(
        team=team, protocol="tcp", port_min=8000, port_max=8999, remote_cidr="10.1.0.0/16"
    )
    assert kennel("service", "show", "files", "--json").json()["ports"] == [
        {"port": 8080, "protocol": "tcp", "reached_from": ["10.1.0.0/16"]}
    ]
    assert "8080/tcp from 10.1.0.0/16" in kennel("service", "show", "files").out
