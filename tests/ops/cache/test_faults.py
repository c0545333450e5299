"""Redis stopped, black-holed (accepts TCP, never answers), or lost in the middle of a
flush: one line naming Redis, the right exit code, within the timeout; never a traceback,
never a hang; and no password anywhere (output, errors, audit timeline)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ops.cache.conftest import (
    cache_keys_left,
    fill_cache,
    fill_queue,
    queue_state,
    write_config,
)
from tests.service.redis.servers import RedisCluster, RedisServer, RedisTarget, free_port
from triage_ops.sandbox.redis import start_redis

TIMEOUT_S = 0.5
SLACK_S = 1.0  # interpreter start-up is not part of it: CliRunner runs in-process
COMMANDS = [
    ("cache", "stats"),
    ("cache", "flush", "--dry-run"),
    ("cache", "flush", "--yes"),
]
pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port whose kernel completes the TCP handshake and nobody ever reads or answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


def _fails_in_one_line(done: Any, *, address: str, code: int = 4) -> None:
    assert done.exit_code == code, (done.stdout, done.stderr)
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("triage-ops: error: ")
    assert "Redis at " in done.stderr and address in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[1:]))
def test_stopped_redis(command: tuple[str, ...], run_cli: Any, tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, redis_url=f"redis://127.0.0.1:{port}/0", cluster=False)

    started = time.monotonic()
    done = run_cli(config, "--timeout", str(TIMEOUT_S), *command)

    assert time.monotonic() - started < TIMEOUT_S + SLACK_S
    _fails_in_one_line(done, address=f"127.0.0.1:{port}")
    assert "refused" in done.stderr.lower() or "connect" in done.stderr.lower()


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[1:]))
def test_black_holed_redis(
    command: tuple[str, ...], black_hole: int, run_cli: Any, tmp_path: Path
) -> None:
    config = write_config(tmp_path, redis_url=f"redis://127.0.0.1:{black_hole}/0", cluster=False)

    started = time.monotonic()
    done = run_cli(config, "--timeout", str(TIMEOUT_S), *command)

    assert time.monotonic() - started < TIMEOUT_S + SLACK_S
    _fails_in_one_line(done, address=f"127.0.0.1:{black_hole}")
    assert f"no answer within {TIMEOUT_S:g} s" in done.stderr


def test_a_flush_that_cannot_plan_is_audited(black_hole: int, run_cli: Any, tmp_path: Path) -> None:
    config = write_config(tmp_path, redis_url=f"redis://127.0.0.1:{black_hole}/0", cluster=False)

    run_cli(config, "--timeout", str(TIMEOUT_S), "cache", "flush", "--yes")

    [line] = (tmp_path / "audit.jsonl").read_text().splitlines()
    entry = json.loads(line)
    assert (entry["kind"], entry["outcome"]) == ("action", "unplanned")
    assert entry["details"]["action"] == "cache.flush"
    assert f"127.0.0.1:{black_hole}" in entry["details"]["error"]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[1:]))
def test_paused_redis_server(
    command: tuple[str, ...], redis_server: RedisServer, run_cli: Any, tmp_path: Path
) -> None:
    target = RedisTarget(kind="single", servers=redis_server)
    target.flush()
    fill_cache(target.connect(), 20)
    config = write_config(tmp_path, redis_url=target.url, cluster=False)

    with redis_server.paused():
        started = time.monotonic()
        done = run_cli(config, "--timeout", str(TIMEOUT_S), *command)
        elapsed = time.monotonic() - started

    assert elapsed < TIMEOUT_S + SLACK_S
    _fails_in_one_line(done, address=f"127.0.0.1:{redis_server.port}")
    assert len(cache_keys_left(target)) == 20


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[1:]))
def test_paused_cluster(
    command: tuple[str, ...], redis_cluster: RedisCluster, run_cli: Any, tmp_path: Path
) -> None:
    target = RedisTarget(kind="cluster", servers=redis_cluster)
    target.flush()
    fill_cache(target.connect(), 20)
    config = write_config(tmp_path, redis_url=target.url, cluster=True)

    with redis_cluster.paused():
        started = time.monotonic()
        done = run_cli(config, "--timeout", str(TIMEOUT_S), *command)
        elapsed = time.monotonic() - started

    # redis-py asks every known node before it gives up on a cluster: (1 + nodes) timeouts.
    assert elapsed < (1 + len(redis_cluster.nodes)) * TIMEOUT_S + SLACK_S
    _fails_in_one_line(done, address=redis_cluster.nodes[0].address)
    assert len(cache_keys_left(target)) == 20


def test_stopped_cluster(run_cli: Any, tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, redis_url=f"redis://127.0.0.1:{port}/0", cluster=True)

    done = run_cli(config, "--timeout", str(TIMEOUT_S), "cache", "flush", "--yes")

    _fails_in_one_line(done, address=f"127.0.0.1:{port}")


def test_redis_lost_in_the_middle_of_a_flush(
    redis_server: RedisServer, run_cli: Any, tmp_path: Path
) -> None:
    target = RedisTarget(kind="single", servers=redis_server)
    target.flush()
    client = target.connect()
    fill_queue(client)
    fill_cache(client, 3000)
    before = queue_state(client)
    config = write_config(tmp_path, redis_url=target.url, cluster=False)

    def pause_soon() -> None:
        time.sleep(0.4)  # 3,000 keys at 2,000 keys/s: about 1.5 s of flushing
        with redis_server.paused():
            time.sleep(1.5 * TIMEOUT_S)

    pauser = threading.Thread(target=pause_soon)
    pauser.start()
    started = time.monotonic()
    done = run_cli(
        config, "--timeout", str(TIMEOUT_S), "-o", "json",
        "cache", "flush", "--yes", "--rate-limit", "2000", "--batch-size", "100",
    )  # fmt: skip
    elapsed = time.monotonic() - started
    pauser.join()

    assert done.exit_code == 2, done.stderr
    report = done.json()
    assert report["outcome"] == "failed"
    assert report["error"].startswith("Redis at ")
    assert f"127.0.0.1:{redis_server.port}" in report["error"]
    assert f"no answer within {TIMEOUT_S:g} s" in report["error"]
    assert elapsed < 0.4 + 2 * TIMEOUT_S + SLACK_S
    left = len(cache_keys_left(target))
    assert 0 < left < 3000  # stopped part-way
    assert queue_state(client) == before


def test_no_password_in_output_errors_or_audit(run_cli: Any, tmp_path: Path) -> None:
    password = "s3cr3t-Pa55-w0rd"
    with start_redis(tmp_path / "redis", password=password) as server:
        client = server.client()
        fill_queue(client)
        fill_cache(client, 10)
        good = write_config(tmp_path, redis_url=server.url, cluster=False)
        wrong = tmp_path / "wrong"
        wrong.mkdir()
        refused = write_config(
            wrong, redis_url=f"redis://:{password}@127.0.0.1:{free_port()}/0", cluster=False
        )
        runs = [
            run_cli(good, "cache", "stats"),
            run_cli(good, "-o", "json", "cache", "stats"),
            run_cli(good, "cache", "flush", "--dry-run"),
            run_cli(good, "cache", "flush"),  # refused: no terminal
            run_cli(good, "-o", "json", "cache", "flush", "--yes"),
            run_cli(refused, "cache", "flush", "--yes"),
            run_cli(refused, "cache", "stats"),
        ]
    assert [r.exit_code for r in runs] == [0, 0, 0, 3, 0, 4, 4]
    assert runs[4].json()["after"]["unlinked"] == 10
    for run in runs:
        assert password not in run.stdout + run.stderr
    for audit in (tmp_path / "audit.jsonl", wrong / "audit.jsonl"):
        text = audit.read_text()
        assert text and password not in text
