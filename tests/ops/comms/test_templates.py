"""Every template rendered from the fixture timeline, compared character for character;
a missing field is one line naming it and the command that records it (exit 3)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.ops.comms import timeline
from tests.ops.comms.conftest import invoke
from triage_ops.engine.audit import AuditLog
from triage_ops.errors import UsageError
from triage_ops.incidents import Incident, load_incident
from triage_ops.procedures.comms import MaintenanceWindow, list_templates, render

STATUS_PAGE = "https://status.example.com/email-triage"
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def record(tmp_path: Path, *parts: list[dict[str, object]]) -> Incident:
    path = timeline.write(tmp_path / "audit.jsonl", [e for part in parts for e in part])
    return load_incident(AuditLog(path), timeline.INCIDENT)


def test_templates_declare_what_they_need() -> None:
    assert [(t.name, t.source, t.requires) for t in list_templates()] == [
        (
            "initial",
            "incident",
            ("id", "severity", "title", "issue", "impact", "started_at", "status_label"),
        ),
        ("maintenance", "options", ("window_start", "window_end", "timezone", "purpose", "impact")),
        (
            "postmortem",
            "incident",
            (
                "id",
                "severity",
                "title",
                "impact",
                "started_at",
                "resolved_at",
                "duration",
                "root_cause",
                "resolution",
                "timeline",
            ),
        ),
        (
            "resolved",
            "incident",
            (
                "id",
                "severity",
                "title",
                "root_cause",
                "resolution",
                "duration",
                "started_at",
                "resolved_at",
            ),
        ),
        (
            "update",
            "incident",
            ("id", "severity", "title", "impact", "started_at", "status_label", "latest_update"),
        ),
    ]
    assert all(t.about for t in list_templates())


def test_initial(tmp_path: Path) -> None:
    message = render(
        "initial", incident=record(tmp_path, timeline.OPENED), status_page_url=STATUS_PAGE
    )
    assert message.subject == "[P0] Email Triage Service Experiencing Issues"
    assert message.text == (
        "Subject: [P0] Email Triage Service Experiencing Issues\n"
        "\n"
        "We are currently investigating a complete outage of the Email Triage Service.\n"
        "\n"
        "Incident: INC-20261124-1423-P0 (API returns 503 on every request)\n"
        "Impact: No email is being triaged: the API answers 503 to every request\n"
        "Start Time: 2026-11-24 14:23 UTC\n"
        "Status: Investigating\n"
        "Status Page: https://status.example.com/email-triage\n"
        "\n"
        "Updates will be provided every 15 minutes.\n"
    )


def test_update(tmp_path: Path) -> None:
    message = render("update", incident=record(tmp_path, timeline.OPENED, timeline.ACTED))
    assert message.text == (
        "Subject: [P0] Email Triage Service Issue - Update (Identified)\n"
        "\n"
        "This is an update on the Email Triage Service issue.\n"
        "\n"
        "Incident: INC-20261124-1423-P0 (API returns 503 on every request)\n"
        "Impact: No email is being triaged: the API answers 503 to every request\n"
        "Start Time: 2026-11-24 14:23 UTC\n"
        "Status: Identified\n"
        "\n"
        "Latest Update (14:40 UTC): Redis primary hung after a kernel upgrade;"
        " failing over to the replica\n"
        "\n"
        "Actions Taken:\n"
        "- 14:32 UTC switch classification to fallback mode (ok)\n"
        "- 14:35 UTC rollout restart deployment/email-triage-api (unverified)\n"
        "\n"
        "The next update will be provided within 15 minutes.\n"
    )


def test_resolved(tmp_path: Path) -> None:
    incident = record(tmp_path, timeline.OPENED, timeline.ACTED, timeline.RESOLVED)
    message = render("resolved", incident=incident)
    assert message.text == (
        "Subject: [RESOLVED] Email Triage Service Issue\n"
        "\n"
        "The Email Triage Service issue has been resolved.\n"
        "\n"
        "Incident: INC-20261124-1423-P0 ([P0] API returns 503 on every request)\n"
        "Root Cause: Redis primary hung after a kernel upgrade | no automatic failover\n"
        "Resolution: Promoted the replica, restarted the API pods, fallback mode off\n"
        "Duration: 1h 7m (2026-11-24 14:23 UTC to 2026-11-24 15:30 UTC)\n"
        "\n"
        "A detailed post-mortem will be available within 48 hours.\n"
    )
    assert message.incident == timeline.INCIDENT


def test_postmortem_is_built_from_the_timeline(tmp_path: Path) -> None:
    incident = record(tmp_path, timeline.OPENED, timeline.ACTED, timeline.RESOLVED)
    text = render("postmortem", incident=incident, now=NOW).text
    expected_timeline = (
        "## Timeline (UTC)\n"
        "\n"
        "| Time | Event | Who | What happened |\n"
        "| --- | --- | --- | --- |\n"
        "| 2026-11-24 14:23:05 | incident.open | alice | [P0] API returns 503 on every request |\n"
        "| 2026-11-24 14:24:40 | runbook.run | alice | p0: critical, exit 2, 3 finding(s) |\n"
        "| 2026-11-24 14:31:12 | action | alice | model.fallback-on: switch classification to"
        " fallback mode -> dry-run |\n"
        "| 2026-11-24 14:32:30 | action | alice | model.fallback-on: switch classification to"
        " fallback mode -> ok |\n"
        "| 2026-11-24 14:35:00 | action | alice | kube.rollout-restart: rollout restart"
        " deployment/email-triage-api -> unverified |\n"
        "| 2026-11-24 14:40:00 | incident.note | alice | [identified] Redis primary hung after"
        " a kernel upgrade; failing over to the replica |\n"
        "| 2026-11-24 15:30:05 | incident.resolve | carol | resolved: Redis primary hung after"
        " a kernel upgrade \\| no automatic failover |\n"
    )
    assert expected_timeline in text
    assert (
        "## Findings\n\n| Severity | Code | Finding |\n| --- | --- | --- |\n"
        "| critical | TRI-REDIS-002 | Redis at 10.0.0.7:6379 still silent |\n"
        "| warning | TRI-K8S-004 | 2 of 3 API pods restarted in the last hour |\n"
        "| info | TRI-MODEL-001 | model server ready (12 ms) |\n"
    ) in text
    assert (
        "## Actions taken\n\n| Time | Action | Outcome |\n| --- | --- | --- |\n"
        "| 14:32 UTC | switch classification to fallback mode | ok |\n"
        "| 14:35 UTC | rollout restart deployment/email-triage-api | unverified |\n"
    ) in text
    assert (
        "## Root cause\n\nRedis primary hung after a kernel upgrade | no automatic failover\n"
    ) in text
    assert "| Duration | 1h 7m |\n" in text
    assert "Drafted by triage-ops from the audit timeline at 2026-11-25 09:00 UTC." in text
    assert text.startswith(
        "Subject: Post-mortem draft: INC-20261124-1423-P0 [P0] API returns 503 on every"
        " request\n\n# Post-mortem (draft): INC-20261124-1423-P0"
    )
    todo = [line for line in text.splitlines() if "TODO (humans)" in line]
    assert len(todo) == 6
    for heading in ("## What went well\n\nTODO", "## What to improve\n\nTODO"):
        assert heading in text


def test_maintenance_from_options() -> None:
    window = MaintenanceWindow(
        window_start="2026-11-28 02:00",
        window_end="2026-11-28T04:30",
        timezone="Europe/Berlin",
        purpose="Security updates and performance improvements",
    )
    assert render("maintenance", maintenance=window).text == (
        "Subject: Scheduled Maintenance - Email Triage Service\n"
        "\n"
        "Maintenance Window: 2026-11-28 02:00 - 04:30 Europe/Berlin\n"
        "Expected Impact: Minimal disruption expected\n"
        "Purpose: Security updates and performance improvements\n"
        "\n"
        "The service will remain available during this window with possible brief"
        " interruptions.\n"
    )
    overnight = MaintenanceWindow(
        window_start="2026-11-28 23:00",
        window_end="2026-11-29 01:00",
        purpose="Database upgrade",
        impact="The API is read-only for up to 20 minutes",
    )
    assert render("maintenance", maintenance=overnight).body.splitlines() == [
        "Maintenance Window: 2026-11-28 23:00 - 2026-11-29 01:00 UTC",
        "Expected Impact: The API is read-only for up to 20 minutes",
        "Purpose: Database upgrade",
        "",
        "Please plan for the impact described above during this window.",
    ]


@pytest.mark.parametrize(
    ("window", "error"),
    [
        (
            MaintenanceWindow(window_start="2026-11-28 02:00", window_end="2026-11-28 04:00"),
            "maintenance: missing purpose — give it with: --purpose TEXT",
        ),
        (
            MaintenanceWindow(purpose="x"),
            "maintenance: missing window_start, window_end — give them with:"
            " --window-start 'YYYY-MM-DD HH:MM' --window-end 'YYYY-MM-DD HH:MM'",
        ),
        (
            MaintenanceWindow(
                window_start="28/11/2026", window_end="2026-11-28 04:00", purpose="x"
            ),
            "maintenance: --window-start '28/11/2026' is not a date and time (YYYY-MM-DD HH:MM)",
        ),
        (
            MaintenanceWindow(
                window_start="2026-11-28 04:00", window_end="2026-11-28 02:00", purpose="x"
            ),
            "maintenance: --window-end must be after --window-start",
        ),
        (
            MaintenanceWindow(
                window_start="2026-11-28 02:00",
                window_end="2026-11-28 04:00",
                purpose="x",
                timezone="Mars/Olympus",
            ),
            "maintenance: --timezone 'Mars/Olympus' is not a time zone (e.g. UTC, Europe/Berlin)",
        ),
    ],
)
def test_maintenance_errors(window: MaintenanceWindow, error: str) -> None:
    with pytest.raises(UsageError) as raised:
        render("maintenance", maintenance=window)
    assert str(raised.value) == error


def test_missing_fields_name_the_command_that_records_them(tmp_path: Path) -> None:
    open_only = record(tmp_path, timeline.OPENED)
    with pytest.raises(UsageError) as raised:
        render("resolved", incident=open_only)
    assert str(raised.value) == (
        "resolved: missing root_cause, resolution, duration, resolved_at — record them with:"
        " triage-ops incident resolve INC-20261124-1423-P0 --root-cause TEXT --resolution TEXT"
    )
    with pytest.raises(UsageError) as raised:
        render("update", incident=open_only)
    assert str(raised.value) == (
        "update: missing latest_update — record it with:"
        " triage-ops incident note INC-20261124-1423-P0 TEXT"
    )
    with pytest.raises(UsageError) as raised:
        render("initial")
    assert str(raised.value) == "initial: needs --incident ID (see: triage-ops incident list)"


def test_cli_render_and_missing_field_exit_code(tmp_path: Path, config_path: Path) -> None:
    result = invoke(
        "--config", str(config_path), "comms", "render", "resolved", "--incident", timeline.INCIDENT
    )
    assert result.code == 0, result.err
    assert result.out.startswith("Subject: [RESOLVED] Email Triage Service Issue\n\n")

    result = invoke(
        "--config", str(config_path), "comms", "render", "resolved", "--incident", timeline.OTHER
    )
    assert result.code == 3
    assert result.out == ""
    assert result.err == (
        "triage-ops: error: resolved: missing root_cause, resolution, duration, resolved_at —"
        " record them with: triage-ops incident resolve INC-20261120-0900-P2 --root-cause TEXT"
        " --resolution TEXT\n"
    )
    result = invoke(
        "--config",
        str(config_path),
        "comms",
        "render",
        "maintenance",
        "--window-start",
        "2026-11-28 02:00",
        "--window-end",
        "2026-11-28 03:00",
    )
    assert (result.code, result.err) == (
        3,
        "triage-ops: error: maintenance: missing purpose — give it with: --purpose TEXT\n",
    )
    result = invoke("--config", str(config_path), "comms", "render", "nope")
    assert result.code == 3
    assert result.err == (
        "triage-ops: error: no comms template 'nope'"
        " (known: initial, maintenance, postmortem, resolved, update)\n"
    )


def test_cli_render_json_and_templates(config_path: Path) -> None:
    import json

    result = invoke(
        "--config",
        str(config_path),
        "--output",
        "json",
        "comms",
        "render",
        "initial",
        "--incident",
        timeline.OTHER,
    )
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["subject"] == "[P2] Email Triage Service Experiencing Issues"
    assert doc["incident"] == timeline.OTHER
    assert "Impact: Some emails may be classified incorrectly or miss features\n" in doc["body"]

    result = invoke("--config", str(config_path), "comms", "templates")
    assert result.code == 0
    assert result.out.splitlines()[0].split() == ["NAME", "SOURCE", "REQUIRES", "ABOUT"]
    assert [line.split()[0] for line in result.out.splitlines()[1:]] == [
        "initial",
        "maintenance",
        "postmortem",
        "resolved",
        "update",
    ]


def test_templates_run_sandboxed(tmp_path: Path) -> None:
    (tmp_path / "evil.md.j2").write_text(
        "{#- requires: id -#}\nSubject: x\n{{ id.__class__.__mro__[1].__subclasses__() }}\n"
    )
    (tmp_path / "typo.md.j2").write_text("{#- requires: id -#}\nSubject: {{ idd }}\n")
    (tmp_path / "bare.md.j2").write_text("Subject: no header\n")
    incident = Incident(
        id="INC-1", severity="P1", title="t", status="investigating", started_at=NOW
    )
    with pytest.raises(UsageError, match=r"^evil: template error: access to attribute"):
        render("evil", incident=incident, directory=tmp_path)
    with pytest.raises(UsageError) as raised:
        render("typo", incident=incident, directory=tmp_path)
    assert str(raised.value) == (
        "typo: the template uses a field that does not exist ('idd' is undefined)"
    )
    with pytest.raises(UsageError, match=r"bare.md.j2: the header comment must declare"):
        render("bare", incident=incident, directory=tmp_path)
