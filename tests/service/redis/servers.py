"""Real Redis for tests: one `redis-server`, or a Redis Cluster of several.

Importable by any test package (`from tests.service.redis.servers import start_redis`), so
every engineer's fixtures start Redis the same way. One server is the sandbox's own starter
(triage_ops.sandbox.redis, re-exported here), in its test mode: loopback, a free port, no
persistence, and it dies with the test process. A cluster joins several of them.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.crc import key_slot

from triage_core.service.redis_clients import RedisClient, connect
from triage_ops.sandbox.processes import HOST, ServerStartError, free_port
from triage_ops.sandbox.redis import START_TIMEOUT_S, RedisServer, start_redis

__all__ = [
    "HOST",
    "RedisCluster",
    "RedisServer",
    "RedisTarget",
    "ServerStartError",
    "free_port",
    "start_cluster",
    "start_redis",
]

REDIS_CLI = "redis-cli"


@dataclass
class RedisCluster:
    """Several cluster-enabled redis-server processes holding all 16384 slots."""

    nodes: list[RedisServer]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """One node's URL: a cluster client discovers the others from it."""
        return self.nodes[0].url

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Every node paused for the body of the with-block, all resumed after it."""
        with contextlib.ExitStack() as stack:
            for node in self.nodes:
                stack.enter_context(node.paused())
            yield

    def node_for_key(self, key: str | bytes) -> RedisServer:
        """The node serving `key`'s slot now (to pause exactly the node a test uses)."""
        slot = key_slot(key.encode() if isinstance(key, str) else key)
        with self.nodes[0].client() as client:
            ranges: Any = client.execute_command("CLUSTER SLOTS")
        for start, end, master, *_replicas in ranges:
            if int(start) <= slot <= int(end):
                port = int(master[1])
                return next(node for node in self.nodes if node.port == port)
        raise LookupError(f"no node serves slot {slot}")

    def flushall(self) -> None:
        """Empty every node (FLUSHALL is per node on a cluster)."""
        for node in self.nodes:
            with node.client() as client:
                client.flushall()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> RedisCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class RedisTarget:
    """Where a parametrized test runs: `kind` is "single" or "cluster"."""

    kind: str
    servers: RedisServer | RedisCluster

    @property
    def cluster(self) -> bool:
        return self.kind == "cluster"

    @property
    def url(self) -> str:
        return self.servers.url

    def connect(self, *, timeout_s: float = 2.0) -> RedisClient:
        return connect(self.url, cluster=self.cluster, timeout_s=timeout_s)

    def flush(self) -> None:
        if isinstance(self.servers, RedisCluster):
            self.servers.flushall()
        else:
            with self.servers.client() as client:
                client.flushall()

    @contextlib.contextmanager
    def paused_for(self, key: str) -> Iterator[None]:
        """Pause the server holding `key` (the single one, or that key's cluster node)."""
        if isinstance(self.servers, RedisCluster):
            server = self.servers.node_for_key(key)
        else:
            server = self.servers
        with server.paused():
            yield

    def all_keys(self) -> set[bytes]:
        nodes = self.servers.nodes if isinstance(self.servers, RedisCluster) else [self.servers]
        found: set[bytes] = set()
        for node in nodes:
            with node.client() as client:
                found.update(client.scan_iter(count=1000))
        return found


def start_cluster(
    tmp: Path,
    nodes: int = 3,
    *,
    password: str | None = None,
    node_timeout_ms: int = 15_000,
) -> RedisCluster:
    """Start `nodes` masters (no replicas), join them with `redis-cli --cluster create`,
    and wait until every node reports cluster_state:ok.

    `node_timeout_ms` is how long a silent node may stay paused before the others mark it
    failed (and, without replicas, the whole cluster goes down): keep pauses under it."""
    if nodes < 3:
        raise ValueError("a Redis Cluster needs at least 3 masters")
    started: list[RedisServer] = []
    try:
        for index in range(nodes):
            started.append(
                start_redis(
                    tmp / f"node-{index}",
                    password=password,
                    cluster_node_timeout_ms=node_timeout_ms,
                )
            )
        cluster = RedisCluster(started)
        _create_cluster(cluster, password=password)
        return cluster
    except BaseException:
        for node in started:
            node.stop()
        raise


def _create_cluster(cluster: RedisCluster, *, password: str | None) -> None:
    args = [REDIS_CLI, "--cluster", "create", *(node.address for node in cluster.nodes)]
    args += ["--cluster-replicas", "0", "--cluster-yes"]
    env = dict(os.environ)
    if password:
        env["REDISCLI_AUTH"] = password  # not on the command line, where ps shows it
    done = subprocess.run(args, capture_output=True, env=env, timeout=60, check=False)
    if done.returncode != 0:
        raise ServerStartError(
            f"redis-cli --cluster create failed: {done.stdout.decode(errors='replace')[-2000:]}"
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    for node in cluster.nodes:
        with node.client() as client:
            while True:
                info = client.cluster("INFO")
                state = _cluster_info(info)
                if (
                    state.get("cluster_state") == "ok"
                    and state.get("cluster_known_nodes") == str(len(cluster.nodes))
                    and state.get("cluster_slots_ok") == "16384"
                ):
                    break
                if time.monotonic() > deadline:
                    raise ServerStartError(f"cluster not ok on {node.address}: {state}")
                time.sleep(0.05)


def _cluster_info(info: object) -> dict[str, str]:
    if isinstance(info, dict):
        return {str(k): str(v) for k, v in info.items()}
    text = info.decode() if isinstance(info, bytes) else str(info)
    pairs = (line.split(":", 1) for line in text.splitlines() if ":" in line)
    return {key.strip(): value.strip() for key, value in pairs}
