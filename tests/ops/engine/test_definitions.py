"""Runbook definitions: loaded and validated without importing any step's code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from triage_ops.engine.catalogue import Catalogue
from triage_ops.engine.errors import DefinitionError
from triage_ops.engine.runbook import Library, default_dir, engine_file, parse_runbook
from triage_ops.errors import UsageError

from .conftest import FIXTURES, ROOT


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.load(FIXTURES, engine_file=engine_file())


def _runbook(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "rb",
        "title": "A runbook",
        "source": "Section",
        "summary": "Symptoms",
        "steps": [
            {
                "id": "look",
                "kind": "check",
                "title": "Look",
                "run": "pkg.mod:check",
                "findings": ["TRI-FIXTURE-001"],
            },
            {
                "id": "fix",
                "kind": "action",
                "title": "Fix",
                "run": "pkg.mod:Fix",
                "when": ["TRI-FIXTURE-001"],
                "safe": True,
            },
        ],
    }
    data.update(overrides)
    return data


def _step(index: int, **changes: Any) -> dict[str, Any]:
    data = _runbook()
    data["steps"][index].update(changes)
    return data


def test_fixture_library_loads(library: Library) -> None:
    assert sorted(library.runbooks) == ["concurrent", "faults", "fixture", "hang"]
    fixture = library.get("fixture")
    assert [(s.id, s.kind, s.safe) for s in fixture.steps] == [
        ("slow", "check", False),
        ("switch", "check", False),
        ("switch-on", "action", True),
        ("restart", "action", False),
        ("recheck", "verify", False),
    ]
    assert fixture.step("switch").timeout == 2.0
    assert fixture.step("slow").timeout is None
    assert fixture.step("restart").after == ("switch-on",)
    assert fixture.step("switch-on").when == ("TRI-FIXTURE-001",)
    assert fixture.step("recheck").when is None
    assert fixture.command == "triage-ops runbook run fixture"
    assert dict(fixture.params) == {"state_dir": "/nonexistent", "pod": "api-0"}


def test_the_repository_runbooks_load() -> None:
    library = Library.load(default_dir())
    for runbook in library.runbooks.values():
        assert runbook.path == default_dir() / f"{runbook.id}.yaml"


@pytest.mark.parametrize("directory", [FIXTURES, default_dir()], ids=["fixture", "repository"])
def test_every_step_resolves_to_the_right_kind_of_thing(directory: Path) -> None:
    """What loading does not do (import step code), a test does for every runbook."""
    for runbook in Library.load(directory).runbooks.values():
        for step in runbook.steps:
            if runbook.id == "faults" and step.id == "missing":
                continue  # deliberately broken
            if step.kind == "action":
                action = step.action()
                assert all(hasattr(action, m) for m in ("name", "plan", "apply", "verify")), step
            else:
                assert callable(step.resolve()), step


def test_unknown_runbook_lists_the_known_ones(library: Library) -> None:
    with pytest.raises(UsageError) as caught:
        library.get("p9")
    assert str(caught.value) == (
        f"no runbook 'p9' in {FIXTURES} (known: concurrent, faults, fixture, hang)"
    )


def test_loading_imports_no_step_module() -> None:
    code = (
        "import sys, json; from pathlib import Path; "
        "from triage_ops.engine.runbook import Library; "
        f"Library.load(Path({str(FIXTURES)!r})); "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('tests'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_runbook(id="RB"), "id 'RB' must be lowercase letters, digits, -"),
        (_runbook(id="other"), "id 'other' must match the file name"),
        (_runbook(owner="me"), "unknown field(s) owner"),
        (_runbook(steps=[]), "steps must be a non-empty list"),
        ({k: v for k, v in _runbook().items() if k != "summary"}, "missing summary"),
        (_runbook(title="  "), "title is empty"),
        (_runbook(params={"n": [1]}), "params must map names to default values"),
        (_step(0, kind="probe"), "step 'look': kind must be one of check|action|verify"),
        (_step(0, run="pkg.mod.check"), "step 'look': run must be 'package.module:attribute'"),
        (_step(0, timeout=0), "step 'look': timeout must be a positive number of seconds"),
        (_step(0, timeout="5s"), "step 'look': timeout must be a positive number of seconds"),
        (_step(0, after=["nope"]), "step 'look': after names no step 'nope'"),
        (_step(0, after=["look"]), "step 'look' cannot come after itself"),
        (_step(0, after=["fix"]), "step 'look' (check) cannot come after 'fix' (action)"),
        (_step(0, when=["TRI-FIXTURE-001"]), "step 'look': a check has no `when`"),
        (_step(1, when=[]), "step 'fix': `when` is empty; omit it to run always"),
        (_step(1, when=["TRI-FIXTURE-002"]), "when names TRI-FIXTURE-002, which no earlier"),
        (_step(0, findings=["TRI-NOPE-001"]), "finding TRI-NOPE-001 is not in the catalogue"),
        (_step(0, safe=True), "step 'look': only actions can be safe"),
        (_step(1, safe="yes"), "step 'fix': safe must be true or false"),
        (_step(0, colour="red"), "step 'look': unknown field(s) colour"),
        (_step(1, id="look"), "two steps have the id 'look'"),
        (_step(0, findings=["TRI-FIXTURE-001", "TRI-FIXTURE-001"]), "findings lists a name twice"),
    ],
)
def test_invalid_definitions_say_where_and_what(
    catalogue: Catalogue, data: dict[str, Any], message: str
) -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_runbook(data, path=Path("runbooks/rb.yaml"), catalogue=catalogue)
    assert str(caught.value).startswith("runbooks/rb.yaml")
    assert message in str(caught.value)


def test_a_cycle_in_after_is_rejected(catalogue: Catalogue) -> None:
    data = _runbook()
    data["steps"] = [
        {"id": "a", "kind": "check", "title": "A", "run": "m:a", "after": ["b"]},
        {"id": "b", "kind": "check", "title": "B", "run": "m:b", "after": ["a"]},
    ]
    with pytest.raises(DefinitionError) as caught:
        parse_runbook(data, path=Path("runbooks/rb.yaml"), catalogue=catalogue)
    assert str(caught.value) == "runbooks/rb.yaml: steps a, b wait on each other (a cycle in after)"


def test_invalid_yaml_file(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("id: broken\nsteps: [\n")
    with pytest.raises(DefinitionError) as caught:
        Library.load(tmp_path)
    assert str(caught.value) == f"{tmp_path / 'broken.yaml'} is not valid YAML at line 3"


def test_a_directory_brings_its_own_codes(tmp_path: Path, catalogue: Catalogue) -> None:
    (tmp_path / "findings.d").mkdir()
    (tmp_path / "findings.d" / "mine.yaml").write_text(
        "TRI-MINE-001:\n  severity: warning\n  title: Mine\n  explanation: Mine.\n"
    )
    data = _runbook(id="mine")
    data["steps"] = [
        {"id": "a", "kind": "check", "title": "A", "run": "m:a", "findings": ["TRI-MINE-001"]}
    ]
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(data))
    library = Library.load(tmp_path)
    assert library.catalogue.codes()[-1] == "TRI-MINE-001"
    assert "TRI-ENGINE-001" in library.catalogue
    assert "TRI-FIXTURE-001" not in library.catalogue


def test_params_are_typed_like_their_defaults(library: Library) -> None:
    fixture = library.get("fixture")
    assert fixture.parse_params(["pod=api-7", "state_dir=/tmp/x"]) == {
        "pod": "api-7",
        "state_dir": "/tmp/x",
    }
    concurrent = library.get("concurrent")
    assert concurrent.parse_params(["seconds=0.5"]) == {"seconds": 0.5}
    with pytest.raises(UsageError) as caught:
        concurrent.parse_params(["seconds=soon"])
    assert str(caught.value) == "--param seconds: 'soon' is not a float"
    with pytest.raises(UsageError) as caught:
        concurrent.parse_params(["colour=red"])
    assert str(caught.value) == "runbook concurrent has no parameter 'colour' (known: seconds)"
    with pytest.raises(UsageError) as caught:
        concurrent.parse_params(["seconds"])
    assert str(caught.value) == "--param 'seconds': expected name=value"
