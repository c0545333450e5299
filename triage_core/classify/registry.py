"""Builds the classifier a configuration asks for.

Backends are imported only when chosen: the embedded model needs numpy and its artifact,
TF Serving needs requests (and gRPC the optional extra); a rules-only deployment should pay
for neither.
"""

from __future__ import annotations

from collections.abc import Callable

from triage_core.classify.base import Classifier
from triage_core.classify.fallback import FallbackClassifier
from triage_core.config import ClassifierConfig
from triage_core.errors import ConfigError

BACKENDS = ("embedded", "tfserving", "rules")
# A fallback must not depend on another server: it answers when servers are down.
FALLBACKS = ("embedded", "rules")


def _embedded(config: ClassifierConfig) -> Classifier:
    from triage_core.classify.embedded import EmbeddedClassifier

    return EmbeddedClassifier(model_path=config.model_path)


def _tfserving(config: ClassifierConfig) -> Classifier:
    from triage_core.classify.tfserving import TFServingClassifier

    return TFServingClassifier(config.tfserving)


def _rules(config: ClassifierConfig) -> Classifier:
    from triage_core.classify.rules import RulesClassifier

    return RulesClassifier()


_FACTORIES: dict[str, Callable[[ClassifierConfig], Classifier]] = {
    "embedded": _embedded,
    "tfserving": _tfserving,
    "rules": _rules,
}


def build_backend(name: str, config: ClassifierConfig) -> Classifier:
    """One backend, unwrapped."""
    factory = _FACTORIES.get(name)
    if factory is None:
        raise ConfigError(
            f"classifier.backend: unknown backend {name!r} (known: {', '.join(BACKENDS)})"
        )
    return factory(config)


def build_classifier(
    config: ClassifierConfig,
    *,
    force_fallback: Callable[[], bool] | bool | None = None,
) -> Classifier:
    """The configured backend, wrapped in a `FallbackClassifier` unless it is its own
    fallback. `force_fallback` overrides `config.force_fallback`; pass a callable to let a
    running service switch fallback mode without a restart."""
    if config.backend not in _FACTORIES:
        raise ConfigError(
            f"classifier.backend: unknown backend {config.backend!r} (known: {', '.join(BACKENDS)})"
        )
    if config.fallback not in FALLBACKS:
        raise ConfigError(
            f"classifier.fallback: unknown fallback {config.fallback!r} "
            f"(known: {', '.join(FALLBACKS)})"
        )
    primary = build_backend(config.backend, config)
    if config.backend == config.fallback:
        return primary
    fallback = build_backend(config.fallback, config)
    force = config.force_fallback if force_fallback is None else force_fallback
    return FallbackClassifier(primary, fallback, force_fallback=force)
