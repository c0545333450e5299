"""`triage-ops incident list|show|open|note|resolve` through the CLI, on a real audit file."""

from __future__ import annotations

import json
from pathlib import Path

from tests.ops.comms import timeline
from tests.ops.comms.conftest import invoke, write_config
from triage_ops.engine.audit import AuditLog


def test_list(config_path: Path) -> None:
    result = invoke("--config", str(config_path), "incident", "list")
    assert result.code == 0, result.err
    assert result.out == (
        "incidents\n"
        "ID                    SEVERITY  STATUS         STARTED_AT            DURATION  TITLE\n"
        "INC-20261124-1423-P0  P0        resolved       2026-11-24T14:23:05Z  1h 7m     "
        "API returns 503 on every request\n"
        "INC-20261120-0900-P2  P2        investigating  2026-11-20T09:00:10Z  -         "
        "Newsletters classified as incidents\n"
    )


def test_show_json_is_the_record(config_path: Path) -> None:
    result = invoke(
        "--config", str(config_path), "-o", "json", "incident", "show", timeline.INCIDENT
    )
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert (doc["id"], doc["status"], doc["duration"]) == (timeline.INCIDENT, "resolved", "1h 7m")
    assert [f["code"] for f in doc["findings"]] == ["TRI-REDIS-002", "TRI-K8S-004", "TRI-MODEL-001"]
    assert len(doc["timeline"]) == 7


def test_show_table_has_every_section(config_path: Path) -> None:
    result = invoke("--config", str(config_path), "incident", "show", timeline.INCIDENT)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    for title in ("Record", "Findings (worst first)", "Actions taken", "Timeline"):
        assert title in lines
    assert "critical  TRI-REDIS-002  Redis at 10.0.0.7:6379 still silent" in result.out
    unknown = invoke("--config", str(config_path), "incident", "show", "INC-20990101-0000-P0")
    assert (unknown.code, unknown.err) == (
        3,
        "triage-ops: error: no incident INC-20990101-0000-P0 in the audit timeline"
        " (see: triage-ops incident list)\n",
    )


def test_open_note_resolve_then_render(tmp_path: Path) -> None:
    audit_path = tmp_path / "audit.jsonl"
    config = str(write_config(tmp_path / "c.yaml", audit_log=str(audit_path)))
    opened = invoke("--config", config, "-o", "json", "incident", "open", "P1", "Slow triage")
    assert opened.code == 0, opened.err
    incident_id = json.loads(opened.out)["id"]
    assert incident_id.startswith("INC-") and incident_id.endswith("-P1")

    dry = invoke("--config", config, "--dry-run", "incident", "note", incident_id, "x")
    assert dry.code == 0
    assert len(list(AuditLog(audit_path).entries())) == 1  # a dry run writes nothing

    noted = invoke(
        "--config",
        config,
        "incident",
        "note",
        incident_id,
        "Model p95 at 3 s",
        "--status",
        "monitoring",
    )
    assert noted.code == 0, noted.err
    assert " monitoring " in noted.out
    bad = invoke("--config", config, "incident", "note", incident_id, "x", "--status", "resolved")
    assert bad.code == 2  # click's own usage error: not one of the choices

    update = invoke("--config", config, "comms", "render", "update", "--incident", incident_id)
    assert update.code == 0, update.err
    assert "Status: Monitoring\n" in update.out
    assert ": Model p95 at 3 s\n" in update.out

    resolved = invoke(
        "--config",
        config,
        "incident",
        "resolve",
        incident_id,
        "--root-cause",
        "CPU-starved model server",
        "--resolution",
        "Scaled out",
    )
    assert resolved.code == 0, resolved.err
    assert resolved.err == (
        f"triage-ops: tell users: triage-ops comms send resolved --incident {incident_id}"
        " --via slack\n"
    )
    message = invoke("--config", config, "comms", "render", "resolved", "--incident", incident_id)
    assert message.code == 0, message.err
    assert "Root Cause: CPU-starved model server\nResolution: Scaled out\n" in message.out
    assert [e["kind"] for e in AuditLog(audit_path).entries()] == [
        "incident.open",
        "incident.note",
        "incident.resolve",
    ]
    assert AuditLog(audit_path).verify().ok
