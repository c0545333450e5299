from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from triage_core.classify.embedded import EmbeddedClassifier
from triage_core.model.dataset import read_jsonl
from triage_core.model.train import TrainOptions, train
from triage_core.parsing import parse_email

OWN_TAXONOMY = [
    ("Order 1234 has not shipped", "Where is my order? It was due last week.", "shipping"),
    ("Parcel delayed", "My parcel tracking has not moved in days, where is it?", "shipping"),
    ("Delivery status", "The courier says delivered but nothing arrived.", "shipping"),
    ("Wrong size", "I want to return these shoes, they are too small.", "returns"),
    ("Return label please", "Please send a return label for the broken lamp.", "returns"),
    ("Refund for return", "I sent the jacket back, when do I get the return processed?", "returns"),
]


def _write(tmp: Path, rows: list[tuple[str, str, str]]) -> Path:
    path = tmp / "mine.jsonl"
    path.write_text(
        "\n".join(json.dumps({"subject": s, "body": b, "category": c}) for s, b, c in rows) + "\n",
        encoding="utf-8",
    )
    return path


def test_a_user_can_train_their_own_taxonomy(tmp_path: Path) -> None:
    data = read_jsonl([_write(tmp_path, OWN_TAXONOMY * 3)])
    model = train(data, options=TrainOptions(min_df=1, epochs=150))
    model.save(tmp_path / "mine.npz")
    clf = EmbeddedClassifier(model_path=tmp_path / "mine.npz")
    assert clf.labels == ("returns", "shipping")
    assert model.spam_w is None  # no spam in the data, no corpus: no spam head
    pred = clf.predict(parse_email({"subject": "parcel?", "body": "where is my parcel"}))
    assert pred.category == "shipping"
    pred = clf.predict(parse_email({"subject": "return", "body": "I want to return it"}))
    assert pred.category == "returns"


def test_training_is_deterministic(tmp_path: Path) -> None:
    data = read_jsonl([_write(tmp_path, OWN_TAXONOMY * 2)])
    a = train(data, options=TrainOptions(min_df=1, epochs=50))
    b = train(data, options=TrainOptions(min_df=1, epochs=50))
    assert a.vocab == b.vocab
    np.testing.assert_array_equal(a.cat_w, b.cat_w)
    a.save(tmp_path / "a.npz")
    b.save(tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


def test_spam_in_the_labels_trains_a_spam_head(tmp_path: Path) -> None:
    rows = [
        *OWN_TAXONOMY,
        ("WIN A PRIZE", "Claim your free crypto prize now!!! Click here", "spam"),
        ("You won", "Free money, claim your prize, wire the fee today", "spam"),
    ]
    data = read_jsonl([_write(tmp_path, rows * 3)])
    model = train(data, options=TrainOptions(min_df=1, epochs=150, folds=3, max_ham_fp=0.5))
    assert model.spam_w is not None
    assert model.category_labels == ("returns", "shipping")
    assert model.labels == ("returns", "shipping", "spam")
