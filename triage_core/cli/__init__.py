"""The `triage` command: a thin click layer over the library.

Each command is one library call plus rendering; errors the user can fix become one line
on stderr and an `ExitCode`, never a traceback.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterator
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from triage_core.cli.exit_codes import ExitCode
from triage_core.cli.render import FORMATS

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str, code: ExitCode) -> None:
    click.echo(f"triage: error: {message}", err=True)
    sys.exit(int(code))


def handle_errors(func: F) -> F:
    """Maps the library's typed errors to one line and an exit code."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from triage_core.errors import ConfigError, InputError, ModelError

        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            _fail(str(exc), ExitCode.CONFIG)
        except ModelError as exc:
            _fail(str(exc), ExitCode.MODEL)
        except InputError as exc:
            _fail(str(exc), ExitCode.INPUT)
        except BrokenPipeError:
            sys.stderr.close()  # `triage run ... | head`: the reader left, not an error
            sys.exit(int(ExitCode.OK))

    return wrapper  # type: ignore[return-value]


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="TRIAGE_CONFIG",
    help="Pipeline config (YAML). Env: TRIAGE_CONFIG.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="email-triage", prog_name="triage")
def main() -> None:
    """Triage email: category, priority, summary and a draft reply."""


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True
)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr (default: when stderr is a terminal).")
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
    from triage_core.sources import count_inputs_hint, iter_inputs

    config = PipelineConfig.from_yaml(config_path) if config_path else PipelineConfig()
    pipeline = Pipeline(config)
    if workers == 1:
        _ = pipeline.classifier.labels  # load the model now: a bad model fails before output
    results = pipeline.pipe(iter_inputs(list(paths)), batch_size=batch_size, workers=workers)
    show = sys.stderr.isatty() if progress is None else progress
    total = count_inputs_hint(list(paths)) if show else None
    width = shutil.get_terminal_size((120, 24)).columns
    out = click.get_text_stream("stdout")
    if show:
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


from triage_core.cli.model import corpus, model  # noqa: E402  (subcommand modules)

main.add_command(model)
main.add_command(corpus)
