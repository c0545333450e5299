from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from triage_core.classify.embedded import EmbeddedClassifier
from triage_core.classify.fallback import FORCED_REASON, FallbackClassifier
from triage_core.classify.registry import build_classifier
from triage_core.classify.rules import RulesClassifier
from triage_core.classify.tfserving import TFServingClassifier
from triage_core.config import ClassifierConfig, TFServingConfig
from triage_core.errors import ConfigError
from triage_core.message import Email

REPO = Path(__file__).resolve().parents[3]


def test_rules_alone_is_not_wrapped() -> None:
    assert type(build_classifier(ClassifierConfig(backend="rules", fallback="rules"))) is (
        RulesClassifier
    )


def test_tfserving_falls_back_to_rules() -> None:
    clf = build_classifier(ClassifierConfig(backend="tfserving", fallback="rules"))
    assert isinstance(clf, FallbackClassifier)
    assert isinstance(clf.primary, TFServingClassifier)
    assert isinstance(clf.fallback, RulesClassifier)


def test_tfserving_falls_back_to_embedded() -> None:
    clf = build_classifier(ClassifierConfig(backend="tfserving", fallback="embedded"))
    assert isinstance(clf, FallbackClassifier)
    assert isinstance(clf.fallback, EmbeddedClassifier)


def test_default_config_is_embedded_with_rules_fallback() -> None:
    clf = build_classifier(ClassifierConfig(model_path="/nonexistent/model"))
    assert isinstance(clf, FallbackClassifier)
    assert isinstance(clf.primary, EmbeddedClassifier)
    assert clf.primary.model_path == "/nonexistent/model"  # kept, not loaded yet
    assert isinstance(clf.fallback, RulesClassifier)


def test_force_fallback_from_config_and_override() -> None:
    config = ClassifierConfig(backend="tfserving", fallback="rules", force_fallback=True)
    clf = build_classifier(config)
    assert isinstance(clf, FallbackClassifier)
    # Forced: the (unreachable) TF Serving is never asked.
    assert clf.classify(Email(subject="Invoice")) == (
        RulesClassifier().predict(Email(subject="Invoice")),
        FORCED_REASON,
    )
    flag = {"on": False}
    clf = build_classifier(config, force_fallback=lambda: flag["on"])
    assert isinstance(clf, FallbackClassifier)
    assert clf.forced is False
    flag["on"] = True
    assert clf.forced is True


@pytest.mark.parametrize(
    ("backend", "fallback", "message"),
    [
        (
            "bert",
            "rules",
            "classifier.backend: unknown backend 'bert' (known: embedded, tfserving, rules)",
        ),
        (
            "rules",
            "tfserving",
            "classifier.fallback: unknown fallback 'tfserving' (known: embedded, rules)",
        ),
        ("embedded", "", "classifier.fallback: unknown fallback '' (known: embedded, rules)"),
    ],
)
def test_unknown_names_are_config_errors(backend: str, fallback: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_classifier(ClassifierConfig(backend=backend, fallback=fallback))
    assert str(info.value) == message


def test_tfserving_config_errors_surface_at_build() -> None:
    config = ClassifierConfig(backend="tfserving", tfserving=TFServingConfig(protocol="smtp"))
    with pytest.raises(ConfigError, match="unknown protocol 'smtp'"):
        build_classifier(config)


def test_backends_are_imported_lazily() -> None:
    code = (
        "import sys\n"
        "from triage_core.classify.registry import build_classifier\n"
        "from triage_core.config import ClassifierConfig\n"
        "build_classifier(ClassifierConfig(backend='rules', fallback='rules'))\n"
        "print(sorted(m for m in ('numpy', 'requests', 'triage_core.classify.embedded',"
        " 'triage_core.classify.tfserving') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
