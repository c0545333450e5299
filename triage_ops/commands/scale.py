"""`triage-ops scale api|worker|recommend`: the runbook's "Scaling Actions" and "Scaling
Triggers" (triage_ops.procedures.scaling says what differs from the runbook, and why).

Nothing heavy is imported at module level: `triage-ops --help` loads this module."""

from __future__ import annotations

import click

from triage_ops.cli import Ctx
from triage_ops.commands.acting import (
    dry_run_option,
    engine_log,
    finish,
    incident_option,
    yes_option,
)
from triage_ops.commands.common import emit, handles_errors, log

# Mirror triage_ops.procedures.scaling.DEFAULT_MAX_STEP / DEFAULT_MAX_REPLICAS (a test keeps
# them equal); spelled here so `--help` shows them without importing the procedures.
DEFAULT_MAX_STEP = 2.0
DEFAULT_MAX_REPLICAS = 20

max_step_option = click.option(
    "--max-step",
    type=float,
    default=DEFAULT_MAX_STEP,
    show_default=True,
    metavar="FACTOR",
    help="One run scales at most this factor up or down (x2: 3 -> 6, 6 -> 3).",
)
max_replicas_option = click.option(
    "--max-replicas",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_REPLICAS,
    show_default=True,
    help="Never more replicas than this in one run.",
)


@click.group()
def scale() -> None:
    """Scale the API or the workers (replicas, or CPU/memory), and the runbook's scaling
    triggers with a recommendation."""


def _target(role: str, component: str) -> click.Command:
    @click.option(
        "--replicas", type=click.IntRange(min=0), default=None, help="Set the replica count."
    )
    @click.option("--cpu", default=None, metavar="QTY", help="CPU request (500m). Restarts pods.")
    @click.option("--memory", default=None, metavar="QTY", help="Memory request (1Gi).")
    @click.option("--limit-cpu", default=None, metavar="QTY", help="CPU limit (2000m).")
    @click.option("--limit-memory", default=None, metavar="QTY", help="Memory limit (2Gi).")
    @click.option(
        "--container",
        default=role,
        show_default=True,
        help="The container whose resources change.",
    )
    @max_step_option
    @max_replicas_option
    @click.option("--force", is_flag=True, help="Go beyond the cap (or to 0 replicas).")
    @click.option(
        "--wait",
        type=click.FloatRange(min=1),
        default=180.0,
        show_default=True,
        metavar="SECONDS",
        help="How long the rollout may take before the change is reported unverified.",
    )
    @dry_run_option
    @yes_option
    @incident_option
    @click.pass_obj
    @handles_errors
    def command(
        ctx: Ctx,
        replicas: int | None,
        cpu: str | None,
        memory: str | None,
        limit_cpu: str | None,
        limit_memory: str | None,
        container: str,
        max_step: float,
        max_replicas: int,
        force: bool,
        wait: float,
        dry_run_here: bool,
        yes_here: bool,
        incident: str | None,
    ) -> None:
        from triage_ops.commands.reporting import confirm_plan, open_audit
        from triage_ops.errors import UsageError
        from triage_ops.procedures import scaling

        resources = {"cpu": cpu, "memory": memory}
        limits = {"cpu": limit_cpu, "memory": limit_memory}
        changes_resources = any(resources.values()) or any(limits.values())
        if (replicas is None) == (not changes_resources):
            raise UsageError(
                f"scale {role}: give --replicas N, or resources (--cpu/--memory/--limit-cpu/"
                "--limit-memory), not both"
            )
        config = ctx.config()
        common = {
            "timeout": ctx.timeout,
            "wait_s": wait,
            "dry_run": ctx.dry_run or dry_run_here,
            "yes": ctx.yes or yes_here,
            "confirm": confirm_plan,
            "audit": open_audit(config, timeout=ctx.timeout),
            "incident": incident,
        }
        if replicas is not None:
            outcome = scaling.scale_replicas(
                config,
                role=role,
                replicas=replicas,
                max_step=max_step,
                max_replicas=max_replicas,
                force=force,
                log=engine_log(ctx, "kube.scale"),
                **common,  # type: ignore[arg-type]
            )
        else:
            outcome = scaling.set_resources(
                config,
                role=role,
                container=container,
                requests={k: v for k, v in resources.items() if v},
                limits={k: v for k, v in limits.items() if v},
                log=engine_log(ctx, "kube.set-resources"),
                **common,  # type: ignore[arg-type]
            )
        finish(ctx, outcome, one_line_failure=True)

    command.__doc__ = (
        f"Scale the {component}: `--replicas N` (at most x2 up or down and {DEFAULT_MAX_REPLICAS}"
        " replicas per run unless --force; an autoscaler's minReplicas moves with it), or"
        " `--cpu/--memory` requests and `--limit-cpu/--limit-memory` (every pod restarts,"
        " rolling). Verified when the rollout completes. Exit 0 done (or dry run), 1"
        " declined, 2 not verified, 3 refused or usage, 4 unreachable."
    )
    return click.command(role)(command)


scale.add_command(_target("api", "API (deployment api_deployment)"))
scale.add_command(_target("worker", "workers (deployment worker_deployment)"))


@scale.command("recommend")
@max_step_option
@max_replicas_option
@click.pass_obj
@handles_errors
def recommend_cmd(ctx: Ctx, max_step: float, max_replicas: int) -> None:
    """The runbook's four scaling triggers evaluated in Prometheus (CPU > 70% for 10 min,
    memory > 80% for 5 min, queue depth > 1000 for 15 min, P95 > 2 s for 10 min: the
    lowest value over the window must be above the threshold), and per deployment the
    HPA formula's replica count with the exact command. Exit 0 nothing fires, 1 a trigger
    fires, 4 Prometheus unreachable."""
    from triage_ops.exit_codes import ExitCode
    from triage_ops.procedures.scaling import recommend_report

    report = recommend_report(
        ctx.config(), timeout=ctx.timeout, max_step=max_step, max_replicas=max_replicas
    )
    if ctx.output == "json":
        emit(ctx, report.to_json())
    else:
        emit(
            ctx,
            report.trigger_rows(),
            columns=["trigger", "deployment", "threshold", "for", "sustained", "current", "status"],
            title="Scaling triggers",
        )
        click.echo()
        emit(
            ctx,
            report.recommendation_rows(),
            columns=["deployment", "replicas", "recommended", "command", "why"],
            title="Recommendation",
        )
        for note in report.notes:
            log(ctx)(note)
    if report.firing:
        click.get_current_context().exit(int(ExitCode.WARNINGS))
