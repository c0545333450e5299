"""The TF Serving backend (REST, or gRPC with the `grpc` extra)."""

from triage_core.classify.tfserving.breaker import BreakerState, CircuitBreaker
from triage_core.classify.tfserving.classifier import TFServingClassifier
from triage_core.classify.tfserving.protocol import ModelStatus

__all__ = ["BreakerState", "CircuitBreaker", "ModelStatus", "TFServingClassifier"]
