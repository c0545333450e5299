"""A command that runs one runbook of the repository and exits with its code: load the
library, type the `--param` pairs, run, render, exit. `check daily|weekly|monthly` are
exactly this; `health` and `incident pN` are the same shape with actions around it."""

from __future__ import annotations

from collections.abc import Iterable

import click

from triage_ops.cli import Ctx
from triage_ops.commands.common import log


def run_runbook_command(
    ctx: Ctx,
    runbook_id: str,
    *,
    params: Iterable[str] = (),
    act: bool = False,
    take: Iterable[str] = (),
    incident: str | None = None,
) -> None:
    """Run `runbook_id` with `--param name=value` pairs, emit its report in the chosen
    format, and exit with the report's code (0 healthy, 1 warnings, 2 critical, 4 a
    check could not run). A bad parameter, or actions to take without --yes and without
    a terminal to ask on, is a usage error before anything runs."""
    from triage_ops.commands.reporting import (
        confirm_plan,
        emit_report,
        load_runbook,
        make_run,
        require_terminal,
    )
    from triage_ops.engine.runner import run_runbook

    take = tuple(take)
    runbook, catalogue = load_runbook(runbook_id, ctx.config())
    parsed = runbook.parse_params(params)
    may_act = act and any(s.safe or s.id in take for s in runbook.of_kind("action"))
    if may_act and not ctx.yes and not ctx.dry_run:
        require_terminal(f"{runbook.command or 'runbook run ' + runbook.id} --act")
    config, clients, audit = make_run(ctx)
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
        incident=incident,
        log=log(ctx),
        params=parsed,
        catalogue=catalogue,
    )
    emit_report(ctx, report)
    click.get_current_context().exit(int(report.exit_code))
