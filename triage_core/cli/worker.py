"""`triage worker`: the queue worker process (one library call: `worker.serve`)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from triage_core.cli.exit_codes import ExitCode
from triage_core.cli.options import handle_errors


@click.command("worker")
@click.option("--consumer", help="Consumer name in the group (default: host:pid).")
@click.option(
    "--settings",
    "settings_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Service settings (YAML) instead of the TRIAGE_* environment variables.",
)
@click.option(
    "--metrics-port", type=click.IntRange(min=0), default=0, show_default=True, help="0: off."
)
@click.option("--metrics-host", default="0.0.0.0", show_default=True)
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="INFO",
    show_default=True,
)
@handle_errors
def worker(
    consumer: str | None,
    settings_path: Path | None,
    metrics_port: int,
    metrics_host: str,
    log_level: str,
) -> None:
    """Triage queued email into PostgreSQL until SIGTERM (which finishes the batch)."""
    from triage_core.service.settings import ServiceSettings
    from triage_core.service.store import StoreError
    from triage_core.service.worker import serve

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = (
        ServiceSettings.from_yaml(settings_path) if settings_path else ServiceSettings.from_env()
    )
    try:
        serve(settings, consumer=consumer, metrics_port=metrics_port, metrics_host=metrics_host)
    except StoreError as exc:  # e.g. no database URL configured
        click.echo(f"triage: error: {exc}", err=True)
        sys.exit(int(ExitCode.DATABASE))
