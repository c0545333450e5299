"""`triage-ops runbook list|show|run|docs` and `triage-ops audit show|verify`.

The audit timeline is its own group: it records every mutating command (incident
resolution, comms, secret rotation...), not only runbook runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from triage_ops.cli import Ctx
from triage_ops.commands.common import emit, handles_errors, log
from triage_ops.exit_codes import ExitCode

RUNBOOKS_DIR = "triage_ops.runbooks_dir"


@click.group()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="TRIAGE_OPS_RUNBOOKS",
    help="Where the runbooks are (default: the repository's runbooks/). Env: TRIAGE_OPS_RUNBOOKS.",
)
@click.pass_context
def runbook(cctx: click.Context, directory: Path | None) -> None:
    """The runbooks as data: list, show, run them, and write their docs."""
    cctx.meta[RUNBOOKS_DIR] = directory


def _directory() -> Path | None:
    """`runbook --dir` (or TRIAGE_OPS_RUNBOOKS); None: the repository's runbooks/."""
    directory: Path | None = click.get_current_context().meta.get(RUNBOOKS_DIR)
    return directory


def _library() -> Any:
    from triage_ops.engine.runbook import Library

    return Library.load(_directory())


@runbook.command("list")
@click.pass_obj
@handles_errors
def list_cmd(ctx: Ctx) -> None:
    """Every runbook: id, title, number of steps."""
    rows = [
        {"id": rb.id, "title": rb.title, "steps": len(rb.steps), "source": rb.source}
        for rb in sorted(_library().runbooks.values(), key=lambda r: r.id)
    ]
    emit(ctx, rows, columns=None if ctx.output == "json" else ["id", "title", "steps"])


@runbook.command("show")
@click.argument("runbook_id", metavar="ID")
@click.pass_obj
@handles_errors
def show_cmd(ctx: Ctx, runbook_id: str) -> None:
    """A runbook's steps: kind, timeout, what they wait for and what triggers them."""
    rb = _library().get(runbook_id)
    rows = [
        {
            "step": s.id,
            "kind": s.kind + (" (safe)" if s.safe else ""),
            "title": s.title,
            "timeout": f"{s.timeout:g} s" if s.timeout is not None else "--timeout",
            "after": list(s.after) or None,
            "when": list(s.when) if s.when is not None else None,
        }
        for s in rb.steps
    ]
    emit(ctx, rows, title=f"{rb.id}: {rb.title} ({rb.source})")


@runbook.command("run")
@click.argument("runbook_id", metavar="ID")
@click.option("--act", is_flag=True, help="Take the safe actions the findings call for.")
@click.option(
    "--take",
    "take",
    multiple=True,
    metavar="STEP",
    help="Also take this (not safe) action step when its findings call for it. Repeatable.",
)
@click.option("--incident", metavar="ID", help="Incident id recorded in the audit timeline.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="Runbook parameter.")
@click.pass_obj
@handles_errors
def run_cmd(
    ctx: Ctx,
    runbook_id: str,
    act: bool,
    take: tuple[str, ...],
    incident: str | None,
    params: tuple[str, ...],
) -> None:
    """Run a runbook: checks concurrently, then (with --act) its actions, then its verify
    steps. Exit code: 0 healthy, 1 warnings, 2 critical (or an action failed), 4 a check
    could not run. Uses the global --dry-run, --yes, --timeout and --output."""
    from triage_ops.commands.runbook_command import run_runbook_command
    from triage_ops.engine.runbook import default_dir

    run_runbook_command(
        ctx,
        runbook_id,
        params=params,
        act=act,
        take=take,
        incident=incident,
        directory=_directory() or default_dir(),
        command="runbook run",
    )


@runbook.command("docs")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when the docs drifted.")
@click.pass_obj
@handles_errors
def docs_cmd(ctx: Ctx, check: bool) -> None:
    """Write runbooks/<id>.md and runbooks/README.md from the definitions."""
    from triage_ops.engine import docs

    library = _library()
    if check:
        problems = docs.drift(library)
        emit(ctx, [{"problem": p} for p in problems], title="Docs drift")
        if problems:
            log(ctx)(
                "the runbook docs drifted from their definitions: run `triage-ops runbook docs`"
            )
            click.get_current_context().exit(int(ExitCode.WARNINGS))
        return
    changed = docs.write(library)
    emit(
        ctx,
        [
            {"file": str(path), "status": "removed" if not path.exists() else "written"}
            for path in changed
        ],
        title="Docs",
    )


# -- the audit timeline ------------------------------------------------------------------


@click.group()
@click.option(
    "--file",
    "path",
    type=click.Path(dir_okay=False),
    help="An audit log to read (default: audit_log of the config, else"
    " ~/.local/state/triage-ops/audit.jsonl).",
)
@click.pass_context
def audit(cctx: click.Context, path: str | None) -> None:
    """The audit timeline: what was done, by whom, when, with which plan and outcome."""
    cctx.meta["triage_ops.audit_file"] = path


def _audit_log(ctx: Ctx) -> Any:
    from triage_ops.commands.reporting import open_audit

    path = click.get_current_context().meta.get("triage_ops.audit_file")
    return open_audit(ctx.config(), timeout=ctx.timeout, path=path)


@audit.command("show")
@click.option("--incident", metavar="ID", help="Only this incident's entries.")
@click.option("--last", type=click.IntRange(min=1), metavar="N", help="Only the last N entries.")
@click.pass_obj
@handles_errors
def audit_show_cmd(ctx: Ctx, incident: str | None, last: int | None) -> None:
    """Entries, oldest first (JSON: the entries as written)."""
    entries = list(_audit_log(ctx).entries(incident=incident))
    if last is not None:
        entries = entries[-last:]
    if ctx.output == "json":
        emit(ctx, entries)
        return
    rows = [
        {
            "seq": e["seq"],
            "ts": e["ts"],
            "user": e["user"],
            "incident": e["incident"],
            "kind": e["kind"],
            "step": "/".join(p for p in (e["runbook"], e["step"]) if p) or None,
            "outcome": e["outcome"],
            "summary": e["summary"],
        }
        for e in entries
    ]
    emit(ctx, rows, title="Audit timeline")


@audit.command("verify")
@click.pass_obj
@handles_errors
def audit_verify_cmd(ctx: Ctx) -> None:
    """Check the hash chain: exit 0 when intact, 2 when an entry was edited, deleted or
    moved (the first broken line is named)."""
    result = _audit_log(ctx).verify()
    emit(ctx, result.to_json())
    if not result.ok:
        click.get_current_context().exit(int(ExitCode.CRITICAL))
