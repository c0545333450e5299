"""The `cache` commands' surface: refused prefixes and bad options (exit 3, one line, Redis
never contacted), help, defaults that match the library, the rate limit, the catalogue."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.ops.cache.conftest import cache_keys_left, fill_cache, write_config
from tests.service.redis.servers import RedisTarget, free_port
from triage_core.service import keys
from triage_ops.commands import cache as command
from triage_ops.engine.catalogue import read_file
from triage_ops.engine.runbook import default_dir
from triage_ops.procedures import cache

REFUSED = [
    "",
    "t",
    "triage:",
    "triage:cache",  # the prefix of the prefix: would match triage:cachex, triage:cache;...
    "TRIAGE:CACHE:",
    "*",
    "triage:*",
    keys.QUEUE_PREFIX,
    keys.QUEUE_PREFIX[:5],
    keys.QUEUE_STREAM,
    keys.FALLBACK_SWITCH,
    "{triage-queue}",
    keys.CACHE_PREFIX + "{triage-queue}:",  # a cache key pinned to the queue's slot
    "x" + keys.CACHE_PREFIX,
]
ACCEPTED = [keys.CACHE_PREFIX, keys.CACHE_PREFIX + "v2:", keys.CACHE_PREFIX + "*", "triage:cache:é"]


@pytest.mark.parametrize("prefix", REFUSED)
def test_refused_prefixes(prefix: str) -> None:
    with pytest.raises(cache.PrefixRefused):
        cache.checked_prefix(prefix)


@pytest.mark.parametrize("prefix", ACCEPTED)
def test_accepted_prefixes(prefix: str) -> None:
    assert cache.checked_prefix(prefix) == prefix


def test_no_prefix_is_the_cache_prefix() -> None:
    assert cache.checked_prefix(None) == keys.CACHE_PREFIX == "triage:cache:"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("prefix", [keys.QUEUE_PREFIX, "triage:cache", "other:"])
@pytest.mark.parametrize("what", ["flush", "stats"])
def test_refused_prefix_exits_3_in_one_line_before_touching_redis(
    prefix: str, what: str, run_cli: Any, tmp_path: Path
) -> None:
    # A Redis nobody answers on: had the command contacted it, it would exit 4.
    config = write_config(tmp_path, redis_url=f"redis://127.0.0.1:{free_port()}/0", cluster=False)

    done = run_cli(
        config, "cache", what, "--prefix", prefix, *(["--yes"] if what == "flush" else [])
    )

    assert done.exit_code == 3
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"triage-ops: error: refused --prefix {prefix!r}: ")
    assert done.stdout == ""
    assert not (tmp_path / "audit.jsonl").exists() or (tmp_path / "audit.jsonl").read_text() == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cache", "flush", "--batch-size", "0"], "--batch-size must be 1..5000, not 0"),
        (["cache", "flush", "--batch-size", "9999"], "--batch-size must be 1..5000, not 9999"),
        (["cache", "flush", "--rate-limit", "-5"], "--rate-limit must be >= 0 keys/s"),
        (["cache", "stats", "--sample", "-1"], "--sample must be >= 0"),
    ],
)
def test_bad_options_exit_3(args: list[str], message: str, run_cli: Any, tmp_path: Path) -> None:
    config = write_config(tmp_path, redis_url=f"redis://127.0.0.1:{free_port()}/0", cluster=False)

    done = run_cli(config, *args)

    assert done.exit_code == 3
    assert done.stderr == f"triage-ops: error: {message}\n"


def test_help(run_cli: Any) -> None:
    group = run_cli(None, "cache", "--help")
    flush = run_cli(None, "cache", "flush", "--help")
    stats = run_cli(None, "cache", "stats", "--help")

    assert group.exit_code == flush.exit_code == stats.exit_code == 0
    assert "flush" in group.stdout and "stats" in group.stdout
    for option in ("--prefix", "--batch-size", "--rate-limit", "--dry-run", "--yes", "--incident"):
        assert option in flush.stdout
    assert "[default: 250]" in flush.stdout
    assert "--sample" in stats.stdout and "[default: 200]" in stats.stdout


def test_the_command_defaults_are_the_library_defaults() -> None:
    assert command.DEFAULT_BATCH == cache.DEFAULT_BATCH
    assert command.DEFAULT_SAMPLE == cache.DEFAULT_SAMPLE
    assert cache.MIN_BATCH == 1 and cache.MAX_BATCH == 5000


@pytest.mark.timeout(30)
def test_rate_limit_paces_the_flush(single: RedisTarget, run_cli: Any, tmp_path: Path) -> None:
    fill_cache(single.connect(), 600)
    config = write_config(tmp_path, redis_url=single.url, cluster=False)

    started = time.monotonic()
    done = run_cli(config, "cache", "flush", "-y", "--rate-limit", "1000", "--batch-size", "100")
    elapsed = time.monotonic() - started

    assert done.exit_code == 0, done.stderr
    assert elapsed >= 0.55  # 600 keys at 1,000 keys/s, the last batch's wait included
    assert cache_keys_left(single) == set()


def test_glob_escape() -> None:
    assert cache.glob_escape(b"triage:cache:a*b?[c]\\d") == b"triage:cache:a\\*b\\?\\[c\\]\\\\d"
    assert cache.match_pattern("triage:cache:") == b"triage:cache:*"


def test_the_catalogue_declares_the_cache_codes_and_nobody_else_does() -> None:
    ours = default_dir() / "findings.d" / "cache.yaml"
    entries = {entry.code: entry for entry in read_file(ours)}

    assert sorted(entries) == ["TRI-CACHE-001", "TRI-CACHE-002"]
    assert all(str(e.severity) == "critical" for e in entries.values())
    assert all(e.command == "triage-ops cache stats" for e in entries.values())
    catalogues = [default_dir() / "findings.yaml", *(default_dir() / "findings.d").glob("*.yaml")]
    declared_elsewhere = [
        path
        for path in catalogues
        if path != ours and "\nTRI-CACHE-" in "\n" + path.read_text(encoding="utf-8")
    ]
    assert declared_elsewhere == []
