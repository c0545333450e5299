"""How a standalone command runs a check or a change and ends (`model fallback on`,
`secrets rotate`, `scale api`, `security isolate`, `alerts silence`, `db indexes`,
`backup verify`, ...). The step context and the engine's path (plan, dry-run, confirm,
apply, verify, audit entry) are triage_ops.engine.standalone, a library that prints
nothing; here is the click side: the global options, the options of a mutating command,
the outcome printed, the exit code from it.

Nothing heavy is imported at module level: `triage-ops --help` loads the modules that
import this one."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import click

from triage_ops.cli import Ctx
from triage_ops.commands.common import emit, log

if TYPE_CHECKING:
    from triage_ops.clients import Clients
    from triage_ops.config import OpsConfig
    from triage_ops.engine.audit import AuditLog
    from triage_ops.engine.contract import Action, StepContext
    from triage_ops.engine.report import ActionOutcome

FAILED = ("failed", "unverified", "unplanned")

# A mutating command's own --dry-run and --yes, beside the global ones: either counts.
dry_run_option = click.option(
    "--dry-run", "dry_run_here", is_flag=True, help="Print the exact plan; change nothing."
)
yes_option = click.option("--yes", "-y", "yes_here", is_flag=True, help="Do not ask first.")
incident_option = click.option(
    "--incident", metavar="ID", default=None, help="Record the change on this incident."
)


def step_context(
    ctx: Ctx,
    step_id: str,
    params: Mapping[str, Any] | None = None,
    *,
    config: OpsConfig | None = None,
    clients: Clients | None = None,
) -> StepContext:
    """What a check or an action receives, for a command that runs one itself: the
    config, --timeout, the log on stderr, and the command's options as params (None:
    not given, the setting applies)."""
    from triage_ops.engine import standalone

    given = {name: value for name, value in (params or {}).items() if value is not None}
    return standalone.step_context(
        ctx.config() if config is None else config,
        timeout=ctx.timeout,
        step_id=step_id,
        clients=clients,
        params=given,
        log=log(ctx),
    )


def prepare(
    ctx: Ctx, step_id: str, *, params: Mapping[str, Any] | None = None
) -> tuple[StepContext, AuditLog]:
    """An action's step context and the audit log (checked writable now, before anything
    is changed), on one config and one set of clients."""
    from triage_ops.commands.reporting import make_run

    config, clients, audit = make_run(ctx)
    return step_context(ctx, step_id, params, config=config, clients=clients), audit


def run_action(
    ctx: Ctx,
    build: Callable[[StepContext], Action] | Action,
    *,
    params: Mapping[str, Any] | None = None,
    incident: str | None = None,
    step_id: str = "",
) -> None:
    """Run one Action through the engine and end the command with its outcome. `build`
    is the Action, or a function making it from the context (when the action needs the
    config)."""
    from triage_ops.commands.reporting import confirm_plan
    from triage_ops.engine import standalone

    step, audit = prepare(ctx, step_id, params=params)
    action = build(step) if callable(build) and not hasattr(build, "plan") else build
    outcome = standalone.run_action(
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
    finish(ctx, outcome)


def engine_log(ctx: Ctx, action: str) -> Callable[[str], None]:
    """The engine's log without its "plan: ..." and "<action>: <outcome>" lines, for a
    command that prints the plan and the outcome itself (`finish(one_line_failure=True)`)."""
    write = log(ctx)

    def filtered(line: str) -> None:
        if not line.startswith(("plan: ", f"{action}: ")):
            write(line)

    return filtered


def finish(ctx: Ctx, outcome: ActionOutcome, *, one_line_failure: bool = False) -> None:
    """Show the outcome (its plan, changes, equivalent commands and findings) and exit with
    its code. With `one_line_failure`, a failure is one line on stderr instead ("error:
    what failed; what recovery did"); --output json still gets the whole outcome."""
    from triage_ops.commands.reporting import emit_outcome

    if one_line_failure and outcome.outcome in FAILED:
        if ctx.output == "json":
            emit(ctx, outcome.to_json())
        detail = outcome.error or "; ".join(
            f.summary for f in (outcome.findings[1:] or outcome.findings)
        )
        click.echo(f"triage-ops: error: {outcome.action}: {outcome.outcome}: {detail}", err=True)
    else:
        emit_outcome(ctx, outcome)
    if outcome.exit_code:
        click.get_current_context().exit(int(outcome.exit_code))
