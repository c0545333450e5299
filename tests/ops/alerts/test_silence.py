"""`triage-ops alerts silence`: planned, dry-run, confirmed, verified and audited silences
in a real Alertmanager."""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.ops.alerts.conftest import Alertmanager, invoke, step_context, write_config
from triage_ops.clients.alertmanager import Matcher, iso
from triage_ops.config import OpsConfig
from triage_ops.engine.contract import Plan
from triage_ops.exit_codes import ExitCode
from triage_ops.procedures.alerts import CreateSilence, silence, silence_action
from triage_ops.sandbox import processes as proc

pytestmark = pytest.mark.timeout(60)
SECRET = "am-basic-auth-secret"


@pytest.fixture(scope="module")
def am(alertmanager: Alertmanager) -> Iterator[Alertmanager]:
    start = iso(datetime.now(UTC) - timedelta(minutes=3))
    alertmanager.post(
        *(
            {
                "labels": {"alertname": name, "severity": "warning", "instance": instance},
                "annotations": {"summary": f"{name} {instance}"},
                "startsAt": start,
            }
            for name, instance in (
                ("DiskFull", "db-1"),
                ("DiskFull", "db-2"),
                ("CertExpiry", "api"),
                ("Drill", "x"),
                ("Refuse", "x"),
            )
        )
    )
    yield alertmanager


@pytest.fixture
def config(tmp_path: Path, am: Alertmanager) -> Path:
    return write_config(
        tmp_path / "ops.yaml",
        alertmanager_url=am.url.replace("http://", f"http://ops:{SECRET}@"),
        audit_log=str(tmp_path / "audit.jsonl"),
    )


def _audit(config: Path) -> list[dict[str, Any]]:
    path = config.parent / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _active(am: Alertmanager) -> list[dict[str, Any]]:
    return [s for s in am.silences() if s["status"]["state"] == "active"]


def test_dry_run_plans_and_creates_nothing(am: Alertmanager, config: Path) -> None:
    before = am.silences()
    result = invoke(
        "--config", str(config), "--dry-run", "-o", "json", "alerts", "silence",
        "--alertname", "DiskFull", "--duration", "2h", "--comment", "disk swap tonight",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert am.silences() == before
    outcome = result.json()
    assert outcome["outcome"] == "dry-run"
    plan = outcome["plan"]
    assert plan["summary"].startswith("silence alertname=DiskFull for 2h (until ")
    assert plan["summary"].endswith("): 2 alert(s) firing now would be silenced (DiskFull)")
    assert [(a["alertname"], a["labels"]) for a in plan["dry_run"]["would_silence"]] == [
        ("DiskFull", {"instance": "db-1"}),
        ("DiskFull", {"instance": "db-2"}),
    ]
    after = plan["changes"][0]["after"]
    assert after["matchers"] == ['alertname="DiskFull"']
    assert after["createdBy"] == getpass.getuser()
    assert after["comment"] == "disk swap tonight"
    window = datetime.fromisoformat(after["endsAt"]) - datetime.fromisoformat(after["startsAt"])
    assert window == timedelta(hours=2)
    assert plan["commands"] == [
        f"amtool --alertmanager.url={am.url} silence add 'alertname=\"DiskFull\"' --duration=2h"
        f" --author={getpass.getuser()} '--comment=disk swap tonight'"
    ]
    assert [(e["kind"], e["outcome"]) for e in _audit(config)] == [("action", "dry-run")]
    assert SECRET not in result.out + result.err + json.dumps(_audit(config))


def test_create_verify_noop_and_expire(am: Alertmanager, config: Path) -> None:
    args = ["--config", str(config), "--yes", "-o", "json", "alerts", "silence"]
    result = invoke(
        *args, "--alertname", "DiskFull", "--matcher", "instance=~db-1|db-9",
        "--duration", "30m", "--comment", "db-1 disk swap", "--created-by", "alice",
    )  # fmt: skip
    assert result.code == 0, result.err
    outcome = result.json()
    assert outcome["outcome"] == "ok"
    assert outcome["findings"] == []
    silence_id = outcome["after"]["silence_id"]
    held = {s["id"]: s for s in am.silences()}[silence_id]
    assert held["status"]["state"] == "active"
    assert (held["createdBy"], held["comment"]) == ("alice", "db-1 disk swap")
    assert held["matchers"] == [
        {"name": "alertname", "value": "DiskFull", "isRegex": False, "isEqual": True},
        {"name": "instance", "value": "db-1|db-9", "isRegex": True, "isEqual": True},
    ]
    silenced = {
        a["labels"]["instance"]: a["status"]["silencedBy"]
        for a in am.alerts(filter='alertname="DiskFull"')
    }
    assert silenced == {"db-1": [silence_id], "db-2": []}

    # The same silence again: an active one already covers it.
    again = invoke(
        *args, "--alertname", "DiskFull", "--matcher", "instance=~db-1|db-9",
        "--duration", "10m", "--comment", "again",
    )  # fmt: skip
    assert again.code == 0
    assert again.json()["outcome"] == "noop"
    assert again.json()["plan"]["summary"].startswith(
        f"alertname=DiskFull,instance=~db-1|db-9 is already silenced by {silence_id} until "
    )
    assert len([s for s in _active(am) if s["comment"] == "again"]) == 0

    table = invoke("--config", str(config), "--yes", "alerts", "silence", "--expire", silence_id)
    assert table.code == 0, table.err
    lines = table.out.splitlines()
    assert lines[0] == "Actions"
    assert lines[2].split()[:3] == ["alerts.silence", "alerts.silence-expire", "ok"]
    assert "Alerts firing now that it silences" in lines
    assert {s["id"]: s for s in am.silences()}[silence_id]["status"]["state"] == "expired"

    entries = _audit(config)
    assert [(e["details"]["action"], e["outcome"]) for e in entries] == [
        ("alerts.silence", "ok"),
        ("alerts.silence", "noop"),
        ("alerts.silence-expire", "ok"),
    ]
    assert entries[0]["after"] == {"silence_id": silence_id, "endsAt": held["endsAt"]}
    assert entries[2]["before"] == ["active"]
    assert SECRET not in json.dumps(entries) + result.out + table.out

    expired_again = invoke(*args, "--expire", silence_id)
    assert expired_again.json()["outcome"] == "noop"


def test_without_a_terminal_it_refuses_and_creates_nothing(am: Alertmanager, config: Path) -> None:
    before = am.silences()
    result = invoke(
        "--config", str(config), "alerts", "silence",
        "--alertname", "Refuse", "--duration", "1h", "--comment", "no tty",
    )  # fmt: skip
    assert result.code == 3
    assert result.err.splitlines()[-1] == (
        "triage-ops: error: this change needs --yes when not run from a terminal"
        " (--dry-run shows the plan)"
    )
    assert am.silences() == before
    assert [e["outcome"] for e in _audit(config)] == ["refused"]


def test_declined_confirmation_creates_nothing(am: Alertmanager) -> None:
    before = am.silences()
    seen: list[str] = []

    def decline(plan: Plan) -> bool:
        seen.append(plan.summary)
        return False

    ctx = step_context(OpsConfig(alertmanager_url=am.url))
    action = silence_action(alertname="Drill", duration="15m", comment="drill")
    outcome = silence(ctx, action, dry_run=False, yes=False, confirm=decline, audit=None)
    assert outcome.outcome == "declined"
    assert outcome.exit_code == ExitCode.WARNINGS
    assert len(seen) == 1 and seen[0].endswith("1 alert(s) firing now would be silenced (Drill)")
    assert am.silences() == before


def test_library_action_verifies(am: Alertmanager) -> None:
    ctx = step_context(OpsConfig(alertmanager_url=am.url))
    action = CreateSilence(
        matchers=(Matcher("alertname", "CertExpiry"),),
        duration=timedelta(minutes=5),
        comment="lib",
        created_by="lib-test",
    )
    plan = action.plan(ctx)
    assert plan.dry_run["firing_matched"] == 1
    assert action.apply(ctx, plan)["silence_id"] == action.silence_id
    assert action.verify(ctx, plan) == []
    assert ctx.notes == [f"silence {action.silence_id} is active and silences 1 alert(s)"]
    am_silence = {s["id"]: s for s in am.silences()}[action.silence_id]
    assert am_silence["createdBy"] == "lib-test"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--duration", "1h", "--comment", "c"], "--alertname is required (or --expire ID)"),
        (["--alertname", "A", "--comment", "c"], "--duration is required (e.g. 2h)"),
        (
            ["--alertname", "A", "--duration", "1h"],
            "--comment is required: say why, for whoever sees the silence next",
        ),
        (
            ["--alertname", "A", "--duration", "8d", "--comment", "c"],
            "--duration 8d: a silence is limited to 7 days (a forgotten one hides real"
            " outages); create a new one when it ends",
        ),
        (
            ["--alertname", "A", "--duration", "soon", "--comment", "c"],
            "invalid duration 'soon': use a number and a unit (s, m, h, d, w), e.g. 2h or 1h30m",
        ),
        (
            ["--alertname", "A", "--matcher", "nope", "--duration", "1h", "--comment", "c"],
            "invalid matcher 'nope': expected name=value, name!=value, name=~regex or name!~regex",
        ),
        (
            ["--alertname", "A", "--matcher", "alertname=B", "--duration", "1h", "--comment", "c"],
            "a label is matched twice: alertname, alertname",
        ),
        (["--expire", "abc"], "--expire 'abc': a silence id is a UUID"),
        (
            ["--expire", "0b7c5ab4-0000-0000-0000-000000000000", "--alertname", "A"],
            "--expire ID takes no --alertname, --matcher or --duration",
        ),
    ],
)
def test_bad_options_are_usage_errors(config: Path, args: list[str], message: str) -> None:
    result = invoke("--config", str(config), "--yes", "alerts", "silence", *args)
    assert (result.code, result.err) == (3, f"triage-ops: error: {message}\n")


def test_unknown_silence_id(am: Alertmanager, config: Path) -> None:
    unknown = "0b7c5ab4-0000-0000-0000-000000000000"
    result = invoke("--config", str(config), "--yes", "alerts", "silence", "--expire", unknown)
    assert result.code == 3
    assert result.err == (f"triage-ops: error: Alertmanager at {am.url} has no silence {unknown}\n")


def test_alertmanager_down_exits_4_and_changes_nothing(tmp_path: Path) -> None:
    port = proc.free_port()
    config = write_config(
        tmp_path / "ops.yaml",
        alertmanager_url=f"http://ops:{SECRET}@127.0.0.1:{port}",
        audit_log=str(tmp_path / "audit.jsonl"),
    )
    result = invoke(
        "--config", str(config), "--yes", "-o", "json", "alerts", "silence",
        "--alertname", "A", "--duration", "1h", "--comment", "c",
    )  # fmt: skip
    assert result.code == 4
    outcome = result.json()
    assert outcome["outcome"] == "unplanned"
    assert outcome["error"] == (
        f"Alertmanager at http://127.0.0.1:{port}: connection refused (GET /api/v2/alerts)"
    )
    assert [f["code"] for f in outcome["findings"]] == ["TRI-ACTION-003"]
    assert SECRET not in result.out + result.err + (tmp_path / "audit.jsonl").read_text()
