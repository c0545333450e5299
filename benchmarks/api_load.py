"""`POST /v1/triage` under wrk: requests/s, latency percentiles, errors and API memory.

    .venv/bin/python benchmarks/api_load.py [--duration 60] \\
        [--write benchmarks/results/api_load.txt] [--profile 20 --profile-out FILE]

Starts its own PostgreSQL and Redis (the sandbox's helpers, on loopback, under a temporary
directory), applies the migrations, then for each `--workers` value (default 1 and 2) runs
`triage serve --workers N --no-access-log` (as deploy/ does; embedded model, settings from
TRIAGE_* variables) and points wrk at it, twice for `--duration` seconds each:

- paced: a fixed arrival rate (`--rate`, default the target's 500 req/s) over 50
  connections, wrk2-style (benchmarks/wrk/triage_bodies.lua). This is the target's test:
  does the API sustain 500 req/s, and what is p99 at that rate?
- closed loop: 16 connections as fast as they go. This is the capacity (req/s at
  saturation); its latency is mostly queueing, and grows with the connection count.

The request bodies are 2,000 SpamAssassin messages (evenly spaced over the corpus's 6,046,
ham and spam) sent as `message/rfc822`. The Lua script prepends an `X-Bench-Nonce` header
to each, unique per request and per run, so the Redis result cache (keyed on the body)
never hits: this measures the pipeline behind HTTP, not the cache; Redis's keyspace_hits
over each run is printed to prove it. A shorter cache-hit run sends the bodies unchanged
after one priming pass. Errors = non-2xx answers + socket errors (connect, read, write,
timeout). RSS is each API process's resident memory when ready, after a warm-up, and at
the end (peak of 1 s samples too): flat means no per-request leak. CPU cores used per
process group over each run say where the 2 cores went (API, wrk itself, Redis, Postgres).

`--profile N` first runs N seconds of closed-loop load against an API process under
cProfile in every thread (CPU time per thread), and prints the top functions.

Every process started here is stopped on the way out, Ctrl-C and SIGTERM included. wrk
(Debian package `wrk`) is installed with apt-get when missing and running as root.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from triage_core.model import corpus  # noqa: E402
from triage_ops.sandbox import processes as proc  # noqa: E402
from triage_ops.sandbox import sandbox  # noqa: E402
from triage_ops.sandbox.processes import HOST  # noqa: E402

LUA = REPO / "benchmarks" / "wrk" / "triage_bodies.lua"
PIPELINE_YAML = "classifier:\n  backend: embedded\n  fallback: rules\n"
CLK_TCK = os.sysconf("SC_CLK_TCK")
TARGET_RPS = 500
TARGET_P99_MS = 50.0


# -- processes ---------------------------------------------------------------------------


@dataclass
class Started:
    """Every long-running process this script started: stopped in reverse order."""

    state_dir: Path
    items: list[tuple[str, int, str, int]] = field(default_factory=list)

    def add(self, name: str, pid: int, *, expect: str, sig: int = signal.SIGTERM) -> None:
        self.items.append((name, pid, expect, sig))

    def pid(self, name: str) -> int:
        return next(pid for n, pid, _e, _s in self.items if n == name)

    def stop(self, name: str) -> None:
        for item in [i for i in self.items if i[0] == name]:
            _name, pid, expect, sig = item
            proc.stop(pid, expect=expect, sig=sig, timeout=30)
            self.items.remove(item)

    def stop_all(self) -> None:
        for name in [i[0] for i in reversed(self.items)]:
            self.stop(name)
        # Safety net: a PostgreSQL whose start-up timed out inside the sandbox helper,
        # before its pid came back to us, still names our private state directory on its
        # command line (the other processes are recorded as soon as they are spawned).
        marker = str(self.state_dir)
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and marker in proc.cmdline(int(entry.name)):
                proc.stop(int(entry.name), expect=marker, sig=signal.SIGINT)


def _interrupt_on_sigterm() -> None:
    def handler(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


def start_backends(started: Started) -> dict[str, str]:
    """PostgreSQL and Redis on free loopback ports, the schema migrated; returns the
    TRIAGE_* environment for the service processes."""
    state = started.state_dir
    logs = state / "logs"
    logs.mkdir(exist_ok=True)
    pg = sandbox._start_postgres(state, proc.free_port(), logs)
    started.add("postgres", pg.pid, expect=pg.expect, sig=signal.SIGINT)

    redis_port = proc.free_port()
    redis_dir = state / "redis"
    redis_dir.mkdir(exist_ok=True)
    argv = ["redis-server", "--port", str(redis_port), "--bind", HOST, "--dir", str(redis_dir)]
    argv += ["--save", "", "--appendonly", "no"]
    started.add("redis", proc.spawn(argv, log=logs / "redis.log"), expect="redis-server")
    proc.wait_until(lambda: proc.tcp_open(redis_port), timeout=15, what="redis")

    proc.run([sys.executable, "-m", "triage_core.cli", "db", "migrate", "--database-url", pg.url])
    config = state / "pipeline.yaml"
    config.write_text(PIPELINE_YAML, encoding="utf-8")
    return {
        "TRIAGE_DATABASE_URL": pg.url,
        "TRIAGE_REDIS_URL": f"redis://{HOST}:{redis_port}/0",
        "TRIAGE_PIPELINE_CONFIG": str(config),
    }


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    stack = [pid]
    while stack:
        current = stack.pop()
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                for child in task.read_text().split():
                    found.append(int(child))
                    stack.append(int(child))
    return found


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_s(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def api_processes(api_pid: int, workers: int) -> list[int]:
    """The processes that serve requests: the `triage serve` process itself with one
    worker; with several, uvicorn's spawned children (not its supervisor)."""
    if workers == 1:
        return [api_pid]
    return [p for p in descendants(api_pid) if "spawn_main" in proc.cmdline(p)]


def start_api(started: Started, env: dict[str, str], *, workers: int) -> tuple[str, list[int]]:
    port = proc.free_port()
    argv = [sys.executable, "-m", "triage_core.cli", "serve", "--host", HOST]
    argv += ["--port", str(port), "--workers", str(workers), "--no-access-log"]
    argv += ["--log-level", "warning"]
    log = started.state_dir / "logs" / f"api-{workers}.log"
    pid = proc.spawn(argv, log=log, env=env, cwd=REPO)
    started.add("api", pid, expect="serve")
    url = f"http://{HOST}:{port}"
    proc.wait_until(
        lambda: len(api_processes(pid, workers)) == workers and proc.http_ok(f"{url}/readyz"),
        timeout=90,
        what=f"API with {workers} worker(s) (log: {log})",
    )
    return url, api_processes(pid, workers)


def serve_profiled(port: int, out: Path) -> None:
    """What `triage serve` does with one worker, under cProfile in every thread (the
    pipeline runs in anyio's worker threads, which cProfile alone would not see). The
    merged stats are written to `out` when uvicorn exits (SIGTERM)."""
    import cProfile
    import pstats

    import uvicorn

    from triage_core.cli.serve import log_config
    from triage_core.service.api.app import create_app
    from triage_core.service.settings import ServiceSettings

    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()

    # CPU time per thread: wall-clock time would mostly show threads waiting for the GIL
    def enable_in_new_thread(_frame: FrameType, _event: str, _arg: object) -> None:
        profile = cProfile.Profile(time.thread_time)
        with lock:
            profiles.append(profile)
        profile.enable()  # replaces this hook for the rest of the thread's life

    app = create_app(ServiceSettings.from_env())
    # uvicorn re-raises the stop signal after its graceful shutdown: with the default
    # handler the process would die before the stats are written.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _signum, _frame: None)
    threading.setprofile(enable_in_new_thread)
    main_profile = cProfile.Profile(time.thread_time)
    main_profile.enable()
    try:
        uvicorn.run(
            app,
            host=HOST,
            port=port,
            log_level="warning",
            log_config=log_config("warning"),
            access_log=False,
        )
    finally:
        main_profile.disable()
        threading.setprofile(None)
        stats = pstats.Stats(main_profile)
        with lock:
            for profile in profiles:
                stats.add(profile)
        stats.dump_stats(out)


def start_profiled_api(started: Started, env: dict[str, str], out: Path) -> tuple[str, int]:
    port = proc.free_port()
    argv = [sys.executable, str(Path(__file__).resolve()), "--serve-profiled", str(out)]
    argv += ["--port", str(port)]
    log = started.state_dir / "logs" / "api-profiled.log"
    pid = proc.spawn(argv, log=log, env=env, cwd=REPO)
    started.add("api", pid, expect="--serve-profiled")
    url = f"http://{HOST}:{port}"
    proc.wait_until(lambda: proc.http_ok(f"{url}/readyz"), timeout=90, what="profiled API")
    return url, pid


def profile_run(
    started: Started, env: dict[str, str], wrk: str, bodies: Path, args: argparse.Namespace
) -> str:
    """A load run against the profiled API; returns the top functions by own time and by
    cumulative time (cProfile slows the process down: its req/s is not a figure)."""
    import io
    import pstats

    out = started.state_dir / "api.prof"
    url, _pid = start_profiled_api(started, env, out)
    try:
        common = {"threads": args.threads, "connections": args.connections}
        run_wrk(wrk, url, bodies, seconds=args.profile, unique=True, **common)
    finally:
        started.stop("api")
    buffer = io.StringIO()
    stats = pstats.Stats(str(out), stream=buffer)
    stats.strip_dirs().sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)
    return buffer.getvalue()


# -- load --------------------------------------------------------------------------------


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("wrk is not installed: run `sudo apt-get install -y wrk` first")
    print("installing wrk with apt-get ...", file=sys.stderr)
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=False)
        subprocess.run(install, env=env, capture_output=True, check=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("apt-get install wrk did not provide a `wrk` binary")
    return found


def write_bodies(path: Path, count: int) -> tuple[int, float]:
    """`count` messages evenly spaced over the corpus, in the Lua script's format."""
    root = REPO / corpus.DEFAULT_DIR
    corpus.fetch(root)
    raws = [m.raw for m in corpus.iter_messages(corpus.ALL_SETS, root)]
    chosen = [raws[i * len(raws) // count] for i in range(min(count, len(raws)))]
    with path.open("wb") as out:
        for raw in chosen:
            out.write(b"%d\n" % len(raw))
            out.write(raw)
    return len(chosen), sum(map(len, chosen)) / len(chosen) / 1024


@dataclass
class LoadResult:
    requests: int
    seconds: float
    errors: int
    non2xx: int
    socket_errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    wrk_cpu_s: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def run_wrk(
    wrk: str,
    url: str,
    bodies: Path,
    *,
    seconds: int,
    threads: int,
    connections: int,
    unique: bool,
    rate: int = 0,
) -> LoadResult:
    argv = [wrk, "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s"]
    argv += ["--timeout", "5s", "-s", str(LUA), f"{url}/v1/triage"]
    env = dict(os.environ, WRK_BODIES=str(bodies), WRK_UNIQUE="1" if unique else "0")
    env["WRK_RUN"] = uuid.uuid4().hex[:12]
    env |= {"WRK_RATE": str(rate), "WRK_THREADS": str(threads)}
    before = os.times()
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
    after = os.times()
    line = next((ln for ln in out.splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no WRK_JSON line:\n{out}")
    data: dict[str, Any] = json.loads(line.removeprefix("WRK_JSON "))
    sockets = sum(
        int(data[k]) for k in ("connect_errors", "read_errors", "write_errors", "timeouts")
    )
    return LoadResult(
        requests=int(data["requests"]),
        seconds=int(data["duration_us"]) / 1e6,
        errors=int(data["non2xx"]) + sockets,
        non2xx=int(data["non2xx"]),
        socket_errors=sockets,
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        wrk_cpu_s=(after.children_user + after.children_system)
        - (before.children_user + before.children_system),
    )


class RssSampler:
    """RSS of the API processes once a second while a run goes on (the peak over every
    run it was entered for)."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.peak = dict.fromkeys(pids, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            for pid in self.pids:
                self.peak[pid] = max(self.peak[pid], rss_mb(pid))

    def __enter__(self) -> RssSampler:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Run:
    """One timed wrk run and the CPU it cost: cores used on average, per process group
    (`api` lists each API process)."""

    load: LoadResult
    api_cores: list[float]
    cores: dict[str, float]
    cache_hits: int


@dataclass
class ConfigResult:
    workers: int
    paced: Run
    capacity: Run
    rss_ready: list[float]
    rss_warm: list[float]
    rss_mid: list[float]  # after the paced run
    rss_end: list[float]
    rss_peak: list[float]
    cache_hit: LoadResult | None = None


def server_pids(started: Started) -> dict[str, list[int]]:
    """Redis, and PostgreSQL's postmaster with its backends as of now (call it again at
    the end of a run: connections opened during the run have new backends)."""
    postmaster = started.pid("postgres")
    return {"redis": [started.pid("redis")], "postgres": [postmaster, *descendants(postmaster)]}


def redis_hits(url: str) -> int:
    """Redis's keyspace_hits: reads that found a key (a result cache hit, or the fallback
    switch key, which is absent here), to check that the "unique" runs never hit."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        return int(client.info("stats")["keyspace_hits"])
    finally:
        client.close()


def timed_run(
    started: Started,
    env: dict[str, str],
    wrk: str,
    url: str,
    bodies: Path,
    *,
    pids: list[int],
    seconds: int,
    threads: int,
    connections: int,
    rate: int,
    sampler: RssSampler,
) -> Run:
    api_before = [cpu_s([p]) for p in pids]
    before = {k: cpu_s(v) for k, v in server_pids(started).items()}
    hits_before = redis_hits(env["TRIAGE_REDIS_URL"])
    with sampler:
        load = run_wrk(
            wrk,
            url,
            bodies,
            seconds=seconds,
            threads=threads,
            connections=connections,
            unique=True,
            rate=rate,
        )
    hits = redis_hits(env["TRIAGE_REDIS_URL"]) - hits_before
    api = [(cpu_s([p]) - b) / load.seconds for p, b in zip(pids, api_before, strict=True)]
    cores = {"api": sum(api), "wrk": load.wrk_cpu_s / load.seconds}
    cores |= {k: (cpu_s(v) - before[k]) / load.seconds for k, v in server_pids(started).items()}
    return Run(load=load, api_cores=api, cores=cores, cache_hits=hits)


def measure(
    started: Started,
    env: dict[str, str],
    wrk: str,
    bodies: Path,
    args: argparse.Namespace,
    *,
    workers: int,
) -> ConfigResult:
    url, pids = start_api(started, env, workers=workers)
    try:
        rss_ready = [rss_mb(p) for p in pids]
        run_wrk(
            wrk,
            url,
            bodies,
            seconds=args.warmup,
            threads=args.threads,
            connections=args.connections,
            unique=True,
        )
        rss_warm = [rss_mb(p) for p in pids]
        sampler = RssSampler(pids)
        common: dict[str, Any] = {"pids": pids, "seconds": args.duration, "sampler": sampler}
        common["threads"] = args.threads
        print(f"  paced at {args.rate} req/s for {args.duration} s", flush=True)
        paced = timed_run(
            started,
            env,
            wrk,
            url,
            bodies,
            connections=args.paced_connections,
            rate=args.rate,
            **common,
        )
        rss_mid = [rss_mb(p) for p in pids]
        print(f"  closed loop, {args.connections} connections, {args.duration} s", flush=True)
        capacity = timed_run(
            started, env, wrk, url, bodies, connections=args.connections, rate=0, **common
        )
        rss_end = [rss_mb(p) for p in pids]
        result = ConfigResult(
            workers=workers,
            paced=paced,
            capacity=capacity,
            rss_ready=rss_ready,
            rss_warm=rss_warm,
            rss_mid=rss_mid,
            rss_end=rss_end,
            rss_peak=[max(sampler.peak[p], e) for p, e in zip(pids, rss_end, strict=True)],
        )
        if args.cache_duration > 0 and workers == 1:
            # one pass over the unchanged bodies fills the cache, then every answer is a hit
            print(f"  cache hits, {args.cache_duration} s", flush=True)
            cached = {"threads": args.threads, "connections": args.connections, "unique": False}
            run_wrk(wrk, url, bodies, seconds=max(args.warmup, 5), **cached)
            result.cache_hit = run_wrk(wrk, url, bodies, seconds=args.cache_duration, **cached)
        return result
    finally:
        started.stop("api")


# -- report ------------------------------------------------------------------------------


def report_table(head: list[str], rows: list[tuple[str, str, str]]) -> str:
    """Comment lines, then (figure, value, target) rows in aligned columns."""
    width = max(len(a) for a, _b, _c in rows)
    vwidth = max(len(b) for _a, b, _c in rows)
    lines = [f"{a:<{width}}  {b:<{vwidth}}  {c}".rstrip() for a, b, c in rows]
    return "\n".join(head + lines)


def _mb(values: list[float]) -> str:
    return " + ".join(f"{v:.0f}" for v in values) + " MB"


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def _run_rows(run: Run, *, target: bool) -> list[tuple[str, str, str]]:
    load = run.load
    cores = ", ".join(f"{k} {v:.2f}" for k, v in run.cores.items())
    if len(run.api_cores) > 1:
        cores += " (api " + " + ".join(f"{c:.2f}" for c in run.api_cores) + ")"
    p99_ok = load.p99_ms <= TARGET_P99_MS
    return [
        (
            "    throughput",
            f"{load.rps:,.0f} req/s ({load.requests:,} in {load.seconds:.1f} s)",
            f">= {TARGET_RPS} ({_verdict(load.rps >= TARGET_RPS * 0.995)})" if target else "",
        ),
        (
            "    latency p50 / p90 / p99",
            f"{load.p50_ms:.1f} / {load.p90_ms:.1f} / {load.p99_ms:.1f} ms",
            f"p99 <= {TARGET_P99_MS:.0f} ms ({_verdict(p99_ok)})" if target else "",
        ),
        ("    latency max", f"{load.max_ms:.1f} ms", ""),
        (
            "    errors (non-2xx + socket)",
            f"{load.errors} ({load.non2xx} + {load.socket_errors})",
            f"0 ({_verdict(load.errors == 0)})",
        ),
        ("    result-cache hits", f"{run.cache_hits}", "0: every body unique"),
        ("    CPU cores used", cores, "of 2"),
    ]


def report(results: list[ConfigResult], args: argparse.Namespace, body_info: str) -> str:
    rows: list[tuple[str, str, str]] = []
    for r in results:
        growth = max(e - w for e, w in zip(r.rss_end, r.rss_warm, strict=True))
        rows.append((f"[triage serve --workers {r.workers}]", "", ""))
        rows.append((f"  paced at {args.rate} req/s, {args.paced_connections} conn.", "", ""))
        rows += _run_rows(r.paced, target=True)
        rows.append((f"  closed loop, {args.connections} conn. (capacity)", "", ""))
        rows += _run_rows(r.capacity, target=False)
        rows += [
            ("  API RSS when ready", _mb(r.rss_ready), ""),
            ("  API RSS after warm-up", _mb(r.rss_warm), ""),
            ("  API RSS after the paced run", _mb(r.rss_mid), ""),
            ("  API RSS after the closed loop (peak)", f"{_mb(r.rss_end)} ({_mb(r.rss_peak)})", ""),
            (
                "  RSS growth over both runs",
                f"{growth:+.1f} MB (largest, per process)",
                f"flat ({'ok' if growth < 20 else 'GROWING'})",
            ),
        ]
        if r.cache_hit is not None:
            hit = r.cache_hit
            rows.append((f"  cache-hit run, {args.connections} conn.", "", ""))
            rows += [
                ("    throughput", f"{hit.rps:,.0f} req/s ({hit.seconds:.0f} s)", ""),
                (
                    "    latency p50 / p90 / p99",
                    f"{hit.p50_ms:.1f} / {hit.p90_ms:.1f} / {hit.p99_ms:.1f} ms",
                    "",
                ),
                ("    errors", f"{hit.errors}", ""),
            ]
    head = [
        f"# POST /v1/triage under wrk ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores):"
        f" {args.duration} s per timed run after a {args.warmup} s warm-up, wrk -t{args.threads}",
        "# embedded model, `triage serve --no-access-log`, PostgreSQL and Redis local;"
        " the result cache on (Redis)",
        f"# bodies: {body_info}, each request made unique (X-Bench-Nonce header)",
        "# paced: wrk2-style fixed arrival rate, the target's test; closed loop: as fast as"
        " the connections go, saturation",
    ]
    return report_table(head, rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=60, help="timed run, seconds")
    parser.add_argument("--warmup", type=int, default=5, help="untimed run first, seconds")
    parser.add_argument("--workers", default="1,2", help="uvicorn worker counts to try")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections, closed loop")
    parser.add_argument("--rate", type=int, default=TARGET_RPS, help="paced run, req/s")
    parser.add_argument(
        "--paced-connections", type=int, default=50, help="wrk connections, paced run"
    )
    parser.add_argument("--bodies", type=int, default=2000, help="distinct messages")
    parser.add_argument(
        "--cache-duration", type=int, default=20, help="cache-hit run (workers=1), 0: skip"
    )
    parser.add_argument(
        "--profile", type=int, default=0, help="seconds of load on a cProfiled API (0: off)"
    )
    parser.add_argument("--profile-out", type=Path, help="write the profile summary here")
    parser.add_argument("--keep", action="store_true", help="keep the state dir (logs)")
    parser.add_argument("--serve-profiled", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--write", type=Path, help="also write the report to this file")
    args = parser.parse_args()
    if args.serve_profiled:  # internal: the API process of --profile
        serve_profiled(args.port, args.serve_profiled)
        return 0

    _interrupt_on_sigterm()
    wrk = ensure_wrk()
    state = Path(tempfile.mkdtemp(prefix="triage-bench-api-"))
    state.chmod(0o755)  # the postgres system user must reach its data directory
    started = Started(state)
    try:
        bodies = state / "bodies.bin"
        count, mean_kb = write_bodies(bodies, args.bodies)
        body_info = f"{count} SpamAssassin messages as message/rfc822 (mean {mean_kb:.1f} KB)"
        env = start_backends(started)
        if args.profile:
            summary = profile_run(started, env, wrk, bodies, args)
            if args.profile_out:
                args.profile_out.write_text(summary, encoding="utf-8")
            else:
                print(summary)
        results = []
        for workers in (int(w) for w in args.workers.split(",") if w.strip()):
            print(f"triage serve --workers {workers}", flush=True)
            results.append(measure(started, env, wrk, bodies, args, workers=workers))
    finally:
        started.stop_all()
        if not args.keep:
            shutil.rmtree(state, ignore_errors=True)
        else:
            print(f"state kept in {state}", file=sys.stderr)
    if not results:  # --workers "" with --profile: the profile was the point
        return 0
    text = report(results, args, body_info)
    print(text)
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
