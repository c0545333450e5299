"""A local redis-server from the system package, for the sandbox and for tests.

Like postgres.py: a `persistent` server is detached and outlives the command that started
it; a test server dies with the test process (PR_SET_PDEATHSIG), so a crashed pytest leaves
no server behind. Either binds to loopback, keeps its files in its directory and persists
nothing (no RDB, no AOF): the queue's durability is production's concern, not a sandbox's.

`pause()` sends SIGSTOP: the kernel still completes TCP handshakes on the listening
socket, but the server never answers. That is the nastiest Redis fault for a client (a
refused connection fails at once; a hung one waits), and the one timeouts must bound.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from triage_ops.sandbox import processes as proc
from triage_ops.sandbox.processes import HOST, ServerStartError

REDIS_SERVER = "redis-server"
EXPECT = REDIS_SERVER  # a fragment of the server's command line: guards against pid reuse
START_TIMEOUT_S = 15.0


@dataclass
class RedisServer:
    """One redis-server process."""

    port: int
    directory: Path
    pid: int
    log_path: Path
    password: str | None = field(default=None, repr=False)
    host: str = HOST

    @property
    def url(self) -> str:
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def alive(self) -> bool:
        return proc.alive(self.pid)

    def pause(self) -> None:
        """SIGSTOP: connections are accepted by the kernel, nothing is ever answered."""
        if self.alive():
            os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.alive():
            os.kill(self.pid, signal.SIGCONT)

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
        while stopped has been executed, so the next caller starts from a quiet server."""
        with self.client(timeout_s=timeout_s) as client:
            client.ping()

    def client(self, *, timeout_s: float = 5.0, retry: bool = True) -> redis.Redis:
        """A plain client for set-up and inspection (not the service's own client).
        Without `retry`, a call fails after one timeout instead of redis-py's retries with
        backoff (some 14 s at 1 s each)."""
        once: dict[str, Any] = {} if retry else {"retry": Retry(NoBackoff(), 0)}
        return redis.Redis(
            host=self.host,
            port=self.port,
            password=self.password,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            **once,
        )

    def stop(self) -> None:
        """Stops the server, resuming it first: a stopped process holds SIGTERM until then."""
        self.resume()
        proc.stop(self.pid, expect=EXPECT, timeout=5.0)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_redis(
    directory: Path,
    *,
    port: int | None = None,
    password: str | None = None,
    config: Mapping[str, str] | None = None,
    cluster_node_timeout_ms: int = 0,
    persistent: bool = False,
    log_path: Path | None = None,
    attempts: int = 5,
) -> RedisServer:
    """Starts one redis-server under `directory` and waits until it answers PING. Without
    a `port`, a free one, and another on a lost race for it. A `cluster_node_timeout_ms`
    makes a cluster-enabled node, for the caller to join into a cluster."""
    directory.mkdir(parents=True, exist_ok=True)
    log = log_path or directory / "redis.log"
    last_error: ServerStartError | None = None
    for _ in range(attempts if port is None else 1):
        chosen = port or proc.free_port()
        args = [REDIS_SERVER, "--port", str(chosen), "--bind", HOST, "--dir", str(directory)]
        args += ["--logfile", str(log), "--daemonize", "no", "--save", "", "--appendonly", "no"]
        if password:
            args += ["--requirepass", password]
        if cluster_node_timeout_ms:
            args += ["--cluster-enabled", "yes"]
            args += ["--cluster-config-file", str(directory / "nodes.conf")]
            args += ["--cluster-port", str(proc.free_port())]
            args += ["--cluster-node-timeout", str(cluster_node_timeout_ms)]
        for key, value in (config or {}).items():
            args += [f"--{key}", value]
        pid = proc.spawn(args, log=log, die_with_parent=not persistent)
        server = RedisServer(
            port=chosen, directory=directory, pid=pid, log_path=log, password=password
        )
        try:
            _wait_ready(server)
        except BaseException as exc:
            server.stop()
            if not isinstance(exc, ServerStartError):
                raise
            last_error = exc  # it exited: most likely a lost race for the port, try another
        else:
            return server
    assert last_error is not None
    raise last_error


def _wait_ready(server: RedisServer) -> None:
    with server.client(timeout_s=1.0, retry=False) as client:

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        proc.wait_until(
            answers,
            pid=server.pid,
            timeout=START_TIMEOUT_S,
            what=f"redis-server on {server.address}",
            log=server.log_path,
        )
