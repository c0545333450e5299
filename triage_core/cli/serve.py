"""`triage serve`: the HTTP API under uvicorn.

Settings come from `--settings FILE` (YAML) or the TRIAGE_* environment variables. With
`--workers N > 1` uvicorn starts N processes, each building the app from the same settings
(the file is handed over in TRIAGE_SERVICE_SETTINGS), and the Prometheus metrics switch to
multiprocess mode so that a scrape of any worker reports all of them: in
`metrics_multiproc_dir` when set, else in a temporary directory removed at exit.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import click

from triage_core.cli.options import handle_errors

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
# Requests in flight get this long to finish after SIGTERM (Kubernetes' grace period is 30 s).
GRACEFUL_SHUTDOWN_S = 20


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="API processes (metrics are then aggregated over all of them).",
)
@click.option(
    "--settings",
    "settings_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    envvar="TRIAGE_SERVICE_SETTINGS",
    help="Service settings (YAML) instead of TRIAGE_* variables. Env: TRIAGE_SERVICE_SETTINGS.",
)
@click.option("--log-level", type=click.Choice(LOG_LEVELS), default="info", show_default=True)
@click.option("--access-log/--no-access-log", default=True, show_default=True)
@handle_errors
def serve(
    host: str,
    port: int,
    workers: int,
    settings_path: Path | None,
    log_level: str,
    access_log: bool,
) -> None:
    """Run the HTTP API: /v1/classify, /v1/triage, /v1/emails, /healthz, /readyz, /metrics."""
    import uvicorn

    from triage_core.service.api.app import SETTINGS_FILE_ENV, app_from_env, create_app
    from triage_core.service.settings import ServiceSettings

    settings = (
        ServiceSettings.from_yaml(settings_path) if settings_path else ServiceSettings.from_env()
    )
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "log_config": log_config(log_level),
        "access_log": access_log,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S,
    }
    if workers == 1:
        uvicorn.run(create_app(settings), **options)  # a bad config fails before binding
        return
    create_app(settings)  # the same early check; the workers build their own
    if settings_path is not None:
        os.environ[SETTINGS_FILE_ENV] = str(settings_path.resolve())
    temporary = _multiprocess_metrics_dir(settings.metrics_multiproc_dir)
    try:
        target = f"{app_from_env.__module__}:{app_from_env.__name__}"
        uvicorn.run(target, factory=True, workers=workers, **options)
    finally:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)


def _multiprocess_metrics_dir(configured: str) -> Path | None:
    """Points the workers (new processes: they read it at import) at a clean directory;
    returns it when it is a temporary one to remove afterwards."""
    from triage_core.service.metrics import MULTIPROC_ENV, reset_multiprocess_dir

    if os.environ.get(MULTIPROC_ENV):
        reset_multiprocess_dir(os.environ[MULTIPROC_ENV])
        return None
    if configured:
        Path(configured).mkdir(parents=True, exist_ok=True)
        reset_multiprocess_dir(configured)
        os.environ[MULTIPROC_ENV] = configured
        return None
    directory = Path(tempfile.mkdtemp(prefix="triage-metrics-"))
    os.environ[MULTIPROC_ENV] = str(directory)
    return directory


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's own logging, plus the service's loggers (`triage_core.*`) with their
    names, on stderr."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["service"] = {
        "format": "%(asctime)s %(levelname)s %(name)s: %(message)s",
    }
    config["handlers"]["service"] = {
        "formatter": "service",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
    }
    config["loggers"]["triage_core"] = {
        "handlers": ["service"],
        "level": level.upper(),
        "propagate": False,
    }
    return config
