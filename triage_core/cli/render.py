"""Every way `triage run` writes results, in one place.

Formats stream: each result is written as soon as it exists, so `triage run big.mbox
--format jsonl | head` shows the first lines at once and memory stays flat.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import PurePath
from typing import TextIO

from triage_core.result import TriageResult

FORMATS = ("table", "jsonl", "json", "csv")
CSV_COLUMNS = (
    "source",
    "message_id",
    "category",
    "category_confidence",
    "priority",
    "priority_score",
    "needs_reply",
    "subject",
    "summary",
    "backend",
    "degraded",
    "errors",
)


def write_results(results: Iterable[TriageResult], fmt: str, out: TextIO, *, width: int) -> int:
    """Writes every result; returns how many were written."""
    writer = {"table": _table, "jsonl": _jsonl, "json": _json, "csv": _csv}[fmt]
    return writer(results, out, width)


def _jsonl(results: Iterable[TriageResult], out: TextIO, _width: int) -> int:
    n = 0
    for r in results:
        out.write(json.dumps(r.to_dict(), ensure_ascii=False) + "\n")
        n += 1
    return n


def _json(results: Iterable[TriageResult], out: TextIO, _width: int) -> int:
    n = 0
    out.write("[")
    for r in results:
        out.write(("," if n else "") + "\n  " + json.dumps(r.to_dict(), ensure_ascii=False))
        n += 1
    out.write("\n]\n" if n else "]\n")
    return n


def _csv(results: Iterable[TriageResult], out: TextIO, _width: int) -> int:
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    n = 0
    for r in results:
        d = r.to_dict()
        d["errors"] = "; ".join(f"{e['stage']}: {e['error']}" for e in d["errors"])
        w.writerow(["" if d[c] is None else d[c] for c in CSV_COLUMNS])
        n += 1
    return n


def _table(results: Iterable[TriageResult], out: TextIO, width: int) -> int:
    """Fixed columns, then subject and summary share what is left of the terminal."""
    fixed = [("SOURCE", 22), ("CATEGORY", 17), ("PRI", 7), ("REPLY", 5)]
    rest = max(width - sum(w + 2 for _, w in fixed), 30)
    subj_w = max(rest * 2 // 5, 14)
    summ_w = max(rest - subj_w - 2, 14)
    cols = [*fixed, ("SUBJECT", subj_w), ("SUMMARY", summ_w)]
    out.write(_row([name for name, _ in cols], cols))
    n = 0
    for r in results:
        cells = [
            PurePath(r.source).name if r.source else r.message_id,
            f"{r.category} {r.category_confidence:.2f}" + ("*" if r.degraded else ""),
            f"{r.priority} {r.priority_score}",
            "yes" if r.needs_reply else "no",
            r.subject,
            r.summary,
        ]
        out.write(_row(cells, cols))
        n += 1
    return n


def _row(cells: list[str], cols: list[tuple[str, int]]) -> str:
    parts = [_fit(c, w) for c, (_, w) in zip(cells, cols, strict=True)]
    return "  ".join(parts).rstrip() + "\n"


def _fit(text: str, width: int) -> str:
    text = " ".join(text.split())
    if len(text) > width:
        text = text[: width - 1] + "…"
    return text.ljust(width)
