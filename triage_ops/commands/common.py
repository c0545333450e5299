"""What every triage-ops command shares: typed errors to one line + exit code, and output
through the one renderer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any, TypeVar

import click

from triage_ops.cli import Ctx
from triage_ops.errors import OpsError
from triage_ops.output import render

F = TypeVar("F", bound=Callable[..., Any])


def handles_errors(func: F) -> F:
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except OpsError as exc:
            click.echo(f"triage-ops: error: {exc}", err=True)
            click.get_current_context().exit(int(exc.exit_code))

    return wrapper  # type: ignore[return-value]


def emit(
    ctx: Ctx, data: Any, *, columns: Sequence[str] | None = None, title: str | None = None
) -> None:
    click.echo(render(data, ctx.output, columns=columns, title=title), nl=False)


def log(ctx: Ctx) -> Callable[[str], None]:
    def write(message: str) -> None:
        if ctx.verbosity >= 0:
            click.echo(f"triage-ops: {message}", err=True)

    return write
