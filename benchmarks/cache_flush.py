"""The safe cache flush against the runbook's `redis-cli FLUSHDB`, on the same data.

    .venv/bin/python benchmarks/cache_flush.py [--keys 1000000] [--queue 100000] \\
        [--calibrate 300000] [--write benchmarks/results/cache_flush.txt]

Starts its own redis-server (the sandbox's starter: loopback, no persistence) and:

1. calibration (`--calibrate N` keys, 0 to skip): for several batch sizes, flushes N cache
   keys with SLOWLOG recording every command, and reports the longest SCAN and UNLINK
   inside Redis: the default batch (triage_ops.procedures.cache.DEFAULT_BATCH) is the
   largest whose commands stay under ~1 ms;
2. loads `--keys` cache keys (`SET triage:cache:<sha256> <~450-byte triage result JSON>
   EX <1-24 h>`, the service's own shape) and `--queue` entries on the queue stream
   (XADD, a consumer group with 100 pending entries, 10 dead-lettered entries and the
   fallback switch key), through `redis-cli --pipe`;
3. runs `cache.flush` exactly as `triage-ops --yes cache flush` does (the Action's plan,
   apply, verify) while a separate process PINGs Redis every ~1 ms and times each reply,
   and Redis itself records every command in SLOWLOG (slowlog-log-slower-than 0) and
   every event over 1 ms in its LATENCY monitor (latency-monitor-threshold 1); before it,
   the same PING loop on the idle server gives the machine's noise floor;
4. reloads the identical data set and times `FLUSHDB` under the same watch, then counts
   what is left of the queue.

Targets (issue 5): flush <= 15 s, longest Redis command latency during it <= 10 ms.
The machine has 2 cores shared with other work: Redis, this script, the PING process and
whatever else runs compete for them, so every latency figure includes moments the OS ran
something else (SLOWLOG and LATENCY time a command from start to end, preempted or not).
Step 3 therefore runs twice (`--priorities 0,-10`): with redis-server and the PING
process at the default priority, and at nice -10, which approximates Redis on a CPU of
its own (as in production, where triage-ops does not run on the Redis host); the flush
itself always runs at the default priority. Each section reloads the data `--repeat`
times and reports every run, the machine's load average and the idle noise floor.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import multiprocessing.connection
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from redis.utils import HIREDIS_AVAILABLE

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from triage_core.service import keys  # noqa: E402
from triage_ops.clients import Clients  # noqa: E402
from triage_ops.config import OpsConfig  # noqa: E402
from triage_ops.engine.audit import AuditLog  # noqa: E402
from triage_ops.engine.catalogue import Catalogue, read_file  # noqa: E402
from triage_ops.engine.contract import Plan, StepContext  # noqa: E402
from triage_ops.engine.runner import execute_action  # noqa: E402
from triage_ops.findings import Finding  # noqa: E402
from triage_ops.procedures import cache  # noqa: E402
from triage_ops.sandbox.redis import RedisServer, start_redis  # noqa: E402

CATALOGUE = REPO / "runbooks" / "findings.d" / "cache.yaml"
WATCHING = frozenset({"SLOWLOG", "CONFIG", "LATENCY"})
CATEGORIES = ("incident", "request", "question", "meeting", "billing", "complaint")
PAYLOAD = (
    b"From: alice@example.com\r\nTo: support@example.com\r\nSubject: Invoice %d overdue\r\n"
    b"Message-ID: <%d@example.com>\r\nDate: Mon, 24 Nov 2025 09:00:00 +0000\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + b"Hello, our invoice is late. " * 20
)


# -- data -------------------------------------------------------------------------------


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def _command(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(_bulk(a) for a in args)


def _result_json(i: int) -> bytes:
    """A realistic cached value: a triage/v1 result of ~450 bytes."""
    category = CATEGORIES[i % len(CATEGORIES)]
    return json.dumps(
        {
            "schema": "triage/v1",
            "message_id": f"<{i}.{i * 7919 % 100003}@mail.example.com>",
            "category": category,
            "category_confidence": round(0.5 + (i % 50) / 100, 2),
            "priority": f"P{i % 4}",
            "priority_score": i % 101,
            "priority_reasons": ["sender is a customer", f"mentions {category}"],
            "summary": "Customer reports that invoice payment failed twice and asks for help.",
            "needs_reply": bool(i % 2),
            "draft": None,
            "backend": "embedded",
            "degraded": False,
            "timings_ms": {"parse": 0.09, "classify": 0.23, "priority": 0.07, "summary": 0.06},
            "errors": [],
        },
        separators=(",", ":"),
    ).encode()


def cache_commands(count: int, *, seed: int = 0) -> Iterator[bytes]:
    for i in range(count):
        key = keys.cache_key(hashlib.sha256(b"%d:%d" % (seed, i)).hexdigest()).encode()
        ttl = b"%d" % (3600 + (i * 37) % (23 * 3600))
        yield _command(b"SET", key, _result_json(i), b"EX", ttl)


def queue_commands(count: int) -> Iterator[bytes]:
    stream, dead = keys.QUEUE_STREAM.encode(), keys.DEAD_LETTER_STREAM.encode()
    yield _command(b"XGROUP", b"CREATE", stream, keys.CONSUMER_GROUP.encode(), b"0", b"MKSTREAM")
    for i in range(count):
        yield _command(b"XADD", stream, b"*", b"email_id", b"%d" % i, b"payload", PAYLOAD % (i, i))
    for i in range(10):
        yield _command(b"XADD", dead, b"*", b"email_id", b"dead-%d" % i, b"reason", b"poison")
    yield _command(b"SET", keys.FALLBACK_SWITCH.encode(), b'{"on":true,"actor":"bench"}')
    # 100 entries delivered and not acknowledged: the group's pending list is not empty.
    yield _command(
        b"XREADGROUP", b"GROUP", keys.CONSUMER_GROUP.encode(), b"bench-worker", b"COUNT",
        b"100", b"STREAMS", stream, b">",
    )  # fmt: skip


def load(server: RedisServer, *, cache_keys: int, queue: int, seed: int = 0) -> float:
    """Pipe the data set in with `redis-cli --pipe`; returns seconds."""
    started = time.monotonic()
    cli = subprocess.Popen(
        ["redis-cli", "-h", server.host, "-p", str(server.port), "--pipe"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert cli.stdin is not None
    chunk: list[bytes] = []
    for commands in (cache_commands(cache_keys, seed=seed), queue_commands(queue)):
        for command in commands:
            chunk.append(command)
            if len(chunk) >= 10_000:
                cli.stdin.write(b"".join(chunk))
                chunk = []
    cli.stdin.write(b"".join(chunk))
    cli.stdin.close()
    out = cli.stdout.read().decode() if cli.stdout else ""
    if cli.wait() != 0 or "errors: 0" not in out:
        raise SystemExit(f"loading failed: {out.strip()}")
    return time.monotonic() - started


# -- watching latency --------------------------------------------------------------------


def _pinger(port: int, nice: int, conn: multiprocessing.connection.Connection) -> None:
    """In its own process (no GIL shared with the flush): PING, time it, sleep ~1 ms."""
    os.setpriority(os.PRIO_PROCESS, 0, nice)
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=30)
    client.ping()
    conn.send("ready")
    samples: list[tuple[float, float]] = []
    start = time.perf_counter()
    while not conn.poll():
        t0 = time.perf_counter()
        client.ping()
        samples.append((t0 - start, (time.perf_counter() - t0) * 1000))
        time.sleep(0.001)
    conn.send(samples)


@dataclass
class Pings:
    samples: list[tuple[float, float]]  # (seconds since start, rtt ms)

    def summary(self) -> str:
        rtts = sorted(rtt for _, rtt in self.samples)
        if not rtts:
            return "no samples"

        def pct(p: float) -> float:
            return rtts[min(len(rtts) - 1, int(len(rtts) * p))]

        over = sum(1 for r in rtts if r > 10)
        return (
            f"max {rtts[-1]:.2f} ms, p99.9 {pct(0.999):.2f}, p99 {pct(0.99):.2f},"
            f" p50 {pct(0.5):.2f}"
            f" ({len(rtts)} PINGs, {over} over 10 ms)"
        )

    @property
    def max(self) -> float:
        return max((rtt for _, rtt in self.samples), default=0.0)


class Watch:
    """A PING process plus Redis' SLOWLOG and LATENCY monitor around one operation."""

    def __init__(self, server: RedisServer, *, nice: int = 0) -> None:
        self.server = server
        self.nice = nice  # the PING process's priority (the same as redis-server's)
        self.admin = server.client(timeout_s=60)

    def __enter__(self) -> Watch:
        self.admin.config_set("slowlog-log-slower-than", 0)
        self.admin.config_set("slowlog-max-len", 200_000)
        self.admin.config_set("latency-monitor-threshold", 1)
        self.admin.slowlog_reset()
        self.admin.execute_command("LATENCY", "RESET")  # type: ignore[no-untyped-call]
        self.admin.config_resetstat()
        ctx = multiprocessing.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(
            target=_pinger, args=(self.server.port, self.nice, child), daemon=True
        )
        self.proc.start()
        assert self.conn.recv() == "ready"
        time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.05)
        self.conn.send("stop")
        self.pings = Pings(self.conn.recv())
        self.proc.join(5)
        self.latency: Any = self.admin.execute_command("LATENCY", "LATEST")  # type: ignore[no-untyped-call]
        self.admin.config_set("slowlog-log-slower-than", -1)  # not the SLOWLOG GET below
        entries: Any = self.admin.slowlog_get(200_000)
        self.admin.config_set("slowlog-log-slower-than", 10_000)
        self.slowlog: dict[str, list[int]] = {}
        for entry in entries:
            name = _text(entry["command"]).split(" ", 1)[0].upper()
            if name not in WATCHING:  # this class's own commands
                self.slowlog.setdefault(name, []).append(int(entry["duration"]))

    def triple(self, name: str) -> str:
        durations = sorted(self.slowlog.get(name, [0]))
        p99 = durations[min(len(durations) - 1, int(len(durations) * 0.99))]
        return f"{sum(durations) // len(durations)}/{p99}/{durations[-1]}"

    def slowlog_summary(self, *names: str) -> str:
        """Given commands, or every command seen, slowest first."""
        names = names or tuple(sorted(self.slowlog, key=lambda n: -max(self.slowlog[n])))
        parts = []
        for name in names:
            durations = sorted(self.slowlog.get(name, []))
            if durations:
                p99 = durations[min(len(durations) - 1, int(len(durations) * 0.99))]
                over = sum(1 for d in durations if d > 1000)
                parts.append(
                    f"{name} max {durations[-1]} us, p99 {p99} us ({len(durations)} calls,"
                    f" {over} > 1 ms)"
                )
        return "; ".join(parts)

    def latency_summary(self) -> str:
        events = [f"{_text(e[0])} max {e[3]} ms" for e in self.latency or []]
        return ", ".join(events) if events else "no event over 1 ms"

    @property
    def worst_server_ms(self) -> float:
        """Redis' own longest command (SLOWLOG) or event (LATENCY), in ms."""
        slow = max((max(d) for d in self.slowlog.values() if d), default=0) / 1000
        events = max((int(e[3]) for e in self.latency or []), default=0)
        return max(slow, float(events))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# -- running the flush the way the CLI does ---------------------------------------------


class Timed:
    """The FlushCache action, each phase timed; the engine sees the same Action."""

    def __init__(self, action: cache.FlushCache) -> None:
        self.action = action
        self.name = action.name
        self.seconds: dict[str, float] = {}

    def _time(self, phase: str, fn: Any) -> Any:
        started = time.monotonic()
        try:
            return fn()
        finally:
            self.seconds[phase] = time.monotonic() - started

    def plan(self, ctx: StepContext) -> Plan:
        plan: Plan = self._time("plan", lambda: self.action.plan(ctx))
        return plan

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        done: Mapping[str, Any] = self._time("apply", lambda: self.action.apply(ctx, plan))
        return done

    def verify(self, ctx: StepContext, plan: Plan) -> list[Finding]:
        found: list[Finding] = self._time("verify", lambda: self.action.verify(ctx, plan))
        return found


@dataclass
class FlushRun:
    total_s: float
    seconds: dict[str, float]
    outcome: str
    unlinked: int
    max_command_ms: float
    findings: list[str]
    notes: list[str]


def run_flush(
    server: RedisServer, audit_dir: Path, *, batch: int = cache.DEFAULT_BATCH
) -> FlushRun:
    """The flush as `triage-ops --yes cache flush` runs it: the FlushCache action through
    the engine's execute_action (plan, apply, verify, audit entry), with the client
    timeout at its default 5 s. Only the catalogue is this file's (one file, not all)."""
    config = OpsConfig().merged(
        {"redis_url": server.url, "audit_log": str(audit_dir / "audit.jsonl")}, where="bench"
    )
    ctx = StepContext(
        config=config,
        clients=Clients(config, timeout=5.0),
        timeout=cache.FLUSH_DEADLINE_S,
        step_id="cache.flush",
        make_finding=Catalogue(read_file(CATALOGUE), config=config).finding,
    )
    action = Timed(cache.FlushCache(batch=batch))
    started = time.monotonic()
    outcome = execute_action(
        action, ctx, dry_run=False, yes=True, confirm=lambda plan: True,
        audit=AuditLog(audit_dir / "audit.jsonl"), incident=None,
    )  # fmt: skip
    total = time.monotonic() - started
    masters = outcome.after.get("masters", [])
    return FlushRun(
        total_s=total,
        seconds=action.seconds,
        outcome=outcome.outcome,
        unlinked=int(outcome.after.get("unlinked", 0)),
        max_command_ms=max((max(m["max_scan_ms"], m["max_unlink_ms"]) for m in masters), default=0),
        findings=[f"{f.code} {f.severity}: {f.summary}" for f in outcome.findings],
        notes=list(ctx.notes),
    )


def queue_state(server: RedisServer) -> str:
    with server.client() as client:
        stream = client.xlen(keys.QUEUE_STREAM)
        dead = client.xlen(keys.DEAD_LETTER_STREAM)
        groups = (
            [_text(g["name"]) for g in client.xinfo_groups(keys.QUEUE_STREAM)]
            if client.exists(keys.QUEUE_STREAM)
            else []
        )
        switch = bool(client.exists(keys.FALLBACK_SWITCH))
        cache_left = sum(1 for _ in client.scan_iter(match=keys.CACHE_PREFIX + "*", count=1000))
    return (
        f"queue stream {stream:,} entries, dead-letter {dead}, groups {groups or 'none'},"
        f" fallback switch {'present' if switch else 'GONE'}, cache keys left {cache_left:,}"
    )


# -- the report --------------------------------------------------------------------------


def calibrate(
    server: RedisServer, directory: Path, count: int, sizes: list[int], out: list[str]
) -> None:
    """Per batch size, how long one SCAN and one UNLINK keep Redis busy (SLOWLOG of
    every command: mean, p99, max in microseconds). Maxima on a shared 2-core machine
    include the moments the OS ran something else instead of Redis; the mean and p99
    are the commands' own cost."""
    out.append(f"[calibration: {count:,} cache keys per run, SLOWLOG of every command, us]")
    out.append(
        f"  {'batch':>6}  {'flush':>7}   {'SCAN mean/p99/max':>20}   {'UNLINK mean/p99/max':>20}"
    )
    print("\n".join(out[-2:]), flush=True)
    for size in sizes:
        with server.client() as client:
            client.flushall()
        load(server, cache_keys=count, queue=1000, seed=size)
        with Watch(server) as watch:
            run = run_flush(server, directory, batch=size)
        cells = [watch.triple(name) for name in ("SCAN", "UNLINK")]
        apply_s = run.seconds["apply"]
        out.append(f"  {size:>6}  {apply_s:>6.2f}s   {cells[0]:>20}   {cells[1]:>20}")
        print(out[-1], flush=True)


@dataclass
class Measured:
    total_s: float
    ping_max_ms: float
    redis_max_ms: float
    load: float


def safe_flush(
    server: RedisServer,
    directory: Path,
    args: argparse.Namespace,
    out: list[str],
    *,
    first: bool,
    nice: int,
) -> Measured:
    """Load the data set afresh, then one watched flush; appends its report lines."""
    with server.client() as client:
        client.flushall()
    seconds = load(server, cache_keys=args.keys, queue=args.queue)
    used = server.client().info("memory")["used_memory_human"]
    lines = [f"  - run: loaded in {seconds:.1f} s, used_memory {used}"]
    lines.append(f"    before: {queue_state(server)}")
    if first:
        with Watch(server, nice=nice) as idle:
            time.sleep(3)
        lines.append(f"    idle server, 3 s of PINGs (noise floor): {idle.pings.summary()}")
    load_before = os.getloadavg()[0]
    with Watch(server, nice=nice) as watch:
        run = run_flush(server, directory)
    load_after = os.getloadavg()[0]
    measured = Measured(run.total_s, watch.pings.max, watch.worst_server_ms, load_after)
    lines += [
        f"    load average (1 min) before/after: {load_before:.2f} / {load_after:.2f}"
        f" on {os.cpu_count()} cores shared with other work",
        f"    flush ({run.outcome}): {run.total_s:.2f} s through the engine (plan ="
        f" census {run.seconds['plan']:.2f} s, SCAN+UNLINK {run.seconds['apply']:.2f} s,"
        f" verify {run.seconds['verify']:.2f} s), {run.unlinked:,} keys unlinked"
        f"  [<= 15 s: {_ok(run.total_s <= 15)}]",
        f"    PING from another process: {watch.pings.summary()}"
        f"  [max <= 10 ms: {_ok(watch.pings.max <= 10)}]",
        f"    Redis SLOWLOG: {watch.slowlog_summary()}",
        f"    Redis LATENCY monitor (threshold 1 ms): {watch.latency_summary()}"
        f"  [longest inside Redis {watch.worst_server_ms:.2f} ms <= 10 ms:"
        f" {_ok(watch.worst_server_ms <= 10)}]",
        f"    slowest round trip seen by the flush itself: {run.max_command_ms:.2f} ms",
        f"    verify: {'; '.join(run.notes + run.findings)}",
        f"    after: {queue_state(server)}",
    ]
    out += lines
    print("\n".join(lines), flush=True)
    return measured


def summarize(runs: list[Measured]) -> str:
    def spread(values: list[float], unit: str) -> str:
        ordered = sorted(values)
        return f"median {ordered[len(ordered) // 2]:.2f} {unit}, worst {ordered[-1]:.2f} {unit}"

    return (
        f"flush {spread([r.total_s for r in runs], 's')}; PING max"
        f" {spread([r.ping_max_ms for r in runs], 'ms')}; longest inside Redis"
        f" {spread([r.redis_max_ms for r in runs], 'ms')}"
    )


def _ok(passed: bool) -> str:
    return "ok" if passed else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--queue", type=int, default=100_000)
    parser.add_argument("--calibrate", type=int, default=300_000, help="keys; 0 skips")
    parser.add_argument("--batches", default="250,500,1000,2000,5000")
    parser.add_argument("--repeat", type=int, default=3, help="safe flushes, data reloaded")
    parser.add_argument(
        "--priorities",
        default="0,-10",
        help="nice values for redis-server (and the PING process), one section each",
    )
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()

    directory = Path(tempfile.mkdtemp(prefix="cache-flush-bench-"))
    out = [
        f"# cache flush: SCAN + UNLINK vs FLUSHDB ({datetime.now(UTC):%Y-%m-%d}, "
        f"{os.cpu_count()} cores, redis-server {_redis_version()}, Python"
        f" {platform.python_version()}, redis-py {redis.__version__},"
        f" {'hiredis' if HIREDIS_AVAILABLE else 'pure-Python'} reply parser)",
        f"# {args.keys:,} cache keys (SET <prefix><sha256> <~450 B JSON> EX 1-24 h) +"
        f" {args.queue:,} queue entries (stream, group with 100 pending, 10 dead-letter,"
        " fallback switch)",
    ]
    print("\n".join(out), flush=True)
    server = start_redis(directory / "redis")
    try:
        if args.calibrate:
            sizes = [int(s) for s in args.batches.split(",")]
            calibrate(server, directory, args.calibrate, sizes, out)

        for nice in [int(n) for n in args.priorities.split(",")]:
            os.setpriority(os.PRIO_PROCESS, server.pid, nice)
            out.append(
                f"[safe flush: triage-ops cache flush, batch {cache.DEFAULT_BATCH};"
                f" redis-server and the PING process at nice {nice}"
                + (", i.e. served before the machine's other work, as Redis on its own"
                   " CPU would be" if nice < 0 else ", like everything else") + "]"
            )  # fmt: skip
            print(out[-1], flush=True)
            runs = [
                safe_flush(server, directory, args, out, first=i == 0, nice=nice)
                for i in range(args.repeat)
            ]
            if len(runs) > 1:
                out.append(f"  over {len(runs)} runs: " + summarize(runs))
                print(out[-1], flush=True)

        with server.client() as client:
            client.flushall()
        load(server, cache_keys=args.keys, queue=args.queue)
        out.append(
            "[runbook: redis-cli FLUSHDB on the identical data set, redis-server at nice"
            f" {os.getpriority(os.PRIO_PROCESS, server.pid)}]"
        )
        out.append(f"  before: {queue_state(server)}")
        nice = os.getpriority(os.PRIO_PROCESS, server.pid)
        with Watch(server, nice=nice) as watch, server.client(timeout_s=120) as client:
            t0 = time.monotonic()
            client.flushdb()
            flushdb_s = time.monotonic() - t0
        out += [
            f"  FLUSHDB: {flushdb_s:.2f} s, one command blocking every client;"
            f" {watch.slowlog_summary('FLUSHDB')}",
            f"  PING from another process during it: {watch.pings.summary()}",
            f"  Redis LATENCY monitor: {watch.latency_summary()}",
            f"  after: {queue_state(server)}  <- {args.queue:,} queued emails destroyed",
        ]
        print("\n".join(out[-5:]), flush=True)
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text("\n".join(out) + "\n", encoding="utf-8")
        print(f"wrote {args.write}")


def _redis_version() -> str:
    done = subprocess.run(["redis-server", "--version"], capture_output=True, text=True)
    for part in done.stdout.split():
        if part.startswith("v="):
            return part[2:]
    return "?"


if __name__ == "__main__":
    main()
