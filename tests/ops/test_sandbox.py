"""`triage-ops sandbox up|status|down` against the real thing: every server from the
system packages and every service process from this repository, on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from click.testing import CliRunner

from triage_ops.cli import main
from triage_ops.sandbox import processes


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def sandbox_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    state = tmp_path_factory.mktemp("sandbox")
    # The postgres system user must be able to reach its data directory.
    for parent in [state, *state.parents]:
        if parent == Path("/"):
            break
        parent.chmod(parent.stat().st_mode | 0o011)
    yield state
    _invoke("sandbox", "down", "--state-dir", str(state))


@pytest.mark.timeout(240)
def test_up_status_second_up_and_down(sandbox_dir: Path) -> None:
    code, out, err = _invoke("--output", "json", "sandbox", "up", "--state-dir", str(sandbox_dir))
    assert code == 0, err
    report = json.loads(out)
    assert report["reused"] is False
    endpoints = report["endpoints"]
    assert set(endpoints) == {
        "kubernetes",
        "postgres",
        "redis",
        "alertmanager",
        "model-server",
        "api",
        "worker",
        "prometheus",
    }
    config = yaml.safe_load(Path(report["config_path"]).read_text())
    assert config["api_url"] == endpoints["api"]
    assert config["prometheus_url"] == endpoints["prometheus"]

    # The runbook's recovery check, against the sandbox's API.
    r = requests.post(
        endpoints["api"] + "/v1/classify",
        json={"email": {"subject": "Test", "body": "Test email"}},
        timeout=10,
    )
    assert r.status_code == 200
    # Prometheus scrapes the API under the job name the runbook's alerts use.
    q = requests.get(
        endpoints["prometheus"] + "/api/v1/query",
        params={"query": 'up{job="email-triage"}'},
        timeout=10,
    ).json()
    assert [s["value"][1] for s in q["data"]["result"]] == ["1"]

    code, out, _ = _invoke("--output", "json", "sandbox", "status", "--state-dir", str(sandbox_dir))
    assert code == 0
    rows = json.loads(out)
    assert all(row["running"] for row in rows)
    pids = {row["component"]: row["pid"] for row in rows}

    # A second `up` reuses the running sandbox: no duplicate processes.
    code, out, _ = _invoke("--output", "json", "sandbox", "up", "--state-dir", str(sandbox_dir))
    assert code == 0
    assert json.loads(out)["reused"] is True
    code, out, _ = _invoke("--output", "json", "sandbox", "status", "--state-dir", str(sandbox_dir))
    assert {row["component"]: row["pid"] for row in json.loads(out)} == pids

    code, out, _ = _invoke("--output", "json", "sandbox", "down", "--state-dir", str(sandbox_dir))
    assert code == 0
    assert sorted(json.loads(out)["stopped"]) == sorted(pids)
    assert not [name for name, pid in pids.items() if processes.alive(pid)]
    code, out, _ = _invoke("sandbox", "status", "--state-dir", str(sandbox_dir))
    assert code == 2
    assert out == "nothing to show\n"
