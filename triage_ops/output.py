"""The one place where triage-ops turns data into text: table for people, json for cron
and scripts, markdown for tickets and chat. Logs and progress go to stderr; only the
rendered result goes to stdout."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

FORMATS = ("table", "json", "markdown")


def render(
    data: Any,
    fmt: str,
    *,
    columns: Sequence[str] | None = None,
    title: str | None = None,
) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2, sort_keys=False, default=str) + "\n"
    rows = data if isinstance(data, list) else [data]
    if not rows:
        return (f"{title}: " if title else "") + "nothing to show\n"
    cols = list(columns or _columns(rows))
    cells = [[_cell(r.get(c)) for c in cols] for r in rows if isinstance(r, Mapping)]
    if fmt == "markdown":
        lines = [f"### {title}", ""] if title else []
        lines.append("| " + " | ".join(cols) + " |")
        lines.append("|" + "|".join(" --- " for _ in cols) + "|")
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells]
        return "\n".join(lines) + "\n"
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    head = "  ".join(c.upper().ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip()
    body = [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(([title] if title else []) + [head, *body]) + "\n"


def _columns(rows: Sequence[Any]) -> list[str]:
    cols: list[str] = []
    for r in rows:
        if isinstance(r, Mapping):
            cols.extend(k for k in r if k not in cols)
    return cols


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    return " ".join(str(value).split())
