"""The `triage` command: a thin click layer over the library.

Each command is one library call plus rendering; errors the user can fix become one line
on stderr and an `ExitCode`, never a traceback.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from triage_core.cli.db import db
from triage_core.cli.model import corpus, model
from triage_core.cli.options import config_option, handle_errors
from triage_core.cli.render import FORMATS
from triage_core.cli.serve import serve
from triage_core.cli.serve_model import serve_model
from triage_core.cli.worker import worker

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="email-triage", prog_name="triage")
def main() -> None:
    """Triage email: category, priority, summary and a draft reply."""


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option(
    "--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes."
)
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar on stderr (default: when stderr is a terminal).",
)
@config_option
@handle_errors
def run(
    paths: tuple[str, ...],
    fmt: str,
    workers: int,
    batch_size: int,
    progress: bool | None,
    config_path: Path | None,
) -> None:
    """Triage PATH... : .eml files, directories, mbox, Maildir, JSONL of dicts, or - for stdin."""
    from triage_core.cli.render import write_results
    from triage_core.config import PipelineConfig
    from triage_core.pipeline import Pipeline
    from triage_core.sources import check_paths, count_inputs_hint, iter_inputs

    check_paths(paths)
    config = PipelineConfig.from_yaml(config_path) if config_path else PipelineConfig()
    pipeline = Pipeline(config)
    if workers == 1:
        _ = pipeline.classifier.labels  # load the model now: a bad model fails before output
    results = pipeline.pipe(iter_inputs(list(paths)), batch_size=batch_size, workers=workers)
    show = sys.stderr.isatty() if progress is None else progress
    total = count_inputs_hint(list(paths)) if show else None
    width = shutil.get_terminal_size((120, 24)).columns
    out = sys.stdout
    if show:
        bar: ProgressBar[Any]
        with click.progressbar(
            length=total, label="triaging", file=sys.stderr, show_pos=True
        ) as bar:
            write_results(_ticking(results, bar.update), fmt, out, width=width)
    else:
        write_results(results, fmt, out, width=width)


def _ticking(items: Iterator[Any], tick: Callable[[int], None]) -> Iterator[Any]:
    for item in items:
        tick(1)
        yield item


main.add_command(model)
main.add_command(serve)
main.add_command(serve_model)
main.add_command(db)
main.add_command(worker)
main.add_command(corpus)
