"""The `triage-ops` click application: global options written once, commands loaded lazily
so `triage-ops --help` answers fast (heavy clients import only when a command runs)."""

from __future__ import annotations

import importlib
import logging
import sys
from dataclasses import dataclass, field
from typing import Any

import click

from triage_ops.exit_codes import ExitCode
from triage_ops.output import FORMATS

# command name -> module:attribute, imported on first use
_COMMANDS = {
    "alerts": "triage_ops.commands.alerts:alerts",
    "audit": "triage_ops.commands.runbook:audit",
    "backup": "triage_ops.commands.backup:backup",
    "cache": "triage_ops.commands.cache:cache",
    "capacity": "triage_ops.commands.capacity:capacity",
    "check": "triage_ops.commands.check:check",
    "comms": "triage_ops.commands.comms:comms",
    "completion": "triage_ops.commands.completion:completion",
    "db": "triage_ops.commands.db:db",
    "health": "triage_ops.commands.health:health",
    "incident": "triage_ops.commands.incident:incident",
    "model": "triage_ops.commands.model:model",
    "retention": "triage_ops.commands.retention:retention",
    "runbook": "triage_ops.commands.runbook:runbook",
    "sandbox": "triage_ops.commands.sandbox:sandbox",
    "scale": "triage_ops.commands.scale:scale",
    "secrets": "triage_ops.commands.secrets:secrets",
    "security": "triage_ops.commands.security:security",
}


@dataclass
class Ctx:
    """What every command receives: resolved global options."""

    config_path: str | None
    output: str
    dry_run: bool
    yes: bool
    timeout: float
    verbosity: int
    overrides: dict[str, str] = field(default_factory=dict)  # flags beat env beat file

    def config(self) -> Any:
        from triage_ops.config import OpsConfig

        config = OpsConfig.load(self.config_path)
        return config.merged(self.overrides, where="flags") if self.overrides else config


class LazyGroup(click.Group):
    def main(
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Click exits 2 on a usage error, which here means "critical findings": a cron job
        must be able to tell a bad flag (3) from a sick service (2)."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.UsageError as exc:
            exc.show()
            sys.exit(int(ExitCode.USAGE))
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = _COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        command: click.Command = getattr(importlib.import_module(module), attr)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    envvar="TRIAGE_OPS_CONFIG",
    type=click.Path(dir_okay=False),
    help="triage-ops config (YAML). Env: TRIAGE_OPS_CONFIG.",
)
@click.option("--output", "-o", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--dry-run", is_flag=True, help="Print the exact plan; change nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before acting.")
@click.option(
    "--timeout", type=float, default=5.0, show_default=True, help="Seconds per dependency check."
)
@click.option(
    "--context",
    "kube_context",
    metavar="NAME",
    help="Kubernetes context (default: the config's kube_context, then kubeconfig's current).",
)
@click.option(
    "-n", "--namespace", metavar="NS", help="Kubernetes namespace (default: email-triage)."
)
@click.option("-v", "--verbose", count=True, help="More logs on stderr (repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr.")
@click.version_option(package_name="email-triage", prog_name="triage-ops")
@click.pass_context
def main(
    ctx: click.Context,
    config_path: str | None,
    output: str,
    dry_run: bool,
    yes: bool,
    timeout: float,
    kube_context: str | None,
    namespace: str | None,
    verbose: int,
    quiet: bool,
) -> None:
    """The on-call engineer's CLI for the email triage service."""
    level = (
        logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    )
    logging.basicConfig(level=level, stream=sys.stderr, format="triage-ops: %(message)s")
    if timeout <= 0:
        raise click.BadParameter("must be > 0", param_hint="--timeout")
    overrides = {
        k: v for k, v in {"kube_context": kube_context, "namespace": namespace}.items() if v
    }
    ctx.obj = Ctx(config_path, output, dry_run, yes, timeout, -1 if quiet else verbose, overrides)
