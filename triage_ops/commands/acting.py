"""The one way a standalone mutating command runs its change (`model fallback on`,
`cache flush`, `secrets rotate`, ...): build the config, clients and audit log, run the
Action through the engine's `execute_action` (plan, dry-run, confirm, apply, verify, audit
entry), print the outcome, exit with its code."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import click

from triage_ops.cli import Ctx
from triage_ops.commands.common import log
from triage_ops.engine.contract import Action, StepContext


def run_action(
    ctx: Ctx,
    build: Callable[[StepContext], Action] | Action,
    *,
    params: Mapping[str, Any] | None = None,
    incident: str | None = None,
    step_id: str = "",
) -> None:
    """`build` is the Action, or a function making it from the context (when the action
    needs the config). Exits the command with the outcome's exit code."""
    from triage_ops.commands.reporting import confirm_plan, emit_outcome, make_run
    from triage_ops.engine.catalogue import Catalogue
    from triage_ops.engine.runbook import default_dir, engine_file
    from triage_ops.engine.runner import execute_action

    config, clients, audit = make_run(ctx)
    catalogue = Catalogue.load(default_dir(), engine_file=engine_file(), config=config)
    step = StepContext(
        config=config,
        clients=clients,
        timeout=ctx.timeout,
        step_id=step_id,
        params=dict(params or {}),
        make_finding=catalogue.finding,
        log=log(ctx),
    )
    action = build(step) if callable(build) and not hasattr(build, "plan") else build
    outcome = execute_action(
        action,  # type: ignore[arg-type]
        step,
        dry_run=ctx.dry_run,
        yes=ctx.yes,
        confirm=confirm_plan,
        audit=audit,
        incident=incident,
    )
    for note in step.notes:  # what verifying saw ("the API answers degraded"): else lost
        step.log(note)
    emit_outcome(ctx, outcome)
    click.get_current_context().exit(int(outcome.exit_code))
