"""`triage-ops capacity report`: email volume and resource trends over a window, the
growth projection, sparklines, and a PNG chart (triage_ops/procedures/capacity.py)."""

from __future__ import annotations

from pathlib import Path

import click

from triage_ops.cli import Ctx
from triage_ops.commands.common import emit, handles_errors


@click.group()
def capacity() -> None:
    """Capacity planning: volume growth and resource trends from Prometheus."""


@capacity.command("report")
@click.option(
    "--since",
    default="30d",
    show_default=True,
    metavar="DURATION",
    help="The window: a number and m, h, d or w (30d, 2w).",
)
@click.option(
    "--chart",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH.png",
    help="Also write the chart (volume, CPU, memory) as a PNG there.",
)
@click.pass_obj
@handles_errors
def report(ctx: Ctx, since: str, chart: Path | None) -> None:
    """Emails per day, growth per week (least squares), the projected daily volume in 30
    and 90 days, the peak hour, CPU and memory, with sparklines. Exit 0 (a report, not a
    judgement: `check weekly` judges growth), 3 bad --since, 4 Prometheus unreachable."""
    from triage_ops.procedures.capacity import capacity_report

    result = capacity_report(ctx.config(), since=since, timeout=ctx.timeout, chart=chart)
    if ctx.output == "json":
        emit(ctx, result.to_json())
        return
    emit(ctx, result.rows(), columns=["metric", "value", "trend"], title="Capacity report")
