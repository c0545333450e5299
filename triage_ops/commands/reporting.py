"""What every runbook-like command shares (`runbook run`, `incident p0`, `health`, ...):
building the config, clients and audit log the same way; asking before a change; and
rendering a report or an action's outcome through the one renderer (triage_ops.output).

Table output of a report, top to bottom: a one-line summary, the findings worst first
(SEVERITY, CODE, SUMMARY, NEXT), the exact commands for the next actions, the steps,
and the actions taken. JSON output is `Report.to_json()` as it is.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from triage_ops.cli import Ctx
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

NOT_A_TERMINAL = "needs --yes when not run from a terminal (--dry-run shows the plan)"


def make_run(ctx: Ctx) -> tuple[OpsConfig, Clients, AuditLog]:
    """The config, the lazy client factory (built with --timeout) and the audit log
    (checked writable now, before anything is changed)."""
    from triage_ops.clients import Clients

    config = ctx.config()
    audit = open_audit(config, timeout=ctx.timeout)
    audit.ensure_writable()
    return config, Clients(config, timeout=ctx.timeout), audit


def load_runbook(runbook_id: str, config: OpsConfig) -> tuple[Runbook, Catalogue]:
    """One runbook of the repository's runbooks/ and the finding catalogue. Only that
    file is read: `incident p0` must not parse (nor fail on) every other runbook first."""
    from triage_ops.engine.catalogue import Catalogue
    from triage_ops.engine.runbook import default_dir, engine_file, read_runbook

    directory = default_dir()
    catalogue = Catalogue.load(directory, engine_file=engine_file(), config=config)
    return read_runbook(directory / f"{runbook_id}.yaml", catalogue), catalogue


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
