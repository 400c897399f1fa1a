"""The example alert rules parse (promtool check rules) and fire when they should (promtool test rules
with the unit tests beside them), with Debian's promtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

RULES = Path(__file__).resolve().parents[2] / "kennel" / "prometheus"


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is missing: scripts/bootstrap.sh installs Debian's prometheus package")
    return path


def test_the_alert_rules_parse(promtool):
    result = subprocess.run(
        [promtool, "check", "rules", "rules.yml"], cwd=RULES, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 8 rules found" in result.stdout


def test_the_alerts_fire_on_the_series_of_their_unit_tests(promtool):
    result = subprocess.run(
        [promtool, "test", "rules", "rules_test.yml"], cwd=RULES, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_metric_an_alert_reads_is_one_kennel_exposes():
    import re

    from portal import metrics

    exposed = {
        "kennel_http_responses_total",
        "kennel_cloud_errors_total",
        "kennel_cloud_requests_total",
        "kennel_celery_tasks_total",
        # computed at scrape time (portal.metrics.QueueLengthCollector, kennel.monitoring.EstateCollector)
        "kennel_queue_length",
        "kennel_broker_up",
        "kennel_worker_heartbeat_age_seconds",
        "kennel_mirror_age_seconds",
        "kennel_bmcs_unreachable",
    }
    assert metrics.HTTP_RESPONSES._name == "kennel_http_responses"
    read = set(re.findall(r"\bkennel_[a-z_]+\b", (RULES / "rules.yml").read_text()))
    read = {name for name in read if not name.startswith("kennel_worker_heartbeat_age_seconds_")}
    assert read <= exposed, read - exposed
