"""The one way a command runs a runbook: load it, type its parameters, refuse up front
what could not run, run, render the report, exit with its code. `check
daily|weekly|monthly`, `health`, `incident p0|p1|p2`, `runbook run` and `security check`
are all this, with different inputs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from triage_ops.cli import Ctx
from triage_ops.commands.common import log

if TYPE_CHECKING:
    from triage_ops.engine.audit import AuditLog
    from triage_ops.engine.runbook import Runbook


def run_runbook_command(
    ctx: Ctx,
    runbook: str | Runbook,
    *,
    params: Iterable[str] = (),
    values: Mapping[str, Any] | None = None,
    act: bool = False,
    take: Iterable[str] = (),
    incident: str | None = None,
    attach: Callable[[AuditLog], str | None] | None = None,
    directory: Path | None = None,
    command: str | None = None,
) -> None:
    """Run `runbook`, emit its report in the chosen format, and exit with the report's
    code (0 healthy, 1 warnings, 2 critical, 4 a check could not run).

    `runbook` is an id: only its file of the repository's runbooks/ is read (`incident
    p0` must not parse, nor fail on, every other runbook), or with `directory` every
    runbook there (`runbook run`, `runbook --dir`: an unknown id names the known ones);
    or a Runbook built in code (`security check`). `params` are `--param name=value`
    pairs, typed like the runbook's defaults; `values` are typed already (a command's own
    options; None means not given). The run is recorded on `incident`, or on the one
    `attach` picks once the audit log is open (`incident pN`). `command` is how the user
    called it, for messages (default: the runbook's command).

    A bad parameter, or actions to take without --yes and without a terminal to ask on,
    is a usage error before anything runs."""
    from triage_ops.commands.reporting import (
        confirm_plan,
        emit_report,
        load_runbook,
        make_run,
        require_terminal,
    )
    from triage_ops.engine import standalone
    from triage_ops.engine.runner import run_runbook

    take = tuple(take)
    config = ctx.config()
    if isinstance(runbook, str):
        runbook, catalogue = load_runbook(runbook, config, directory=directory)
    else:
        catalogue = standalone.catalogue(config)
    given = {name: value for name, value in (values or {}).items() if value is not None}
    parsed = {**runbook.parse_params(params), **given}
    may_act = act and any(s.safe or s.id in take for s in runbook.of_kind("action"))
    if may_act and not ctx.yes and not ctx.dry_run:
        require_terminal(f"{command or runbook.command.removeprefix('triage-ops ')} --act")
    config, clients, audit = make_run(ctx, config)
    report = run_runbook(
        runbook,
        config=config,
        clients=clients,
        timeout=ctx.timeout,
        act=act,
        take=take,
        dry_run=ctx.dry_run,
        yes=ctx.yes,
        confirm=confirm_plan,
        audit=audit,
        incident=attach(audit) if attach is not None else incident,
        log=log(ctx),
        params=parsed,
        catalogue=catalogue,
    )
    emit_report(ctx, report)
    click.get_current_context().exit(int(report.exit_code))
