"""Starting and stopping local processes, and waiting for them to answer.

Sandbox processes outlive the `triage-ops` command that started them, so they run in their
own session and are tracked by pid in the state file; a pid is only signalled after
checking that it still runs the program we started (a reused pid is left alone). Test
servers are the opposite case: they must die with the test process, even a killed one.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

HOST = "127.0.0.1"
_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def service_user() -> tuple[int, int] | None:
    """PostgreSQL refuses to run as root: as root, its processes run as `postgres`."""
    if os.geteuid() != 0:
        return None
    entry = pwd.getpwnam("postgres")
    return entry.pw_uid, entry.pw_gid


def _as_user(
    ids: tuple[int, int] | None, *, die_with_parent: bool = False
) -> Callable[[], None] | None:
    """What runs in the child before exec: drop root, then ask for SIGKILL when the parent
    exits (a credential change clears the parent-death signal, so it must come second)."""
    if ids is None and not die_with_parent:
        return None

    def prepare() -> None:
        if ids is not None:
            os.setgroups([])
            os.setgid(ids[1])
            os.setuid(ids[0])
        if die_with_parent:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

    return prepare


def run(argv: Sequence[str], *, user: tuple[int, int] | None = None, timeout: float = 120) -> None:
    proc = subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_as_user(user),
        check=False,
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"{Path(argv[0]).name} failed: {tail[0]}")


def spawn(
    argv: Sequence[str],
    *,
    log: Path,
    env: Mapping[str, str] | None = None,
    user: tuple[int, int] | None = None,
    cwd: Path | None = None,
    die_with_parent: bool = False,
) -> int:
    """Starts a process with stdin closed and output to `log`: detached (own session) so it
    outlives us, or with `die_with_parent` tied to this process (test servers)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=cwd,
            start_new_session=not die_with_parent,
            preexec_fn=_as_user(user, die_with_parent=die_with_parent),
        )
    return proc.pid


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":  # a zombie has exited
            return False
    return True


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def stop(pid: int, *, expect: str, sig: int = signal.SIGTERM, timeout: float = 15.0) -> bool:
    """Stops `pid` if it still runs a command containing `expect`; True when it is gone."""
    _reap(pid)
    if not alive(pid):
        return True
    if expect not in cmdline(pid):
        return True  # the pid was reused by something else: not ours to kill
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not alive(pid):
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.1)
    _reap(pid)
    return not alive(pid)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


class ServerStartError(RuntimeError):
    """A server could not start (no binaries, or it exited while starting); the message
    says why, for an exit with the tail of its log."""


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    pid: int | None = None,
    log: Path | None = None,
) -> None:
    """Polls `check` until it holds. Given the `pid` of a server that is starting, gives up
    as soon as that process exits; the error carries the tail of its `log`, which is where
    a server says why it did not start."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pid is not None and not alive(pid):
            raise ServerStartError(f"{what} exited during start-up: {log_tail(log)}")
        if check():
            return
        time.sleep(0.05)
    detail = "" if log is None else f": {log_tail(log)}"
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s{detail}")


def log_tail(path: Path | None, *, lines: int = 20) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace") if path else ""
    except OSError:
        text = ""
    return "\n".join(text.splitlines()[-lines:]) or "(no log)"


def http_ok(url: str, *, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return 200 <= int(resp.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def tcp_open(port: int, *, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False
