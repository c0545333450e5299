"""The queue path, enqueue -> `triage worker` -> PostgreSQL: emails/s with 1 and 2 workers.

    .venv/bin/python benchmarks/queue_throughput.py [--emails 20000] [--workers 1,2] \\
        [--write benchmarks/results/queue_throughput.txt] [--profile]

Starts its own PostgreSQL and Redis (the sandbox's helpers, through api_load.py beside
this file), applies the migrations, then for each worker count:

1. pre-loads `--emails` messages exactly the way `POST /v1/emails` does, minus HTTP: the
   API's own `ApiState.enqueue` (parse the Message-ID, `Store.enqueue` the row as
   `queued`, `Queue.enqueue` the raw message on the Redis Stream), one email at a time
   from one thread, with no worker running: the enqueue rate is timed here;
2. starts N `triage worker` processes (embedded model, default batch size) and polls
   `Store.status_counts()` until every row is `processed` (or failed): emails/s is
   counted from the workers' start (their start-up included) to the last row; the steady
   rate, from the first commit to the last (`processed_at`), is shown beside it;
3. stops the workers and empties the table for the next worker count.

The messages are the SpamAssassin corpus's 6,046, cycled, each given a Message-ID of its
own (the original header renamed) so that none is an idempotent repeat. Where the time
goes: CPU cores used by the workers, PostgreSQL and Redis while draining, and per email
the pipeline's own stage times (the `timings_ms` of the stored results) against the
workers' CPU per email: the difference is the queue and store overhead. `--profile` adds
a drain of a smaller batch by one worker under cProfile and prints its top functions.

Every process started here is stopped on the way out, Ctrl-C and SIGTERM included.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

# Shared with the API benchmark: process bookkeeping and the PostgreSQL + Redis start-up.
from api_load import (
    REPO,
    Started,
    _interrupt_on_sigterm,
    cpu_s,
    report_table,
    server_pids,
    start_backends,
)

from triage_core.model import corpus
from triage_core.service.api.body import EmailInput
from triage_core.service.api.state import ApiState
from triage_core.service.settings import ServiceSettings
from triage_core.service.store import Store
from triage_ops.sandbox import processes as proc

TARGET_EMAILS_S = 1000
POLL_S = 0.2
_MESSAGE_ID = re.compile(rb"^message-id:", re.IGNORECASE | re.MULTILINE)
_HEADER_END = re.compile(rb"\r?\n\r?\n")
STAGES = ("parse", "classify", "priority", "summarize", "respond")


def unique_messages(count: int, run: str) -> list[bytes]:
    """`count` corpus messages, cycled, each with its own Message-ID."""
    root = REPO / corpus.DEFAULT_DIR
    corpus.fetch(root)
    raws = [m.raw for m in corpus.iter_messages(corpus.ALL_SETS, root)]
    out = []
    for i in range(count):
        raw = raws[i % len(raws)]
        end = _HEADER_END.search(raw)
        cut = end.start() if end else len(raw)
        headers = _MESSAGE_ID.sub(b"X-Original-Message-ID:", raw[:cut])
        new_id = b"Message-ID: <bench-%s-%d@benchmark.invalid>\n" % (run.encode(), i)
        out.append(new_id + headers + raw[cut:])
    return out


@dataclass
class Drain:
    workers: int
    emails: int
    enqueue_s: float
    wall_s: float  # workers' start -> every row processed
    steady_s: float  # first commit -> last commit
    first_commit_s: float  # workers' start -> first commit
    processed: int
    failed: int
    cores: dict[str, float]  # cores used on average, from the workers' start to the end
    cpu_us: dict[str, float]  # CPU per email once the workers were running (start-up out)
    stage_us: dict[str, float]

    @property
    def rate(self) -> float:
        return self.processed / self.wall_s

    @property
    def steady_rate(self) -> float:
        return self.processed / self.steady_s if self.steady_s > 0 else 0.0


def preload(state: ApiState, messages: list[bytes]) -> float:
    """Enqueues every message as `POST /v1/emails` would; returns the seconds taken."""
    t0 = time.perf_counter()
    for raw in messages:
        outcome = state.enqueue(EmailInput("rfc822", raw, raw))
        if not outcome.created:
            raise RuntimeError(f"{outcome.message_id} was already enqueued: not a fresh row")
    return time.perf_counter() - t0


def start_workers(
    started: Started, env: dict[str, str], count: int, *, profile: Path | None = None
) -> list[int]:
    pids = []
    for i in range(count):
        argv = [sys.executable]
        if profile is not None:
            argv += ["-m", "cProfile", "-o", str(profile)]
        argv += ["-m", "triage_core.cli", "worker", "--consumer", f"bench-{i}"]
        argv += ["--log-level", "WARNING"]
        log = started.state_dir / "logs" / f"worker-{count}-{i}.log"
        pid = proc.spawn(argv, log=log, env=env, cwd=REPO)
        started.add(f"worker-{i}", pid, expect="worker")
        pids.append(pid)
    return pids


def stop_workers(started: Started, count: int) -> None:
    for i in range(count):
        started.stop(f"worker-{i}")


def wait_drained(store: Store, total: int, *, timeout_s: float) -> tuple[int, int]:
    """Polls until `total` rows are processed or failed; returns (processed, failed)."""
    deadline = time.monotonic() + timeout_s
    while True:
        counts = store.status_counts()
        done = counts["processed"] + counts["failed"]
        if done >= total:
            return counts["processed"], counts["failed"]
        if time.monotonic() > deadline:
            raise TimeoutError(f"after {timeout_s:.0f} s only {done} of {total} rows were done")
        time.sleep(POLL_S)


def commit_span(dsn: str) -> tuple[float, float]:
    """(first, last) processed_at as epoch seconds."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT extract(epoch FROM min(processed_at)), extract(epoch FROM max(processed_at))"
            " FROM emails WHERE status = 'processed'"
        ).fetchone()
    assert row is not None and row[0] is not None
    return float(row[0]), float(row[1])


def stage_means_us(dsn: str) -> dict[str, float]:
    """Mean time per stage (us) over the stored results' `timings_ms`."""
    import psycopg

    columns = ", ".join(f"avg((result->'timings_ms'->>'{s}')::float8)" for s in STAGES)
    with psycopg.connect(dsn) as conn:
        row = conn.execute(f"SELECT {columns} FROM emails WHERE status = 'processed'").fetchone()
    assert row is not None
    return {s: float(v or 0.0) * 1000 for s, v in zip(STAGES, row, strict=True)}


def reset(dsn: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE emails")
        conn.execute("VACUUM ANALYZE emails")


def drain(
    started: Started,
    env: dict[str, str],
    state: ApiState,
    store: Store,
    *,
    workers: int,
    emails: int,
) -> Drain:
    messages = unique_messages(emails, uuid.uuid4().hex[:8])
    enqueue_s = preload(state, messages)
    depth = state.queue().depth()
    if depth != emails:
        raise RuntimeError(f"queue depth {depth} after enqueuing {emails}")
    before = {k: cpu_s(v) for k, v in server_pids(started).items()}
    spawned_at = time.time()
    t0 = time.perf_counter()
    pids = start_workers(started, env, workers)
    try:
        first = wait_drained(store, 1, timeout_s=120.0)
        at_first = {"workers": cpu_s(pids)} | {k: cpu_s(v) for k, v in server_pids(started).items()}
        processed, failed = wait_drained(store, emails, timeout_s=max(120.0, emails / 50))
        wall = time.perf_counter() - t0
        at_end = {"workers": cpu_s(pids)} | {k: cpu_s(v) for k, v in server_pids(started).items()}
    finally:
        stop_workers(started, workers)
    first_at, last_at = commit_span(env["TRIAGE_DATABASE_URL"])
    steady = max(emails - sum(first), 1)  # emails done after the first poll that saw one
    result = Drain(
        workers=workers,
        emails=emails,
        enqueue_s=enqueue_s,
        wall_s=wall,
        steady_s=last_at - first_at,
        first_commit_s=first_at - spawned_at,
        processed=processed,
        failed=failed,
        cores={k: (at_end[k] - before.get(k, 0.0)) / wall for k in at_end},
        cpu_us={k: (at_end[k] - at_first[k]) / steady * 1e6 for k in at_end},
        stage_us=stage_means_us(env["TRIAGE_DATABASE_URL"]),
    )
    reset(env["TRIAGE_DATABASE_URL"])
    return result


def profile_drain(
    started: Started, env: dict[str, str], state: ApiState, store: Store, *, emails: int
) -> str:
    """One worker under cProfile over `emails` messages: the top functions by own time
    and by cumulative time (the worker runs its batches in its main thread)."""
    import pstats

    out = started.state_dir / "worker.prof"
    preload(state, unique_messages(emails, uuid.uuid4().hex[:8]))
    start_workers(started, env, 1, profile=out)
    try:
        wait_drained(store, emails, timeout_s=max(120.0, emails / 20))
    finally:
        stop_workers(started, 1)  # SIGTERM: the worker returns and cProfile writes `out`
    reset(env["TRIAGE_DATABASE_URL"])
    buffer = io.StringIO()
    stats = pstats.Stats(str(out), stream=buffer)
    stats.strip_dirs().sort_stats("tottime").print_stats(20)
    stats.sort_stats("cumulative").print_stats(35)
    return buffer.getvalue()


def report(drains: list[Drain], args: argparse.Namespace) -> str:
    rows: list[tuple[str, str, str]] = []
    for d in drains:
        ok = d.rate >= TARGET_EMAILS_S
        target = f">= {TARGET_EMAILS_S:,} with 2 workers" if d.workers == 2 else ""
        if target:
            target += f" ({'ok' if ok else 'MISSED'})"
        pipeline_us = sum(d.stage_us.values())
        worker_us = d.cpu_us["workers"]
        rows += [
            (f"[{d.workers} worker{'s' if d.workers > 1 else ''}, {d.emails:,} emails]", "", ""),
            (
                "  enqueue (ApiState.enqueue, 1 thread)",
                f"{d.emails / d.enqueue_s:,.0f} emails/s ({d.enqueue_s:.1f} s)",
                "",
            ),
            (
                "  drain, from the workers' start",
                f"{d.rate:,.0f} emails/s ({d.wall_s:.1f} s)",
                target,
            ),
            (
                "  drain, first to last commit",
                f"{d.steady_rate:,.0f} emails/s ({d.steady_s:.1f} s;"
                f" first commit after {d.first_commit_s:.1f} s)",
                "",
            ),
            ("  processed / failed", f"{d.processed:,} / {d.failed:,}", f"{d.emails:,} / 0"),
            ("  CPU cores used", ", ".join(f"{k} {v:.2f}" for k, v in d.cores.items()), "of 2"),
            (
                "  per email: pipeline stages",
                f"{pipeline_us:.0f} us ("
                + ", ".join(f"{k} {v:.0f}" for k, v in d.stage_us.items())
                + ")",
                "",
            ),
            (
                "  CPU per email, start-up excluded",
                ", ".join(f"{k} {v:.0f} us" for k, v in d.cpu_us.items()),
                "",
            ),
            (
                "  worker CPU per email beyond the stages",
                f"{worker_us - pipeline_us:.0f} us (queue, store, result JSON, metrics)",
                "",
            ),
        ]
    head = [
        f"# queue path: enqueue -> triage worker -> PostgreSQL ({time.strftime('%Y-%m-%d')},"
        f" {os.cpu_count()} cores)",
        f"# {args.emails:,} SpamAssassin messages (cycled, unique Message-IDs) pre-loaded with no"
        " worker running, then drained; embedded model, worker batch 50",
    ]
    return report_table(head, rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--emails", type=int, default=20_000, help="emails per run")
    parser.add_argument("--workers", default="1,2", help="worker process counts to try")
    parser.add_argument(
        "--profile", type=int, default=0, help="also drain this many emails with 1 cProfiled worker"
    )
    parser.add_argument("--profile-out", type=Path, help="write the profile summary here")
    parser.add_argument("--keep", action="store_true", help="keep the state dir (logs)")
    parser.add_argument("--write", type=Path, help="also write the report to this file")
    args = parser.parse_args()

    _interrupt_on_sigterm()
    tmp = Path(tempfile.mkdtemp(prefix="triage-bench-queue-"))
    tmp.chmod(0o755)  # the postgres system user must reach its data directory
    started = Started(tmp)
    drains: list[Drain] = []
    try:
        env = start_backends(started)
        settings = ServiceSettings.from_env(env)
        state = ApiState(settings)
        state.open()
        store = Store(settings)
        store.open()
        try:
            for workers in (int(w) for w in args.workers.split(",") if w.strip()):
                print(f"{workers} worker(s): enqueue {args.emails:,}, then drain", flush=True)
                drains.append(
                    drain(started, env, state, store, workers=workers, emails=args.emails)
                )
            if args.profile:
                print(f"profiling 1 worker over {args.profile:,} emails", flush=True)
                summary = profile_drain(started, env, state, store, emails=args.profile)
                if args.profile_out:
                    args.profile_out.write_text(summary, encoding="utf-8")
                else:
                    print(summary)
        finally:
            store.close()
            state.close()
    finally:
        started.stop_all()
        if args.keep:
            print(f"state kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if not drains:
        return 0
    text = report(drains, args)
    print(text)
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
