"""`triage-ops completion bash|zsh|fish`: the shell completion script, from click's own
completion support (the same as `_TRIAGE_OPS_COMPLETE=bash_source triage-ops`)."""

from __future__ import annotations

import click


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the completion script. Install: `triage-ops completion bash >
    ~/.local/share/bash-completion/completions/triage-ops` (zsh: into a directory on
    $fpath as _triage-ops; fish: ~/.config/fish/completions/triage-ops.fish)."""
    from click.shell_completion import get_completion_class

    from triage_ops.cli import main

    cls = get_completion_class(shell)
    assert cls is not None  # the Choice above lists only shells click supports
    script = cls(main, {}, "triage-ops", "_TRIAGE_OPS_COMPLETE").source()
    click.echo(script)
