"""What the CLI calls: one function per mutating command, each running its Action through
the engine (plan -> dry-run | confirm -> apply -> verify, one audit entry whatever
happened).

Bad input is refused before the engine starts (a UsageError: exit 3), so that "could not
make a plan" keeps meaning what the engine says it means. When the plan itself fails, the
typed error the plan raised is re-raised after the engine has written its audit entry:
PostgreSQL unreachable stays exit 4 with its one line naming the server, a damaged
archive stays exit 2.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from triage_ops.clients import Clients
from triage_ops.config import OpsConfig
from triage_ops.engine.contract import Action, Plan, StepContext
from triage_ops.errors import OpsError, UsageError
from triage_ops.findings import Finding
from triage_ops.procedures.retention import archive as ar
from triage_ops.procedures.retention.policy import parse_duration
from triage_ops.procedures.retention.restore import RetentionRestore
from triage_ops.procedures.retention.run import DEFAULT_BATCH, RetentionRun, resolve_policy

if TYPE_CHECKING:
    from triage_ops.engine.audit import AuditLog
    from triage_ops.engine.report import ActionOutcome

Log = Callable[[str], None]
DEFAULT_MAX_DURATION = "2h"


@dataclass
class RetentionResult:
    outcome: ActionOutcome
    notes: list[str]

    @property
    def details(self) -> dict[str, Any]:
        """The numbers a person asks for: the dry run's counts, or what was done."""
        if self.outcome.after:
            return dict(self.outcome.after)
        plan = self.outcome.plan
        return dict(plan.dry_run) if plan is not None else {}

    def to_json(self) -> dict[str, Any]:
        return {**self.outcome.to_json(), "notes": list(self.notes)}


class _Remembering:
    """Wraps an Action to keep the exception its plan raised (the engine keeps only its
    text)."""

    def __init__(self, action: Action) -> None:
        self.action = action
        self.name = action.name
        self.plan_error: BaseException | None = None

    def plan(self, ctx: StepContext) -> Plan:
        try:
            return self.action.plan(ctx)
        except BaseException as exc:
            self.plan_error = exc
            raise

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        return self.action.apply(ctx, plan)

    def verify(self, ctx: StepContext, plan: Plan) -> list[Finding]:
        return self.action.verify(ctx, plan)


def _execute(
    action: Action,
    config: OpsConfig,
    *,
    step_id: str,
    timeout: float,
    budget_s: float,
    dry_run: bool,
    yes: bool,
    confirm: Callable[[Plan], bool],
    audit: AuditLog | None,
    incident: str | None,
    log: Log,
) -> RetentionResult:
    from triage_ops.engine.runner import execute_action

    if audit is not None:
        audit.ensure_writable()
    ctx = StepContext(
        config=config,
        clients=Clients(config, timeout=timeout),
        timeout=budget_s,
        step_id=step_id,
        log=log,
    )
    wrapped = _Remembering(action)
    outcome = execute_action(
        wrapped, ctx, dry_run=dry_run, yes=yes, confirm=confirm, audit=audit, incident=incident
    )
    if outcome.outcome == "unplanned" and isinstance(wrapped.plan_error, OpsError):
        raise wrapped.plan_error
    return RetentionResult(outcome, list(ctx.notes))


def run_retention(
    config: OpsConfig,
    *,
    archive_dir: Path,
    older_than: str | None,
    statuses: tuple[str, ...] = (),
    batch_size: int | str = DEFAULT_BATCH,
    max_duration: str = DEFAULT_MAX_DURATION,
    timeout: float,
    dry_run: bool,
    yes: bool,
    confirm: Callable[[Plan], bool],
    audit: AuditLog | None,
    incident: str | None = None,
    log: Log = lambda message: None,
) -> RetentionResult:
    """`triage-ops retention run`. `max_duration` is the run's time budget: no batch
    starts that would end after it, and the run stops resumably (TRI-RET-002)."""
    action = RetentionRun(
        archive_dir=archive_dir, older_than=older_than, statuses=statuses, batch_size=batch_size
    )
    budget_s = float(parse_duration(max_duration))
    if archive_dir.exists() and not archive_dir.is_dir():
        raise UsageError(f"--archive-to {archive_dir} is not a directory")
    resolve_policy(ar.load_manifest(archive_dir), older_than, statuses)
    return _execute(
        action,
        config,
        step_id="retention.run",
        timeout=timeout,
        budget_s=budget_s,
        dry_run=dry_run,
        yes=yes,
        confirm=confirm,
        audit=audit,
        incident=incident,
        log=log,
    )


def restore_archive(
    config: OpsConfig,
    *,
    archive_dir: Path,
    max_duration: str = DEFAULT_MAX_DURATION,
    timeout: float,
    dry_run: bool,
    yes: bool,
    confirm: Callable[[Plan], bool],
    audit: AuditLog | None,
    incident: str | None = None,
    log: Log = lambda message: None,
) -> RetentionResult:
    """`triage-ops retention restore`: idempotent, checks every segment first."""
    budget_s = float(parse_duration(max_duration))
    if ar.load_manifest(archive_dir) is None:
        raise UsageError(f"{archive_dir} holds no retention archive ({ar.MANIFEST} not found)")
    return _execute(
        RetentionRestore(archive_dir=archive_dir),
        config,
        step_id="retention.restore",
        timeout=timeout,
        budget_s=budget_s,
        dry_run=dry_run,
        yes=yes,
        confirm=confirm,
        audit=audit,
        incident=incident,
        log=log,
    )
