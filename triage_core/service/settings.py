"""The service's settings: environment variables first (12-factor, as in the Kubernetes
manifests), an optional YAML file for local runs. Secrets (DSNs with passwords, API keys)
are held in `SecretStr`-like wrappers so a `repr()` in a log can never print them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triage_core.errors import ConfigError


class Secret(str):
    """A str whose repr is masked; the value is still usable where a str is expected."""

    def __repr__(self) -> str:
        return "Secret('***')"


_NONE = Secret("")
_LOCAL_REDIS = Secret("redis://127.0.0.1:6379/0")


@dataclass(frozen=True)
class ServiceSettings:
    database_url: Secret = _NONE  # postgresql://user:pass@host:port/db
    database_replica_url: Secret = _NONE  # optional: reads go here
    database_pool_min: int = 1
    database_pool_max: int = 10
    database_timeout_s: float = 3.0
    redis_url: Secret = _LOCAL_REDIS
    queue_redis_url: Secret = _NONE  # optional: the queue on its own Redis
    redis_cluster: bool = False
    redis_timeout_s: float = 2.0
    cache_ttl_s: int = 24 * 3600
    queue_max_attempts: int = 5  # then the message goes to the dead-letter stream
    queue_claim_idle_ms: int = 30_000  # a pending entry idle this long is reclaimed
    worker_batch_size: int = 50
    worker_block_ms: int = 1000
    max_body_bytes: int = 10 * 1024 * 1024  # HTTP 413 above this
    api_keys: tuple[Secret, ...] = ()  # empty: no authentication
    rate_limit_per_minute: int = 0  # per API key; 0: off
    fallback_poll_s: float = 2.0  # how often the fallback switch is re-read
    pipeline_config: str = ""  # path to the pipeline YAML (triage_core.config)
    metrics_multiproc_dir: str = ""  # PROMETHEUS_MULTIPROC_DIR when several processes
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ServiceSettings:
        env = dict(os.environ if env is None else env)
        kwargs: dict[str, Any] = {}
        for name, f in cls.__dataclass_fields__.items():
            key = "TRIAGE_" + name.upper()
            if key not in env or name == "extra":
                continue
            kwargs[name] = _parse(name, str(f.type), env[key])
        return cls(**kwargs)

    @classmethod
    def from_yaml(cls, path: str | Path) -> ServiceSettings:
        import yaml

        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read service settings {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"service settings {path} must be a mapping")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"unknown service setting(s): {', '.join(sorted(unknown))}")
        kwargs = {k: _parse(k, str(cls.__dataclass_fields__[k].type), v) for k, v in data.items()}
        return cls(**kwargs)


def _parse(name: str, type_name: str, value: Any) -> Any:
    try:
        if type_name == "Secret":
            return Secret(str(value))
        if type_name == "int":
            return int(value)
        if type_name == "float":
            return float(value)
        if type_name == "bool":
            if isinstance(value, bool):
                return value
            return str(value).strip().lower() in {"1", "true", "yes", "on"}
        if type_name.startswith("tuple"):
            items = value if isinstance(value, list) else str(value).split(",")
            return tuple(Secret(str(v).strip()) for v in items if str(v).strip())
        return str(value)
    except ValueError as exc:
        raise ConfigError(f"service setting {name}: {exc}") from exc
