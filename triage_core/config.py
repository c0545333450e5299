"""Pipeline configuration: one dataclass per stage, read from YAML.

Each stage owns its section, and a component receives only its own section in `__init__`
(no I/O there). Unknown keys are an error, not silently ignored: a typo in a VIP list
must not quietly turn the feature off.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from triage_core.errors import ConfigError
from triage_core.result import DEFAULT_CATEGORIES


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Bounds that keep parsing linear and memory flat on hostile input."""

    max_message_bytes: int = 25 * 1024 * 1024  # beyond this the tail is dropped (error noted)
    max_header_bytes: int = 256 * 1024
    max_headers: int = 1000
    max_parts: int = 100
    max_depth: int = 20
    max_part_bytes: int = 5 * 1024 * 1024  # decoded size kept from one text part
    max_text_chars: int = 100_000  # body text handed to later stages


@dataclass(frozen=True, slots=True)
class TFServingConfig:
    url: str = "http://127.0.0.1:8501"
    model_name: str = "email-classifier"
    signature_name: str = "serving_default"
    protocol: str = "rest"  # rest | grpc (needs the `grpc` extra)
    grpc_target: str = "127.0.0.1:8500"
    timeout_s: float = 2.0  # per request: connect + read
    retries: int = 2  # on connection errors and HTTP 502/503/504 only
    breaker_failures: int = 5
    breaker_reset_s: float = 30.0
    # The served model's taxonomy: a bare score vector is read in this order.
    labels: tuple[str, ...] = DEFAULT_CATEGORIES
    input_name: str = "text"  # the signature's string input
    max_text_chars: int = 20_000  # text sent per email; a model reads far fewer tokens


@dataclass(frozen=True, slots=True)
class ClassifierConfig:
    backend: str = "embedded"  # embedded | tfserving | rules
    fallback: str = "rules"  # embedded | rules: answers when `backend` fails or is off
    force_fallback: bool = False  # the runbook's "fallback classification mode"
    model_path: str | None = None  # None: the model shipped in the package
    confidence_floor: float = 0.20  # below it the category is `other`
    tfserving: TFServingConfig = field(default_factory=TFServingConfig)


@dataclass(frozen=True, slots=True)
class PriorityConfig:
    vip_senders: tuple[str, ...] = ()
    vip_domains: tuple[str, ...] = ()
    # Addresses of the mailbox owner: To vs Cc is judged against these when given.
    self_addresses: tuple[str, ...] = ()
    # Score thresholds (0..100) for P0, P1, P2; below the last is P3. Fitted on the
    # business train split by scripts/fit_priority_thresholds.py.
    thresholds: tuple[int, int, int] = (91, 61, 35)


@dataclass(frozen=True, slots=True)
class SummaryConfig:
    max_sentences: int = 2
    max_chars: int = 280


@dataclass(frozen=True, slots=True)
class ResponseConfig:
    tone: str = "neutral"  # neutral | formal | friendly
    signature: str = ""
    templates_dir: str | None = None  # overrides the shipped templates by category name


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    limits: ParseLimits = field(default_factory=ParseLimits)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    priority: PriorityConfig = field(default_factory=PriorityConfig)
    summary: SummaryConfig = field(default_factory=SummaryConfig)
    response: ResponseConfig = field(default_factory=ResponseConfig)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PipelineConfig:
        return _build(cls, data, "")

    @classmethod
    def from_yaml(cls, path: str | Path) -> PipelineConfig:
        import yaml

        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config {p}: {exc.strerror}") from exc
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config {p} is not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"config {p} must be a mapping at the top level")
        # A model path in a config file is relative to the file, not to the cwd.
        clf = data.get("classifier")
        if isinstance(clf, dict) and isinstance(clf.get("model_path"), str):
            mp = Path(clf["model_path"])
            if not mp.is_absolute():
                clf["model_path"] = str((p.parent / mp).resolve())
        return cls.from_dict(data)


T = TypeVar("T")


def _build(cls: type[T], data: Any, where: str) -> T:
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in fields:
            raise ConfigError(f"unknown config key '{path}' (known: {', '.join(fields)})")
        kwargs[key] = _coerce(hints[key], value, path)
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, path)  # type: ignore[arg-type]
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, path)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{path}: expected a list")
        item = typing.get_args(hint)[0]
        return tuple(_coerce(item, v, f"{path}[{i}]") for i, v in enumerate(value))
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint in (int, str, bool, float):
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise ConfigError(f"{path}: expected {hint.__name__}, got {value!r}")
        return value
    return value
