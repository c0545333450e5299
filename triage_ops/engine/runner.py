"""Runs a runbook: checks concurrently, then actions one at a time, then verify steps
(with the checks when no action can be taken and they wait on nothing the actions do).

Checks whose `after` steps are done start at once, each in its own daemon thread with its
own deadline. A check that overruns is abandoned, not awaited: its thread is a daemon, so
it can neither delay the report nor keep the process alive at exit (a ThreadPoolExecutor's
workers are joined at interpreter exit, which would turn one hung socket into a hung
command). Whatever a check raises becomes a finding naming the step, never a traceback:
a ClientError -> TRI-ENGINE-002 (the system and its one-line message), a missing setting
-> TRI-ENGINE-005, anything else -> TRI-ENGINE-003 (the traceback goes to the log at -vv).

`execute_action` is the one path every mutating command takes: plan -> (noop: stop) ->
dry-run: stop -> confirm unless --yes -> apply -> verify, with an audit entry whatever
happened. Plan, apply and verify each run under the step's deadline too.

The report's exit code counts every finding of the run, also those an action then fixed:
the checks saw them, the verify steps say what holds afterwards, and a re-run shows the
state now. A declined action leaves the exit code to the findings; as a standalone command
(`ActionOutcome.exit_code`) it exits WARNINGS (1): nothing changed, the need remains.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from triage_ops.clients import Clients
from triage_ops.clients.errors import ClientError
from triage_ops.config import OpsConfig
from triage_ops.engine.audit import AuditLog
from triage_ops.engine.catalogue import Catalogue
from triage_ops.engine.contract import Action, Plan, StepContext
from triage_ops.engine.errors import AuditError, DefinitionError
from triage_ops.engine.report import ActionOutcome, Report, StepResult, sort_findings, status_of
from triage_ops.engine.runbook import (
    ENGINE_CODES,
    Runbook,
    Step,
    default_dir,
    engine_file,
    order,
)
from triage_ops.engine.scrub import Scrubber, config_secrets
from triage_ops.errors import DependencyUnreachable, UsageError
from triage_ops.findings import Finding

# Extra time past a step's timeout before it is abandoned, so that a client's own timeout
# error (which names the system and its address) wins the race against the engine's.
GRACE_S = 0.25
# A step is skipped when a step it comes after ended like this.
BLOCKING = frozenset({"unknown", "skipped", "failed"})
logger = logging.getLogger("triage_ops.engine")

Confirm = Callable[[Plan], bool]
Log = Callable[[str], None]


def run_runbook(
    runbook: Runbook,
    *,
    config: OpsConfig,
    clients: Clients,
    timeout: float,
    act: bool,
    dry_run: bool,
    yes: bool,
    confirm: Confirm,
    audit: AuditLog | None,
    incident: str | None,
    log: Log,
    params: Mapping[str, Any],
    take: Iterable[str] = (),
    catalogue: Catalogue | None = None,
) -> Report:
    """Run every step of `runbook`; `act` takes the triggered safe actions (and those
    named in `take`), otherwise actions are only suggested."""
    take = set(take)
    actions = {s.id for s in runbook.of_kind("action")}
    if take - actions:
        known = ", ".join(sorted(actions)) or "none"
        raise UsageError(
            f"--take {', '.join(sorted(take - actions))}: not an action of runbook"
            f" {runbook.id} (actions: {known})"
        )
    run = _Run(
        runbook=runbook,
        config=config,
        clients=clients,
        timeout=timeout,
        catalogue=(catalogue or _default_catalogue(runbook)).with_config(config),
        params=dict(params),
        log=log,
    )
    started_at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    started = time.monotonic()
    early = [] if act and not dry_run else _independent_verify_steps(runbook)
    run.held = {s.id for s in early}
    run.concurrent([*runbook.of_kind("check"), *early])
    outcomes = run.actions(
        runbook.of_kind("action"),
        act=act,
        take=take,
        dry_run=dry_run,
        yes=yes,
        confirm=confirm,
        audit=audit,
        incident=incident,
    )
    run.concurrent([s for s in runbook.of_kind("verify") if s.id not in run.held])
    report = Report(
        runbook=runbook.id,
        title=runbook.title,
        incident=incident,
        started_at=started_at,
        duration_ms=(time.monotonic() - started) * 1000,
        steps=[run.results[s.id] for s in runbook.steps],
        findings=sort_findings(run.findings),
        actions=outcomes,
    )
    if audit is not None:
        _audit_run(audit, report, params=params, act=act, dry_run=dry_run)
    return report


def _independent_verify_steps(runbook: Runbook) -> list[Step]:
    """The verify steps that wait on nothing from the actions phase (no `when`, after no
    action, nor after a verify step that does). When no action can change anything (no
    --act, or --dry-run), these run with the checks: waiting for them after the checks
    would cost a hung dependency's timeout twice (a black-holed Redis: the PING check's
    5 s, then the recovery validation's 5 s) for the same answer."""
    independent: set[str] = {s.id for s in runbook.of_kind("check")}
    early: list[Step] = []
    for step in order(runbook.of_kind("verify")):
        if step.when is None and all(dep in independent for dep in step.after):
            independent.add(step.id)
            early.append(step)
    return early


def execute_action(
    action: Action,
    ctx: StepContext,
    *,
    dry_run: bool,
    yes: bool,
    confirm: Confirm,
    audit: AuditLog | None,
    incident: str | None,
    runbook: str | None = None,
) -> ActionOutcome:
    """plan -> (noop: stop) -> (dry_run: stop, outcome "dry-run") -> confirm unless `yes`
    (declined: outcome "declined") -> apply -> verify -> "ok" | "failed" | "unverified".
    A plan that cannot be made is "unplanned" (nothing changed). One audit entry in every
    case, also when `confirm` refuses (it raises UsageError without a terminal)."""
    if ctx.make_finding is None:
        ctx.make_finding = _default_catalogue(None).with_config(ctx.config).finding
    name = str(getattr(action, "name", type(action).__name__))
    scrub = Scrubber(config_secrets(ctx.config))
    started = time.monotonic()
    deadline = ctx.timeout + GRACE_S
    outcome = ActionOutcome(action=name, step=ctx.step_id, outcome="failed")

    def finish(result: str, *, error: str = "", findings: Sequence[Finding] = ()) -> ActionOutcome:
        outcome.outcome = result
        outcome.error = scrub.text(error)
        outcome.findings = [_with_step(f, ctx.step_id) for f in findings]
        outcome.duration_ms = (time.monotonic() - started) * 1000
        ctx.log(f"{name}: {result}" + (f": {outcome.error}" if outcome.error else ""))
        _audit_action(audit, outcome, incident=incident, runbook=runbook, dry_run=dry_run)
        return outcome

    done, plan, exc = call_with_deadline(lambda: action.plan(ctx), deadline, f"plan {name}")
    if not done or exc is not None or not isinstance(plan, Plan):
        why = _failure_text(done, exc, deadline, "make its plan", bad_result=plan)
        if exc is not None and not isinstance(exc, ClientError):
            logger.debug("action %s: plan failed", name, exc_info=exc)
        finding = ctx.finding("TRI-ACTION-003", f"{name}: could not make its plan: {why}")
        return finish("unplanned", error=why, findings=[finding])
    outcome.plan = plan
    if plan.noop:
        return finish("noop")
    if dry_run or yes:
        ctx.log(f"plan: {plan.summary}")
    if dry_run:
        return finish("dry-run")
    if not yes:
        try:
            accepted = confirm(plan)
        except UsageError as refused:
            finish("refused", error=str(refused))
            raise
        if not accepted:
            return finish("declined")

    # Applying and verifying may legitimately take longer than one dependency check (a
    # rollout, a flush of a million keys): an action says how long with `deadline_s` (read
    # after planning: a deferred action knows it only then). Abandoning a change half-way
    # is worse than waiting for it.
    work_deadline = max(ctx.timeout, float(getattr(action, "deadline_s", 0.0) or 0.0)) + GRACE_S
    done, after, exc = call_with_deadline(
        lambda: action.apply(ctx, plan), work_deadline, f"apply {name}"
    )
    if not done or exc is not None:
        why = _failure_text(done, exc, work_deadline, "apply")
        if exc is not None and not isinstance(exc, ClientError):
            logger.debug("action %s: apply failed", name, exc_info=exc)
        finding = ctx.finding("TRI-ACTION-001", f"{name}: {plan.summary}: failed: {why}")
        return finish("failed", error=why, findings=[finding])
    outcome.after = dict(after) if isinstance(after, Mapping) else {"result": after}

    done, found, exc = call_with_deadline(
        lambda: action.verify(ctx, plan), work_deadline, f"verify {name}"
    )
    if not done or exc is not None or not _is_findings(found):
        why = _failure_text(done, exc, work_deadline, "verify", bad_result=found)
        finding = ctx.finding("TRI-ACTION-002", f"{name}: applied, could not verify: {why}")
        return finish("unverified", error=why, findings=[finding])
    if found:
        finding = ctx.finding(
            "TRI-ACTION-002", f"{name}: applied, but {len(found)} check(s) say it did not take"
        )
        return finish("unverified", findings=[finding, *found])
    return finish("ok")


def call_with_deadline(
    fn: Callable[[], Any], timeout: float, name: str
) -> tuple[bool, Any, BaseException | None]:
    """Run `fn` in a daemon thread: (finished in time, result, exception). A call that
    overruns is abandoned; its thread cannot keep the process alive."""
    box: dict[str, Any] = {}
    finished = threading.Event()

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # handed to the caller, which decides
            box["error"] = exc
        finally:
            finished.set()

    threading.Thread(target=target, name=f"triage-ops {name}", daemon=True).start()
    if not finished.wait(timeout):
        return False, None, None
    return True, box.get("result"), box.get("error")


# -- the run's state -------------------------------------------------------------------


@dataclass
class _Done:
    step_id: str
    findings: list[Finding]
    notes: list[str]
    duration_ms: float


class _Run:
    def __init__(
        self,
        *,
        runbook: Runbook,
        config: OpsConfig,
        clients: Clients,
        timeout: float,
        catalogue: Catalogue,
        params: dict[str, Any],
        log: Log,
    ) -> None:
        self.runbook = runbook
        self.config = config
        self.clients = clients
        self.timeout = timeout
        self.catalogue = catalogue
        self.params = params
        self.log = log
        self.scrub = Scrubber(config_secrets(config))
        self.results: dict[str, StepResult] = {}
        self.targets: dict[str, Any] = {}  # step id -> its imported code (or why not)
        self.findings: list[Finding] = []
        # verify steps run early, with the checks: the actions never see their findings
        self.held: set[str] = set()

    def seen(self) -> list[Finding]:
        """The findings so far, as the actions phase may see them."""
        return [f for f in self.findings if f.step not in self.held]

    def context(self, step: Step) -> StepContext:
        return StepContext(
            config=self.config,
            clients=self.clients,
            timeout=self.step_timeout(step),
            step_id=step.id,
            params=MappingProxyType({**self.runbook.params, **self.params, **step.params}),
            findings=tuple(self.seen()),
            make_finding=self.catalogue.finding,
            log=self.log,
        )

    def step_timeout(self, step: Step) -> float:
        return step.timeout if step.timeout is not None else self.timeout

    def record(
        self,
        step: Step,
        status: str,
        *,
        ms: float = 0.0,
        notes: Sequence[str] = (),
        findings: Sequence[Finding] = (),
    ) -> None:
        self.results[step.id] = StepResult(
            id=step.id,
            kind=step.kind,
            title=step.title,
            status=status,
            duration_ms=ms,
            notes=[self.scrub.text(n) for n in notes],
            findings=list(findings),
        )
        self.findings.extend(findings)
        logger.info("step %s: %s (%.0f ms)", step.id, status, ms)

    def blocked_by(self, step: Step) -> str | None:
        for dep in step.after:
            result = self.results.get(dep)
            if result is not None and result.status in BLOCKING:
                return f"not run: it needs {dep}, which ended {result.status}"
        return None

    # -- checks and verify steps ---------------------------------------------------------

    def concurrent(self, steps: Sequence[Step]) -> None:
        """Start each step as soon as the steps it comes after are done; wait for the
        first to finish or the nearest deadline, whichever comes first."""
        pending = order(steps)
        self._import(pending)
        finished: queue.Queue[_Done] = queue.Queue()
        running: dict[str, tuple[Step, float, float]] = {}  # id -> step, start, deadline
        while pending or running:
            self._start_ready(pending, running, finished)
            if not running:
                if pending:  # only a step built outside the loader's checks gets here
                    stuck = ", ".join(s.id for s in pending)
                    raise DefinitionError(
                        f"runbook {self.runbook.id}: steps {stuck} can never start"
                    )
                break
            nearest = min(deadline for _, _, deadline in running.values())
            try:
                done = finished.get(timeout=max(0.0, nearest - time.monotonic()))
            except queue.Empty:
                now = time.monotonic()
                for step_id, (step, start, deadline) in list(running.items()):
                    if deadline <= now:
                        del running[step_id]
                        self.abandon(step, (now - start) * 1000)
                continue
            if done.step_id in running:  # not an abandoned step finishing late
                step = running.pop(done.step_id)[0]
                self.record(
                    step,
                    status_of(done.findings),
                    ms=done.duration_ms,
                    notes=done.notes,
                    findings=done.findings,
                )

    def _import(self, steps: Sequence[Step]) -> None:
        """Import every step's code before any clock starts, one after the other: imports
        serialise on the import lock anyway, and a cold `import kubernetes` must not eat
        into the timeout of the step that happens to import it first."""
        for step in steps:
            try:
                self.targets[step.id] = step.resolve()
            except Exception as exc:  # reported when the step would have started
                self.targets[step.id] = exc

    def _start_ready(
        self,
        pending: list[Step],
        running: dict[str, tuple[Step, float, float]],
        finished: queue.Queue[_Done],
    ) -> None:
        """Start (or skip) every step whose `after` steps are done, repeatedly: skipping
        one may make the steps after it ready at once."""
        while ready := [s for s in pending if all(d in self.results for d in s.after)]:
            for step in ready:
                pending.remove(step)
                reason = self.blocked_by(step)
                if reason is None and not step.triggered(f.code for f in self.findings):
                    reason = "not needed: none of " + ", ".join(step.when or ()) + " found"
                if reason is not None:
                    self.record(step, "skipped", notes=[reason])
                    continue
                target = self.targets.get(step.id)
                if isinstance(target, Exception):
                    logger.debug("step %s failed to load", step.id, exc_info=target)
                    self.record(
                        step,
                        "unknown",
                        findings=[self.engine_finding(step, "TRI-ENGINE-003", target)],
                    )
                    continue
                ctx = self.context(step)
                now = time.monotonic()
                running[step.id] = (step, now, now + ctx.timeout + GRACE_S)
                threading.Thread(
                    target=self._check_thread,
                    args=(step, ctx, finished, now),
                    name=f"triage-ops step {step.id}",
                    daemon=True,
                ).start()

    def abandon(self, step: Step, ms: float) -> None:
        timeout = self.step_timeout(step)
        self.log(f"step {step.id} did not finish within {timeout:g} s: abandoned")
        finding = self.catalogue.finding(
            "TRI-ENGINE-001",
            f"step {step.id} ({step.title}) did not finish within {timeout:g} s: abandoned",
            evidence={"step": step.id, "timeout_s": timeout},
            step=step.id,
        )
        self.record(step, "unknown", ms=ms, findings=[finding])

    def _check_thread(
        self, step: Step, ctx: StepContext, finished: queue.Queue[_Done], start: float
    ) -> None:
        findings = self.call_check(step, ctx)
        finished.put(_Done(step.id, findings, ctx.notes, (time.monotonic() - start) * 1000))

    def call_check(self, step: Step, ctx: StepContext) -> list[Finding]:
        """The check's findings, each stamped with the step and checked against what the
        step declares; whatever it raises becomes one finding."""
        try:
            check = self.targets.get(step.id) or step.resolve()
            result = check(ctx)
            if not _is_findings(result):
                raise TypeError(f"returned {type(result).__name__}, not a list of findings")
        except ClientError as exc:
            return [self.engine_finding(step, "TRI-ENGINE-002", exc, system=exc.system)]
        except DependencyUnreachable as exc:
            return [self.engine_finding(step, "TRI-ENGINE-002", exc, system="dependency")]
        except UsageError as exc:
            return [self.engine_finding(step, "TRI-ENGINE-005", exc)]
        except Exception as exc:  # a bug in the step: reported as a finding, not a crash
            logger.debug("step %s failed", step.id, exc_info=exc)
            return [self.engine_finding(step, "TRI-ENGINE-003", exc)]
        return [self.declared(step, _with_step(f, step.id)) for f in result]

    def engine_finding(
        self, step: Step, code: str, exc: BaseException, *, system: str = ""
    ) -> Finding:
        message = self.scrub.text(_one_line(exc))
        evidence: dict[str, Any] = {"step": step.id, "error": type(exc).__name__}
        if code == "TRI-ENGINE-002":
            evidence["system"] = system
            summary = f"step {step.id} ({step.title}) could not reach {system}: {message}"
        elif code == "TRI-ENGINE-005":
            summary = f"step {step.id} ({step.title}) cannot run: {message}"
        else:
            summary = f"step {step.id} ({step.title}) failed: {type(exc).__name__}: {message}"
        return self.catalogue.finding(code, summary, evidence=evidence, step=step.id)

    def declared(self, step: Step, finding: Finding) -> Finding:
        if finding.code in step.findings or finding.code in ENGINE_CODES:
            return finding
        return self.catalogue.finding(
            "TRI-ENGINE-004",
            f"step {step.id} gave {finding.code}, which it does not declare: {finding.summary}",
            evidence={
                "step": step.id,
                "code": finding.code,
                "severity": str(finding.severity),
                "summary": finding.summary,
            },
            step=step.id,
        )

    # -- actions -----------------------------------------------------------------------

    def actions(
        self,
        steps: Sequence[Step],
        *,
        act: bool,
        take: set[str],
        dry_run: bool,
        yes: bool,
        confirm: Confirm,
        audit: AuditLog | None,
        incident: str | None,
    ) -> list[ActionOutcome]:
        outcomes: list[ActionOutcome] = []
        for step in order(steps):
            codes = {f.code for f in self.seen()}
            reason = self.blocked_by(step)
            if reason is None and not step.triggered(codes):
                reason = "not needed: none of " + ", ".join(step.when or ()) + " found"
            if reason is not None:
                self.record(step, "skipped", notes=[reason])
                continue
            if not (act and (step.safe or step.id in take)):
                hint = (
                    "take it with --act"
                    if step.safe
                    else f"not taken by --act alone: add --take {step.id}"
                )
                self.record(step, "suggested", notes=[hint])
                continue
            ctx = self.context(step)
            started = time.monotonic()
            try:
                action = step.action()
            except Exception as exc:  # a bug: nothing was changed
                logger.debug("action step %s failed to load", step.id, exc_info=exc)
                finding = self.engine_finding(step, "TRI-ENGINE-003", exc)
                self.record(step, "unknown", findings=[finding])
                continue
            outcome = execute_action(
                action,
                ctx,
                dry_run=dry_run,
                yes=yes,
                confirm=confirm,
                audit=audit,
                incident=incident,
                runbook=self.runbook.id,
            )
            outcomes.append(outcome)
            notes = [outcome.plan.summary] if outcome.plan is not None else []
            notes += [outcome.error] if outcome.error else []
            notes += ["declined"] if outcome.outcome == "declined" else []
            notes += ctx.notes
            self.record(
                step,
                outcome.step_status,
                ms=(time.monotonic() - started) * 1000,
                notes=notes,
                findings=[self.declared(step, f) for f in outcome.findings],
            )
        return outcomes


# -- helpers ---------------------------------------------------------------------------


def _default_catalogue(runbook: Runbook | None) -> Catalogue:
    """The catalogue of the runbook's directory (the repository's, for a bare action)."""
    home = runbook.path.parent if runbook is not None and runbook.path is not None else None
    return Catalogue.load(home or default_dir(), engine_file=engine_file())


def _with_step(finding: Finding, step_id: str) -> Finding:
    return finding if finding.step else replace(finding, step=step_id)


def _is_findings(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(f, Finding) for f in value)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _failure_text(
    done: bool, exc: BaseException | None, deadline: float, what: str, *, bad_result: Any = None
) -> str:
    if not done:
        return f"did not {what} within {deadline - GRACE_S:g} s (abandoned; state unknown)"
    if exc is not None:
        text = _one_line(exc)
        return text if isinstance(exc, ClientError) else f"{type(exc).__name__}: {text}"
    return f"a bug: {what} returned {type(bad_result).__name__}"


def _audit_action(
    audit: AuditLog | None,
    outcome: ActionOutcome,
    *,
    incident: str | None,
    runbook: str | None,
    dry_run: bool,
) -> None:
    if audit is None:
        return
    plan = outcome.plan
    try:
        audit.append(
            kind="action",
            incident=incident,
            runbook=runbook,
            step=outcome.step or None,
            summary=f"{outcome.action}: {plan.summary if plan else 'no plan'} -> {outcome.outcome}",
            plan=plan.to_json() if plan is not None else None,
            before=[c.get("before") for c in plan.changes] if plan is not None else None,
            after=dict(outcome.after) or None,
            outcome=outcome.outcome,
            findings=[f.to_json() for f in outcome.findings],
            details={
                "action": outcome.action,
                "dry_run": dry_run,
                "duration_ms": round(outcome.duration_ms, 1),
                "error": outcome.error,
            },
        )
    except AuditError as exc:
        logger.error("%s", exc)


def _audit_run(
    audit: AuditLog, report: Report, *, params: Mapping[str, Any], act: bool, dry_run: bool
) -> None:
    try:
        audit.append(
            kind="runbook.run",
            incident=report.incident,
            runbook=report.runbook,
            summary=(
                f"{report.runbook}: {report.status}, exit {int(report.exit_code)},"
                f" {len(report.findings)} finding(s)"
            ),
            outcome=report.exit_code.name.lower(),
            findings=[f.to_json() for f in report.findings],
            details={
                "act": act,
                "dry_run": dry_run,
                "params": dict(params),
                "duration_ms": round(report.duration_ms, 1),
                "steps": {s.id: s.status for s in report.steps},
                "actions": {a.step: a.outcome for a in report.actions},
            },
        )
    except AuditError as exc:
        logger.error("%s", exc)
