"""`triage-ops cache flush` against a real redis-server and a real 3-node Redis Cluster:
exact counts, the queue intact, --dry-run, --prefix, confirmation, audit, verification."""

from __future__ import annotations

import json
import threading
import time
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
from tests.service.redis.servers import RedisTarget
from triage_core.service import keys
from triage_core.service.redis_clients import RedisClient
from triage_ops.clients import Clients
from triage_ops.config import OpsConfig
from triage_ops.engine.catalogue import Catalogue, read_file
from triage_ops.engine.contract import StepContext
from triage_ops.procedures import cache

CATALOGUE = Path(__file__).resolve().parents[3] / "runbooks" / "findings.d" / "cache.yaml"
pytestmark = pytest.mark.timeout(60)


def step_context(target: RedisTarget) -> StepContext:
    config = OpsConfig().merged(
        {"redis_url": target.url, "redis_cluster": target.cluster}, where="test"
    )
    return StepContext(
        config=config,
        clients=Clients(config, timeout=2.0),
        timeout=30.0,
        make_finding=Catalogue(read_file(CATALOGUE), config=config).finding,
    )


def audit_entries(config_path: Path) -> list[dict[str, Any]]:
    path = config_path.parent / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_flush_unlinks_exactly_the_cache_keys_and_leaves_the_queue(
    target: RedisTarget, client: RedisClient, config_path: Path, run_cli: Any
) -> None:
    fill_queue(client)
    fill_cache(client, 1234)
    client.set("unrelated:key", b"x")
    client.set("triage:cachex", b"looks like the prefix, is not")
    before = queue_state(client)
    assert (before.stream_length, before.pending, before.dead_letter) == (23, 5, 2)

    done = run_cli(config_path, "--output", "json", "cache", "flush", "--yes")

    assert done.exit_code == 0, done.stderr
    report = done.json()
    assert report["outcome"] == "ok"
    assert report["after"]["unlinked"] == 1234
    assert sum(m["scanned"] for m in report["after"]["masters"]) == 1234
    assert sum(m["skipped"] for m in report["after"]["masters"]) == 0
    assert len(report["after"]["masters"]) == (3 if target.cluster else 1)
    assert report["plan"]["dry_run"]["total"] == 1234
    assert report["findings"] == []
    assert cache_keys_left(target) == set()
    assert queue_state(client) == before
    assert target.all_keys() == {
        keys.QUEUE_STREAM.encode(),
        keys.DEAD_LETTER_STREAM.encode(),
        keys.FALLBACK_SWITCH.encode(),
        b"unrelated:key",
        b"triage:cachex",
    }
    assert any("0 keys left under 'triage:cache:'" in note for note in report["notes"])
    assert any("queue intact: stream 23 -> 23 entries" in note for note in report["notes"])


def test_on_a_cluster_every_master_is_flushed(
    redis_cluster: Any, run_cli: Any, tmp_path: Path
) -> None:
    target = RedisTarget(kind="cluster", servers=redis_cluster)
    target.flush()
    client = target.connect()
    fill_cache(client, 3000)
    per_node = {
        node.port: sum(1 for _ in node.client().scan_iter(match="triage:cache:*"))
        for node in redis_cluster.nodes
    }
    assert sum(per_node.values()) == 3000 and all(n > 0 for n in per_node.values())
    config = write_config(tmp_path, redis_url=target.url, cluster=True)

    done = run_cli(config, "--output", "json", "cache", "flush", "--yes")

    assert done.exit_code == 0, done.stderr
    unlinked = {m["master"]: m["unlinked"] for m in done.json()["after"]["masters"]}
    assert unlinked == {f"127.0.0.1:{port}": n for port, n in per_node.items()}
    assert cache_keys_left(target) == set()


def test_dry_run_counts_per_master_and_deletes_nothing(
    target: RedisTarget, client: RedisClient, config_path: Path, run_cli: Any
) -> None:
    fill_queue(client)
    names = fill_cache(client, 700)
    everything = target.all_keys()

    local = run_cli(config_path, "--output", "json", "cache", "flush", "--dry-run")
    global_ = run_cli(config_path, "--dry-run", "cache", "flush")

    assert local.exit_code == 0, local.stderr
    assert global_.exit_code == 0, global_.stderr
    report = local.json()
    assert report["outcome"] == "dry-run"
    assert report["plan"]["dry_run"]["total"] == 700
    assert sum(report["plan"]["dry_run"]["would_unlink"].values()) == 700
    assert report["after"] == {}
    assert report["plan"]["destructive"] is True
    assert "UNLINK 700 cache keys under 'triage:cache:'" in report["plan"]["summary"]
    assert "dry-run" in global_.stdout and "UNLINK 700 cache keys" in global_.stdout
    assert target.all_keys() == everything
    assert len(cache_keys_left(target)) == len(names) == 700


def test_prefix_narrows_the_flush(
    target: RedisTarget, client: RedisClient, config_path: Path, run_cli: Any
) -> None:
    fill_cache(client, 40, prefix="triage:cache:v1:")
    fill_cache(client, 60, prefix="triage:cache:v2:")
    client.set("triage:cache:v1", b"the prefix without its colon")
    client.set("triage:cache:v1*x", b"a glob star in the name")

    done = run_cli(
        config_path, "--output", "json", "cache", "flush", "--prefix", "triage:cache:v1:", "-y"
    )

    assert done.exit_code == 0, done.stderr
    assert done.json()["after"]["unlinked"] == 40
    left = cache_keys_left(target)
    assert len(left) == 62
    assert all(not key.startswith(b"triage:cache:v1:") for key in left)


def test_a_glob_in_the_prefix_is_a_literal(
    target: RedisTarget, client: RedisClient, config_path: Path, run_cli: Any
) -> None:
    for name in ("triage:cache:a*1", "triage:cache:a*2", "triage:cache:ab", "triage:cache:a?"):
        client.set(name, b"v")

    done = run_cli(config_path, "-o", "json", "cache", "flush", "--prefix", "triage:cache:a*", "-y")

    assert done.exit_code == 0, done.stderr
    assert done.json()["after"]["unlinked"] == 2
    assert cache_keys_left(target) == {b"triage:cache:ab", b"triage:cache:a?"}


def test_without_yes_and_without_a_terminal_it_refuses_and_deletes_nothing(
    target: RedisTarget, client: RedisClient, config_path: Path, run_cli: Any
) -> None:
    fill_cache(client, 10)

    done = run_cli(config_path, "cache", "flush")

    assert done.exit_code == 3
    assert "needs --yes when not run from a terminal" in done.stderr
    assert "UNLINK 10 cache keys" in done.stderr  # the plan was shown before refusing
    assert len(cache_keys_left(target)) == 10
    [entry] = audit_entries(config_path)
    assert entry["outcome"] == "refused"


def test_every_run_writes_one_audit_entry(
    target: RedisTarget, client: RedisClient, config_path: Path, run_cli: Any
) -> None:
    fill_queue(client)
    fill_cache(client, 30)

    assert run_cli(config_path, "cache", "flush", "--dry-run").exit_code == 0
    assert run_cli(config_path, "cache", "flush", "--yes", "--incident", "INC-7").exit_code == 0
    assert run_cli(config_path, "cache", "flush", "--yes").exit_code == 0  # nothing left: noop

    dry, done, noop = audit_entries(config_path)
    assert [dry["outcome"], done["outcome"], noop["outcome"]] == ["dry-run", "ok", "noop"]
    assert done["incident"] == "INC-7"
    assert done["kind"] == "action"
    assert done["details"]["action"] == "cache.flush"
    assert done["before"] == [c["before"] for c in done["plan"]["changes"]]
    assert sum(done["before"]) == 30
    assert done["after"]["unlinked"] == 30
    assert done["after"]["queue_before"]["stream_length"] == 23
    assert noop["plan"]["noop"] is True


def test_table_output_shows_the_plan_and_the_outcome(
    single: RedisTarget, run_cli: Any, tmp_path: Path
) -> None:
    fill_cache(single.connect(), 5)
    config = write_config(tmp_path, redis_url=single.url, cluster=False)

    done = run_cli(config, "cache", "flush", "--yes")

    assert done.exit_code == 0, done.stderr
    assert "cache.flush" in done.stdout and "ok" in done.stdout
    assert f"redis 127.0.0.1:{single.servers.port} triage:cache:*" in done.stdout  # type: ignore[union-attr]
    assert "--scan --pattern 'triage:cache:*'" in done.stdout
    assert "0 keys left under 'triage:cache:'" in done.stderr


def test_keys_written_during_the_flush_are_reported_not_an_error(
    target: RedisTarget, client: RedisClient
) -> None:
    fill_queue(client)
    fill_cache(client, 200)
    ctx = step_context(target)
    action = cache.FlushCache()
    plan = action.plan(ctx)
    done = action.apply(ctx, plan)
    fill_cache(client, 7, prefix="triage:cache:late:")  # the service, refilling

    findings = action.verify(ctx, plan)

    assert done["unlinked"] == 200
    assert findings == []
    [refill] = [n for n in ctx.notes if "written by the service" in n]
    assert refill.startswith("7 keys under 'triage:cache:' written by the service while the")


def test_a_live_writer_does_not_fail_the_flush(
    target: RedisTarget, client: RedisClient, config_path: Path, run_cli: Any
) -> None:
    fill_queue(client)
    fill_cache(client, 5000)
    stop = threading.Event()
    written: list[str] = []

    def service() -> None:
        writer = target.connect()
        while not stop.is_set():
            name = f"triage:cache:live:{len(written)}"
            writer.set(name, b"{}", ex=60)
            written.append(name)
            time.sleep(0.001)
        writer.close()

    thread = threading.Thread(target=service)
    thread.start()
    try:
        done = run_cli(config_path, "--output", "json", "cache", "flush", "--yes")
    finally:
        stop.set()
        thread.join()

    assert done.exit_code == 0, done.stderr
    assert done.json()["outcome"] == "ok"
    assert done.json()["after"]["unlinked"] >= 5000
    assert queue_state(client).stream_length == 23


def test_verify_catches_a_damaged_queue(target: RedisTarget, client: RedisClient) -> None:
    fill_queue(client)
    fill_cache(client, 50)
    ctx = step_context(target)
    action = cache.FlushCache()
    plan = action.plan(ctx)
    action.apply(ctx, plan)
    client.delete(keys.DEAD_LETTER_STREAM)  # what FLUSHDB would have done, in part
    client.xgroup_destroy(keys.QUEUE_STREAM, keys.CONSUMER_GROUP)

    [finding] = action.verify(ctx, plan)

    assert finding.code == "TRI-CACHE-001"
    assert str(finding.severity) == "critical"
    assert f"queue keys disappeared: {keys.DEAD_LETTER_STREAM}" in finding.summary
    assert "consumer groups disappeared: triage-workers" in finding.summary
    assert "dead-letter stream shrank: 2 -> 0" in finding.summary


def test_a_stream_shrinking_by_itself_is_caught() -> None:
    before = cache.QueueSnapshot(10, 0, ("g",), ("1-0", "0-0", "10"), ("s",))
    moved = cache.QueueSnapshot(9, 0, ("g",), ("1-0", "5-0", "10"), ("s",))
    still = cache.QueueSnapshot(9, 0, ("g",), ("1-0", "0-0", "10"), ("s",))

    assert cache.queue_problems(before, moved) == []  # the service acked one: fine
    assert cache.queue_problems(before, still) == [
        "queue stream length changed 10 -> 9 although the service did not touch it"
    ]


@pytest.mark.parametrize(("answer", "code", "left"), [("n\n", 1, 12), ("\n", 1, 12), ("y\n", 0, 0)])
def test_the_operator_is_asked_and_no_is_the_default(
    answer: str,
    code: int,
    left: int,
    single: RedisTarget,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import click.testing

    from triage_ops import cli
    from triage_ops.commands import reporting

    monkeypatch.setitem(cli._COMMANDS, "cache", "triage_ops.commands.cache:cache")
    monkeypatch.setattr(reporting, "stdin_is_terminal", lambda: True)
    fill_cache(single.connect(), 12)
    config = write_config(tmp_path, redis_url=single.url, cluster=False)

    done = click.testing.CliRunner().invoke(
        cli.main, ["--config", str(config), "cache", "flush"], input=answer
    )

    assert done.exit_code == code, done.stderr
    assert "Plan: UNLINK 12 cache keys under 'triage:cache:' on 1 master" in done.stderr
    assert "Apply this plan? [y/N]" in done.stderr
    assert len(cache_keys_left(single)) == left
    assert audit_entries(config)[-1]["outcome"] == ("ok" if left == 0 else "declined")
