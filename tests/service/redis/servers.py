"""Real Redis servers for tests: one `redis-server`, or a Redis Cluster of several.

Importable by any test package (`from tests.service.redis.servers import start_redis`), so
every engineer's fixtures start Redis the same way. Servers bind to loopback on free ports,
keep their files under the given directory, persist nothing (no RDB, no AOF) and die with
the test process (PR_SET_PDEATHSIG), so a crashed pytest leaves no server behind.

`pause()` sends SIGSTOP: the kernel still completes TCP handshakes on the listening
socket, but the server never answers. That is the nastiest Redis fault for a client (a
refused connection fails at once; a hung one waits), and the one our timeouts must bound.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import redis
from redis.crc import key_slot

from triage_core.service.redis_clients import RedisClient, connect

REDIS_SERVER = "redis-server"
REDIS_CLI = "redis-cli"
HOST = "127.0.0.1"
START_TIMEOUT_S = 15.0
_PR_SET_PDEATHSIG = 1


class ServerStartError(RuntimeError):
    """A test server did not come up; the message carries the tail of its log."""


def free_port() -> int:
    """A loopback port that was free a moment ago (the caller retries on a lost race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGKILL it when the test process exits."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class RedisServer:
    """One redis-server process."""

    port: int
    directory: Path
    process: subprocess.Popen[bytes]
    password: str | None = None
    host: str = HOST
    _paused: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def log_path(self) -> Path:
        return self.directory / "redis.log"

    def alive(self) -> bool:
        return self.process.poll() is None

    def pause(self) -> None:
        """SIGSTOP: connections are accepted by the kernel, nothing is ever answered."""
        if self.alive():
            os.kill(self.pid, signal.SIGSTOP)
            self._paused = True

    def resume(self) -> None:
        if self.alive():
            os.kill(self.pid, signal.SIGCONT)
        self._paused = False

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Paused for the body of the with-block, resumed whatever happens in it."""
        self.pause()
        try:
            yield
        finally:
            self.resume()
            self.wait_answering()

    def wait_answering(self, timeout_s: float = 5.0) -> None:
        """Block until the server answers PING: after a resume, whatever it had buffered
        while stopped has been executed, so the next test starts from a quiet server."""
        with self.client(timeout_s=timeout_s) as client:
            client.ping()

    def client(self, *, timeout_s: float = 5.0) -> redis.Redis:
        """A plain client for test set-up and inspection (not the code under test)."""
        return redis.Redis(
            host=self.host,
            port=self.port,
            password=self.password,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
        )

    def stop(self) -> None:
        """Stop the server (resuming it first: a stopped process ignores SIGTERM)."""
        if not self.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGCONT)
            self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


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

    def pause(self) -> None:
        for node in self.nodes:
            node.pause()

    def resume(self) -> None:
        for node in self.nodes:
            node.resume()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        self.pause()
        try:
            yield
        finally:
            self.resume()
            for node in self.nodes:
                node.wait_answering()

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


def start_redis(
    tmp: Path, *, password: str | None = None, config: dict[str, str] | None = None
) -> RedisServer:
    """Start one redis-server under `tmp` and wait until it answers PING."""
    return _start_node(tmp, password=password, config=dict(config or {}), cluster_node_timeout=0)


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
                _start_node(
                    tmp / f"node-{index}",
                    password=password,
                    config={},
                    cluster_node_timeout=node_timeout_ms,
                )
            )
        cluster = RedisCluster(started)
        _create_cluster(cluster, password=password)
        return cluster
    except BaseException:
        for node in started:
            node.stop()
        raise


def _start_node(
    directory: Path,
    *,
    password: str | None,
    config: dict[str, str],
    cluster_node_timeout: int,
    attempts: int = 5,
) -> RedisServer:
    directory.mkdir(parents=True, exist_ok=True)
    last_error: ServerStartError | None = None
    for _ in range(attempts):
        port = free_port()
        args = [
            REDIS_SERVER,
            "--port",
            str(port),
            "--bind",
            HOST,
            "--dir",
            str(directory),
            "--logfile",
            str(directory / "redis.log"),
            "--daemonize",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        if password:
            args += ["--requirepass", password]
        if cluster_node_timeout:
            args += [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                str(directory / "nodes.conf"),
                "--cluster-port",
                str(free_port()),
                "--cluster-node-timeout",
                str(cluster_node_timeout),
            ]
        for key, value in config.items():
            args += [f"--{key}", value]
        process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,  # set-up runs before any test thread
        )
        server = RedisServer(port=port, directory=directory, process=process, password=password)
        try:
            _wait_ready(server)
            return server
        except ServerStartError as exc:  # most likely a lost race for the port: retry
            server.stop()
            last_error = exc
    assert last_error is not None
    raise last_error


def _wait_ready(server: RedisServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    with server.client(timeout_s=1.0) as client:
        while time.monotonic() < deadline:
            if not server.alive():
                break
            try:
                if client.ping():
                    return
            except redis.RedisError:
                time.sleep(0.02)
    raise ServerStartError(f"redis-server on {server.address} did not start: {_tail(server)}")


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


def _tail(server: RedisServer, lines: int = 20) -> str:
    try:
        text = server.log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
