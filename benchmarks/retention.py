"""Data retention of 1,000,000 rows: `triage-ops retention run` against the runbook's
snippet (load every row, archive, then delete every old row), timed in the same run on
identical copies of the table.

    .venv/bin/python benchmarks/retention.py [--rows 1000000] [--batch-size 10000] \\
        [--repeat 3] [--write benchmarks/results/retention.txt]

1. Starts its own PostgreSQL (the sandbox's helper, with the server's default durability:
   fsync and full_page_writes on), applies the migrations and fills `emails` with
   INSERT ... SELECT generate_series: a ~1 KB `triage/v1` result per row; 50% of the rows
   processed and older than the cutoff (the policy), 10% failed and 10% queued and old
   (ours keeps them, the runbook's DELETE takes them too), 30% recent. VACUUM ANALYZE;
   every run then gets its own copy (CREATE DATABASE ... TEMPLATE) after a CHECKPOINT.
2. Ours: the CLI as an operator runs it (`retention run --older-than 90d --archive-to DIR
   --yes -o json`: plan, apply, verify, audit entry), in a child process, `--repeat`
   times, each on a fresh copy (the machine is shared: one run says little).
3. The runbook's: a child process doing what the snippet does with psycopg: SELECT the
   old processed rows and fetchall() them (the ORM's `.all()`), write them as JSON lines
   to a gzip file (level 1: the cheapest gzip; ours writes zstd -1), then `DELETE FROM
   emails WHERE created_at < cutoff` in one transaction.

Each child's peak RSS is its own (os.wait4's rusage); the server's CPU is read from /proc
(postmaster, its reaped children and its live ones) before and after. rows/s = policy rows
archived / wall time of the whole command. The machine is shared: its load average is
printed beside each run's figures.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import psycopg.rows

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from triage_core.service.store import migrate  # noqa: E402
from triage_ops.sandbox.postgres import PostgresServer, start_postgres  # noqa: E402

TARGET_ROWS_S = 50_000
TARGET_RSS_MB = 150
CLK_TCK = os.sysconf("SC_CLK_TCK")
CHILD = (
    "import triage_ops.cli as c;"
    " c._COMMANDS.setdefault('retention', 'triage_ops.commands.retention:retention');"
    " c.main()"
)

GENERATE = """
INSERT INTO emails (id, message_id, status, category, priority, summary, result, attempts,
                    error, created_at, processed_at)
SELECT gen_random_uuid(),
       '<' || g || '.' || md5(g::text) || '@mail.example.com>',
       CASE WHEN g %% 10 = 5 THEN 'failed' WHEN g %% 10 = 6 THEN 'queued' ELSE 'processed' END,
       (ARRAY['incident','request','question','meeting','billing','complaint','newsletter',
              'notification','spam','personal'])[1 + g %% 10],
       'P' || (g %% 4),
       'Summary of message ' || g || ': ' || md5(g::text || 's'),
       CASE WHEN g %% 10 = 6 THEN NULL ELSE jsonb_build_object(
         'schema', 'triage/v1',
         'message_id', '<' || g || '.' || md5(g::text) || '@mail.example.com>',
         'category', (ARRAY['incident','request','question','meeting','billing','complaint',
                            'newsletter','notification','spam','personal'])[1 + g %% 10],
         'category_confidence', round(random()::numeric, 4),
         'priority', 'P' || (g %% 4),
         'priority_score', g %% 100,
         'priority_reasons', jsonb_build_array('sender is a known customer',
             'subject mentions ' || md5(g::text || 'r'), 'deadline within 48 h'),
         'summary', 'The customer reports that ' || md5(g::text || 'a') || ' is failing since '
             || md5(g::text || 'b') || ' and asks for an update on ticket ' || g || '.',
         'needs_reply', g %% 3 = 0,
         'draft', 'Hello, thank you for your message about ' || md5(g::text || 'c')
             || '. We are looking into it and will reply within one business day. Reference '
             || md5(g::text || 'd') || '. Best regards, Support',
         'backend', 'embedded',
         'degraded', false,
         'timings_ms', jsonb_build_object('parse', 0.12, 'classify', 0.31, 'priority', 0.02,
             'summarize', 0.05, 'respond', 0.04),
         'headers', jsonb_build_object('from', 'user' || g %% 977 || '@customer.example',
             'to', 'support@example.com', 'subject', 'Re: ' || md5(g::text || 'e'),
             'thread', md5(g::text || 'f')),
         'errors', '[]'::jsonb) END,
       CASE WHEN g %% 10 = 5 THEN 3 ELSE 1 END,
       CASE WHEN g %% 10 = 5 THEN 'classifier timeout after 3 attempts' END,
       CASE WHEN g %% 10 < 7 THEN now() - interval '100 days' - g * interval '10 seconds'
            ELSE now() - g * interval '1 second' END,
       CASE WHEN g %% 10 = 6 THEN NULL ELSE now() - interval '1 day' END
FROM generate_series(1, %s) AS g
"""


@dataclass
class Measured:
    seconds: float
    peak_rss_mb: float
    cpu_s: float  # the child's user + system
    server_cpu_s: float
    exit_code: int
    output: str


def server_cpu(server: PostgresServer) -> float:
    """CPU seconds of the server: the postmaster, the children it reaped, the live ones."""
    assert server.pid is not None
    total = 0.0
    pids = [server.pid, *_children(server.pid)]
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
        total += utime + stime + (cutime + cstime if pid == server.pid else 0)
    return total / CLK_TCK


def settle(server: PostgresServer) -> None:
    """The same starting point for both: no checkpoint or autovacuum left over from the
    previous step (the copies were just written), dirty buffers flushed."""
    with server.admin() as admin:
        admin.execute("CHECKPOINT")
    time.sleep(2)


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def spawn_measured(
    server: PostgresServer, argv: list[str], env: dict[str, str], *, work: Path
) -> Measured:
    """Run `argv` and reap it with wait4, so the rusage (peak RSS, CPU) is the child's own,
    not the running maximum over every child this process ever had."""
    before = server_cpu(server)
    out_path, err_path = work / "child.out", work / "child.err"
    started = time.perf_counter()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        actions = [(os.POSIX_SPAWN_DUP2, out.fileno(), 1), (os.POSIX_SPAWN_DUP2, err.fileno(), 2)]
        pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
        _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - started
    output = out_path.read_text()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.stderr.write(err_path.read_text()[-4000:])
    return Measured(
        seconds=seconds,
        peak_rss_mb=usage.ru_maxrss / 1024,
        cpu_s=usage.ru_utime + usage.ru_stime,
        server_cpu_s=server_cpu(server) - before,
        exit_code=os.waitstatus_to_exitcode(status),
        output=output,
    )


# -- the runbook's approach, run as a child of this script -------------------------------


def runbook_child(url: str, archive: Path) -> None:
    """`cleanup_old_emails()` from the runbook, with psycopg instead of SQLAlchemy."""
    with psycopg.connect(url) as conn:
        cutoff = conn.execute("SELECT now() - interval '90 days'").fetchone()[0]  # type: ignore[index]
        cur = conn.cursor(row_factory=psycopg.rows.dict_row)
        old_emails = cur.execute(
            "SELECT * FROM emails WHERE created_at < %s AND status = 'processed'", (cutoff,)
        ).fetchall()  # `.all()`: every row in memory
        archive.mkdir(parents=True, exist_ok=True)
        with gzip.open(archive / "emails.jsonl.gz", "wt", compresslevel=1) as handle:
            for row in old_emails:  # archive_to_s3(old_emails), to a local file
                handle.write(json.dumps(row, default=str) + "\n")
        deleted = conn.execute("DELETE FROM emails WHERE created_at < %s", (cutoff,)).rowcount
        conn.commit()
    print(json.dumps({"archived": len(old_emails), "deleted": deleted}))


# -- the benchmark ---------------------------------------------------------------------


@dataclass
class OursRun:
    measured: Measured
    report: dict[str, Any]
    left: list[tuple[str, int]]  # old rows left, by status
    archive_mb: float
    load: tuple[float, float]  # 1-minute load average before and after

    @property
    def after(self) -> dict[str, Any]:
        return dict(self.report["after"])

    @property
    def rate(self) -> float:
        return int(self.after["rows_archived"]) / self.measured.seconds


def copy_of_source(server: PostgresServer, name: str) -> str:
    with server.admin() as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"CREATE DATABASE {name} TEMPLATE retention_source STRATEGY FILE_COPY")
    return server.url(name)


def run_ours(server: PostgresServer, args: argparse.Namespace, work: Path, number: int) -> OursRun:
    url = copy_of_source(server, "retention_ours")
    archive = work / f"ours-{number}"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "TRIAGE_OPS_DATABASE_URL": url,
        "TRIAGE_OPS_AUDIT_LOG": str(work / "audit.jsonl"),
    }
    argv = [
        sys.executable, "-c", CHILD, "-o", "json", "retention", "run", "--older-than", "90d",
        "--archive-to", str(archive), "--batch-size", str(args.batch_size), "--yes",
    ]  # fmt: skip
    settle(server)
    before = os.getloadavg()[0]
    measured = spawn_measured(server, argv, env, work=work)
    load = (before, os.getloadavg()[0])
    if measured.exit_code != 0:
        raise SystemExit(f"retention run failed (exit {measured.exit_code}): {measured.output}")
    with psycopg.connect(url) as conn:
        left = [
            (str(status), int(n))
            for status, n in conn.execute(
                "SELECT status, count(*) FROM emails WHERE created_at < now() - interval"
                " '90 days' GROUP BY 1 ORDER BY 1"
            ).fetchall()
        ]
    run = OursRun(measured, json.loads(measured.output), left, _size_mb(archive), load)
    shutil.rmtree(archive, ignore_errors=True)
    print(f"  run {number}: {run.rate:,.0f} rows/s in {measured.seconds:.1f} s, load {load[0]:.1f}")
    return run


def build(server: PostgresServer, rows: int) -> tuple[str, dict[str, int]]:
    source = server.create_database("retention_source")
    migrate(source)
    started = time.perf_counter()
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute(GENERATE, (rows,))
        conn.execute("VACUUM ANALYZE emails")
        counts = {
            str(status) + ("_old" if old else "_new"): int(n)
            for status, old, n in conn.execute(
                "SELECT status, created_at < now() - interval '90 days', count(*)"
                " FROM emails GROUP BY 1, 2"
            ).fetchall()
        }
        counts["result_bytes_avg"] = int(
            conn.execute("SELECT avg(length(result::text)) FROM emails").fetchone()[0]  # type: ignore[index]
        )
        counts["table_mb"] = int(
            conn.execute("SELECT pg_total_relation_size('emails')").fetchone()[0]  # type: ignore[index]
            // 2**20
        )
    print(f"generated {rows:,} rows in {time.perf_counter() - started:.0f} s: {counts}")
    return copy_of_source(server, "retention_runbook"), counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of ours, each on a copy")
    parser.add_argument("--write", type=Path, default=None)
    parser.add_argument(
        "--runbook-child", nargs=2, metavar=("URL", "ARCHIVE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.runbook_child:
        runbook_child(args.runbook_child[0], Path(args.runbook_child[1]))
        return

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="retention-bench-"))
    work.chmod(0o755)
    load_before = os.getloadavg()
    server = start_postgres(work / "pg", persistent=True)  # the server's default durability
    try:
        runbook_url, counts = build(server, args.rows)
        print("running ours ...", flush=True)
        ours = [run_ours(server, args, work, n) for n in range(1, args.repeat + 1)]
        print("running the runbook's ...", flush=True)
        runbook_argv = [sys.executable, str(Path(__file__).resolve()), "--runbook-child",
                        runbook_url, str(work / "runbook")]  # fmt: skip
        settle(server)
        runbook = spawn_measured(
            server, runbook_argv, {**os.environ, "PYTHONPATH": str(REPO)}, work=work
        )
        if runbook.exit_code != 0:
            raise SystemExit(f"runbook approach failed (exit {runbook.exit_code})")
        theirs = json.loads(runbook.output)
        text = render(args, counts, ours, runbook, theirs, work, load_before, os.getloadavg())
        print(text)
        if args.write:
            args.write.write_text(text + "\n")
    finally:
        server.destroy()
        shutil.rmtree(work, ignore_errors=True)


def _size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.iterdir()) / 2**20


def render(
    args: argparse.Namespace,
    counts: dict[str, int],
    ours: list[OursRun],
    runbook: Measured,
    theirs: dict[str, int],
    work: Path,
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
) -> str:
    theirs_rate = theirs["archived"] / runbook.seconds
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    theirs_cpu_us = (runbook.cpu_s + runbook.server_cpu_s) / theirs["archived"] * 1e6
    rates = sorted(run.rate for run in ours)
    median = ours[[run.rate for run in ours].index(statistics.median_low(rates))]
    worst_rss = max(run.measured.peak_rss_mb for run in ours)

    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    rows = [
        ("table", f"{args.rows:,} rows, {counts['table_mb']:,} MB; result jsonb avg"
                  f" {counts['result_bytes_avg']:,} B", ""),
        ("policy rows (processed, > 90 days)", f"{counts.get('processed_old', 0):,}", ""),
        ("other old rows (failed + queued)",
         f"{counts.get('failed_old', 0) + counts.get('queued_old', 0):,}", ""),
        ("[ours] triage-ops retention run",
         f"batch {args.batch_size:,}: DELETE ... RETURNING streamed by COPY, zstd -1 segments",
         ""),
    ]  # fmt: skip
    for number, run in enumerate(ours, 1):
        m, after = run.measured, run.after
        archived = int(after["rows_archived"])
        cpu_us = (m.cpu_s + m.server_cpu_s) / archived * 1e6
        rows += [
            (f" run {number} (load {run.load[0]:.1f} -> {run.load[1]:.1f})", "", ""),
            ("  rows/s (whole command)", f"{run.rate:,.0f} ({archived:,} in {m.seconds:.1f} s)",
             f">= {TARGET_ROWS_S:,} ({verdict(run.rate >= TARGET_ROWS_S)})"),
            ("  rows/s (batches only)", f"{after['rows_per_s']:,} ({after['seconds']} s)", ""),
            ("  peak RSS", f"{m.peak_rss_mb:.0f} MB",
             f"<= {TARGET_RSS_MB} ({verdict(m.peak_rss_mb <= TARGET_RSS_MB)})"),
            ("  CPU: client / server", f"{m.cpu_s:.1f} s / {m.server_cpu_s:.1f} s",
             f"{cpu_us:.0f} us per row; 2 idle cores: <= {2e6 / cpu_us:,.0f} rows/s"),
            ("  deleted / kept / skipped",
             f"{after['rows_deleted']:,} / {after['rows_kept']:,} /"
             f" {after['rows_skipped_locked']:,}", f"outcome {run.report['outcome']}"),
            ("  old rows left (not the policy's)", ", ".join(f"{s} {n:,}" for s, n in run.left),
             ""),
            ("  archive", f"{run.archive_mb:.0f} MB, {after['segments_written']} segments"
                          " + manifest", ""),
        ]  # fmt: skip
    rows += [
        ("[ours] over the runs", f"median {median.rate:,.0f} rows/s, spread {rates[0]:,.0f}"
                                 f" .. {rates[-1]:,.0f}; peak RSS <= {worst_rss:.0f} MB",
         f">= {TARGET_ROWS_S:,} ({verdict(median.rate >= TARGET_ROWS_S)}),"
         f" <= {TARGET_RSS_MB} MB ({verdict(worst_rss <= TARGET_RSS_MB)})"),
        ("[runbook] fetchall, archive, DELETE old", "", ""),
        ("  rows/s", f"{theirs_rate:,.0f} ({theirs['archived']:,} in {runbook.seconds:.1f} s)", ""),
        ("  peak RSS", f"{runbook.peak_rss_mb:,.0f} MB", ""),
        ("  CPU: client / server", f"{runbook.cpu_s:.1f} s / {runbook.server_cpu_s:.1f} s",
         f"{theirs_cpu_us:.0f} us per row"),
        ("  deleted", f"{theirs['deleted']:,}",
         f"{theirs['deleted'] - theirs['archived']:,} of them never archived"),
        ("  archive", f"{_size_mb(work / 'runbook'):.0f} MB, one file (gzip -1)", ""),
        ("ours (median) vs runbook", f"{median.rate / theirs_rate:.2f}x rows/s,"
                            f" {runbook.peak_rss_mb / worst_rss:.0f}x less memory", ""),
    ]  # fmt: skip
    head = [
        f"# data retention: {args.rows:,} rows ({day}, {os.cpu_count()} cores shared with"
        " other engineers; load average before/after the whole benchmark"
        f" {load_before[0]:.1f}/{load_after[0]:.1f})",
        "# PostgreSQL 15 with its default durability (fsync, full_page_writes on); ours"
        f" {args.repeat}x and the runbook's once, each on a fresh copy (CREATE DATABASE ..."
        " TEMPLATE) after a CHECKPOINT",
        "# rows/s = policy rows archived / wall time; CPU = the child's own (wait4) and the"
        " server's (/proc); the ceiling = 2 cores / CPU per row, if nothing else ran",
    ]
    width = max(len(a) for a, _, _ in rows)
    vwidth = max(len(b) for _, b, _ in rows)
    return "\n".join(head + [f"{a:<{width}}  {b:<{vwidth}}  {c}".rstrip() for a, b, c in rows])


if __name__ == "__main__":
    main()
