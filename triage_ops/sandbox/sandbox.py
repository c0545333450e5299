"""`triage-ops sandbox up|down|status`: the procedure behind the commands."""

from __future__ import annotations

import contextlib
import fcntl
import json
import signal
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from triage_ops.errors import ActionFailed, UsageError
from triage_ops.sandbox import processes as proc
from triage_ops.sandbox.processes import HOST

REPO = Path(__file__).resolve().parents[2]
STATE_FILE = "sandbox.json"
CONFIG_FILE = "triage-ops.yaml"
ORDER = (
    "kubernetes",
    "postgres",
    "redis",
    "alertmanager",
    "model-server",
    "api",
    "worker",
    "prometheus",
)
KUBECONFIG_FILE = "kubeconfig"


@dataclass
class Component:
    name: str
    pid: int
    port: int
    url: str
    log: str
    expect: str  # a fragment of the command line: guards against pid reuse
    stop_signal: int = signal.SIGTERM

    def running(self) -> bool:
        return proc.alive(self.pid) and self.expect in proc.cmdline(self.pid)


@dataclass
class Sandbox:
    state_dir: str
    components: dict[str, Component] = field(default_factory=dict)
    config_path: str = ""
    started_at: float = 0.0

    def endpoints(self) -> dict[str, str]:
        return {name: c.url for name, c in self.components.items()}

    def to_json(self) -> dict[str, Any]:
        return {
            "state_dir": self.state_dir,
            "config_path": self.config_path,
            "started_at": self.started_at,
            "components": {n: asdict(c) for n, c in self.components.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Sandbox:
        comps = {n: Component(**c) for n, c in data.get("components", {}).items()}
        return cls(
            state_dir=data["state_dir"],
            components=comps,
            config_path=data.get("config_path", ""),
            started_at=float(data.get("started_at", 0.0)),
        )


def load(state_dir: Path) -> Sandbox | None:
    path = state_dir / STATE_FILE
    if not path.exists():
        return None
    try:
        return Sandbox.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path} is not a sandbox state file ({exc})") from exc


def _save(state_dir: Path, sandbox: Sandbox) -> None:
    tmp = state_dir / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(sandbox.to_json(), indent=2), encoding="utf-8")
    tmp.replace(state_dir / STATE_FILE)


@contextlib.contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    """One `up` or `down` at a time per state directory."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / ".lock").open("w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise UsageError(f"another sandbox command is running on {state_dir}") from exc
        yield


def status(state_dir: Path) -> list[dict[str, Any]]:
    sandbox = load(state_dir)
    if sandbox is None:
        return []
    return [
        {
            "component": name,
            "running": c.running(),
            "pid": c.pid,
            "url": c.url,
            "log": c.log,
        }
        for name, c in sandbox.components.items()
    ]


def up(
    state_dir: Path, *, seed: bool = True, log: Callable[[str], None] = lambda _m: None
) -> tuple[Sandbox, bool]:
    """Starts everything, or returns the running sandbox (second value: reused)."""
    state_dir = state_dir.resolve()
    with _locked(state_dir):
        existing = load(state_dir)
        if existing is not None:
            stopped = [n for n, c in existing.components.items() if not c.running()]
            if not stopped and set(existing.components) == set(ORDER):
                return existing, True
            raise UsageError(
                f"a sandbox in {state_dir} is partly running ({', '.join(stopped) or 'incomplete'}"
                " stopped): run `triage-ops sandbox down` first"
            )
        sandbox = Sandbox(state_dir=str(state_dir), started_at=time.time())
        try:
            _start_all(state_dir, sandbox, log)
            if seed:
                _seed(sandbox, log)
            _wait_scraped(sandbox, log)
            sandbox.config_path = str(_write_ops_config(state_dir, sandbox))
            _save(state_dir, sandbox)
        except BaseException as exc:
            log(f"start-up failed, stopping what was started: {exc}")
            _stop_all(sandbox)
            (state_dir / STATE_FILE).unlink(missing_ok=True)
            if isinstance(exc, UsageError | ActionFailed):
                raise
            if isinstance(exc, Exception):
                raise ActionFailed(f"sandbox did not start: {exc}") from exc
            raise
        return sandbox, False


def down(state_dir: Path) -> list[str]:
    """Stops exactly what `up` recorded; returns the names stopped."""
    state_dir = state_dir.resolve()
    with _locked(state_dir):
        sandbox = load(state_dir)
        if sandbox is None:
            return []
        stopped = _stop_all(sandbox)
        (state_dir / STATE_FILE).unlink(missing_ok=True)
        return stopped


def _stop_all(sandbox: Sandbox) -> list[str]:
    stopped = []
    for name in reversed(ORDER):
        comp = sandbox.components.get(name)
        if comp is None:
            continue
        if proc.stop(comp.pid, expect=comp.expect, sig=comp.stop_signal):
            stopped.append(name)
    return stopped


# -- start-up --------------------------------------------------------------------------


def _python() -> list[str]:
    return [sys.executable, "-m", "triage_core.cli"]


def _start_all(state_dir: Path, sandbox: Sandbox, log: Callable[[str], None]) -> None:
    logs = state_dir / "logs"
    logs.mkdir(exist_ok=True)
    ports = {name: proc.free_port() for name in ORDER}
    ports["worker-metrics"] = proc.free_port()
    add = sandbox.components.__setitem__

    log("starting the Kubernetes API emulator")
    add("kubernetes", _start_kubernetes(state_dir, ports["kubernetes"], logs))

    log("starting postgres")
    add("postgres", _start_postgres(state_dir, ports["postgres"], logs))
    dsn = sandbox.components["postgres"].url

    log("starting redis")
    add("redis", _start_redis(state_dir, ports["redis"], logs))
    redis_url = sandbox.components["redis"].url

    log("starting alertmanager")
    add("alertmanager", _start_alertmanager(state_dir, ports["alertmanager"], logs))

    log("applying migrations")
    proc.run([*_python(), "db", "migrate", "--database-url", dsn])

    log("starting the model server")
    model_url = f"http://{HOST}:{ports['model-server']}"
    pid = proc.spawn(
        [*_python(), "serve-model", "--host", HOST, "--port", str(ports["model-server"])],
        log=logs / "model-server.log",
    )
    add(
        "model-server",
        Component(
            "model-server",
            pid,
            ports["model-server"],
            model_url,
            str(logs / "model-server.log"),
            "serve-model",
        ),
    )
    proc.wait_until(
        lambda: proc.http_ok(f"{model_url}/v1/models/email-classifier"),
        timeout=30,
        what="model server",
    )

    env = _service_env(state_dir, dsn=dsn, redis_url=redis_url, model_url=model_url)
    log("starting the API")
    api_url = f"http://{HOST}:{ports['api']}"
    pid = proc.spawn(
        [*_python(), "serve", "--host", HOST, "--port", str(ports["api"])],
        log=logs / "api.log",
        env=env,
    )
    add("api", Component("api", pid, ports["api"], api_url, str(logs / "api.log"), "serve"))
    proc.wait_until(lambda: proc.http_ok(f"{api_url}/readyz"), timeout=30, what="API")

    log("starting a worker")
    metrics_port = ports["worker-metrics"]
    pid = proc.spawn(
        [*_python(), "worker", "--metrics-port", str(metrics_port)],
        log=logs / "worker.log",
        env=env,
    )
    add(
        "worker",
        Component(
            "worker",
            pid,
            metrics_port,
            f"http://{HOST}:{metrics_port}",
            str(logs / "worker.log"),
            "worker",
        ),
    )
    proc.wait_until(
        lambda: proc.http_ok(f"http://{HOST}:{metrics_port}/metrics"), timeout=30, what="worker"
    )

    log("starting prometheus")
    add("prometheus", _start_prometheus(state_dir, ports["prometheus"], logs, sandbox))


def _start_kubernetes(state_dir: Path, port: int, logs: Path) -> Component:
    """The Kubernetes API emulator (scenario `healthy`): no API server runs here, so the
    sandbox's cluster is the emulator, reached through DIR/kubeconfig like a real one."""
    kubeconfig = state_dir / KUBECONFIG_FILE
    kubeconfig.unlink(missing_ok=True)
    log_path = logs / "kubernetes.log"
    argv = [sys.executable, "-m", "triage_ops.kube_emulator", "--scenario", "healthy"]
    argv += ["--host", HOST, "--port", str(port), "--kubeconfig-out", str(kubeconfig)]
    pid = proc.spawn(argv, log=log_path)
    url = f"http://{HOST}:{port}"
    proc.wait_until(
        lambda: kubeconfig.exists() and proc.http_ok(f"{url}/version"),
        timeout=20,
        what="Kubernetes API emulator",
        pid=pid,
        log=log_path,
    )
    return Component("kubernetes", pid, port, url, str(log_path), "triage_ops.kube_emulator")


def _start_postgres(state_dir: Path, port: int, logs: Path) -> Component:
    from triage_ops.sandbox import postgres  # imports psycopg: only when a sandbox starts

    server = postgres.start_postgres(
        state_dir / "postgres",
        port=port,
        persistent=True,
        stat_statements=True,
        log_path=logs / "postgres.log",
    )
    assert server.pid is not None  # start_postgres returns a running server
    return Component(
        name="postgres",
        pid=server.pid,
        port=port,
        url=server.url(),
        log=str(server.log_path),
        expect=postgres.EXPECT,
        stop_signal=postgres.STOP_SIGNAL,
    )


def _start_redis(state_dir: Path, port: int, logs: Path) -> Component:
    from triage_ops.sandbox import redis  # imports redis-py: only when a sandbox starts

    server = redis.start_redis(
        state_dir / "redis", port=port, persistent=True, log_path=logs / "redis.log"
    )
    return Component("redis", server.pid, port, server.url, str(server.log_path), redis.EXPECT)


def _start_alertmanager(state_dir: Path, port: int, logs: Path) -> Component:
    am_dir = state_dir / "alertmanager"
    am_dir.mkdir(exist_ok=True)
    config = am_dir / "alertmanager.yml"
    config.write_text(
        "route:\n  receiver: sandbox\n  group_wait: 1s\n  group_interval: 5s\n"
        "receivers:\n  - name: sandbox\n",
        encoding="utf-8",
    )
    url = f"http://{HOST}:{port}"
    pid = proc.spawn(
        [
            "prometheus-alertmanager",
            f"--config.file={config}",
            f"--storage.path={am_dir}",
            f"--web.listen-address={HOST}:{port}",
            "--cluster.listen-address=",
        ],
        log=logs / "alertmanager.log",
    )
    proc.wait_until(lambda: proc.http_ok(f"{url}/-/ready"), timeout=20, what="alertmanager")
    return Component("alertmanager", pid, port, url, str(logs / "alertmanager.log"), "alertmanager")


def _start_prometheus(state_dir: Path, port: int, logs: Path, sandbox: Sandbox) -> Component:
    prom_dir = state_dir / "prometheus"
    prom_dir.mkdir(exist_ok=True)
    comps = sandbox.components

    def target(name: str) -> str:
        return f"{HOST}:{comps[name].port}"

    config = {
        "global": {"scrape_interval": "2s", "evaluation_interval": "2s"},
        "rule_files": [str(p) for p in sorted((REPO / "alerts").glob("*.rules.yml"))],
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [target("alertmanager")]}]}]
        },
        "scrape_configs": [
            {"job_name": "email-triage", "static_configs": [{"targets": [target("api")]}]},
            {
                "job_name": "email-triage-worker",
                "static_configs": [{"targets": [target("worker")]}],
            },
            {
                "job_name": "email-classifier-model",
                "static_configs": [{"targets": [target("model-server")]}],
            },
        ],
    }
    path = prom_dir / "prometheus.yml"
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")  # JSON is valid YAML
    url = f"http://{HOST}:{port}"
    pid = proc.spawn(
        [
            "prometheus",
            f"--config.file={path}",
            f"--storage.tsdb.path={prom_dir / 'data'}",
            f"--web.listen-address={HOST}:{port}",
            "--web.enable-lifecycle",
        ],
        log=logs / "prometheus.log",
    )
    proc.wait_until(lambda: proc.http_ok(f"{url}/-/ready"), timeout=30, what="prometheus")
    return Component("prometheus", pid, port, url, str(logs / "prometheus.log"), "prometheus")


def _service_env(state_dir: Path, *, dsn: str, redis_url: str, model_url: str) -> dict[str, str]:
    pipeline_config = state_dir / "pipeline.yaml"
    pipeline_config.write_text(
        "classifier:\n  backend: tfserving\n  fallback: embedded\n"
        f"  tfserving:\n    url: {model_url}\n    timeout_s: 1.0\n",
        encoding="utf-8",
    )
    return {
        "TRIAGE_DATABASE_URL": dsn,
        "TRIAGE_REDIS_URL": redis_url,
        "TRIAGE_PIPELINE_CONFIG": str(pipeline_config),
    }


def _seed(sandbox: Sandbox, log: Callable[[str], None]) -> None:
    api = sandbox.components["api"].url
    files = sorted((REPO / "examples" / "inbox").glob("*.eml"))
    log(f"seeding {len(files)} sample emails")
    for f in files:
        req = urllib.request.Request(
            f"{api}/v1/emails",
            data=f.read_bytes(),
            method="POST",
            headers={"Content-Type": "message/rfc822"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            if resp.status not in (200, 202):
                raise ActionFailed(f"seeding {f.name}: HTTP {resp.status}")


def _wait_scraped(sandbox: Sandbox, log: Callable[[str], None]) -> None:
    """Ready means Prometheus has scraped every target successfully at least once."""
    url = sandbox.components["prometheus"].url + "/api/v1/targets"
    log("waiting for prometheus to scrape every target")

    def all_up() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                targets = json.load(resp)["data"]["activeTargets"]
        except (OSError, ValueError, KeyError):
            return False
        return len(targets) >= 3 and all(t.get("health") == "up" for t in targets)

    proc.wait_until(all_up, timeout=60, what="prometheus scrape of every target")


def _write_ops_config(state_dir: Path, sandbox: Sandbox) -> Path:
    import yaml

    from triage_ops.kube_emulator import CONTEXT

    c = sandbox.components
    config = {
        "api_url": c["api"].url,
        "database_url": c["postgres"].url,
        "redis_url": c["redis"].url,
        "prometheus_url": c["prometheus"].url,
        "alertmanager_url": c["alertmanager"].url,
        "model_server_url": c["model-server"].url,
        "audit_log": str(state_dir / "audit.jsonl"),
        "kubeconfig": str(state_dir / KUBECONFIG_FILE),
        "kube_context": CONTEXT,
    }
    path = state_dir / CONFIG_FILE
    path.write_text(
        "# written by `triage-ops sandbox up`: the local sandbox's endpoints\n"
        + yaml.safe_dump(config, sort_keys=False),
        encoding="utf-8",
    )
    return path
