"""`triage-ops cache stats|flush`: the result cache in Redis, and the safe replacement of
the runbook's `redis-cli FLUSHDB` (triage_ops.procedures.cache says what differs and why).

Nothing heavy is imported at module level: `triage-ops --help` loads this module to list
the command."""

from __future__ import annotations

import click

from triage_ops.cli import Ctx
from triage_ops.commands.common import emit, handles_errors, log

# Mirrors triage_ops.procedures.cache.DEFAULT_BATCH / DEFAULT_SAMPLE (a test keeps them
# equal); spelled here so `--help` shows them without importing redis. Ranges are checked
# by the library (a UsageError: exit 3, like every other usage error of triage-ops).
DEFAULT_BATCH = 250
DEFAULT_SAMPLE = 200

STATS_COLUMNS = [
    "master", "keys", "cache_keys", "cache_bytes_est", "ttl_sample", "queue_keys",
    "used_memory_human", "hit_rate", "evicted_keys", "maxmemory_policy",
]  # fmt: skip

prefix_option = click.option(
    "--prefix",
    default=None,
    metavar="P",
    help="Only keys starting with P; P must start with the cache prefix (triage:cache:).",
)


@click.group()
def cache() -> None:
    """The result cache in Redis: figures, and a flush that never touches the queue."""


@cache.command("stats")
@prefix_option
@click.option(
    "--sample",
    type=int,
    default=DEFAULT_SAMPLE,
    show_default=True,
    help="Cache keys per master whose MEMORY USAGE and TTL are read.",
)
@click.pass_obj
@handles_errors
def stats_cmd(ctx: Ctx, prefix: str | None, sample: int) -> None:
    """Per master: cache keys (SCAN count), estimated memory and TTL distribution from a
    sample, the queue keys present (names), used memory, hit rate and evictions."""
    from triage_ops.procedures.cache import stats

    rows = stats(ctx.config(), timeout=ctx.timeout, prefix=prefix, sample=sample)
    emit(ctx, rows, columns=STATS_COLUMNS, title="Redis cache")


@cache.command("flush")
@prefix_option
@click.option(
    "--batch-size",
    type=int,
    default=DEFAULT_BATCH,
    show_default=True,
    help="Keys per SCAN COUNT and per UNLINK (measured to keep each command ~1 ms).",
)
@click.option(
    "--rate-limit",
    type=float,
    default=0.0,
    metavar="KEYS_PER_S",
    help="Unlink at most this many keys per second (0: no limit).",
)
@click.option(
    "--dry-run", "dry_run_here", is_flag=True, help="Count what would go; delete nothing."
)
@click.option("--yes", "-y", "yes_here", is_flag=True, help="Do not ask before deleting.")
@click.option("--incident", default=None, help="Incident id to file the audit entry under.")
@click.pass_obj
@handles_errors
def flush_cmd(
    ctx: Ctx,
    prefix: str | None,
    batch_size: int,
    rate_limit: float,
    dry_run_here: bool,
    yes_here: bool,
    incident: str | None,
) -> None:
    """Delete the cache keys (SCAN + UNLINK in batches, on every master of a cluster),
    never a queue key; then verify none is left and the queue is intact. Exit 0 done or
    dry run, 1 declined, 2 failed or not verified, 3 refused prefix, 4 Redis unreachable."""
    from triage_ops.commands.reporting import confirm_plan, emit_outcome, open_audit
    from triage_ops.procedures.cache import flush_cache

    config = ctx.config()
    result = flush_cache(
        config,
        timeout=ctx.timeout,
        prefix=prefix,
        batch=batch_size,
        rate_limit=rate_limit,
        dry_run=ctx.dry_run or dry_run_here,
        yes=ctx.yes or yes_here,
        confirm=confirm_plan,
        audit=open_audit(config, timeout=ctx.timeout),
        incident=incident,
        log=log(ctx),
    )
    if ctx.output == "json":
        emit(ctx, result.to_json())
    else:
        emit_outcome(ctx, result.outcome)
        for note in result.notes:
            log(ctx)(note)
    if result.outcome.exit_code:
        click.get_current_context().exit(int(result.outcome.exit_code))
