"""`triage-ops alerts lint|test|firing|silence|noisy|reload`: the alerting rules in
alerts/, Alertmanager's alerts and silences, and Prometheus' alert history and rules
(the procedures: triage_ops/procedures/alerts.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from triage_ops.cli import Ctx
from triage_ops.commands.acting import finish, prepare, step_context
from triage_ops.commands.common import emit, handles_errors

if TYPE_CHECKING:
    from triage_ops.findings import Finding

FINDING_COLUMNS = ["severity", "code", "summary", "next"]
paths_argument = click.argument(
    "paths", nargs=-1, type=click.Path(path_type=Path), metavar="[PATH]..."
)


def _exit(code: int) -> None:
    click.get_current_context().exit(int(code))


def _emit_findings(ctx: Ctx, document: dict[str, Any], findings: list[Finding], head: str) -> None:
    """json: the whole document; table/markdown: one line of what was looked at, then the
    findings worst first with the command that takes the next step."""
    if ctx.output == "json":
        emit(ctx, document)
        return
    rows = [
        {"severity": str(f.severity), "code": f.code, "summary": f.summary, "next": f.command}
        for f in sorted(findings, key=lambda f: -f.severity.rank)
    ]
    if rows:
        emit(ctx, rows, columns=FINDING_COLUMNS, title=head)
    else:
        click.echo(f"{head}: no findings")


@click.group()
def alerts() -> None:
    """Alerting rules (lint, unit tests, reload), firing alerts, silences and noisy alerts."""


@alerts.command("lint")
@paths_argument
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where runbook_url paths (runbooks/*.md) are looked up (default: the repository).",
)
@click.pass_obj
@handles_errors
def lint_cmd(ctx: Ctx, paths: tuple[Path, ...], root: Path | None) -> None:
    """Check the alerting rules.

    promtool check rules, then every alert: severity (critical|warning|info), summary,
    description, a runbook_url whose file exists, a for: duration. PATH: rule files or
    directories (default: alerts/*.rules.yml). Exit 0 clean, 1 warnings, 2 errors."""
    from triage_ops.findings import exit_code
    from triage_ops.procedures.alerts import lint_rules

    result = lint_rules(step_context(ctx, "alerts.lint"), paths, root=root)
    head = f"{len(result.files)} rule file(s), {result.alerts} alert(s)"
    _emit_findings(ctx, result.to_json(), result.findings, head)
    _exit(exit_code(result.findings))


@alerts.command("test")
@paths_argument
@click.pass_obj
@handles_errors
def test_cmd(ctx: Ctx, paths: tuple[Path, ...]) -> None:
    """Run the rules' unit tests.

    promtool test rules over the unit-test files (default: alerts/tests/*.yml); each
    failed case is a finding, and so is an alert no test of a directory names."""
    from triage_ops.findings import exit_code
    from triage_ops.procedures.alerts import run_rule_tests

    result = run_rule_tests(step_context(ctx, "alerts.test"), paths)
    head = f"{len(result.passed)}/{len(result.files)} unit-test file(s) pass"
    _emit_findings(ctx, result.to_json(), result.findings, head)
    _exit(exit_code(result.findings))


@alerts.command("firing")
@click.option("--severity", help="Only alerts with this severity label (critical, warning, info).")
@click.pass_obj
@handles_errors
def firing_cmd(ctx: Ctx, severity: str | None) -> None:
    """List the alerts firing now.

    From Alertmanager's API v2: name, severity, since, summary, runbook, and whether a
    silence suppresses them."""
    from triage_ops.procedures.alerts import FIRING_COLUMNS, firing_alerts

    rows = firing_alerts(step_context(ctx, "alerts.firing"), severity=severity)
    emit(ctx, rows, columns=None if ctx.output == "json" else list(FIRING_COLUMNS))


@alerts.command("silence")
@click.option("--alertname", help="The alert to silence (its alertname label).")
@click.option(
    "--matcher",
    "matchers",
    multiple=True,
    metavar="LABEL=VALUE",
    help="Another label matcher (=, !=, =~, !~); repeatable.",
)
@click.option("--duration", help="How long, from now: 30m, 2h, 1d (at most 7d).")
@click.option("--comment", help="Why: shown to whoever sees the silence next.")
@click.option("--created-by", help="Author of the silence (default: the OS user).")
@click.option("--expire", "expire", metavar="ID", help="Expire this silence instead.")
@click.pass_obj
@handles_errors
def silence_cmd(
    ctx: Ctx,
    alertname: str | None,
    matchers: tuple[str, ...],
    duration: str | None,
    comment: str | None,
    created_by: str | None,
    expire: str | None,
) -> None:
    """Silence an alert, or expire a silence.

    The plan shows the matchers, the window and which firing alerts it would silence;
    --dry-run creates nothing. Verified (the silence is active) and audited."""
    from triage_ops.commands.reporting import confirm_plan, emit_outcome
    from triage_ops.procedures.alerts import silence, silence_action

    action = silence_action(
        alertname=alertname,
        matchers=matchers,
        duration=duration,
        comment=comment,
        created_by=created_by,
        expire=expire,
    )
    step, audit = prepare(ctx, "alerts.silence")
    outcome = silence(
        step, action, dry_run=ctx.dry_run, yes=ctx.yes, confirm=confirm_plan, audit=audit
    )
    emit_outcome(ctx, outcome)
    if ctx.output != "json":
        found = outcome.plan.dry_run if outcome.plan is not None else {}
        for key, title in (
            ("would_silence", "Alerts firing now that the silence matches"),
            ("released", "Alerts firing now that it silences"),
        ):
            if found.get(key):
                columns = ["alertname", "severity", "since", "labels"]
                emit(ctx, found[key], columns=columns, title=title)
        if outcome.after:
            emit(ctx, [dict(outcome.after)], title="Result")
    _exit(outcome.exit_code)


@alerts.command("noisy")
@click.option("--since", default="7d", show_default=True, help="The window: 24h, 7d, 2w.")
@click.option(
    "--threshold",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Firings in the window that make an alert noisy.",
)
@click.option(
    "--flap-episode",
    default="15m",
    show_default=True,
    help="3+ firings with a median episode shorter than this: flapping.",
)
@click.option("--step", help="Resolution (default: the rule groups' evaluation interval).")
@click.pass_obj
@handles_errors
def noisy_cmd(ctx: Ctx, since: str, threshold: int, flap_episode: str, step: str | None) -> None:
    """Find noisy and flapping alerts.

    From Prometheus' ALERTS and ALERTS_FOR_STATE history: firings, flaps (firing <->
    resolved), firing time per alert, with advice. Exit 1 when one is noisy, flapping
    or never resolves."""
    from triage_ops.findings import exit_code
    from triage_ops.procedures.alerts import NOISY_COLUMNS, format_duration, noisy_alerts

    report = noisy_alerts(
        step_context(ctx, "alerts.noisy"),
        since=since,
        step=step,
        threshold=threshold,
        flap_episode=flap_episode,
    )
    if ctx.output == "json":
        emit(ctx, report.to_json())
    else:
        title = (
            f"Alerts in the last {format_duration(report.since_s)}"
            f" (resolution {format_duration(report.step_s)}, noisy at {threshold} firings)"
        )
        emit(ctx, report.rows(), columns=list(NOISY_COLUMNS), title=title)
    _exit(exit_code(report.findings))


@alerts.command("reload")
@paths_argument
@click.pass_obj
@handles_errors
def reload_cmd(ctx: Ctx, paths: tuple[Path, ...]) -> None:
    """Reload Prometheus' rules, checked first.

    promtool check rules (broken rules are refused), then POST /-/reload on Prometheus
    (needs --web.enable-lifecycle) instead of `kill -HUP 1`; verified against
    /api/v1/rules and the reload status. PATH: rule files or directories (default:
    alerts/*.rules.yml)."""
    from triage_ops.commands.reporting import confirm_plan
    from triage_ops.findings import exit_code
    from triage_ops.procedures.alerts import reload_rules

    step, audit = prepare(ctx, "alerts.reload")
    result = reload_rules(
        step, paths, dry_run=ctx.dry_run, yes=ctx.yes, confirm=confirm_plan, audit=audit
    )
    if result.outcome is None:
        _emit_findings(ctx, result.to_json(), result.findings, "reload refused")
        _exit(exit_code(result.findings))
        return
    finish(ctx, result.outcome)
