"""The embedded model's file format: one `.npz` of plain arrays plus a JSON header.

Loading never executes code from the file: `np.load(..., allow_pickle=False)` refuses object
arrays, the vocabulary is UTF-8 text and the metadata is JSON. A model path in a user's
config is therefore as safe to load as a CSV file.

Layout (all arrays):
    meta        uint8, UTF-8 JSON: format, labels, category_labels, spam threshold, info
    vocab       uint8, UTF-8 text, one token per line; line i is feature i
    cat_w       float32 (n_features, n_category_labels)
    cat_b       float32 (n_category_labels,)
    spam_w      float32 (n_features,)   optional: the spam head
    spam_b      float32 (1,)            optional
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from triage_core.errors import ModelError

FORMAT = "triage-embedded/1"
DEFAULT_MODEL = Path(__file__).parent / "artifacts" / "embedded-v1.npz"


@dataclass(frozen=True)
class ModelArtifact:
    vocab: tuple[str, ...]
    category_labels: tuple[str, ...]
    cat_w: npt.NDArray[np.float32]
    cat_b: npt.NDArray[np.float32]
    spam_w: npt.NDArray[np.float32] | None = None
    spam_b: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def labels(self) -> tuple[str, ...]:
        """The full taxonomy: the category head's labels, plus `spam` when a spam head exists."""
        if self.spam_w is not None and "spam" not in self.category_labels:
            return (*self.category_labels, "spam")
        return self.category_labels

    def save(self, path: str | Path) -> None:
        meta = {
            "format": FORMAT,
            "category_labels": list(self.category_labels),
            "has_spam_head": self.spam_w is not None,
            "info": self.info,
        }
        arrays: dict[str, npt.NDArray[Any]] = {
            "meta": _text_array(json.dumps(meta, sort_keys=True)),
            "vocab": _text_array("\n".join(self.vocab)),
            "cat_w": self.cat_w.astype(np.float32),
            "cat_b": self.cat_b.astype(np.float32),
        }
        if self.spam_w is not None:
            arrays["spam_w"] = self.spam_w.astype(np.float32)
            arrays["spam_b"] = np.asarray([self.spam_b], dtype=np.float32)
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **arrays)  # type: ignore[arg-type]
        tmp.replace(p)


def load(path: str | Path | None = None) -> ModelArtifact:
    p = Path(path) if path is not None else DEFAULT_MODEL
    try:
        with np.load(p, allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode("utf-8"))
            if meta.get("format") != FORMAT:
                raise ModelError(f"{p}: unknown model format {meta.get('format')!r}")
            vocab = tuple(bytes(data["vocab"]).decode("utf-8").split("\n"))
            cat_w = data["cat_w"]
            cat_b = data["cat_b"]
            spam_w = data["spam_w"] if meta.get("has_spam_head") else None
            spam_b = float(data["spam_b"][0]) if meta.get("has_spam_head") else 0.0
    except FileNotFoundError as exc:
        raise ModelError(f"model file not found: {p}") from exc
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise ModelError(f"{p}: not a readable triage model ({exc})") from exc
    labels = tuple(meta["category_labels"])
    if cat_w.shape != (len(vocab), len(labels)) or cat_b.shape != (len(labels),):
        raise ModelError(f"{p}: weight shapes do not match the vocabulary and labels")
    if spam_w is not None and spam_w.shape != (len(vocab),):
        raise ModelError(f"{p}: spam weights do not match the vocabulary")
    return ModelArtifact(
        vocab=vocab,
        category_labels=labels,
        cat_w=cat_w,
        cat_b=cat_b,
        spam_w=spam_w,
        spam_b=spam_b,
        info=dict(meta.get("info", {})),
    )


def _text_array(text: str) -> npt.NDArray[np.uint8]:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
