"""`triage-ops db slow-queries|indexes|connections` (triage_ops.procedures.database)."""

from __future__ import annotations

from typing import Any

import click

from triage_ops.cli import Ctx
from triage_ops.commands.acting import finish, step_context
from triage_ops.commands.common import handles_errors, log
from triage_ops.commands.reporting import emit_checked


@click.group()
def db() -> None:
    """The service's PostgreSQL: slow queries, indexes, connections."""


@db.command("slow-queries")
@click.option("--limit", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option("--slow-ms", type=int, help="Mean time that counts as slow (db_slow_query_ms).")
@click.pass_obj
@handles_errors
def slow_queries_cmd(ctx: Ctx, limit: int, slow_ms: int | None) -> None:
    """The statements with the highest mean execution time (pg_stat_statements; the
    runbook's `mean_time` is `mean_exec_time` since PostgreSQL 13)."""
    from triage_ops.procedures.database import slow_queries

    step = step_context(ctx, "db.slow-queries", {"db_slow_query_ms": slow_ms})
    report = slow_queries(step, limit=limit)
    columns = ["mean_ms", "calls", "total_ms", "rows", "query"]
    emit_checked(
        ctx, report.to_json(), report.findings, [("Slow queries", report.queries, columns)]
    )


@db.command("indexes")
@click.option(
    "--create", "create", metavar="NAME",
    help="Create one of the runbook's indexes with CREATE INDEX CONCURRENTLY.",
)  # fmt: skip
@click.option("--min-rows", type=int, help="Tables this big are judged (db_index_min_rows).")
@click.pass_obj
@handles_errors
def indexes_cmd(ctx: Ctx, create: str | None, min_rows: int | None) -> None:
    """Missing-index advice (sequential scans on big tables, the runbook's two indexes),
    unused and INVALID indexes; --create NAME builds one (asks first unless --yes,
    --dry-run prints the SQL, verified by indisvalid, audited)."""
    params: dict[str, Any] = {"db_index_min_rows": min_rows}
    if create is not None:
        _create(ctx, create)
        return
    from triage_ops.procedures.database import index_report

    report = index_report(step_context(ctx, "db.indexes", params))
    emit_checked(
        ctx,
        report.to_json(),
        report.findings,
        [
            ("Runbook indexes", report.runbook_indexes, ["index", "state", "sql"]),
            ("Tables", report.tables, ["table", "rows", "seq_scan", "idx_scan", "seq_tup_read"]),
            ("INVALID indexes", report.invalid, None),
        ],
    )


def _create(ctx: Ctx, name: str) -> None:
    from triage_ops.commands.reporting import confirm_plan, make_run, open_audit
    from triage_ops.procedures.database import create_index

    if ctx.dry_run:  # changes nothing: its audit entry is written if it can be
        config = ctx.config()
        audit = open_audit(config, timeout=ctx.timeout)
    else:
        config, _, audit = make_run(ctx)
    outcome = create_index(
        config,
        name,
        timeout=ctx.timeout,
        dry_run=ctx.dry_run,
        yes=ctx.yes,
        confirm=confirm_plan,
        audit=audit,
        log=log(ctx),
    )
    finish(ctx, outcome)


@db.command("connections")
@click.option("--threshold", type=int, help="Alert threshold (db_connections_threshold: 80).")
@click.option(
    "--idle-minutes", type=float,
    help="Idle in a transaction this long is reported (db_idle_in_transaction_minutes: 5).",
)  # fmt: skip
@click.pass_obj
@handles_errors
def connections_cmd(ctx: Ctx, threshold: int | None, idle_minutes: float | None) -> None:
    """Backends against the DatabaseConnections alert threshold and max_connections, by
    state and application; sessions idle in a transaction."""
    from triage_ops.procedures.database import connections

    params = {"db_connections_threshold": threshold, "db_idle_in_transaction_minutes": idle_minutes}
    report = connections(step_context(ctx, "db.connections", params))
    totals = {
        key: getattr(report, key)
        for key in ("numbackends", "threshold", "max_connections", "reserved", "idle_minutes")
    }
    emit_checked(
        ctx,
        report.to_json(),
        report.findings,
        [
            ("Connections", [totals], None),
            ("Sessions", report.by_state, ["sessions", "state", "application_name", "database"]),
            (
                "Idle in transaction",
                report.idle_in_transaction,
                ["pid", "user", "application_name", "idle_s", "query"],
            ),
        ],
    )
