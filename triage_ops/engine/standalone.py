"""One check or one action run on its own, outside a runbook: `cache flush`, `secrets
rotate`, `scale api`, `security isolate`, `alerts silence`, `model fallback`, `db
indexes`, `backup verify`...

The step context is built as the engine builds one inside a runbook run, so a finding
made here carries the catalogue's severity, next action and filled-in command exactly
as it would in a report. An action goes through `execute_action` (plan, dry-run,
confirm, apply, verify, one audit entry) once the audit log is known to be writable: a
change must never happen unrecorded.

A library: it prints nothing and knows no click. The commands' side (the global
options, rendering the outcome, the exit code) is triage_ops/commands/acting.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from triage_ops.clients import Clients
from triage_ops.config import OpsConfig
from triage_ops.engine.audit import AuditLog
from triage_ops.engine.catalogue import Catalogue
from triage_ops.engine.contract import Action, Plan, StepContext
from triage_ops.engine.report import ActionOutcome
from triage_ops.engine.runbook import default_dir, engine_file
from triage_ops.engine.runner import execute_action


def _quiet(message: str) -> None:
    return None


def catalogue(config: OpsConfig) -> Catalogue:
    """The repository's finding catalogue (the engine's codes and every area's), its
    commands filled from `config`."""
    return Catalogue.load(default_dir(), engine_file=engine_file(), config=config)


def step_context(
    config: OpsConfig,
    *,
    timeout: float,
    step_id: str = "",
    clients: Clients | None = None,
    params: Mapping[str, Any] | None = None,
    deadline_s: float | None = None,
    log: Callable[[str], None] = _quiet,
) -> StepContext:
    """What a check or an action receives. `timeout` bounds each client call (the
    clients are built with it unless given); `deadline_s` is what the step as a whole
    may take (default: `timeout`), for an action that waits for a rollout or a restore."""
    return StepContext(
        config=config,
        clients=clients if clients is not None else Clients(config, timeout=timeout),
        timeout=timeout if deadline_s is None else deadline_s,
        step_id=step_id,
        params=dict(params or {}),
        make_finding=catalogue(config).finding,
        log=log,
    )


def run_action(
    action: Action,
    ctx: StepContext,
    *,
    dry_run: bool,
    yes: bool,
    confirm: Callable[[Plan], bool],
    audit: AuditLog | None,
    incident: str | None = None,
) -> ActionOutcome:
    """`action` through the engine, the audit log checked writable first. What the
    action saw while verifying stays in `ctx.notes` for the caller to show."""
    if audit is not None:
        audit.ensure_writable()
    return execute_action(
        action, ctx, dry_run=dry_run, yes=yes, confirm=confirm, audit=audit, incident=incident
    )
