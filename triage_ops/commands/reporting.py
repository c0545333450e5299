"""What every runbook-like command shares (`runbook run`, `incident p0`, `health`, ...):
building the config, clients and audit log the same way; asking before a change; and
rendering a report, an action's outcome, or the findings of checks a command ran itself
(`backup verify`, `db connections`) through the one renderer (triage_ops.output).

Table output of a report, top to bottom: a one-line summary, the findings worst first
(SEVERITY, CODE, SUMMARY, NEXT), the exact commands for the next actions, the steps,
and the actions taken. JSON output is `Report.to_json()` as it is.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from triage_ops.cli import Ctx
from triage_ops.commands.common import emit
from triage_ops.errors import UsageError
from triage_ops.output import render

if TYPE_CHECKING:
    from triage_ops.clients import Clients
    from triage_ops.config import OpsConfig
    from triage_ops.engine.audit import AuditLog
    from triage_ops.engine.catalogue import Catalogue
    from triage_ops.engine.contract import Plan
    from triage_ops.engine.report import ActionOutcome, Report
    from triage_ops.engine.runbook import Runbook
    from triage_ops.findings import Finding

NOT_A_TERMINAL = "needs --yes when not run from a terminal (--dry-run shows the plan)"


def make_run(ctx: Ctx, config: OpsConfig | None = None) -> tuple[OpsConfig, Clients, AuditLog]:
    """The config (read now unless given), the lazy client factory (built with
    --timeout) and the audit log (checked writable now, before anything is changed)."""
    from triage_ops.clients import Clients

    config = ctx.config() if config is None else config
    audit = open_audit(config, timeout=ctx.timeout)
    audit.ensure_writable()
    return config, Clients(config, timeout=ctx.timeout), audit


def load_runbook(
    runbook_id: str, config: OpsConfig, *, directory: Path | None = None
) -> tuple[Runbook, Catalogue]:
    """One runbook and its finding catalogue. Without `directory`, only that file of the
    repository's runbooks/ is read: `incident p0` must not parse (nor fail on) every
    other runbook first. With one, the whole library there is loaded and validated, as
    `runbook list` shows it (an unknown id is a usage error naming the known ones)."""
    from triage_ops.engine import standalone
    from triage_ops.engine.runbook import Library, default_dir, read_runbook

    if directory is not None:
        library = Library.load(directory, config=config)
        return library.get(runbook_id), library.catalogue
    catalogue = standalone.catalogue(config)
    return read_runbook(default_dir() / f"{runbook_id}.yaml", catalogue), catalogue


def open_audit(config: OpsConfig, *, timeout: float = 3.0, path: str | None = None) -> AuditLog:
    from triage_ops.engine.audit import AuditLog, default_path
    from triage_ops.engine.scrub import config_secrets

    return AuditLog(
        path or default_path(config),
        mirror_dsn=str(config.audit_database_url) or None,
        secrets=config_secrets(config),
        mirror_timeout=min(timeout, 5.0),
    )


def stdin_is_terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def require_terminal(what: str) -> None:
    """Refuse up front, before anything runs, when a confirmation could not be asked."""
    if not stdin_is_terminal():
        raise UsageError(f"{what} {NOT_A_TERMINAL}")


def plan_text(plan: Plan) -> str:
    lines = [f"Plan: {plan.summary}"]
    for change in plan.changes:
        target = change.get("target", "?")
        lines.append(
            f"  change {target}: {change.get('before', '-')} -> {change.get('after', '-')}"
        )
    lines += [f"  equivalent: {command}" for command in plan.commands]
    if plan.dry_run:
        lines.append(f"  server-side dry-run: {_oneline(plan.dry_run)}")
    return "\n".join(lines)


def confirm_plan(plan: Plan) -> bool:
    """Print the plan on stderr and ask. Never blocks without a terminal: refuses with a
    UsageError instead (the caller records that in the audit timeline)."""
    click.echo(plan_text(plan), err=True)
    if not stdin_is_terminal():
        raise UsageError(f"this change {NOT_A_TERMINAL}")
    return click.confirm("Apply this plan?", default=not plan.destructive, err=True)


def emit_report(ctx: Ctx, report: Report) -> None:
    if ctx.output == "json":
        click.echo(render(report.to_json(), "json"), nl=False)
        return
    fmt = ctx.output
    summary = {
        "runbook": report.runbook,
        "incident": report.incident,
        "status": report.status,
        "exit": int(report.exit_code),
        "seconds": f"{report.duration_ms / 1000:.1f}",
    }
    parts = [render([summary], fmt, title=report.title)]
    findings = [
        {"severity": str(f.severity), "code": f.code, "summary": f.summary, "next": f.action}
        for f in report.findings
    ]
    parts.append(
        render(findings, fmt, columns=["severity", "code", "summary", "next"], title="Findings")
    )
    commands: dict[str, list[str]] = {}
    for f in report.findings:
        if f.command:
            codes = commands.setdefault(f.command, [])
            if f.code not in codes:
                codes.append(f.code)
    if commands:
        rows = [{"code": ", ".join(codes), "command": cmd} for cmd, codes in commands.items()]
        parts.append(render(rows, fmt, columns=["code", "command"], title="Next commands"))
    steps = [
        {
            "step": s.id,
            "kind": s.kind,
            "status": s.status,
            "ms": f"{s.duration_ms:.0f}",
            "notes": "; ".join([*s.notes, *(f.code for f in s.findings)]),
        }
        for s in report.steps
    ]
    parts.append(
        render(steps, fmt, columns=["step", "kind", "status", "ms", "notes"], title="Steps")
    )
    if report.actions:
        parts.append(_actions_table(report.actions, fmt))
        parts += _plan_tables(report.actions, fmt)
    click.echo("\n".join(parts), nl=False)


def emit_outcome(ctx: Ctx, outcome: ActionOutcome) -> None:
    """A standalone mutating command's result: the plan (what changes, the equivalent
    commands) and how it ended. The caller exits with `outcome.exit_code`."""
    if ctx.output == "json":
        click.echo(render(outcome.to_json(), "json"), nl=False)
        return
    fmt = ctx.output
    parts = [_actions_table([outcome], fmt), *_plan_tables([outcome], fmt)]
    if outcome.findings:
        rows = [
            {"severity": str(f.severity), "code": f.code, "summary": f.summary, "next": f.command}
            for f in outcome.findings
        ]
        parts.append(
            render(rows, fmt, columns=["severity", "code", "summary", "next"], title="Findings")
        )
    click.echo("\n".join(parts), nl=False)


def emit_checked(
    ctx: Ctx,
    data: Mapping[str, Any],
    findings: Sequence[Finding],
    tables: Sequence[tuple[str, Any, Sequence[str] | None]],
) -> None:
    """JSON: `data` plus exit_code. Otherwise each (title, rows, columns) table, then the
    findings and their next commands. Exits with the findings' exit code."""
    from triage_ops.findings import exit_code

    code = exit_code(findings)
    if ctx.output == "json":
        emit(ctx, {**data, "exit_code": int(code)})
    else:
        parts = [
            render(rows, ctx.output, columns=cols, title=title) for title, rows, cols in tables
        ]
        rows = [
            {"severity": str(f.severity), "code": f.code, "summary": f.summary, "next": f.action}
            for f in sorted(findings, key=lambda f: -f.severity.rank)
        ]
        columns = ["severity", "code", "summary", "next"]
        parts.append(render(rows, ctx.output, columns=columns, title="Findings"))
        commands = list(dict.fromkeys(f.command for f in findings if f.command))
        if commands:
            parts.append(
                render([{"command": c} for c in commands], ctx.output, title="Next commands")
            )
        click.echo("\n".join(parts), nl=False)
    if code:
        click.get_current_context().exit(int(code))


def _actions_table(outcomes: list[ActionOutcome], fmt: str) -> str:
    rows = [
        {
            "step": o.step,
            "action": o.action,
            "outcome": o.outcome,
            "plan": o.plan.summary if o.plan is not None else o.error,
        }
        for o in outcomes
    ]
    return render(rows, fmt, columns=["step", "action", "outcome", "plan"], title="Actions")


def _plan_tables(outcomes: list[ActionOutcome], fmt: str) -> list[str]:
    """What each plan changes (before -> after) and the equivalent manual commands."""
    changes = [
        {
            "step": o.step,
            "target": c.get("target"),
            "before": c.get("before"),
            "after": c.get("after"),
        }
        for o in outcomes
        if o.plan is not None
        for c in o.plan.changes
    ]
    commands = [
        {"step": o.step, "command": command}
        for o in outcomes
        if o.plan is not None
        for command in o.plan.commands
    ]
    parts = []
    if changes:
        parts.append(
            render(changes, fmt, columns=["step", "target", "before", "after"], title="Changes")
        )
    if commands:
        parts.append(
            render(commands, fmt, columns=["step", "command"], title="Equivalent commands")
        )
    return parts


def _oneline(data: Any) -> str:
    return " ".join(str(data).split())
