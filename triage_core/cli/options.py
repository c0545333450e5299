"""Options and error handling shared by every `triage` command, written once."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from triage_core.cli.exit_codes import ExitCode

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: ExitCode) -> None:
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
            fail(str(exc), ExitCode.CONFIG)
        except ModelError as exc:
            fail(str(exc), ExitCode.MODEL)
        except InputError as exc:
            fail(str(exc), ExitCode.INPUT)
        except BrokenPipeError:
            sys.stderr.close()  # `triage run ... | head`: the reader left, not an error
            sys.exit(int(ExitCode.OK))

    return wrapper  # type: ignore[return-value]


def config_option(func: F) -> F:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="TRIAGE_CONFIG",
        help="Pipeline config (YAML). Env: TRIAGE_CONFIG.",
    )(func)
