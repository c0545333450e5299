"""The finding catalogue: every code a check may give, with its severity, what it means, the
runbook's next action and the exact command that takes it.

One source for the CLI and the docs: checks name a code and say what they saw; severity,
action and command come from here, so a report and `runbooks/*.md` never disagree.

The engine's codes live in `runbooks/findings.yaml`; each area adds its own in
`runbooks/findings.d/<area>.yaml` (same schema). All files are merged; a code declared
twice is an error naming both files, so two engineers cannot silently take the same code
(an identical copy, such as a copied runbooks directory's findings.yaml, is not).
Another runbooks directory (`triage-ops runbook --dir`) brings its own codes the same way
and always gets the engine's.

A command may name settings of `OpsConfig` (`{namespace}`, `{api_deployment}`, ...) and
evidence keys of the finding (`{pod}`): both are filled in when the finding is made, each
value shell-quoted. Secret settings are never offered to templates.
"""

from __future__ import annotations

import re
import shlex
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from triage_ops.config import OpsConfig
from triage_ops.engine.errors import DefinitionError, UnknownFinding
from triage_ops.engine.fastyaml import safe_load
from triage_ops.findings import Finding, Severity

CODE = re.compile(r"^TRI-[A-Z0-9]+-\d{3}$")
MAIN_FILE = "findings.yaml"
EXTRA_DIR = "findings.d"
_REQUIRED = ("severity", "title", "explanation")
_OPTIONAL = ("action", "command")


def config_fields() -> frozenset[str]:
    """The settings a command template may name: every non-secret OpsConfig field."""
    return frozenset(f.name for f in fields(OpsConfig) if str(f.type) != "Secret")


def template_values(config: OpsConfig) -> dict[str, str]:
    return {name: str(getattr(config, name)) for name in sorted(config_fields())}


def placeholders(template: str) -> list[str]:
    """Names a command template uses, in order; `{{` escapes a brace."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise DefinitionError(f"bad braces in command {template!r}: {exc}") from None
    names = []
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise DefinitionError(f"command {template!r}: placeholder {{{name}}} must be a name")
        names.append(name)
    return names


@dataclass(frozen=True)
class Entry:
    code: str
    severity: Severity
    title: str
    explanation: str
    action: str = ""
    command: str = ""  # a template: {config_field} and {evidence_key}
    source: str = ""  # the file that declares it (for error messages and the docs)

    @property
    def evidence_keys(self) -> list[str]:
        """Placeholders that are not settings: the check must give them as evidence."""
        known = config_fields()
        return [name for name in placeholders(self.command) if name not in known]

    def render_command(self, values: Mapping[str, Any], *, missing: str | None = None) -> str:
        """The command with placeholders filled and shell-quoted; a missing value raises
        UnknownFinding (a check that forgot the evidence) unless `missing` is given, which
        is then formatted with the name (the docs write `<pod>`)."""
        if not self.command:
            return ""
        filled: dict[str, str] = {}
        for name in placeholders(self.command):
            if name in values:
                filled[name] = shlex.quote(str(values[name]))
            elif missing is not None:
                filled[name] = missing.format(name)
            else:
                raise UnknownFinding(
                    f"finding {self.code}: its command needs evidence {name!r}, which the"
                    " check did not give"
                )
        return self.command.format_map(filled)


class Catalogue:
    """Codes -> entries. `finding()` is what `StepContext.finding` calls."""

    def __init__(self, entries: Iterable[Entry], *, config: OpsConfig | None = None) -> None:
        self._entries = {e.code: e for e in entries}
        self.config = config or OpsConfig()

    @classmethod
    def load(
        cls, directory: Path, *, engine_file: Path | None = None, config: OpsConfig | None = None
    ) -> Catalogue:
        """`engine_file` (the engine's own codes), then `findings.yaml` and
        `findings.d/*.yaml` of `directory`; a file named twice is read once."""
        files = [engine_file] if engine_file is not None else []
        files += [directory / MAIN_FILE] if (directory / MAIN_FILE).is_file() else []
        files += sorted((directory / EXTRA_DIR).glob("*.yaml"))
        seen: set[Path] = set()
        entries: dict[str, Entry] = {}
        for path in files:
            if path.resolve() in seen:
                continue
            seen.add(path.resolve())
            for entry in read_file(path):
                if entry.code in entries and _same(entries[entry.code], entry):
                    continue  # a copy of the engine's file in another runbooks directory
                if entry.code in entries:
                    raise DefinitionError(
                        f"finding code {entry.code} is declared twice: in"
                        f" {entries[entry.code].source} and in {entry.source}"
                    )
                entries[entry.code] = entry
        return cls(entries.values(), config=config)

    def with_config(self, config: OpsConfig) -> Catalogue:
        return Catalogue(self._entries.values(), config=config)

    def __contains__(self, code: object) -> bool:
        return code in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def codes(self) -> list[str]:
        return sorted(self._entries)

    def entry(self, code: str) -> Entry:
        try:
            return self._entries[code]
        except KeyError:
            raise UnknownFinding(
                f"finding code {code} is not in the catalogue (runbooks/findings.yaml or"
                " runbooks/findings.d/*.yaml): a bug in the step that gave it"
            ) from None

    def finding(
        self,
        code: str,
        summary: str,
        *,
        evidence: Mapping[str, Any] | None = None,
        step: str = "",
    ) -> Finding:
        entry = self.entry(code)
        evidence = dict(evidence or {})
        values = {**template_values(self.config), **evidence}
        return Finding(
            code=code,
            severity=entry.severity,
            summary=summary,
            evidence=evidence,
            action=entry.action,
            command=entry.render_command(values),
            step=step,
        )


def read_file(path: Path) -> list[Entry]:
    """One catalogue file, validated; errors name the file and the code."""
    import yaml

    try:
        data = safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DefinitionError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise DefinitionError(f"{path} is not valid YAML: {_yaml_problem(exc)}") from None
    if data is None:
        return []
    if not isinstance(data, dict):
        raise DefinitionError(f"{path}: expected a mapping of finding codes")
    return [_entry(path, code, body) for code, body in data.items()]


def _entry(path: Path, code: Any, body: Any) -> Entry:
    where = f"{path}: {code}"
    if not isinstance(code, str) or not CODE.match(code):
        raise DefinitionError(f"{where}: a code must look like TRI-AREA-001")
    if not isinstance(body, dict):
        raise DefinitionError(f"{where}: expected a mapping with {', '.join(_REQUIRED)}")
    unknown = sorted(set(body) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise DefinitionError(f"{where}: unknown field(s) {', '.join(map(str, unknown))}")
    missing = [name for name in _REQUIRED if name not in body]
    if missing:
        raise DefinitionError(f"{where}: missing {', '.join(missing)}")
    for name in (*_REQUIRED, *_OPTIONAL):
        if name in body and not isinstance(body[name], str):
            raise DefinitionError(f"{where}: {name} must be a string")
    try:
        severity = Severity(body["severity"])
    except ValueError:
        choices = "|".join(s.value for s in Severity)
        raise DefinitionError(f"{where}: severity must be one of {choices}") from None
    entry = Entry(
        code=code,
        severity=severity,
        title=body["title"].strip(),
        explanation=" ".join(body["explanation"].split()),
        action=" ".join(body.get("action", "").split()),
        command=body.get("command", "").strip(),
        source=str(path),
    )
    if not entry.title:
        raise DefinitionError(f"{where}: title is empty")
    try:
        entry.evidence_keys  # noqa: B018 (validates the template's braces)
    except DefinitionError as exc:
        raise DefinitionError(f"{where}: {exc}") from None
    return entry


def _same(a: Entry, b: Entry) -> bool:
    return replace(a, source="") == replace(b, source="")


def _yaml_problem(exc: Exception) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or type(exc).__name__
    text = f"{problem} at line {mark.line + 1}" if mark is not None else str(problem)
    if "mapping values are not allowed" in text:
        text += " (quote a text that contains ': ')"
    return text
