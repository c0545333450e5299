"""`triage-ops comms send` the way a user runs it: through each transport against the local
servers, dry-run (nothing reaches a server), confirmation, verification, the timeline entry,
and secrets that never show in output, logs or the audit file."""

from __future__ import annotations

import json
import logging
import ssl
import time
from pathlib import Path

import pytest

from tests.ops.blackhole import black_hole
from tests.ops.comms import servers, timeline
from tests.ops.comms.conftest import invoke, write_config
from triage_ops.engine.audit import AuditLog
from triage_ops.incidents import load_incident

pytestmark = pytest.mark.timeout(60)
SECRETS = (servers.ROUTING_KEY, "XyZsecretWebhookToken123", "T0SECRET1", servers.SMTP_PASSWORD)
SEND_RESOLVED = ("comms", "send", "resolved", "--incident", timeline.INCIDENT)


def no_secrets(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def comms_entries(audit_path: Path) -> list[dict[str, object]]:
    return [e for e in AuditLog(audit_path).entries() if e["kind"] == "comms.send"]


def test_send_to_slack(
    config_path: Path,
    audit_path: Path,
    http: servers.HttpServices,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    result = invoke("--config", str(config_path), "--yes", "-vv", *SEND_RESOLVED, "--via", "slack")
    assert result.code == 0, result.err
    assert result.out == (
        "resolved via slack\n"
        "DESTINATION                    OUTCOME\n"
        "http://127.0.0.1/services/***  ok\n"
    )
    [seen] = http.requests
    assert seen.path == servers.SLACK_PATH
    text = seen.json()["text"]
    assert text.startswith("*[RESOLVED] Email Triage Service Issue*\n\nThe Email Triage Service")
    assert "Duration: 1h 7m (2026-11-24 14:23 UTC to 2026-11-24 15:30 UTC)\n" in text

    [entry] = comms_entries(audit_path)
    assert entry["incident"] == timeline.INCIDENT
    assert entry["outcome"] == "ok"
    assert entry["summary"] == "resolved via slack to http://127.0.0.1/services/*** -> ok"
    assert entry["after"] == {
        "via": "slack",
        "http_status": 200,
        "body": "ok",
        "subject": "[RESOLVED] Email Triage Service Issue",
    }
    assert AuditLog(audit_path).verify().ok
    no_secrets(result.out, result.err, caplog.text, audit_path.read_text())


def test_dry_run_sends_nothing_and_shows_the_message(
    config_path: Path, audit_path: Path, http: servers.HttpServices
) -> None:
    result = invoke("--config", str(config_path), "--dry-run", *SEND_RESOLVED, "--via", "slack")
    assert result.code == 0, result.err
    assert http.requests == []
    assert result.out.startswith(
        "would send via slack to http://127.0.0.1/services/***:\n\n"
        "Subject: [RESOLVED] Email Triage Service Issue\n\n"
    )
    assert result.out.endswith("A detailed post-mortem will be available within 48 hours.\n")
    [entry] = comms_entries(audit_path)
    assert (entry["outcome"], entry["details"]["dry_run"]) == ("dry-run", True)  # type: ignore[index]

    result = invoke(
        "--config",
        str(config_path),
        "--dry-run",
        "--output",
        "json",
        *SEND_RESOLVED,
        "--via",
        "slack",
    )
    doc = json.loads(result.out)
    assert doc["outcome"] == "dry-run"
    assert doc["destination"] == "http://127.0.0.1/services/***"
    assert doc["plan"]["dry_run"]["message"].startswith("Subject: [RESOLVED]")
    assert http.requests == []
    no_secrets(result.out, result.err, audit_path.read_text())


def test_confirmation(config_path: Path, http: servers.HttpServices) -> None:
    declined = invoke("--config", str(config_path), *SEND_RESOLVED, "--via", "slack", input="n\n")
    assert declined.code == 1
    assert "About to: send resolved for INC-20261124-1423-P0 via slack" in declined.err
    assert http.requests == []
    no_answer = invoke("--config", str(config_path), *SEND_RESOLVED, "--via", "slack")
    assert no_answer.code == 3
    assert no_answer.err.endswith(
        "triage-ops: error: not confirmed (no answer on the terminal); add --yes to proceed\n"
    )
    assert http.requests == []
    accepted = invoke("--config", str(config_path), *SEND_RESOLVED, "--via", "slack", input="y\n")
    assert accepted.code == 0, accepted.err
    assert len(http.requests) == 1


def test_send_by_email_with_starttls(
    tmp_path: Path,
    audit_path: Path,
    tls_server_context: ssl.SSLContext,
    trusting: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with servers.smtp_relay(tls_context=tls_server_context, auth=True) as relay:
        config = write_config(
            tmp_path / "mail.yaml",
            audit_log=str(audit_path),
            smtp_host="127.0.0.1",
            smtp_port=relay.port,
            smtp_username=servers.SMTP_USER,
            smtp_password=servers.SMTP_PASSWORD,
            comms_from="oncall@example.com",
            comms_to="users@example.com, status@example.com",
        )
        result = invoke(
            "--config",
            str(config),
            "--yes",
            "--output",
            "json",
            "comms",
            "send",
            "initial",
            "--incident",
            timeline.INCIDENT,
            "--via",
            "email",
        )
        assert result.code == 0, result.err
        [received] = relay.messages
    doc = json.loads(result.out)
    assert doc["outcome"] == "ok"
    assert doc["destination"] == (
        f"smtp://127.0.0.1:{relay.port} to users@example.com, status@example.com"
    )
    assert doc["after"]["code"] == 250
    assert doc["after"]["recipients"] == ["users@example.com", "status@example.com"]
    assert received.rcpt_tos == ["users@example.com", "status@example.com"]
    mail = received.data.decode()
    assert "Subject: [P0] Email Triage Service Experiencing Issues\r\n" in mail
    assert "X-Triage-Incident: INC-20261124-1423-P0\r\n" in mail
    assert "\r\nStart Time: 2026-11-24 14:23 UTC\r\n" in mail
    [entry] = comms_entries(audit_path)
    assert entry["outcome"] == "ok"
    no_secrets(result.out, result.err, caplog.text, audit_path.read_text())


def test_email_refused_recipient_is_unverified(tmp_path: Path, audit_path: Path) -> None:
    with servers.smtp_relay() as relay:
        config = write_config(
            tmp_path / "mail.yaml",
            audit_log=str(audit_path),
            smtp_host="127.0.0.1",
            smtp_port=relay.port,
            smtp_starttls=False,
            comms_from="oncall@example.com",
            comms_to=f"users@example.com,{servers.REFUSED_RECIPIENT}",
        )
        result = invoke("--config", str(config), "--yes", *SEND_RESOLVED, "--via", "email")
    assert result.code == 2
    assert (
        "TRI-COMMS-010 warning: email did not take the resolved message"
        " (SMTP 250, refused: nobody@example.net)"
    ) in result.err
    [entry] = comms_entries(audit_path)
    assert entry["outcome"] == "unverified"
    codes = [f["code"] for f in entry["findings"]]  # type: ignore[attr-defined]
    assert codes == ["TRI-ACTION-002", "TRI-COMMS-010"]
    assert entry["findings"][1]["command"] == (  # type: ignore[index]
        "triage-ops comms render resolved --incident INC-20261124-1423-P0"
    )
    # a message that did not go out is on the timeline, not among the service's findings
    incident = load_incident(AuditLog(audit_path), timeline.INCIDENT)
    assert [f["code"] for f in incident.findings] == [
        "TRI-REDIS-002",
        "TRI-K8S-004",
        "TRI-MODEL-001",
    ]
    assert incident.timeline[-1].kind == "comms.send"
    assert incident.timeline[-1].summary == (
        f"resolved via email to smtp://127.0.0.1:{relay.port} to users@example.com,"
        " nobody@example.net -> unverified"
    )


def test_send_to_stdout(config_path: Path, audit_path: Path) -> None:
    result = invoke(
        "--config",
        str(config_path),
        "--yes",
        "comms",
        "send",
        "maintenance",
        "--via",
        "stdout",
        "--window-start",
        "2026-11-28 02:00",
        "--window-end",
        "2026-11-28 04:00",
        "--purpose",
        "Kernel updates",
    )
    assert result.code == 0, result.err
    assert result.out == (
        "Subject: Scheduled Maintenance - Email Triage Service\n"
        "\n"
        "Maintenance Window: 2026-11-28 02:00 - 04:00 UTC\n"
        "Expected Impact: Minimal disruption expected\n"
        "Purpose: Kernel updates\n"
        "\n"
        "The service will remain available during this window with possible brief"
        " interruptions.\n"
    )
    [entry] = comms_entries(audit_path)
    assert (entry["incident"], entry["outcome"]) == (None, "ok")


def test_slack_failure_is_a_failed_action(
    config_path: Path, audit_path: Path, http: servers.HttpServices
) -> None:
    http.force(410, "channel_is_archived")
    result = invoke("--config", str(config_path), "--yes", *SEND_RESOLVED, "--via", "slack")
    assert result.code == 2
    assert (
        "TRI-ACTION-001 critical: comms.send: send resolved for INC-20261124-1423-P0 via slack"
        " to http://127.0.0.1/services/***: failed: slack: http://127.0.0.1/services/***"
        " refused the message (410 channel_is_archived)"
    ) in result.err
    [entry] = comms_entries(audit_path)
    assert entry["outcome"] == "failed"
    no_secrets(result.out, result.err, audit_path.read_text())


def test_unconfigured_transport_names_the_setting(tmp_path: Path, audit_path: Path) -> None:
    config = write_config(tmp_path / "bare.yaml", audit_log=str(audit_path))
    result = invoke("--config", str(config), "--yes", *SEND_RESOLVED, "--via", "slack")
    assert (result.code, result.err) == (
        3,
        "triage-ops: error: no slack_webhook_url configured"
        " (config file or TRIAGE_OPS_SLACK_WEBHOOK_URL)\n",
    )
    result = invoke("--config", str(config), "--yes", *SEND_RESOLVED, "--via", "email")
    assert (result.code, result.err) == (
        3,
        "triage-ops: error: no smtp_host configured (config file or TRIAGE_OPS_SMTP_HOST)\n",
    )
    assert comms_entries(audit_path) == []


def test_black_holed_slack_fails_within_the_timeout(tmp_path: Path, audit_path: Path) -> None:
    with black_hole() as port:
        config = write_config(
            tmp_path / "hole.yaml",
            audit_log=str(audit_path),
            slack_webhook_url=f"http://127.0.0.1:{port}{servers.SLACK_PATH}",
        )
        started = time.monotonic()
        result = invoke(
            "--config", str(config), "--yes", "--timeout", "0.5", *SEND_RESOLVED, "--via", "slack"
        )
        elapsed = time.monotonic() - started
    assert result.code == 2
    assert elapsed < 3.0
    assert "slack: http://127.0.0.1/services/*** did not answer within 0.5s" in result.err
    no_secrets(result.out, result.err, audit_path.read_text())
