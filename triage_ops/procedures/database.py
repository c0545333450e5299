"""The runbook's "Database Query Optimization" (Performance Optimization Procedures), the
P1 "review slow query logs" item and the DatabaseConnections alert, as three reports and
one action.

What the runbook says, and what is done instead:

- Slow queries: the runbook's `SELECT query, mean_time, calls FROM pg_stat_statements`
  fails on PostgreSQL 13 and later, where `mean_time`/`total_time` were renamed
  `mean_exec_time`/`total_exec_time`: the column is picked by what the view has. A
  server without the extension gets a finding with the exact SQL that enables it (and
  whether that needs a restart: `shared_preload_libraries`). Only the service's database
  is listed, and query texts are redacted (pg_stat_statements keeps utility statements
  verbatim, `ALTER ROLE ... PASSWORD '...'` included).
- Indexes: the runbook's two indexes (`idx_emails_created_at`, `idx_emails_status`) are
  checked for presence and validity rather than created blindly; tables read mostly by
  sequential scans and indexes never used are reported from the statistics views; an
  INVALID index (left by a failed `CREATE INDEX CONCURRENTLY`) is reported. Creating one
  is an Action (`CreateIndex`): `CREATE INDEX CONCURRENTLY` as the runbook says (it cannot
  run in a transaction, so it runs in autocommit, under `db_index_build_timeout_s`),
  replacing an INVALID leftover first, verified by `pg_index.indisvalid`.
- Connections: the alert's expression (`sum(pg_stat_database_numbackends) > 80`) read
  from the server itself, and also against max_connections less the superuser-reserved
  slots (a fixed 80 says little about a server that allows 100, or 500), with the sessions
  by state and application, and sessions idle in a transaction longer than N minutes
  (they hold locks, block `CREATE INDEX CONCURRENTLY` and hold back vacuum).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg

from triage_core.service.store.dsn import redact
from triage_ops.clients.postgres import Connection, PostgresClient
from triage_ops.engine.contract import Plan, StepContext
from triage_ops.errors import ActionFailed, UsageError
from triage_ops.findings import Finding

if TYPE_CHECKING:
    from triage_ops.engine.audit import AuditLog
    from triage_ops.engine.report import ActionOutcome

# name -> (type, default): settings for OpsConfig, read with getattr until they are there
SETTINGS: dict[str, tuple[type, Any]] = {
    "db_slow_query_ms": (int, 500),
    "db_index_min_rows": (int, 10_000),
    "db_unused_index_min_bytes": (int, 8 * 1024 * 1024),
    "db_index_build_timeout_s": (int, 3600),
    "db_connections_threshold": (int, 80),  # alerts/email-triage.rules.yml DatabaseConnections
    "db_idle_in_transaction_minutes": (float, 5),
}

STATEMENTS_MISSING = "TRI-SQL-001"
STATEMENTS_NOT_LOADED = "TRI-SQL-002"
SLOW_QUERY = "TRI-SQL-003"
RUNBOOK_INDEX_MISSING = "TRI-SQL-010"
SEQ_SCANS = "TRI-SQL-011"
UNUSED_INDEX = "TRI-SQL-012"
INVALID_INDEX = "TRI-SQL-013"
CONNECTIONS_HIGH = "TRI-SQL-020"
CONNECTIONS_NEAR_MAX = "TRI-SQL-021"
IDLE_IN_TRANSACTION = "TRI-SQL-022"

NEAR_MAX_RATIO = 0.9
QUERY_CHARS = 300


@dataclass(frozen=True)
class IndexSpec:
    name: str
    table: str
    column: str

    @property
    def sql(self) -> str:
        return f"CREATE INDEX CONCURRENTLY {self.name} ON {self.table} ({self.column})"


# The runbook's "Add missing indexes" (also migration 0002 of the service's store).
RUNBOOK_INDEXES = {
    spec.name: spec
    for spec in (
        IndexSpec("idx_emails_created_at", "emails", "created_at"),
        IndexSpec("idx_emails_status", "emails", "status"),
    )
}


def setting(ctx: StepContext, name: str) -> Any:
    kind, default = SETTINGS[name]
    value = ctx.params.get(name)
    if value is None:
        value = getattr(ctx.config, name, default)
    return default if value is None or value == "" else kind(value)


# -- slow queries ----------------------------------------------------------------------

_PASSWORD_LITERAL = re.compile(r"(\bPASSWORD\s+)(E?'(?:[^']|'')*')", re.IGNORECASE)
_EXTENSION_SCHEMA = """
SELECT n.nspname AS schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname = 'pg_stat_statements'
"""


@dataclass
class SlowQueries:
    available: bool
    mean_column: str = ""  # mean_exec_time (PG 13+) or mean_time (older)
    queries: list[dict[str, Any]] = field(default_factory=list)
    slow_ms: int = 0
    findings: list[Finding] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "available": self.available,
            "mean_column": self.mean_column,
            "slow_ms": self.slow_ms,
            "queries": self.queries,
            "findings": [f.to_json() for f in self.findings],
        }


def slow_queries(ctx: StepContext, *, limit: int = 10) -> SlowQueries:
    """The `limit` statements of this database with the highest mean execution time."""
    report = SlowQueries(available=False, slow_ms=setting(ctx, "db_slow_query_ms"))
    with ctx.clients.postgres().connect() as conn:
        preload = _preloaded(conn)
        row = conn.execute(_EXTENSION_SCHEMA).fetchone()
        if row is None:
            report.findings.append(_enable_finding(ctx, preload, created=False))
            return report
        view = f"{_quote_ident(row['schema'])}.pg_stat_statements"
        columns = {
            r["attname"]
            for r in conn.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0",
                (view,),
            )
        }
        mean, total = (
            ("mean_exec_time", "total_exec_time")
            if "mean_exec_time" in columns
            else ("mean_time", "total_time")
        )
        report.mean_column = mean
        query = (
            f"SELECT s.queryid, s.query, s.calls, s.{mean} AS mean_ms, s.{total} AS total_ms,"
            f" s.rows FROM {view} s"
            " WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
            f" ORDER BY s.{mean} DESC LIMIT %s"
        )
        try:
            rows = conn.execute(query.encode(), (limit,)).fetchall()
        except psycopg.errors.ObjectNotInPrerequisiteState:
            # created in the database, but the library is not loaded at server start
            report.findings.append(_enable_finding(ctx, False, created=True))
            return report
    report.available = True
    for r in rows:
        report.queries.append(
            {
                "queryid": r["queryid"],
                "mean_ms": round(float(r["mean_ms"]), 3),
                "calls": int(r["calls"]),
                "total_ms": round(float(r["total_ms"]), 3),
                "rows": int(r["rows"]),
                "query": redact_query(str(r["query"])),
            }
        )
    slow = [q for q in report.queries if q["mean_ms"] > report.slow_ms]
    if slow:
        worst = slow[0]
        report.findings.append(
            ctx.finding(
                SLOW_QUERY,
                f"{len(slow)} statement(s) average more than {report.slow_ms} ms; the slowest"
                f" {worst['mean_ms']:g} ms over {worst['calls']} call(s): {worst['query'][:80]}",
                queries=slow,
                slow_ms=report.slow_ms,
            )
        )
    ctx.note(f"{len(report.queries)} statement(s) from pg_stat_statements ({mean})")
    return report


def check_slow_queries(ctx: StepContext) -> list[Finding]:
    return slow_queries(ctx, limit=int(ctx.params.get("limit", 10))).findings


def redact_query(text: str) -> str:
    """A statement as pg_stat_statements keeps it, without password literals (utility
    statements are not normalised) and cut to QUERY_CHARS."""
    cleaned = redact(_PASSWORD_LITERAL.sub(r"\g<1>'***'", text))
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= QUERY_CHARS else cleaned[: QUERY_CHARS - 1] + "…"


def _preloaded(conn: Connection) -> bool | None:
    """Is pg_stat_statements in shared_preload_libraries? None: not allowed to read it."""
    try:
        with conn.transaction():
            row = conn.execute("SELECT current_setting('shared_preload_libraries') AS v").fetchone()
    except psycopg.errors.InsufficientPrivilege:
        return None
    libraries = _libraries(str(row["v"])) if row else []
    return "pg_stat_statements" in libraries


def _libraries(value: str) -> list[str]:
    return [part.strip().strip('"') for part in value.split(",") if part.strip()]


def _enable_finding(ctx: StepContext, preloaded: bool | None, *, created: bool) -> Finding:
    create = "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"
    if preloaded:
        return ctx.finding(
            STATEMENTS_MISSING,
            "pg_stat_statements is loaded but not created in this database",
            sql=[create],
            create_sql=create,
        )
    alter = (
        "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"
        if preloaded is False
        else "ALTER SYSTEM SET shared_preload_libraries = '<SHOW shared_preload_libraries>,"
        "pg_stat_statements'"
    )
    where = "created in this database, but" if created else "not installed and"
    return ctx.finding(
        STATEMENTS_NOT_LOADED,
        f"pg_stat_statements is {where} not in shared_preload_libraries (needs a restart)",
        sql=[alter, "-- restart PostgreSQL", create],
        alter_sql=alter,
        create_sql=create,
    )


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# -- indexes ---------------------------------------------------------------------------

_TABLE_SCANS = """
SELECT schemaname AS schema, relname AS table, seq_scan, seq_tup_read,
       idx_scan, n_live_tup, pg_relation_size(relid) AS bytes
FROM pg_stat_user_tables ORDER BY seq_tup_read DESC, relname
"""
_INDEXES = """
SELECT n.nspname AS schema, i.relname AS index, t.relname AS table, x.indisvalid AS valid,
       x.indisunique OR x.indisprimary OR x.indisexclusion AS constraining,
       a.attname AS first_column, pg_relation_size(x.indexrelid) AS bytes,
       coalesce(s.idx_scan, 0) AS idx_scan, pg_get_indexdef(x.indexrelid) AS definition
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0]
LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = x.indexrelid
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
ORDER BY n.nspname, t.relname, i.relname
"""
_STATS_RESET = "SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()"


@dataclass
class IndexReport:
    tables: list[dict[str, Any]] = field(default_factory=list)
    runbook_indexes: list[dict[str, Any]] = field(default_factory=list)
    unused: list[dict[str, Any]] = field(default_factory=list)
    invalid: list[dict[str, Any]] = field(default_factory=list)
    stats_since: str | None = None
    findings: list[Finding] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "findings"}
        data["findings"] = [f.to_json() for f in self.findings]
        return data


def index_report(ctx: StepContext) -> IndexReport:
    min_rows = setting(ctx, "db_index_min_rows")
    min_unused = setting(ctx, "db_unused_index_min_bytes")
    report = IndexReport()
    with ctx.clients.postgres().connect() as conn:
        tables = conn.execute(_TABLE_SCANS).fetchall()
        indexes = conn.execute(_INDEXES).fetchall()
        reset = conn.execute(_STATS_RESET).fetchone()
    report.stats_since = str(reset["stats_reset"]) if reset and reset["stats_reset"] else None
    for t in tables:
        name = f"{t['schema']}.{t['table']}"
        row: dict[str, Any] = {
            "table": name,
            "rows": int(t["n_live_tup"]),
            "seq_scan": int(t["seq_scan"] or 0),
            "idx_scan": None if t["idx_scan"] is None else int(t["idx_scan"]),
            "seq_tup_read": int(t["seq_tup_read"] or 0),
            "bytes": int(t["bytes"]),
        }
        report.tables.append(row)
        if row["rows"] >= min_rows and row["seq_scan"] > (row["idx_scan"] or 0):
            report.findings.append(
                ctx.finding(
                    SEQ_SCANS,
                    f"{name}: {row['seq_scan']} sequential scans vs {row['idx_scan'] or 0}"
                    f" index scans over {row['rows']} rows",
                    table=name,
                    advice=(
                        f"find the filtered column in `triage-ops db slow-queries`, then"
                        f" CREATE INDEX CONCURRENTLY idx_{t['table']}_<column>"
                        f" ON {name} (<column>)"
                    ),
                    **{k: row[k] for k in ("rows", "seq_scan", "idx_scan", "seq_tup_read")},
                )
            )
    _runbook_indexes(ctx, report, indexes)
    for ix in indexes:
        name = f"{ix['schema']}.{ix['index']}"
        if not ix["valid"]:
            report.invalid.append({"index": name, "table": ix["table"]})
            report.findings.append(_invalid_finding(ctx, name, ix["table"]))
        elif not ix["constraining"] and int(ix["idx_scan"]) == 0:
            unused = {"index": name, "table": ix["table"], "bytes": int(ix["bytes"])}
            report.unused.append(unused)
            if unused["bytes"] >= min_unused:
                report.findings.append(
                    ctx.finding(
                        UNUSED_INDEX,
                        f"index {name} on {ix['table']} ({unused['bytes']} bytes) was never"
                        f" used since {report.stats_since or 'the statistics were reset'}",
                        index=name,
                        bytes=unused["bytes"],
                        stats_since=report.stats_since,
                        drop_sql=f"DROP INDEX CONCURRENTLY {name}",
                    )
                )
    return report


def check_indexes(ctx: StepContext) -> list[Finding]:
    return index_report(ctx).findings


def _runbook_indexes(ctx: StepContext, report: IndexReport, indexes: list[Any]) -> None:
    on_emails = [ix for ix in indexes if ix["table"] == "emails"]
    if not any(t["table"].endswith(".emails") for t in report.tables):
        ctx.note("no emails table: the runbook's indexes do not apply")
        return
    for spec in RUNBOOK_INDEXES.values():
        by_name = next((ix for ix in on_emails if ix["index"] == spec.name), None)
        covering = next(
            (ix for ix in on_emails if ix["valid"] and ix["first_column"] == spec.column), None
        )
        state = (
            "present"
            if by_name is not None and by_name["valid"]
            else "INVALID"
            if by_name is not None
            else f"covered by {covering['index']}"
            if covering is not None
            else "missing"
        )
        report.runbook_indexes.append({"index": spec.name, "state": state, "sql": spec.sql})
        if state == "missing":
            report.findings.append(
                ctx.finding(
                    RUNBOOK_INDEX_MISSING,
                    f"the runbook's index {spec.name} on emails ({spec.column}) is missing",
                    index=spec.name,
                    sql=spec.sql,
                )
            )


def _invalid_finding(ctx: StepContext, name: str, table: str) -> Finding:
    return ctx.finding(
        INVALID_INDEX,
        f"index {name} on {table} is INVALID (a failed CREATE INDEX CONCURRENTLY): it is"
        " maintained on every write and never used",
        index=name,
        drop_sql=f"DROP INDEX CONCURRENTLY {name}",
    )


class CreateIndex:
    """One of the runbook's indexes, built with CREATE INDEX CONCURRENTLY (writes go on
    while it builds). An INVALID index of the same name, left by an earlier failed build,
    is dropped (also CONCURRENTLY) first; a valid one makes the plan a no-op."""

    name = "db.create-index"

    def __init__(self, index: str) -> None:
        if index not in RUNBOOK_INDEXES:
            known = ", ".join(sorted(RUNBOOK_INDEXES))
            raise UsageError(f"unknown index {index!r}: triage-ops creates {known}")
        self.spec = RUNBOOK_INDEXES[index]

    def plan(self, ctx: StepContext) -> Plan:
        spec = self.spec
        with ctx.clients.postgres().connect() as conn:
            table = conn.execute(
                "SELECT c.reltuples::bigint AS rows, pg_total_relation_size(c.oid) AS bytes"
                " FROM pg_class c WHERE c.oid = to_regclass(%s)",
                (spec.table,),
            ).fetchone()
            state = _index_state(conn, spec.name)
        if table is None:
            raise ActionFailed(f"table {spec.table} does not exist: nothing to index")
        evidence = {"table_rows_estimate": int(table["rows"]), "table_bytes": int(table["bytes"])}
        if state is not None and state["valid"]:
            return Plan(
                summary=f"index {spec.name} already exists and is valid",
                dry_run={**evidence, "definition": state["definition"]},
                noop=True,
            )
        commands = [f"DROP INDEX CONCURRENTLY IF EXISTS {spec.name}"] if state else []
        commands.append(spec.sql)
        before = "INVALID (a failed concurrent build)" if state else "absent"
        return Plan(
            summary=spec.sql,
            changes=[
                {
                    "target": f"index {spec.name}",
                    "before": before,
                    "after": f"valid index on {spec.table} ({spec.column})",
                }
            ],
            commands=commands,
            dry_run=evidence,
        )

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        timeout = float(setting(ctx, "db_index_build_timeout_s"))
        client: PostgresClient = ctx.clients.postgres()
        done: list[str] = []
        with client.connect(autocommit=True, statement_timeout_s=timeout) as conn:
            for command in plan.commands:
                try:
                    conn.execute(command.encode())
                except psycopg.OperationalError as exc:
                    if not isinstance(exc, psycopg.errors.QueryCanceled):
                        raise  # the server went away: the client's typed error
                    raise ActionFailed(
                        f"{command}: did not finish within {timeout:g} s"
                        f" (db_index_build_timeout_s); {self._left(conn)}"
                    ) from None
                except psycopg.Error as exc:
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                    raise ActionFailed(
                        f"{command}: {first or type(exc).__name__}; {self._left(conn)}"
                    ) from None
                done.append(command)
            state = _index_state(conn, self.spec.name)
        return {"executed": done, "valid": bool(state and state["valid"])}

    def _left(self, conn: Connection) -> str:
        """What a failed build left behind, for the error message."""
        try:
            state = _index_state(conn, self.spec.name)
        except psycopg.Error:
            return "an INVALID index may be left: `triage-ops db indexes` shows it"
        if state is None:
            return f"no index {self.spec.name} was left"
        if state["valid"]:
            return f"index {self.spec.name} exists and is valid"
        return (
            f"index {self.spec.name} is left INVALID: re-run `triage-ops db indexes --create"
            f" {self.spec.name}` (it drops and rebuilds it) once the cause is fixed"
        )

    def verify(self, ctx: StepContext, plan: Plan) -> list[Finding]:
        with ctx.clients.postgres().connect() as conn:
            state = _index_state(conn, self.spec.name)
        if state is None:
            return [
                ctx.finding(
                    RUNBOOK_INDEX_MISSING,
                    f"index {self.spec.name} does not exist after CREATE INDEX CONCURRENTLY",
                    index=self.spec.name,
                    sql=self.spec.sql,
                )
            ]
        if not state["valid"]:
            return [_invalid_finding(ctx, self.spec.name, self.spec.table)]
        ctx.note(f"{self.spec.name} valid: {state['definition']}")
        return []


def _index_state(conn: Connection, name: str) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT x.indisvalid AS valid, pg_get_indexdef(x.indexrelid) AS definition"
        " FROM pg_index x WHERE x.indexrelid = to_regclass(%s)",
        (name,),
    ).fetchone()
    return None if row is None else dict(row)


# -- connections -----------------------------------------------------------------------

_BY_STATE = """
SELECT coalesce(state, '(hidden)') AS state, application_name, datname AS database,
       count(*)::int AS sessions
FROM pg_stat_activity WHERE backend_type = 'client backend'
GROUP BY 1, 2, 3 ORDER BY sessions DESC, state, application_name
"""
_TOTALS = """
SELECT (SELECT sum(numbackends)::int FROM pg_stat_database) AS numbackends,
       current_setting('max_connections')::int AS max_connections,
       current_setting('superuser_reserved_connections')::int AS reserved
"""
_IDLE_IN_TX = """
SELECT pid, usename AS user, application_name, datname AS database,
       round(EXTRACT(EPOCH FROM now() - state_change)::numeric, 1)::float8 AS idle_s,
       round(EXTRACT(EPOCH FROM now() - xact_start)::numeric, 1)::float8 AS transaction_s,
       query
FROM pg_stat_activity
WHERE state IN ('idle in transaction', 'idle in transaction (aborted)')
  AND now() - state_change >= make_interval(secs => %s)
ORDER BY state_change
"""


@dataclass
class ConnectionsReport:
    numbackends: int = 0
    max_connections: int = 0
    reserved: int = 0
    threshold: int = 0
    idle_minutes: float = 0.0
    by_state: list[dict[str, Any]] = field(default_factory=list)
    idle_in_transaction: list[dict[str, Any]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "findings"}
        data["findings"] = [f.to_json() for f in self.findings]
        return data


def connections(ctx: StepContext) -> ConnectionsReport:
    """Backends in use against the alert threshold and max_connections, by state and
    application, and the sessions idle in a transaction for `idle_minutes` or longer."""
    report = ConnectionsReport(
        threshold=setting(ctx, "db_connections_threshold"),
        idle_minutes=setting(ctx, "db_idle_in_transaction_minutes"),
    )
    with ctx.clients.postgres().connect() as conn:
        totals = conn.execute(_TOTALS).fetchone()
        by_state = conn.execute(_BY_STATE).fetchall()
        idle = conn.execute(_IDLE_IN_TX, (report.idle_minutes * 60,)).fetchall()
    assert totals is not None
    report.numbackends = int(totals["numbackends"] or 0)
    report.max_connections = int(totals["max_connections"])
    report.reserved = int(totals["reserved"])
    report.by_state = [dict(r) for r in by_state]
    report.idle_in_transaction = [{**r, "query": redact_query(str(r["query"]))} for r in idle]
    usable = report.max_connections - report.reserved
    ctx.note(f"{report.numbackends} backends of {usable} usable (alert above {report.threshold})")
    if report.numbackends >= NEAR_MAX_RATIO * usable:
        report.findings.append(
            ctx.finding(
                CONNECTIONS_NEAR_MAX,
                f"{report.numbackends} backends connected: {usable - report.numbackends} of"
                f" {usable} usable connections left (max_connections {report.max_connections})",
                numbackends=report.numbackends,
                max_connections=report.max_connections,
                reserved=report.reserved,
            )
        )
    elif report.numbackends > report.threshold:
        report.findings.append(
            ctx.finding(
                CONNECTIONS_HIGH,
                f"{report.numbackends} backends connected (alert threshold {report.threshold},"
                f" max_connections {report.max_connections})",
                numbackends=report.numbackends,
                threshold=report.threshold,
                max_connections=report.max_connections,
                top=report.by_state[:5],
            )
        )
    if report.idle_in_transaction:
        pids = [int(r["pid"]) for r in report.idle_in_transaction]
        report.findings.append(
            ctx.finding(
                IDLE_IN_TRANSACTION,
                f"{len(pids)} session(s) idle in a transaction for {report.idle_minutes:g} min"
                f" or more (longest {report.idle_in_transaction[0]['idle_s']:g} s,"
                f" pid {pids[0]})",
                sessions=report.idle_in_transaction,
                terminate_sql=(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid IN ("
                    + ", ".join(map(str, pids))
                    + ")"
                ),
            )
        )
    return report


def check_connections(ctx: StepContext) -> list[Finding]:
    return connections(ctx).findings


def create_index(
    config: Any,
    index: str,
    *,
    timeout: float,
    dry_run: bool,
    yes: bool,
    confirm: Callable[[Plan], bool],
    audit: AuditLog | None,
    params: Mapping[str, Any] | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> ActionOutcome:
    """`db indexes --create NAME` through the engine: plan (the exact SQL; a no-op when a
    valid index exists) -> dry-run | confirm -> apply -> verify (indisvalid) -> audit.
    The step may take as long as the build may (db_index_build_timeout_s); connecting
    still fails within `timeout`. The caller checks the audit log writable before a
    change (a dry run changes nothing: its entry is written if it can be)."""
    from triage_ops.engine import standalone
    from triage_ops.engine.runner import execute_action

    action = CreateIndex(index)  # an unknown name fails here, before anything runs
    ctx = standalone.step_context(
        config, timeout=timeout, step_id="db.indexes.create", params=params, log=log
    )
    ctx.timeout = float(setting(ctx, "db_index_build_timeout_s")) + timeout
    return execute_action(
        action, ctx, dry_run=dry_run, yes=yes, confirm=confirm, audit=audit, incident=None
    )
