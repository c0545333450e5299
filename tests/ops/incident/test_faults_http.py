"""Fault injection, the HTTP dependencies: the model server, the API, the Kubernetes API
server (`incident p0`) and Prometheus (`incident p1`), each stopped (a closed port) and
black-holed (accepts TCP, never answers): the right finding, naming the system and its
address, and the right exit code within --timeout, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ops.blackhole import black_hole
from tests.ops.conftest import RunningSandbox
from tests.ops.incident.conftest import FAULT_TIMEOUT_S, config_copy, triage_ops
from tests.ops.incident.faults import API, KUBERNETES, MODEL, PROMETHEUS, Fault, check_fault_run
from triage_ops.sandbox.processes import free_port

TIMEOUT = ("--timeout", f"{FAULT_TIMEOUT_S:g}")
CASES = [
    (fault, kind)
    for fault in (MODEL, API, KUBERNETES, PROMETHEUS)
    for kind in ("stopped", "black-holed")
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("fault", "kind"), CASES, ids=[f"{f.system}-{kind}".replace(" ", "-") for f, kind in CASES]
)
def test_incident_names_the_dead_dependency(
    sandbox: RunningSandbox, tmp_path: Path, fault: Fault, kind: str
) -> None:
    if kind == "stopped":
        port = free_port()
        config = config_copy(sandbox, tmp_path, **fault.settings(sandbox, tmp_path, port))
        run = triage_ops(config, *TIMEOUT, "--output", "json", "incident", fault.runbook)
    else:
        with black_hole() as port:
            config = config_copy(sandbox, tmp_path, **fault.settings(sandbox, tmp_path, port))
            run = triage_ops(config, *TIMEOUT, "--output", "json", "incident", fault.runbook)

    check_fault_run(run, fault, kind, port)
    if fault is MODEL:  # the runbook's resolution: fallback mode, offered with its command
        report = run.report()
        assert report.steps()["fallback-on"] == "suggested"
        assert report.finding("TRI-MODEL-001")["command"] == "triage-ops model fallback on"
