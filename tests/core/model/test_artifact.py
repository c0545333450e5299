from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from triage_core.errors import ModelError
from triage_core.model.artifact import DEFAULT_MODEL, ModelArtifact, load


def _tiny() -> ModelArtifact:
    return ModelArtifact(
        vocab=("alpha", "beta", "gamma"),
        category_labels=("a", "b"),
        cat_w=np.array([[1, 0], [0, 1], [0.5, 0.5]], dtype=np.float32),
        cat_b=np.zeros(2, dtype=np.float32),
        spam_w=np.array([0.1, 0.2, 0.3], dtype=np.float32),
        spam_b=-1.5,
        info={"note": "tiny"},
    )


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    _tiny().save(path)
    back = load(path)
    assert back.vocab == ("alpha", "beta", "gamma")
    assert back.category_labels == ("a", "b")
    assert back.labels == ("a", "b", "spam")
    assert back.spam_b == pytest.approx(-1.5)
    assert back.info == {"note": "tiny"}
    np.testing.assert_array_equal(back.cat_w, _tiny().cat_w)


def test_missing_file_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="model file not found"):
        load(tmp_path / "nope.npz")


def test_garbage_file_is_a_model_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    path.write_bytes(b"this is not a zip file")
    with pytest.raises(ModelError, match="not a readable triage model"):
        load(path)


def test_a_pickled_object_array_is_refused_not_executed(tmp_path: Path) -> None:
    """A file with an object array would run code on np.load(allow_pickle=True)."""
    path = tmp_path / "evil.npz"
    good = tmp_path / "good.npz"
    _tiny().save(good)
    with np.load(good) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["cat_w"] = np.array([object()], dtype=object)
    np.savez(path, **arrays)
    with pytest.raises(ModelError):
        load(path)


def test_wrong_format_tag_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.npz"
    meta = np.frombuffer(b'{"format": "something-else/9"}', dtype=np.uint8)
    np.savez(path, meta=meta)
    with pytest.raises(ModelError, match="unknown model format"):
        load(path)


def test_shipped_model_loads_with_the_default_taxonomy() -> None:
    model = load(DEFAULT_MODEL)
    assert set(model.labels) == {
        "incident",
        "request",
        "question",
        "meeting",
        "billing",
        "complaint",
        "newsletter",
        "notification",
        "spam",
        "personal",
    }
    assert model.spam_w is not None
    assert len(model.vocab) == model.cat_w.shape[0]
