"""The fault cases of the incident tests: a dependency stopped (its URL at a closed port:
connection refused) or black-holed (its URL at tests/ops/blackhole.py: the TCP handshake
completes, no byte ever comes back), each with the exact findings, per step, that
`incident p0` (or `p1`) must give within `--timeout`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.ops.conftest import RunningSandbox
from tests.ops.incident.conftest import (
    FAULT_TIMEOUT_S,
    SLACK_S,
    Run,
    assert_clean_stderr,
    kubeconfig_copy,
)

HOST = "127.0.0.1"
KUBE_STEPS = ["pods", "rollouts", "services", "ingress", "api-logs", "resource-limits"]
PROM_STEPS = ["latency", "error-rate", "cpu-memory", "model-latency", "queue-backlog"]
PAGING = {"pagerduty": ["TRI-COMMS-001"]}  # p0's info finding: paging not configured here


@dataclass(frozen=True)
class Fault:
    """`settings(sandbox, directory, port)` -> the config settings that point the system at
    `port`; `expect` the findings by step; `named` the finding whose summary says how."""

    system: str
    settings: Callable[[RunningSandbox, Path, int], dict[str, Any]]
    expect: dict[str, list[str]]
    exit_code: int
    named: str
    runbook: str = "p0"


def _redis(_: RunningSandbox, __: Path, port: int) -> dict[str, Any]:
    return {"redis_url": f"redis://{HOST}:{port}/0"}


def _postgres(_: RunningSandbox, __: Path, port: int) -> dict[str, Any]:
    return {"database_url": f"postgresql://triage@{HOST}:{port}/triage"}


def _model(_: RunningSandbox, __: Path, port: int) -> dict[str, Any]:
    return {"model_server_url": f"http://{HOST}:{port}"}


def _api(_: RunningSandbox, __: Path, port: int) -> dict[str, Any]:
    return {"api_url": f"http://{HOST}:{port}"}


def _prometheus(_: RunningSandbox, __: Path, port: int) -> dict[str, Any]:
    return {"prometheus_url": f"http://{HOST}:{port}"}


def _kubernetes(sandbox: RunningSandbox, directory: Path, port: int) -> dict[str, Any]:
    return {"kubeconfig": str(kubeconfig_copy(sandbox, directory, f"http://{HOST}:{port}"))}


REDIS = Fault(
    "Redis",
    _redis,
    {
        **PAGING,
        "redis": ["TRI-REDIS-001"],
        "fallback-switch": ["TRI-FALLBACK-002"],
        "validate-queue": ["TRI-QUEUE-002"],
    },
    2,
    "TRI-REDIS-001",
)
POSTGRES_STOPPED = Fault(
    "PostgreSQL", _postgres, {**PAGING, "postgres-primary": ["TRI-DB-001"]}, 2, "TRI-DB-001"
)
POSTGRES_HUNG = Fault(
    "PostgreSQL", _postgres, {**PAGING, "postgres-primary": ["TRI-DB-002"]}, 2, "TRI-DB-002"
)
MODEL = Fault(
    "model server", _model, {**PAGING, "model-server": ["TRI-MODEL-001"]}, 2, "TRI-MODEL-001"
)
API = Fault(
    "API",
    _api,
    {**PAGING, "api-ready": ["TRI-API-001"], "validate-classify": ["TRI-CLASSIFY-001"]},
    2,
    "TRI-API-001",
)
KUBERNETES = Fault(
    "Kubernetes API",
    _kubernetes,
    {**PAGING, **{step: ["TRI-KUBE-090"] for step in KUBE_STEPS}},
    4,  # the cluster could not be read: unknown, not critical
    "TRI-KUBE-090",
)
PROMETHEUS = Fault(
    "Prometheus",
    _prometheus,
    {step: ["TRI-PROM-001"] for step in PROM_STEPS},
    4,
    "TRI-PROM-001",
    runbook="p1",
)


def summary_says(fault: Fault, kind: str, port: int) -> str:
    """The words the named finding's summary must hold: the system's address and how."""
    how = "connection refused" if kind == "stopped" else f"{FAULT_TIMEOUT_S:g} s"
    return {
        "TRI-REDIS-001": f"Redis at {HOST}:{port} (cache and queue) did not answer PING",
        "TRI-DB-001": f"PostgreSQL primary at {HOST}:{port}/triage is down (connection refused)",
        "TRI-DB-002": f"PostgreSQL primary at {HOST}:{port}/triage did not answer within",
        "TRI-MODEL-001": f"The model server at http://{HOST}:{port} did not answer",
        "TRI-API-001": f"API at http://{HOST}:{port} did not answer /readyz",
        "TRI-KUBE-090": f"Kubernetes API at http://{HOST}:{port}",
        "TRI-PROM-001": f"Prometheus at http://{HOST}:{port}",
    }[fault.named] + ("" if fault.named == "TRI-DB-001" else f"|{how}")


def check_fault_run(run: Run, fault: Fault, kind: str, port: int) -> None:
    assert_clean_stderr(run)
    assert run.seconds < FAULT_TIMEOUT_S + SLACK_S, (run.seconds, run.err)
    report = run.report()
    assert (run.code, report.by_step()) == (fault.exit_code, fault.expect), run.out
    for part in summary_says(fault, kind, port).split("|"):
        for finding in report.findings:
            if finding["code"] == fault.named:
                assert part.lower() in finding["summary"].lower(), finding["summary"]
    # every finding of the fault: within the step's timeout, never abandoned by the engine
    for finding in report.findings:
        if finding["code"] == fault.named:
            step = report.step(finding["step"])
            assert step["duration_ms"] < (FAULT_TIMEOUT_S + 0.25) * 1000, step
