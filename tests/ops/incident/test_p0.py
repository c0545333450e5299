"""`triage-ops incident p0` on the healthy sandbox, and on the emulator's Kubernetes
scenarios: exact findings, exit codes, the incident record and the audit chain."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.ops.conftest import RunningSandbox
from tests.ops.incident.conftest import (
    assert_clean_stderr,
    audit_entries,
    config_copy,
    scenario,
    triage_ops,
)

CHECKS = [
    "pagerduty",
    "pods",
    "rollouts",
    "services",
    "ingress",
    "api-logs",
    "resource-limits",
    "postgres-primary",
    "postgres-replica",
    "redis",
    "model-server",
    "api-ready",
    "fallback-switch",
]
VERIFY = ["validate-classify", "validate-queue"]
HEALTHY_STEPS = {
    **dict.fromkeys(CHECKS, "ok"),
    "acknowledge": "suggested",  # paging not configured: taken with --act, a no-op then
    "fallback-on": "skipped",
    "restart-api": "skipped",
    **dict.fromkeys(VERIFY, "ok"),
}


@pytest.mark.timeout(120)
def test_healthy_sandbox_opens_an_incident_then_attaches_and_chains_the_audit(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    config = config_copy(sandbox, tmp_path)  # its own, empty, audit timeline

    first = triage_ops(config, "--output", "json", "incident", "p0")

    assert_clean_stderr(first)
    assert first.code == 0, first.err
    report = first.report()
    assert report.steps() == HEALTHY_STEPS
    # the one finding: paging is not configured here (info: exit 0), so the page is
    # acknowledged by hand, as the finding says
    assert [(f["code"], f["severity"], f["step"]) for f in report.findings] == [
        ("TRI-COMMS-001", "info", "pagerduty")
    ]
    incident = report.data["incident"]
    assert incident.startswith("INC-") and incident.endswith("-P0")
    assert first.err == f"triage-ops: opened incident {incident}\n"
    assert (report.data["runbook"], report.data["status"], report.data["exit_code"]) == (
        "incident-p0",
        "info",
        0,
    )

    second = triage_ops(config, "--output", "json", "incident", "p0")

    assert second.code == 0, second.err
    assert second.report().data["incident"] == incident
    assert second.err == (
        f"triage-ops: attaching to open incident {incident} (Complete service outage)\n"
    )
    audit = tmp_path / "audit.jsonl"
    entries = audit_entries(audit)
    assert [(e["seq"], e["kind"], e["incident"], e["outcome"]) for e in entries] == [
        (1, "incident.open", incident, "ok"),
        (2, "runbook.run", incident, "healthy"),
        (3, "runbook.run", incident, "healthy"),
    ]
    raw = audit.read_bytes().splitlines()
    assert entries[0]["prev"] == "0" * 64
    # each entry carries the SHA-256 of the line before it
    assert entries[1]["prev"] == hashlib.sha256(raw[0]).hexdigest()
    assert entries[2]["prev"] == hashlib.sha256(raw[1]).hexdigest()
    assert entries[1]["details"]["steps"] == HEALTHY_STEPS

    verified = triage_ops(config, "--output", "json", "audit", "verify")
    assert (verified.code, verified.json()) == (
        0,
        {"ok": True, "entries": 3, "broken_at": None, "reason": "3 entries, chain intact"},
    )

    # the chain shows tampering: the second run rewritten as a failure
    lines = audit.read_text(encoding="utf-8").splitlines()
    forged = json.loads(lines[1])
    forged["outcome"] = "critical"
    lines[1] = json.dumps(forged, separators=(",", ":"))
    audit.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tampered = triage_ops(config, "--output", "json", "audit", "verify")
    assert tampered.code == 2
    assert (tampered.json()["ok"], tampered.json()["broken_at"]) == (False, 2)


@pytest.mark.timeout(60)
def test_table_output_names_the_incident_and_every_step(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    run = triage_ops(config_copy(sandbox, tmp_path), "incident", "p0")

    assert_clean_stderr(run)
    assert run.code == 0, run.err
    first, second = run.out.splitlines()[:2]
    assert first == "P0: complete service outage"
    assert second.split() == ["RUNBOOK", "INCIDENT", "STATUS", "EXIT", "SECONDS"]
    steps = run.out.split("\nSteps\n")[1].splitlines()
    assert [line.split()[:3] for line in steps[1:]] == [
        [step, kind, status]
        for step, status in HEALTHY_STEPS.items()
        for kind in ["check" if step in CHECKS else "verify" if step in VERIFY else "action"]
    ]


# scenario -> (exit code, every finding code of the run, sorted)
SCENARIOS = {
    "crashloop": (
        2,
        [
            "TRI-COMMS-001",
            "TRI-KUBE-001",  # the API container in CrashLoopBackOff
            "TRI-KUBE-007",  # 2 of 3 replicas available
            "TRI-KUBE-012",  # revision 2 -> 3, 25 min ago: the suspect
            "TRI-KUBE-040",  # the crashing pod's error lines
        ],
    ),
    "oomkilled": (
        1,
        [
            "TRI-COMMS-001",
            "TRI-KUBE-003",  # OOMKilled 14 min ago, memory limit 2Gi
            "TRI-KUBE-050",  # the model server has no limits
            "TRI-KUBE-051",  # 95% of its memory limit
        ],
    ),
    "stuck-rollout": (
        2,
        [
            "TRI-COMMS-001",
            "TRI-KUBE-004",  # the new pod cannot be scheduled: insufficient memory
            "TRI-KUBE-010",  # progress deadline exceeded
            "TRI-KUBE-012",
        ],
    ),
    "no-endpoints": (
        2,
        [
            "TRI-COMMS-001",
            "TRI-KUBE-005",  # three pods running, none ready
            "TRI-KUBE-005",
            "TRI-KUBE-005",
            "TRI-KUBE-006",  # no available replica
            "TRI-KUBE-020",  # the service has no ready endpoint
            "TRI-KUBE-040",
        ],
    ),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_kubernetes_scenarios(sandbox: RunningSandbox, tmp_path: Path, name: str) -> None:
    with scenario(sandbox, name):
        run = triage_ops(config_copy(sandbox, tmp_path), "--output", "json", "incident", "p0")

    assert_clean_stderr(run)
    code, codes = SCENARIOS[name]
    report = run.report()
    assert (run.code, report.codes()) == (code, codes), run.out
    # no step gave a code it does not declare, none was abandoned or crashed
    assert not [c for c in report.codes() if c.startswith("TRI-ENGINE-")]
    # the dependencies are not Kubernetes: they stay healthy
    for step in ("postgres-primary", "redis", "model-server", "api-ready", *VERIFY):
        assert report.steps()[step] == "ok", step


@pytest.mark.timeout(60)
def test_crashloop_gives_the_runbooks_resolution(sandbox: RunningSandbox, tmp_path: Path) -> None:
    with scenario(sandbox, "crashloop"):
        run = triage_ops(config_copy(sandbox, tmp_path), "--output", "json", "incident", "p0")

    report = run.report()
    crash = report.finding("TRI-KUBE-001")
    assert crash["severity"] == "critical"
    assert crash["step"] == "pods"
    assert crash["evidence"]["reason"] == "CrashLoopBackOff"
    assert crash["evidence"]["deployment"] == "email-triage-api"
    assert crash["evidence"]["restarts"] == 7
    # "If pods are crashlooping: check resource limits and recent deployments"
    assert "check resource limits and recent deployments" in crash["action"]
    assert crash["command"] == (
        "kubectl -n email-triage logs deployment/email-triage-api --previous --tail=100"
    )
    recent = report.finding("TRI-KUBE-012")
    assert recent["step"] == "rollouts"
    assert recent["evidence"]["deployment"] == "email-triage-api"
    assert recent["evidence"]["image_changes"] == {
        "api": "email-triage:1.4.1 -> email-triage:1.4.2",
        "migrate": "email-triage:1.4.1 -> email-triage:1.4.2",
    }
    assert (
        recent["command"] == "kubectl -n email-triage rollout history deployment/email-triage-api"
    )
    # a crash loop is no reason to restart the API (the new image is the suspect)
    assert report.steps()["restart-api"] == "skipped"


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("name", "code", "step", "severity", "command"),
    [
        (
            "oomkilled",
            "TRI-KUBE-003",
            "pods",
            "warning",
            "triage-ops scale api --cpu 2000m --memory 3Gi --dry-run",
        ),
        (
            "stuck-rollout",
            "TRI-KUBE-010",
            "rollouts",
            "critical",
            "kubectl -n email-triage rollout undo deployment/email-triage-api",
        ),
        (
            "no-endpoints",
            "TRI-KUBE-020",
            "services",
            "critical",
            "kubectl -n email-triage get endpoints",
        ),
    ],
)
def test_scenario_findings_carry_their_next_command(
    sandbox: RunningSandbox,
    tmp_path: Path,
    name: str,
    code: str,
    step: str,
    severity: str,
    command: str,
) -> None:
    with scenario(sandbox, name):
        run = triage_ops(config_copy(sandbox, tmp_path), "--output", "json", "incident", "p0")

    found = run.report().finding(code)
    assert (found["step"], found["severity"], found["command"]) == (step, severity, command)
    if name == "no-endpoints":  # pods running but not ready: a restart is offered
        assert run.report().steps()["restart-api"] == "suggested"
