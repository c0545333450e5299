"""`triage-ops alerts firing` against a real Alertmanager (API v2), and what it does when
Alertmanager is down or hangs."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from tests.ops.alerts.conftest import Alertmanager, invoke, step_context, write_config
from tests.ops.blackhole import black_hole
from triage_ops.clients.alertmanager import iso
from triage_ops.config import OpsConfig
from triage_ops.procedures.alerts import check_firing_alerts, firing_alerts
from triage_ops.sandbox import processes as proc

pytestmark = pytest.mark.timeout(60)
SECRET = "s3cret-am-password"
STARTED = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


def _alert(name: str, severity: str, minutes_ago: int, **labels: str) -> dict[str, object]:
    return {
        "labels": {"alertname": name, "severity": severity, **labels},
        "annotations": {
            "summary": f"{name} on {labels.get('instance', 'all')}",
            "runbook_url": f"runbooks/{name.lower()}.md",
        },
        "startsAt": iso(STARTED + timedelta(minutes=120 - minutes_ago)),
    }


@pytest.fixture(scope="module")
def firing(alertmanager: Alertmanager) -> Iterator[Alertmanager]:
    alertmanager.post(
        _alert("QueueBacklog", "warning", 30),
        _alert("ServiceDown", "critical", 90, instance="api-1"),
        _alert("ServiceDown", "critical", 10, instance="api-2"),
        _alert("ModelInfo", "info", 5),
    )
    yield alertmanager


@pytest.fixture
def config(tmp_path: Path, firing: Alertmanager) -> Path:
    url = firing.url.replace("http://", f"http://ops:{SECRET}@")
    return write_config(tmp_path / "ops.yaml", alertmanager_url=url)


def test_lists_firing_alerts_worst_first(config: Path) -> None:
    result = invoke("--config", str(config), "-o", "json", "alerts", "firing")
    assert result.code == 0, result.err
    rows = result.json()
    assert [(r["alertname"], r["severity"], r["labels"]) for r in rows] == [
        ("ServiceDown", "critical", {"instance": "api-1"}),
        ("ServiceDown", "critical", {"instance": "api-2"}),
        ("QueueBacklog", "warning", {}),
        ("ModelInfo", "info", {}),
    ]
    first = rows[0]
    assert first["since"] == iso(STARTED + timedelta(minutes=30))
    assert first["summary"] == "ServiceDown on api-1"
    assert first["runbook_url"] == "runbooks/servicedown.md"
    assert (first["silenced"], first["inhibited"], first["state"]) == (False, False, "active")
    # STARTED is fixed when the module is imported: in a long test run, later
    hours, minutes = re.fullmatch(r"(\d+)h(\d+)m", first["age"]).groups()  # type: ignore[union-attr]
    assert 89 <= int(hours) * 60 + int(minutes) <= 150
    assert SECRET not in result.out + result.err


def test_severity_filter_and_table(config: Path) -> None:
    result = invoke("--config", str(config), "alerts", "firing", "--severity", "critical")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0].split() == [
        "ALERTNAME", "SEVERITY", "SINCE", "AGE", "SUMMARY", "RUNBOOK_URL", "SILENCED",
    ]  # fmt: skip
    assert [line.split()[:2] for line in lines[1:]] == [
        ["ServiceDown", "critical"],
        ["ServiceDown", "critical"],
    ]
    assert all(line.split()[-1] == "no" for line in lines[1:])

    markdown = invoke("--config", str(config), "-o", "markdown", "alerts", "firing")
    assert markdown.out.splitlines()[0] == (
        "| alertname | severity | since | age | summary | runbook_url | silenced |"
    )
    none = invoke("--config", str(config), "alerts", "firing", "--severity", "page")
    assert (none.code, none.out) == (0, "nothing to show\n")


def test_silenced_alerts_are_marked(firing: Alertmanager, config: Path) -> None:
    now = datetime.now(UTC)
    r = requests.post(
        f"{firing.url}/api/v2/silences",
        json={
            "matchers": [{"name": "alertname", "value": "ModelInfo", "isRegex": False}],
            "startsAt": iso(now),
            "endsAt": iso(now + timedelta(minutes=10)),
            "createdBy": "test",
            "comment": "marked",
        },
        timeout=5,
    )
    silence_id = r.json()["silenceID"]
    try:
        rows = invoke("--config", str(config), "-o", "json", "alerts", "firing").json()
        marked = {(r["alertname"], r["labels"].get("instance")): r for r in rows}
        assert marked[("ModelInfo", None)]["silenced"] is True
        assert marked[("ModelInfo", None)]["silenced_by"] == [silence_id]
        assert marked[("ModelInfo", None)]["state"] == "suppressed"
        assert [k for k, r in marked.items() if r["silenced"]] == [("ModelInfo", None)]

        ctx = step_context(OpsConfig(alertmanager_url=firing.url))
        findings = check_firing_alerts(ctx)
        assert [(f.code, f.summary) for f in findings] == [
            ("TRI-ALERT-030", "2 critical alert(s) firing: ServiceDown"),
            ("TRI-ALERT-031", "1 warning alert(s) firing: QueueBacklog"),
        ]
        assert findings[0].command == "triage-ops alerts firing --severity critical"
        assert ctx.notes == ["4 alert(s) in Alertmanager, 1 silenced or inhibited"]
    finally:
        requests.delete(f"{firing.url}/api/v2/silence/{silence_id}", timeout=5)


def test_library_rows(firing: Alertmanager) -> None:
    ctx = step_context(OpsConfig(alertmanager_url=firing.url))
    rows = firing_alerts(ctx, severity="warning", now=STARTED + timedelta(hours=2))
    assert [(r["alertname"], r["age"]) for r in rows] == [("QueueBacklog", "30m")]


def test_stopped_alertmanager_exits_4_at_once(tmp_path: Path) -> None:
    port = proc.free_port()
    config = write_config(
        tmp_path / "ops.yaml", alertmanager_url=f"http://ops:{SECRET}@127.0.0.1:{port}"
    )
    started = time.monotonic()
    result = invoke("--config", str(config), "alerts", "firing")
    assert time.monotonic() - started < 2
    assert (result.code, result.out) == (4, "")
    assert result.err == (
        f"triage-ops: error: Alertmanager at http://127.0.0.1:{port}: connection refused"
        " (GET /api/v2/alerts)\n"
    )


def test_black_holed_alertmanager_exits_4_within_the_timeout(tmp_path: Path) -> None:
    with black_hole() as port:
        config = write_config(
            tmp_path / "ops.yaml", alertmanager_url=f"http://ops:{SECRET}@127.0.0.1:{port}"
        )
        started = time.monotonic()
        result = invoke("--config", str(config), "--timeout", "1", "alerts", "firing")
        elapsed = time.monotonic() - started
    assert 0.9 < elapsed < 2.5
    assert (result.code, result.out) == (4, "")
    assert result.err == (
        f"triage-ops: error: Alertmanager at http://127.0.0.1:{port}: no answer within 1 s"
        " (GET /api/v2/alerts)\n"
    )


def test_no_alertmanager_configured_is_a_usage_error(tmp_path: Path) -> None:
    config = write_config(tmp_path / "ops.yaml", prometheus_url="http://127.0.0.1:9")
    result = invoke("--config", str(config), "alerts", "firing")
    assert result.code == 3
    assert result.err == (
        "triage-ops: error: no alertmanager_url configured (config file or"
        " TRIAGE_OPS_ALERTMANAGER_URL)\n"
    )
