"""Pipeline speed and memory over the 6,046 SpamAssassin messages, end to end from raw bytes.

    .venv/bin/python benchmarks/pipeline_throughput.py [--write benchmarks/results/pipeline.md]

Prints, with the issue's target beside each figure:
- emails/s on one core, p50/p99 per email;
- the stdlib parse alone (`email.message_from_bytes(b, policy=email.policy.default)`)
  over the same bytes in the same process, and our pipeline's cost as a ratio of it;
- emails/s with workers=2 (steady state, pool start-up excluded) and the speed-up;
- peak RSS; `import triage_core` time and model load time (fresh interpreters, median of 5).

The machine is noisy: the ratio to the stdlib baseline, timed in the same run, is the
figure to trust; absolute rates move by +-15% between runs.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from triage_core.model import corpus
from triage_core.parsing import warm_up
from triage_core.pipeline import Pipeline


def _fresh_python(code: str, runs: int = 5) -> float:
    values = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        values.append(float(out.strip()))
    return statistics.median(values)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus-dir", type=Path, default=corpus.DEFAULT_DIR)
    parser.add_argument("--write", type=Path, help="also write the report to this file")
    args = parser.parse_args()

    corpus.fetch(args.corpus_dir)
    raws = [m.raw for m in corpus.iter_messages(corpus.ALL_SETS, args.corpus_dir)]
    n = len(raws)
    total_mb = sum(map(len, raws)) / 1e6

    pipeline = Pipeline()
    warm_up()  # the charset detector's codec imports: once per process, not per email
    for raw in raws[:200]:  # warm-up: model load, template compile, caches
        pipeline.triage(raw)

    # Baseline: the stdlib parse alone, same bytes, same process.
    t0 = time.perf_counter()
    for raw in raws:
        email.message_from_bytes(raw, policy=email.policy.default)
    stdlib_s = time.perf_counter() - t0

    latencies = []
    perf = time.perf_counter
    t0 = perf()
    for raw in raws:
        t = perf()
        pipeline.triage(raw)
        latencies.append(perf() - t)
    single_s = perf() - t0
    latencies.sort()
    p50 = latencies[n // 2] * 1000
    p99 = latencies[int(n * 0.99)] * 1000

    # workers=2: three passes over the corpus; the clock starts at the first result, so
    # the pool's start-up (interpreters, model load) is not counted as throughput.
    stream = raws * 3
    it = Pipeline().pipe(stream, workers=2, batch_size=64)
    next(it)
    t0 = perf()
    count = sum(1 for _ in it)
    multi_s = perf() - t0
    multi_rate = count / multi_s

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    import_s = _fresh_python(
        "import time; t=time.perf_counter(); import triage_core; print(time.perf_counter()-t)"
    )
    load_s = _fresh_python(
        "import time; t=time.perf_counter();"
        "from triage_core.classify.embedded import EmbeddedClassifier;"
        "EmbeddedClassifier().labels; print(time.perf_counter()-t)"
    )

    single_rate = n / single_s
    ratio = single_s / stdlib_s
    rows = [
        ("messages", f"{n} ({total_mb:.1f} MB)", ""),
        ("pipeline, 1 core", f"{single_rate:,.0f} emails/s", ">= 2,500"),
        ("p50 / p99 per email", f"{p50:.3f} / {p99:.3f} ms", "p99 <= 5 ms"),
        ("stdlib parse alone", f"{n / stdlib_s:,.0f} emails/s", "baseline"),
        ("pipeline / stdlib parse time", f"{ratio:.2f}", "< 1.0"),
        ("pipeline, workers=2", f"{multi_rate:,.0f} emails/s", ""),
        ("speed-up workers=2", f"{multi_rate / single_rate:.2f}x", ">= 1.7x"),
        ("peak RSS (main process)", f"{rss_mb:.0f} MB", "<= 300 MB"),
        ("import triage_core", f"{import_s * 1000:.0f} ms", "<= 300 ms"),
        ("model load (first use)", f"{load_s * 1000:.0f} ms", "<= 300 ms"),
    ]
    width = max(len(r[0]) for r in rows)
    lines = [f"# pipeline throughput ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores)"]
    lines += [f"{a:<{width}}  {b:<24} {c}" for a, b, c in rows]
    report = "\n".join(lines)
    print(report)
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(report + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
