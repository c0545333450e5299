"""`triage-ops sandbox up|down|status`."""

from __future__ import annotations

from pathlib import Path

import click

from triage_ops.cli import Ctx
from triage_ops.commands.common import emit, handles_errors, log

state_dir_option = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="TRIAGE_SANDBOX_DIR",
    default=Path(".cache/sandbox"),
    show_default=True,
    help="Where the sandbox keeps its data, logs and state. Env: TRIAGE_SANDBOX_DIR.",
)


@click.group()
def sandbox() -> None:
    """The whole service as real local processes on loopback."""


@sandbox.command("up")
@state_dir_option
@click.option("--no-seed", is_flag=True, help="Do not enqueue the sample inbox.")
@click.pass_obj
@handles_errors
def up_cmd(ctx: Ctx, state_dir: Path, no_seed: bool) -> None:
    """Start PostgreSQL, Redis, Prometheus, Alertmanager, the model server, the API and a
    worker; wait until Prometheus has scraped them; print the config file's path."""
    from triage_ops.sandbox.sandbox import up

    box, reused = up(state_dir, seed=not no_seed, log=log(ctx))
    if ctx.output == "json":
        emit(ctx, {"reused": reused, "config_path": box.config_path, "endpoints": box.endpoints()})
        return
    log(ctx)("sandbox already running: reusing it" if reused else "sandbox is up")
    click.echo(box.config_path)


@sandbox.command("down")
@state_dir_option
@click.pass_obj
@handles_errors
def down_cmd(ctx: Ctx, state_dir: Path) -> None:
    """Stop exactly the processes `up` started."""
    from triage_ops.sandbox.sandbox import down

    stopped = down(state_dir)
    if ctx.output == "json":
        emit(ctx, {"stopped": stopped})
    elif stopped:
        click.echo("stopped: " + ", ".join(stopped))
    else:
        click.echo("no sandbox running in " + str(state_dir))


@sandbox.command("status")
@state_dir_option
@click.pass_obj
@handles_errors
def status_cmd(ctx: Ctx, state_dir: Path) -> None:
    """What runs, with pids, endpoints and logs. Exit 0 when all run, 2 when some do not."""
    from triage_ops.exit_codes import ExitCode
    from triage_ops.sandbox.sandbox import status

    rows = status(state_dir)
    emit(ctx, rows, columns=["component", "running", "pid", "url", "log"])
    if not rows or not all(r["running"] for r in rows):
        click.get_current_context().exit(int(ExitCode.CRITICAL))
