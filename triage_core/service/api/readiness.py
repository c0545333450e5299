"""`GET /readyz`: every dependency probed at once, each under its own short timeout.

The probes are blocking calls (psycopg, redis-py, the model server's status over HTTP), so
each runs in a worker thread; a probe that hangs (a SIGSTOPped Redis, a black-holed
Postgres) is abandoned at its deadline and reported as timed out, and the answer comes back
within one timeout whatever the dependencies do. The threads have their own small limiter:
a kubelet probing a hung dependency every few seconds can never exhaust the pool the API's
request handlers run in.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import anyio
import anyio.to_thread

READINESS_TIMEOUT_S = 1.0
_PROBE_THREADS = 8
_CREDENTIALS = re.compile(r"(?i)([a-z][a-z0-9+.-]*://)[^/@\s]*@")
_PASSWORD_PARAM = re.compile(r"(?i)(password\s*=\s*)\S+")
_MAX_ERROR_CHARS = 300

Probe = Callable[[], object]


@dataclass(frozen=True, slots=True)
class CheckResult:
    ok: bool
    duration_ms: float
    error: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "duration_ms": round(self.duration_ms, 3), "error": self.error}


class ProbeFailed(Exception):
    """A probe's negative answer that is not an exception of the client library (e.g. the
    model server answered, but its model is not AVAILABLE)."""


class ReadinessChecker:
    def __init__(self, probes: Mapping[str, Probe], *, timeout_s: float = READINESS_TIMEOUT_S):
        self.probes = dict(probes)
        self.timeout_s = timeout_s
        self._limiter: anyio.CapacityLimiter | None = None

    async def run(self) -> dict[str, CheckResult]:
        if self._limiter is None:  # created on the event loop that uses it
            self._limiter = anyio.CapacityLimiter(_PROBE_THREADS)
        results: dict[str, CheckResult] = {}
        async with anyio.create_task_group() as group:
            for name, probe in self.probes.items():
                group.start_soon(self._one, name, probe, results)
        return {name: results[name] for name in self.probes}

    async def _one(self, name: str, probe: Probe, results: dict[str, CheckResult]) -> None:
        start = time.perf_counter()
        error: str | None = None
        try:
            with anyio.fail_after(self.timeout_s):
                await anyio.to_thread.run_sync(probe, abandon_on_cancel=True, limiter=self._limiter)
        except TimeoutError:
            error = f"timed out after {self.timeout_s:g}s"
        except Exception as exc:  # a probe's failure is its answer, whatever the library
            error = describe(exc)
        results[name] = CheckResult(error is None, (time.perf_counter() - start) * 1000.0, error)


def describe(exc: BaseException) -> str:
    """One line, no credentials: a DSN or URL in a driver's message loses its userinfo."""
    text = " ".join(str(exc).split())
    text = _CREDENTIALS.sub(r"\1***@", text)
    text = _PASSWORD_PARAM.sub(r"\1***", text)
    name = type(exc).__name__
    line = f"{name}: {text}" if text and not isinstance(exc, ProbeFailed) else (text or name)
    return line[:_MAX_ERROR_CHARS]
