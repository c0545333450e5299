"""Labeled JSONL: the format of our business set and of a user's own training data.

One JSON object per line: the API's dict form of an email (`subject`, `body`, `from`, ...)
plus `category` (required) and optionally `priority`. A user brings their own taxonomy
simply by using their own category names.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from triage_core.errors import InputError

REPO_DATA = Path("data") / "business"


@dataclass(frozen=True, slots=True)
class LabeledEmail:
    record: dict[str, Any]
    category: str
    priority: str | None
    origin: str  # "file:line", for error messages and evaluation reports


def read_jsonl(paths: Iterable[Path]) -> list[LabeledEmail]:
    out: list[LabeledEmail] = []
    for path in paths:
        files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
        if not files:
            raise InputError(f"no .jsonl files in {path}")
        for file in files:
            try:
                lines = file.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise InputError(f"cannot read {file}: {exc.strerror}") from exc
            for n, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                origin = f"{file}:{n}"
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(f"{origin}: not valid JSON ({exc.msg})") from exc
                if not isinstance(rec, dict):
                    raise InputError(f"{origin}: expected a JSON object")
                cat = rec.get("category")
                if not isinstance(cat, str) or not cat:
                    raise InputError(f"{origin}: missing 'category'")
                prio = rec.get("priority")
                out.append(LabeledEmail(rec, cat, prio if isinstance(prio, str) else None, origin))
    return out
