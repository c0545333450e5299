"""Runbook definitions: `runbooks/<id>.yaml`, one runbook per file, loaded and validated
without importing any step's code (so `triage-ops runbook list` and `--help` stay fast).

A runbook is the runbook section it implements (`source`), its symptoms (`summary`), and
steps in three phases: checks (run concurrently as their `after` allows), then actions
(one at a time: plan -> confirm -> apply -> verify), then verify steps (checks again,
such as the runbook's recovery validation). The schema is written out for authors in
runbooks/README.md (generated from `SCHEMA_DOC` below).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from triage_ops.config import OpsConfig
from triage_ops.engine.catalogue import MAIN_FILE, Catalogue
from triage_ops.engine.errors import DefinitionError
from triage_ops.engine.fastyaml import safe_load
from triage_ops.errors import UsageError

KINDS = ("check", "action", "verify")
PHASE = {"check": 0, "action": 1, "verify": 2}
RUNBOOK_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
STEP_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
# Codes the engine itself may give on any step: they need not be declared.
ENGINE_CODES = frozenset(
    {f"TRI-ENGINE-00{n}" for n in range(1, 6)} | {f"TRI-ACTION-00{n}" for n in range(1, 4)}
)
_RUNBOOK_KEYS = {"id", "title", "source", "summary", "steps", "doc", "command", "params"}
_STEP_KEYS = {
    "id", "kind", "title", "run", "timeout", "after", "when", "params", "findings", "safe", "doc",
}  # fmt: skip


def default_dir() -> Path:
    """The repository's runbooks/ (beside the triage_ops package)."""
    return Path(__file__).resolve().parents[2] / "runbooks"


def engine_file() -> Path:
    """The engine's own codes (TRI-ENGINE-*, TRI-ACTION-*), part of every catalogue."""
    return default_dir() / MAIN_FILE


@dataclass(frozen=True)
class Step:
    id: str
    kind: str  # check | action | verify
    title: str
    run: str  # "module:attr": a check function, or an Action class (or factory)
    timeout: float | None = None  # None: the run's --timeout
    after: tuple[str, ...] = ()
    when: tuple[str, ...] | None = None  # None: always (actions and verify steps only)
    params: Mapping[str, Any] = field(default_factory=dict)
    findings: tuple[str, ...] = ()
    safe: bool = False  # an action `--act` takes without `--take STEP`
    doc: str = ""

    def triggered(self, codes: Iterable[str]) -> bool:
        return self.when is None or bool(set(self.when) & set(codes))

    def resolve(self) -> Any:
        """Import the step's code (only now, when it is about to run)."""
        module_name, attr = self.run.split(":")
        module = importlib.import_module(module_name)
        try:
            return getattr(module, attr)
        except AttributeError:
            raise ImportError(f"module {module_name} has no attribute {attr!r}") from None

    def action(self) -> Any:
        """An action step's Action: `run` names an Action class or a factory (called with
        no arguments), or an Action object itself."""
        target = self.resolve()
        return target() if isinstance(target, type) or not hasattr(target, "plan") else target


@dataclass(frozen=True)
class Runbook:
    id: str
    title: str
    source: str  # the runbook section this implements
    summary: str  # its symptoms
    steps: tuple[Step, ...]
    doc: str = ""  # what we do differently from the runbook, and why
    command: str = ""  # the triage-ops command that runs it
    params: Mapping[str, Any] = field(default_factory=dict)  # --param name -> default
    path: Path | None = None

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise UsageError(f"runbook {self.id} has no step {step_id!r}")

    def of_kind(self, kind: str) -> list[Step]:
        return [s for s in self.steps if s.kind == kind]

    def parse_params(self, pairs: Iterable[str]) -> dict[str, Any]:
        """`--param name=value` pairs, typed like the runbook's defaults."""
        values: dict[str, Any] = {}
        for pair in pairs:
            name, sep, raw = pair.partition("=")
            name = name.strip()
            if not sep or not name:
                raise UsageError(f"--param {pair!r}: expected name=value")
            if name not in self.params:
                known = ", ".join(sorted(self.params)) or "none"
                raise UsageError(f"runbook {self.id} has no parameter {name!r} (known: {known})")
            values[name] = _coerce(name, raw, self.params[name])
        return values


def _coerce(name: str, raw: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            lowered = raw.strip().lower()
            if lowered not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                raise ValueError(raw)
            return lowered in {"1", "true", "yes", "on"}
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        raise UsageError(f"--param {name}: {raw!r} is not a {type(default).__name__}") from None
    return raw


@dataclass(frozen=True)
class Library:
    """Every runbook of a directory, validated against the merged catalogue."""

    directory: Path
    catalogue: Catalogue
    runbooks: Mapping[str, Runbook]

    @classmethod
    def load(cls, directory: Path | None = None, *, config: OpsConfig | None = None) -> Library:
        """Runbooks of `directory` (default: the repository's runbooks/), checked against
        the engine's codes plus the directory's own findings files."""
        directory = directory or default_dir()
        if not directory.is_dir():
            raise UsageError(f"runbooks directory {directory} does not exist")
        catalogue = Catalogue.load(directory, engine_file=engine_file(), config=config)
        runbooks: dict[str, Runbook] = {}
        for path in sorted(directory.glob("*.yaml")):
            if path.name == MAIN_FILE:
                continue
            runbook = read_runbook(path, catalogue)
            runbooks[runbook.id] = runbook
        return cls(directory, catalogue, MappingProxyType(runbooks))

    def get(self, runbook_id: str) -> Runbook:
        try:
            return self.runbooks[runbook_id]
        except KeyError:
            known = ", ".join(sorted(self.runbooks)) or "none"
            raise UsageError(
                f"no runbook {runbook_id!r} in {self.directory} (known: {known})"
            ) from None


def read_runbook(path: Path, catalogue: Catalogue) -> Runbook:
    import yaml

    try:
        data = safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DefinitionError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise DefinitionError(f"{path} is not valid YAML{where}") from None
    return parse_runbook(data, path=path, catalogue=catalogue)


def parse_runbook(data: Any, *, path: Path, catalogue: Catalogue) -> Runbook:
    if not isinstance(data, dict):
        raise DefinitionError(f"{path}: expected a mapping (id, title, source, summary, steps)")
    _keys(data, _RUNBOOK_KEYS, {"id", "title", "source", "summary", "steps"}, str(path))
    runbook_id = _text(data, "id", str(path))
    if not RUNBOOK_ID.match(runbook_id):
        raise DefinitionError(f"{path}: id {runbook_id!r} must be lowercase letters, digits, -")
    if runbook_id != path.stem:
        raise DefinitionError(f"{path}: id {runbook_id!r} must match the file name")
    where = f"{path}"
    params = data.get("params") or {}
    if not isinstance(params, dict) or not all(
        isinstance(k, str) and isinstance(v, str | int | float | bool) for k, v in params.items()
    ):
        raise DefinitionError(f"{where}: params must map names to default values (scalars)")
    raw_steps = data["steps"]
    if not isinstance(raw_steps, list) or not raw_steps:
        raise DefinitionError(f"{where}: steps must be a non-empty list")
    steps = tuple(_step(raw, index, where, catalogue) for index, raw in enumerate(raw_steps, 1))
    _check_graph(steps, where, catalogue)
    return Runbook(
        id=runbook_id,
        title=_text(data, "title", where),
        source=_text(data, "source", where),
        summary=_text(data, "summary", where),
        steps=steps,
        doc=_text(data, "doc", where, required=False, paragraph=False),
        command=_text(data, "command", where, required=False)
        or f"triage-ops runbook run {runbook_id}",
        params=MappingProxyType(dict(params)),
        path=path,
    )


def _step(raw: Any, index: int, where: str, catalogue: Catalogue) -> Step:
    if not isinstance(raw, dict):
        raise DefinitionError(f"{where}: step {index} must be a mapping")
    step_id = raw.get("id")
    if not isinstance(step_id, str) or not STEP_ID.match(step_id):
        raise DefinitionError(f"{where}: step {index} needs an id (lowercase, digits, - or _)")
    here = f"{where}: step {step_id!r}"
    _keys(raw, _STEP_KEYS, {"id", "kind", "title", "run"}, here)
    kind = raw["kind"]
    if kind not in KINDS:
        raise DefinitionError(f"{here}: kind must be one of {'|'.join(KINDS)}, not {kind!r}")
    run = raw["run"]
    if not isinstance(run, str) or not TARGET.match(run):
        raise DefinitionError(f"{here}: run must be 'package.module:attribute', not {run!r}")
    timeout = raw.get("timeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
    ):
        raise DefinitionError(f"{here}: timeout must be a positive number of seconds")
    after = _codes_list(raw, "after", here)
    when = _codes_list(raw, "when", here) if "when" in raw else None
    if when is not None:
        if kind == "check":
            raise DefinitionError(f"{here}: a check has no `when` (actions and verify steps do)")
        if not when:
            raise DefinitionError(f"{here}: `when` is empty; omit it to run always")
    findings = _codes_list(raw, "findings", here)
    for code in (*findings, *(when or ())):
        if code not in catalogue:
            raise DefinitionError(f"{here}: finding {code} is not in the catalogue")
    safe = raw.get("safe", False)
    if not isinstance(safe, bool):
        raise DefinitionError(f"{here}: safe must be true or false")
    if safe and kind != "action":
        raise DefinitionError(f"{here}: only actions can be safe")
    params = raw.get("params") or {}
    if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
        raise DefinitionError(f"{here}: params must be a mapping")
    return Step(
        id=step_id,
        kind=kind,
        title=_text(raw, "title", here),
        run=run,
        timeout=float(timeout) if timeout is not None else None,
        after=after,
        when=when,
        params=MappingProxyType(dict(params)),
        findings=findings,
        safe=safe,
        doc=_text(raw, "doc", here, required=False, paragraph=False),
    )


def _check_graph(steps: tuple[Step, ...], where: str, catalogue: Catalogue) -> None:
    """Unique ids; `after` names earlier-or-same-phase steps without cycles; every `when`
    code can be given by some step of an earlier phase."""
    by_id: dict[str, Step] = {}
    for step in steps:
        if step.id in by_id:
            raise DefinitionError(f"{where}: two steps have the id {step.id!r}")
        by_id[step.id] = step
    for step in steps:
        for dep in step.after:
            if dep not in by_id:
                raise DefinitionError(f"{where}: step {step.id!r}: after names no step {dep!r}")
            if dep == step.id:
                raise DefinitionError(f"{where}: step {step.id!r} cannot come after itself")
            if PHASE[by_id[dep].kind] > PHASE[step.kind]:
                raise DefinitionError(
                    f"{where}: step {step.id!r} ({step.kind}) cannot come after"
                    f" {dep!r} ({by_id[dep].kind}): checks run before actions, actions before"
                    " verify steps"
                )
    order(steps, where=where)
    for step in steps:
        if step.when is None:
            continue
        givable = {c for s in steps if PHASE[s.kind] < PHASE[step.kind] for c in s.findings}
        for code in step.when:
            if code not in givable and code not in ENGINE_CODES:
                raise DefinitionError(
                    f"{where}: step {step.id!r}: when names {code}, which no earlier step"
                    " declares in its findings"
                )


def order(steps: Iterable[Step], *, where: str = "") -> list[Step]:
    """Steps in an order that respects `after` (stable: file order among ready steps)."""
    pending = list(steps)
    done: set[str] = set()
    ordered: list[Step] = []
    known = {s.id for s in pending}
    while pending:
        ready = [s for s in pending if all(d in done or d not in known for d in s.after)]
        if not ready:
            cycle = ", ".join(s.id for s in pending)
            raise DefinitionError(f"{where}: steps {cycle} wait on each other (a cycle in after)")
        ordered.append(ready[0])
        done.add(ready[0].id)
        pending.remove(ready[0])
    return ordered


def _keys(data: dict[Any, Any], allowed: set[str], required: set[str], where: str) -> None:
    unknown = sorted(map(str, set(data) - allowed))
    if unknown:
        raise DefinitionError(f"{where}: unknown field(s) {', '.join(unknown)}")
    missing = sorted(required - set(data))
    if missing:
        raise DefinitionError(f"{where}: missing {', '.join(missing)}")


def _text(
    data: dict[Any, Any], key: str, where: str, *, required: bool = True, paragraph: bool = True
) -> str:
    value = data.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise DefinitionError(f"{where}: {key} must be a string")
    text = " ".join(value.split()) if paragraph else value.strip()
    if required and not text:
        raise DefinitionError(f"{where}: {key} is empty")
    return text


def _codes_list(raw: dict[Any, Any], key: str, where: str) -> tuple[str, ...]:
    value = raw.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DefinitionError(f"{where}: {key} must be a list of names")
    if len(set(value)) != len(value):
        raise DefinitionError(f"{where}: {key} lists a name twice")
    return tuple(value)
