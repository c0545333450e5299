"""triage_core: the email triage pipeline.

    >>> from triage_core import Pipeline
    >>> result = Pipeline().triage(b"Subject: Server down\\r\\n\\r\\nProduction is down!")
    >>> result.category
    'incident'

The public names are loaded lazily (PEP 562) so `import triage_core` stays cheap for the
API service and the ops CLI, which import it for constants long before they triage mail.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Pipeline": "triage_core.pipeline",
    "PipelineConfig": "triage_core.config",
    "parse_email": "triage_core.parsing",
    "Email": "triage_core.message",
    "Attachment": "triage_core.message",
    "TriageResult": "triage_core.result",
    "StageError": "triage_core.result",
    "DEFAULT_CATEGORIES": "triage_core.result",
    "SCHEMA": "triage_core.result",
    "Prediction": "triage_core.classify.base",
    "Classifier": "triage_core.classify.base",
    "TriageError": "triage_core.errors",
    "ConfigError": "triage_core.errors",
    "ModelError": "triage_core.errors",
    "BackendUnavailable": "triage_core.errors",
    "InputError": "triage_core.errors",
}

__all__ = [
    "DEFAULT_CATEGORIES",
    "SCHEMA",
    "Attachment",
    "BackendUnavailable",
    "Classifier",
    "ConfigError",
    "Email",
    "InputError",
    "ModelError",
    "Pipeline",
    "PipelineConfig",
    "Prediction",
    "StageError",
    "TriageError",
    "TriageResult",
    "parse_email",
]

if TYPE_CHECKING:
    from triage_core.classify.base import Classifier, Prediction
    from triage_core.config import PipelineConfig
    from triage_core.errors import (
        BackendUnavailable,
        ConfigError,
        InputError,
        ModelError,
        TriageError,
    )
    from triage_core.message import Attachment, Email
    from triage_core.parsing import parse_email
    from triage_core.pipeline import Pipeline
    from triage_core.result import DEFAULT_CATEGORIES, SCHEMA, StageError, TriageResult


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'triage_core' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
