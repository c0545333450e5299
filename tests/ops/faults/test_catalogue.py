"""The finding catalogue of the dependency checks (runbooks/findings.d/dependencies.yaml):
its schema, that it declares exactly the codes the checks use, that no other catalogue
file declares them too, and that it carries the runbook's resolutions."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.ops.faults.support import CATALOGUE, REPO, catalogue
from triage_ops.findings import Severity

CHECKS_SOURCE = REPO / "triage_ops" / "procedures" / "dependency_checks.py"
CODE = re.compile(r"\bTRI-[A-Z]+-\d{3}\b")


def test_every_entry_has_the_schema() -> None:
    for code, entry in catalogue().items():
        assert CODE.fullmatch(code), code
        assert set(entry) == {"severity", "title", "explanation", "action", "command"}, code
        Severity(entry["severity"])
        for key in ("title", "explanation", "action"):
            assert isinstance(entry[key], str) and entry[key].strip(), (code, key)
        assert isinstance(entry["command"], str), code


def test_the_catalogue_declares_exactly_the_codes_the_checks_use() -> None:
    used = set(CODE.findall(CHECKS_SOURCE.read_text(encoding="utf-8")))
    assert used == set(catalogue())


def test_no_code_is_declared_twice() -> None:
    declared = re.findall(r"^(TRI-[A-Z]+-\d{3}):", CATALOGUE.read_text(encoding="utf-8"), re.M)
    assert len(declared) == len(set(declared))
    others = [p for p in (REPO / "runbooks" / "findings.d").glob("*.yaml") if p != CATALOGUE]
    main = REPO / "runbooks" / "findings.yaml"
    for path in [*others, *([main] if main.exists() else [])]:
        theirs = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        assert not set(theirs) & set(catalogue()), path


def test_the_runbooks_resolutions() -> None:
    entries = catalogue()
    for code in ("TRI-DB-001", "TRI-DB-002"):  # database down
        assert entries[code]["severity"] == "critical"
        assert "Engage the DBA team" in entries[code]["action"]
        assert "read replica" in entries[code]["action"]
    redis_down = entries["TRI-REDIS-001"]  # Redis down: restart, flush only cache keys
    assert redis_down["action"].startswith("Restart Redis")
    assert "never FLUSHDB" in redis_down["action"]
    assert redis_down["command"] == "triage-ops cache flush --dry-run"
    for code in ("TRI-MODEL-001", "TRI-MODEL-002", "TRI-MODEL-003"):  # model unavailable
        assert entries[code]["severity"] == "critical"
        assert entries[code]["command"] == "triage-ops model fallback on"
        assert "fallback classification mode" in entries[code]["action"]
    assert all("FLUSHDB" not in e["command"] for e in entries.values())


def test_the_p0_systems_are_critical() -> None:
    entries = catalogue()
    for code in [
        "TRI-DB-001",
        "TRI-DB-002",
        "TRI-DB-003",
        "TRI-REDIS-001",
        "TRI-REDIS-002",
        "TRI-MODEL-001",
        "TRI-API-001",
        "TRI-API-002",
        "TRI-CLASSIFY-001",
        "TRI-QUEUE-001",
    ]:
        assert entries[code]["severity"] == "critical", code
    assert entries["TRI-FALLBACK-001"]["severity"] == "info"
