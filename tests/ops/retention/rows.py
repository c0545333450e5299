"""Rows for the retention tests: every column filled the way the service fills it, with the
values COPY must escape (tabs, newlines, backslashes, quotes, non-ASCII, NULLs) and many
rows sharing one created_at (the keyset's tie-breaker is the id)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

SEED = """
INSERT INTO emails (message_id, status, category, priority, summary, result, attempts, error,
                    created_at, processed_at)
SELECT format('<%%s-%%s@test.example>', %(tag)s::text, g),
       %(status)s::text,
       (ARRAY['incident', 'request', 'question', 'billing', 'spam'])[1 + g %% 5],
       'P' || g %% 4,
       CASE WHEN g %% 7 = 0 THEN NULL
            ELSE E'line one\\tcol\\nline two \\\\ back ' || g || ' é ✓ "q"' END,
       CASE WHEN g %% 11 = 0 THEN NULL ELSE jsonb_build_object(
           'schema', 'triage/v1', 'n', g, 'confidence', 0.1 * g, 'big', 12345678901234567890,
           'nested', jsonb_build_object('a', jsonb_build_array(1, 'x', NULL, true)),
           'text', E'quote " tab \\t nl \\n back \\\\ uni ✓ ' || g) END,
       g %% 4,
       CASE WHEN g %% 5 = 0 THEN E'err\\n' || g END,
       now() - make_interval(days => %(age_days)s::int) - (g / 3) * interval '1 second',
       CASE WHEN g %% 2 = 0 THEN now() - make_interval(days => %(age_days)s::int) END
FROM generate_series(1, %(n)s) AS g
"""


def seed(url: str, *, tag: str, status: str, n: int, age_days: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SEED, {"tag": tag, "status": status, "n": n, "age_days": age_days})


def seed_mix(url: str, scale: int = 1) -> dict[str, int]:
    """Old processed (the default policy), old failed/queued/processing (kept by
    default), and recent processed rows (kept: too young). Returns the counts."""
    counts = {
        "old_processed": 300 * scale,
        "old_failed": 40 * scale,
        "old_queued": 30 * scale,
        "old_processing": 10 * scale,
        "new_processed": 50 * scale,
    }
    seed(url, tag="op", status="processed", n=counts["old_processed"], age_days=120)
    seed(url, tag="of", status="failed", n=counts["old_failed"], age_days=200)
    seed(url, tag="oq", status="queued", n=counts["old_queued"], age_days=100)
    seed(url, tag="ox", status="processing", n=counts["old_processing"], age_days=95)
    seed(url, tag="np", status="processed", n=counts["new_processed"], age_days=10)
    return counts


def snapshot(url: str, where: str = "TRUE") -> list[dict[str, Any]]:
    """Every column of every row, ordered by id (jsonb comes back as Python objects)."""
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(f"SELECT * FROM emails WHERE {where} ORDER BY id").fetchall()


def ids(url: str, where: str = "TRUE") -> set[str]:
    with psycopg.connect(url) as conn:
        return {str(r[0]) for r in conn.execute(f"SELECT id FROM emails WHERE {where}")}


def scalar(url: str, query: str, params: Any = None) -> Any:
    with psycopg.connect(url) as conn:
        row = conn.execute(query, params).fetchone()
        assert row is not None
        return row[0]
