"""`triage serve-model`: the model server (the runbook's `email-classifier-model`)."""

from __future__ import annotations

from pathlib import Path

import click

from triage_core.cli.options import handle_errors


@click.command("serve-model")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8501, show_default=True, help="REST port."
)
@click.option(
    "--model-name",
    default="email-classifier",
    show_default=True,
    help="Name the model is served under (/v1/models/NAME).",
)
@click.option(
    "--model-path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Embedded model artifact (.npz); default: the model shipped in the package.",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
)
@handle_errors
def serve_model(
    host: str, port: int, model_name: str, model_path: Path | None, log_level: str
) -> None:
    """Serve the embedded model over TensorFlow Serving's REST API (status, metadata,
    predict), for the `tfserving` classifier backend."""
    from triage_core.service.model_server import serve

    serve(host=host, port=port, model_name=model_name, model_path=model_path, log_level=log_level)
