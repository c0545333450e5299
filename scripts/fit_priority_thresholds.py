"""Fits the priority thresholds (P0/P1/P2 score cuts) on the business TRAIN split.

    .venv/bin/python scripts/fit_priority_thresholds.py

The priority agent's signals and weights are hand-written (so its reasons stay readable);
only the three cuts that turn its 0..100 score into P0..P3 are fitted: the ones that make
the most train emails land on their labelled priority, ties going to the cuts nearest the
old defaults (80, 60, 35). The held-out split is reported, never fitted on.
"""

from __future__ import annotations

from itertools import product
from pathlib import Path

from triage_core import Pipeline
from triage_core.model.dataset import read_jsonl

DATA = Path("data/business")
PRIOR = (80, 60, 35)


def scores(split: str, pipeline: Pipeline) -> list[tuple[int, str]]:
    out = []
    for item in read_jsonl([DATA / split]):
        record = {k: v for k, v in item.record.items() if k not in ("category", "priority")}
        if item.priority:
            out.append((pipeline.triage(record).priority_score, item.priority))
    return out


def accuracy(data: list[tuple[int, str]], cuts: tuple[int, int, int]) -> float:
    def level(s: int) -> str:
        return "P0" if s >= cuts[0] else "P1" if s >= cuts[1] else "P2" if s >= cuts[2] else "P3"

    return sum(level(s) == gold for s, gold in data) / len(data)


def main() -> None:
    pipeline = Pipeline()
    train, held = scores("train", pipeline), scores("heldout", pipeline)
    candidates = [
        c for c in product(range(50, 101), range(30, 96), range(5, 70)) if c[0] > c[1] > c[2]
    ]
    best = max(
        candidates,
        key=lambda c: (accuracy(train, c), -sum(abs(a - b) for a, b in zip(c, PRIOR, strict=True))),
    )
    print(f"fitted thresholds: {list(best)}")
    print(
        f"train accuracy {accuracy(train, best):.3f}, held-out accuracy {accuracy(held, best):.3f}"
    )


if __name__ == "__main__":
    main()
