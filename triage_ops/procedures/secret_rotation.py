"""`triage-ops secrets rotate db-password` and `secrets status`: the runbook's weekly
"Secret Rotation Procedure", made safe.

The runbook generates a password, writes it into the Kubernetes Secret and restarts the
API. It never changes the password in PostgreSQL, so the restarted pods log in with a
password the database does not know: the service locks itself out (DESIGN.md, "Known
traps"). It also restarts only the API, while the workers read the same Secret. Here the
steps are, in order:

1. check that the Secret's current password logs in as the service role (otherwise the
   service is already locked out, the runbook's trap: refuse, unless `--repair`, where
   rolling back means giving the role the Secret's password, which ends the lockout);
2. `ALTER ROLE <role> PASSWORD '<SCRAM verifier>'` (the plaintext never reaches the
   server, its logs or pg_stat_statements);
3. write the new password into the Secret (`db-credentials`, key `password`);
4. rolling restart of the API AND the workers, waiting for both rollouts;
5. verify: the Secret's password logs in as the role (Postgres and the Secret agree) and
   the old one no longer does.

On any failure the rotation does not simply "undo each step": a step that failed because
a system stopped answering cannot be undone on that system. It looks at both sides (logs
in with each password; reads the Secret back), then makes them agree: on the OLD password
when both systems answer; when only one answers, on whatever the other one is known to
hold (rolling forward to the new password if the Secret cannot be put back). Pods that may
hold the wrong password are restarted again. The error line says where both sides ended
and, if they could not be made to agree, exactly what to do by hand.

Between step 2 and the end of step 4, pods that have not restarted yet cannot open NEW
connections (their pooled ones stay logged in): PostgreSQL has no second password per
role. Run it in a quiet hour; the restart follows at once.

The password is never printed, logged or written to the audit timeline: the plan says
"current password" / "new password", errors are scrubbed of both values.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from triage_ops.clients.errors import AuthFailed, ClientError, NotFound, TimedOut
from triage_ops.clients.postgres import PostgresClient
from triage_ops.config import OpsConfig
from triage_ops.engine.contract import Plan, StepContext
from triage_ops.engine.report import ActionOutcome
from triage_ops.errors import ActionFailed, DependencyUnreachable, UsageError
from triage_ops.findings import Finding
from triage_ops.procedures import scram

STEPS = ("alter-role", "update-secret", "restart", "wait-rollout")
ACTION_NAME = "secrets.rotate-db-password"
DEFAULT_ROLLOUT_TIMEOUT_S = 300.0
# Besides the rollouts (forward, and again when rolling back), a rotation is a dozen
# calls, each bounded by the client timeout: this is what the engine allows on top.
_OVERHEAD_S = 60.0


class InjectedFault(RuntimeError):
    """Raised by the fault-injection hook the reliability tests use."""


def role_dsn(admin_dsn: str, *, role: str, password: str) -> str:
    """The admin DSN's server and database, logged in as `role` with `password`."""
    params = conninfo_to_dict(admin_dsn)
    params.update(user=role, password=password)
    return make_conninfo("", **params)


def can_login(ctx: StepContext, *, role: str, password: str) -> bool:
    """Whether `role` logs in with `password` (an auth failure is False; an unreachable
    server raises: that is not an answer)."""
    client = PostgresClient(
        role_dsn(ctx.config.database_url, role=role, password=password), timeout=ctx.timeout
    )
    try:
        client.ping()
    except AuthFailed:
        return False
    return True


def set_role_password(
    ctx: StepContext, *, role: str, password: str, sent: Callable[[], None] | None = None
) -> None:
    """`ALTER ROLE ... PASSWORD '<verifier>'`. `sent` is called once connected, just before
    the statement goes out: a failure before it left the role as it was for certain."""
    statement = sql.SQL("ALTER ROLE {} PASSWORD {}").format(
        sql.Identifier(role), sql.Literal(scram.verifier(password))
    )
    with ctx.clients.postgres().connect() as conn:
        if sent is not None:
            sent()
        conn.execute(statement)


def wait_rollout(
    kube: Any,
    deployment: str,
    *,
    timeout_s: float,
    poll_s: float = 1.0,
    sleep: Callable[[float], None] | None = None,
) -> None:
    """Until the rollout is complete (kubectl's `rollout status` logic); a rollout that is
    stuck (ProgressDeadlineExceeded) or slower than `timeout_s` is a failure."""
    pause = sleep or time.sleep
    deadline = time.monotonic() + timeout_s
    while True:
        status = kube.rollout_status(deployment)
        if status.done:
            return
        if status.stuck or time.monotonic() + poll_s > deadline:
            raise ActionFailed(f"rollout of {deployment} did not complete: {status.message}")
        pause(poll_s)


def _stamp(after: str = "") -> str:
    """A restartedAt value; later than `after`, so a second restart in the same second
    still changes the pod template (an equal stamp would be a no-op patch)."""
    now = datetime.now(UTC).replace(microsecond=0)
    if after:
        previous = datetime.strptime(after, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        now = max(now, previous + timedelta(seconds=1))
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Progress:
    """What each side is known to hold while a rotation runs: "old", "new", or "unknown"
    (a change was sent and its answer lost), and whether pods were restarted."""

    role: str = "old"
    secret: str = "old"
    restarted: bool = False  # a restart was sent: some pods may hold the new password
    rolled_out: bool = False  # ... and the rollouts completed
    stamp: str = ""
    steps: list[str] = field(default_factory=list)


@dataclass
class RotateDbPassword:
    """An Action (triage_ops.engine.contract). `restart` lists the deployments that read
    the Secret (default: the API and the workers). `repair` rotates even when the Secret's
    password does not log in (the runbook's lockout): a rollback then sets the role to
    the Secret's password, which is the repair too. `fail_after` injects a fault after
    the named step of STEPS and `after_step` is called after each step (tests only: the
    reliability tests stop a server there)."""

    restart: tuple[str, ...] = ()
    repair: bool = False  # the Secret's password does not log in: rotate anyway
    fail_after: str | None = None
    after_step: Callable[[str], None] | None = None
    rollout_timeout_s: float = DEFAULT_ROLLOUT_TIMEOUT_S
    poll_s: float = 1.0
    name: str = ACTION_NAME
    _old: str = field(default="", repr=False)
    _progress: _Progress = field(default_factory=_Progress, repr=False)

    def __post_init__(self) -> None:
        if self.fail_after is not None and self.fail_after not in STEPS:
            raise UsageError(f"fail_after: {self.fail_after!r} is not one of {', '.join(STEPS)}")

    # -- reading both sides ------------------------------------------------------------

    def _kube(self, ctx: StepContext) -> Any:
        return ctx.clients.kubernetes()

    def deployments(self, ctx: StepContext) -> tuple[str, ...]:
        return self.restart or (ctx.config.api_deployment, ctx.config.worker_deployment)

    def _secret_password(self, ctx: StepContext) -> str:
        data: Mapping[str, str] = self._kube(ctx).get_secret(ctx.config.db_secret_name)
        key = ctx.config.db_secret_key
        if key not in data:
            raise UsageError(
                f"secret {ctx.config.db_secret_name} has no key {key!r}"
                f" (keys: {', '.join(sorted(data)) or 'none'})"
            )
        return str(data[key])

    def precheck(self, ctx: StepContext) -> str:
        """The Secret's current password, if it logs in as the role, and the admin
        connection works; else refuse (nothing changed)."""
        if not ctx.config.database_url:
            raise UsageError("no database_url configured: rotation needs an admin connection")
        try:
            current = self._secret_password(ctx)
        except NotFound:
            raise UsageError(
                f"secret {ctx.config.db_secret_name} not found in namespace"
                f" {self._kube(ctx).namespace} (db_secret_name)"
            ) from None
        ctx.clients.postgres().ping()
        role = ctx.config.db_service_role
        if not self.repair and not can_login(ctx, role=role, password=current):
            raise ActionFailed(
                f"the password in secret {ctx.config.db_secret_name} does not log in as"
                f" {role}: the service is locked out; `triage-ops secrets rotate db-password"
                " --repair` gives both a new password"
            )
        return current

    # -- the Action --------------------------------------------------------------------

    def plan(self, ctx: StepContext) -> Plan:
        self.precheck(ctx)
        role, ns = ctx.config.db_service_role, ctx.config.namespace
        secret, key = ctx.config.db_secret_name, ctx.config.db_secret_key
        kube = self._kube(ctx)
        # The server validates a patch of the same shape; the value is a throwaway.
        preview = kube.patch_secret(secret, {key: scram.new_password()}, dry_run=True)
        stamp = _stamp()
        deployments = self.deployments(ctx)
        generations: dict[str, Any] = {}
        for deployment in deployments:
            restarted = kube.rollout_restart(deployment, dry_run=True, at=stamp)
            generations[deployment] = restarted["metadata"].get("generation")
        version = preview.get("metadata", {}).get("resourceVersion")
        return Plan(
            summary=("repair: " if self.repair else "")
            + f"rotate the password of PostgreSQL role {role} and secret"
            f" {ns}/{secret}, then restart {', '.join(deployments)}",
            changes=[
                {
                    "target": f"postgres role {role}",
                    "before": "current password",
                    "after": "new random password (SCRAM-SHA-256 verifier sent, not the text)",
                },
                {
                    "target": f"secret {ns}/{secret} key {key}",
                    "before": "current password",
                    "after": "the same new password (server-side dry run: accepted)",
                },
                *(
                    {
                        "target": f"deployment/{d}",
                        "before": "pods with the current password",
                        "after": f"rolling restart (generation {generations[d]})",
                    }
                    for d in deployments
                ),
            ],
            commands=[
                f"ALTER ROLE {role} PASSWORD '<SCRAM-SHA-256 verifier of the new password>'",
                f"kubectl -n {ns} patch secret {secret} --type=merge"
                f' -p \'{{"data": {{"{key}": "<base64 of the new password>"}}}}\'',
                *(f"kubectl -n {ns} rollout restart deployment/{d}" for d in deployments),
                *(f"kubectl -n {ns} rollout status deployment/{d}" for d in deployments),
            ],
            # Every pod restarts, and until it has, it cannot open new connections:
            # the confirmation defaults to no.
            destructive=True,
            dry_run={
                "server": "dryRun=All",
                "secret_name": f"{ns}/{secret}",
                "key_names": sorted((preview.get("data") or {}).keys()),
                "resource_version": version,
                "restartedAt": stamp,
                "generations": generations,
                "role": role,
            },
        )

    def _step(self, name: str) -> None:
        self._progress.steps.append(name)
        if self.after_step is not None:
            self.after_step(name)
        if self.fail_after == name:
            raise InjectedFault(f"fault injected after {name}")

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        role = ctx.config.db_service_role
        secret, key = ctx.config.db_secret_name, ctx.config.db_secret_key
        old = self._secret_password(ctx)
        new = scram.new_password()
        self._old = old
        kube = self._kube(ctx)
        progress = self._progress = _Progress()

        def sent() -> None:
            progress.role = "unknown"

        try:
            set_role_password(ctx, role=role, password=new, sent=sent)
            progress.role = "new"
            self._step("alter-role")
            try:
                kube.patch_secret(secret, {key: new}, dry_run=False)
            except TimedOut:
                progress.secret = "unknown"  # sent; the answer was lost
                raise
            progress.secret = "new"
            self._step("update-secret")
            progress.stamp = _stamp()
            progress.restarted = True
            for deployment in self.deployments(ctx):
                kube.rollout_restart(deployment, dry_run=False, at=progress.stamp)
            self._step("restart")
            self._wait_all(kube, self.deployments(ctx))
            progress.rolled_out = True
            self._step("wait-rollout")
        except Exception as exc:  # any failure, a bug too: both sides must agree again
            last = progress.steps[-1] if progress.steps else "start"
            cause = _scrub(f"{type(exc).__name__}: {_one_line(exc)}", old, new)
            recovery = _scrub(self._recover(ctx, old=old, new=new), old, new)
            raise ActionFailed(f"rotation failed after step {last} ({cause}); {recovery}") from None
        return {
            "role": role,
            "secret_name": f"{ctx.config.namespace}/{secret}",
            "steps": list(progress.steps),
            "restartedAt": progress.stamp,
            "deployments": list(self.deployments(ctx)),
        }

    def _wait_all(self, kube: Any, deployments: tuple[str, ...]) -> None:
        """All rollouts within one `rollout_timeout_s` together."""
        deadline = time.monotonic() + self.rollout_timeout_s
        for deployment in deployments:
            wait_rollout(
                kube,
                deployment,
                timeout_s=max(0.0, deadline - time.monotonic()),
                poll_s=self.poll_s,
            )

    def verify(self, ctx: StepContext, plan: Plan) -> list[Finding]:
        role = ctx.config.db_service_role
        secret = ctx.config.db_secret_name
        password = self._secret_password(ctx)
        if not can_login(ctx, role=role, password=password):
            return [
                ctx.finding(
                    "TRI-SECRET-001",
                    f"the password in secret {secret} does not log in as {role}",
                    role=role,
                    secret_name=secret,
                )
            ]
        if self._old and (password == self._old or can_login(ctx, role=role, password=self._old)):
            return [
                ctx.finding(
                    "TRI-ACTION-002",
                    f"{self.name}: the old password still logs in as {role}: not rotated",
                    role=role,
                    secret_name=secret,
                )
            ]
        ctx.note(f"the secret's new password logs in as {role}; the old one is refused")
        return []

    # -- recovery ------------------------------------------------------------------------

    def _probe_role(self, ctx: StepContext, *, old: str, new: str) -> str | None:
        """Which password the role has now ("other": neither), None: no answer."""
        role = ctx.config.db_service_role
        try:
            if can_login(ctx, role=role, password=old):
                return "old"
            if can_login(ctx, role=role, password=new):
                return "new"
        except ClientError:
            return None
        return "other"

    def _probe_secret(self, ctx: StepContext, *, old: str, new: str) -> str | None:
        try:
            value = self._secret_password(ctx)
        except (ClientError, UsageError):
            return None
        return "old" if value == old else "new" if value == new else "other"

    def _converge(self, ctx: StepContext, *, old: str, new: str, done: list[str]) -> str | None:
        """Make the role and the Secret hold the same password: the old one when both
        systems answer, else what the silent one is known to hold. Returns "old" or "new"
        (what both hold now), None when they could not be made to agree."""
        progress = self._progress
        role, secret = ctx.config.db_service_role, ctx.config.db_secret_name
        passwords = {"old": old, "new": new}
        for _ in range(2):  # a second look, in case a system failed during the first
            role_seen = self._probe_role(ctx, old=old, new=new)
            secret_seen = self._probe_secret(ctx, old=old, new=new)
            progress.role = role_seen or progress.role
            progress.secret = secret_seen or progress.secret
            if progress.role == progress.secret == "old":
                return "old"
            postgres_up, kube_up = role_seen is not None, secret_seen is not None
            if postgres_up and kube_up:
                target: str | None = "old"
            elif postgres_up:
                target = progress.secret if progress.secret in passwords else None
            elif kube_up:
                target = progress.role if progress.role in passwords else None
            else:
                target = None
            if target is None:
                return None
            if progress.role == progress.secret == target:
                return target
            if progress.secret != target:
                try:
                    self._kube(ctx).patch_secret(
                        secret, {ctx.config.db_secret_key: passwords[target]}, dry_run=False
                    )
                    progress.secret = target
                    done.append(f"secret {secret} set to the {target} password")
                except ClientError as exc:
                    done.append(f"could not set secret {secret}: {_one_line(exc)}")
            if progress.role != target:
                try:
                    set_role_password(ctx, role=role, password=passwords[target])
                    progress.role = target
                    done.append(f"role {role} set to the {target} password")
                except (ClientError, psycopg.Error) as exc:
                    done.append(f"could not set role {role}: {_one_line(exc)}")
            if progress.role == progress.secret == target:
                return target
        return None

    def _recover(self, ctx: StepContext, *, old: str, new: str) -> str:
        """One line: what recovery did and where both sides ended."""
        progress = self._progress
        done: list[str] = []
        agreed = self._converge(ctx, old=old, new=new, done=done)
        deployments = self.deployments(ctx)
        ns = ctx.config.namespace
        manual_restart = "; ".join(
            f"kubectl -n {ns} rollout restart deployment/{d}" for d in deployments
        )
        # Pods must hold what both sides agree on: restart those that may not.
        needs_restart = (agreed == "old" and progress.restarted) or (
            agreed == "new" and not progress.rolled_out
        )
        tail = ""
        if needs_restart:
            try:
                kube = self._kube(ctx)
                progress.stamp = _stamp(progress.stamp)
                for deployment in deployments:
                    kube.rollout_restart(deployment, dry_run=False, at=progress.stamp)
                self._wait_all(kube, deployments)
                done.append(f"restarted {', '.join(deployments)}")
            except ClientError as exc:
                done.append(f"restart failed: {_one_line(exc)}")
                tail = f"; restart the deployments once Kubernetes answers: {manual_restart}"
            except ActionFailed as exc:
                done.append(f"restart sent, not complete: {_one_line(exc)}")
                tail = "; see why the new pods do not start: " + "; ".join(
                    f"kubectl -n {ns} rollout status deployment/{d}" for d in deployments
                )
        what = "; ".join(done) or "nothing had changed"
        agree = "PostgreSQL and the secret agree on the"
        if agreed == "old":
            return f"rolled back ({what}): {agree} old password{tail}"
        if agreed == "new":
            return (
                f"rolled forward ({what}): {agree} NEW password"
                f" (the old one could not be restored on both){tail}"
            )
        return (
            f"recovery incomplete ({what}): PostgreSQL and the secret may DISAGREE"
            f" (the role has {_HOLDS[progress.role]}, the secret {_HOLDS[progress.secret]});"
            " once both answer, run"
            " `triage-ops secrets status`, and if the secret does not log in,"
            " `triage-ops secrets rotate db-password --repair`"
        )


_HOLDS = {
    "old": "the old password",
    "new": "the new password",
    "unknown": "an unknown one (the change was sent, its answer lost)",
    "other": "neither",
}


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _scrub(text: str, *secrets: str) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


# -- the commands' library calls -------------------------------------------------------


def rotate_db_password(
    config: OpsConfig,
    *,
    timeout: float,
    dry_run: bool,
    yes: bool,
    confirm: Callable[[Plan], bool],
    audit: Any,
    incident: str | None = None,
    log: Callable[[str], None] = lambda message: None,
    rollout_timeout_s: float = DEFAULT_ROLLOUT_TIMEOUT_S,
    poll_s: float = 1.0,
    repair: bool = False,
) -> ActionOutcome:
    """`triage-ops secrets rotate db-password` through the engine (plan, dry-run, confirm,
    apply, verify, one audit entry). Refuses up front, with one typed error and nothing
    changed, when the Secret's current password does not log in (ActionFailed; `repair`
    rotates anyway) or a system does not answer (Unreachable). `timeout` bounds each
    call; the rotation as a whole may take the rollouts' time."""
    from triage_ops.engine import standalone

    action = RotateDbPassword(rollout_timeout_s=rollout_timeout_s, poll_s=poll_s, repair=repair)
    ctx = standalone.step_context(
        config,
        timeout=timeout,
        deadline_s=2 * rollout_timeout_s + _OVERHEAD_S,
        step_id=ACTION_NAME,
        log=log,
    )
    if audit is not None:
        audit.ensure_writable()  # before the precheck asks PostgreSQL and Kubernetes anything
    try:
        action.precheck(StepContext(config=config, clients=ctx.clients, timeout=timeout))
    except ClientError as exc:  # refused credentials, odd answers: still "cannot use it"
        if isinstance(exc, DependencyUnreachable):
            raise
        raise DependencyUnreachable(str(exc)) from None
    outcome = standalone.run_action(
        action, ctx, dry_run=dry_run, yes=yes, confirm=confirm, audit=audit, incident=incident
    )
    if outcome.outcome == "ok":
        for note in ctx.notes:  # what verifying saw
            log(note)
    return outcome


@dataclass(frozen=True)
class SecretStatus:
    rows: list[dict[str, Any]]  # field / value, for the table
    facts: dict[str, Any]  # the same, for --output json
    findings: list[Finding]

    def to_json(self) -> dict[str, Any]:
        return {**self.facts, "findings": [f.to_json() for f in self.findings]}


def last_rotation(audit: Any) -> str | None:
    """When the last rotation that verified was applied (the audit timeline's ts)."""
    last = None
    for entry in audit.entries():
        summary = str(entry.get("summary") or "")
        if (
            entry.get("kind") == "action"
            and entry.get("outcome") == "ok"
            and (entry.get("step") == ACTION_NAME or summary.startswith(f"{ACTION_NAME}:"))
        ):
            last = str(entry["ts"])
    return last


def secret_status(
    config: OpsConfig, *, timeout: float, audit: Any, now: float | None = None
) -> SecretStatus:
    """`triage-ops secrets status`: the Secret's key names (never values), its age (last
    verified rotation in the audit timeline, else its creation), whether rotation is due,
    and whether its password logs in as the service role. Kubernetes not answering is an
    error (nothing to show); PostgreSQL not answering is a finding."""
    from triage_ops.engine import standalone

    ctx = standalone.step_context(config, timeout=timeout, step_id="secrets.status")
    kube = ctx.clients.kubernetes()
    name, key, role = config.db_secret_name, config.db_secret_key, config.db_service_role
    try:
        meta = kube.get_secret_metadata(name)
        values = kube.get_secret(name)
    except NotFound:
        raise UsageError(
            f"secret {name} not found in namespace {kube.namespace} (db_secret_name)"
        ) from None
    except ClientError as exc:  # refused credentials, odd answers: cannot use it (exit 4)
        if isinstance(exc, DependencyUnreachable):
            raise
        raise DependencyUnreachable(str(exc)) from None
    now = time.time() if now is None else now
    created = str(meta.get("creationTimestamp") or "")
    rotated = last_rotation(audit)
    since = rotated or created
    age_days = (now - _epoch(since)) / 86400 if since else None
    max_days = config.secret_max_age_days
    findings: list[Finding] = []
    if age_days is not None and age_days > max_days:
        findings.append(
            ctx.finding(
                "TRI-SECRET-002",
                f"secret {name} "
                + (
                    f"last rotated {age_days:.0f} days ago"
                    if rotated
                    else f"created {age_days:.0f} days ago and never rotated"
                )
                + f" (rotate every {max_days} days)",
                secret_name=name,
                age_days=round(age_days, 1),
            )
        )
    logs_in: bool | None = None
    if key not in values:
        login = f"no key {key!r} in the secret"
        findings.append(
            ctx.finding(
                "TRI-SECRET-001",
                f"secret {name} has no key {key!r}: the service has no password",
                role=role,
                secret_name=name,
            )
        )
    elif not config.database_url:
        login = "unknown (no database_url configured)"
    else:
        try:
            logs_in = can_login(ctx, role=role, password=str(values[key]))
            login = "yes" if logs_in else "NO"
        except ClientError as exc:
            login = f"unknown ({_one_line(exc)})"
            findings.append(
                ctx.finding(
                    "TRI-ENGINE-002",
                    f"cannot tell whether secret {name} logs in: {_one_line(exc)}",
                    system=exc.system,
                )
            )
        if logs_in is False:
            findings.append(
                ctx.finding(
                    "TRI-SECRET-001",
                    f"the password in secret {name} does not log in as {role}",
                    role=role,
                    secret_name=name,
                )
            )
    facts: dict[str, Any] = {
        "secret_name": f"{kube.namespace}/{name}",
        "key_names": sorted(values),
        "created": created or None,
        "last_rotation": rotated,
        "age_days": round(age_days, 1) if age_days is not None else None,
        "rotation_due": age_days is not None and age_days > max_days,
        "max_age_days": max_days,
        "role": role,
        "logs_in": logs_in,
    }
    rows = [
        {"field": "secret", "value": facts["secret_name"]},
        {"field": "keys", "value": ", ".join(facts["key_names"]) or "none"},
        {"field": "created", "value": created or "unknown"},
        {
            "field": "last rotation",
            "value": rotated or "none in the audit timeline",
        },
        {
            "field": "age",
            "value": "unknown"
            if age_days is None
            else f"{age_days:.0f} days (since {'rotation' if rotated else 'creation'};"
            f" rotate after {max_days})",
        },
        {"field": "rotation due", "value": "yes" if facts["rotation_due"] else "no"},
        {"field": f"logs in as {role}", "value": login},
    ]
    return SecretStatus(rows=rows, facts=facts, findings=findings)


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
