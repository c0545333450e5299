"""The one interface every classification backend implements.

Backends differ in where the answer comes from (an embedded model, a TF Serving server,
keyword rules), never in what they return: the contract suite in
`tests/core/classify/test_contract.py` runs against each of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from triage_core.message import Email


@dataclass(frozen=True, slots=True)
class Prediction:
    category: str
    confidence: float
    backend: str
    # Probability per label, summing to ~1.0; empty when a backend cannot give them.
    scores: Mapping[str, float] = field(default_factory=dict)


@runtime_checkable
class Classifier(Protocol):
    """A backend. `labels` is its taxonomy; `predict_batch` returns one prediction per email,
    in order, and raises `BackendUnavailable` when it cannot answer at all."""

    name: str

    @property
    def labels(self) -> tuple[str, ...]: ...

    def predict(self, email: Email) -> Prediction: ...

    def predict_batch(self, emails: Sequence[Email]) -> list[Prediction]: ...
