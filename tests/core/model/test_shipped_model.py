"""The model in the package is the one `triage model train` builds from the repo's data."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT
from triage_core.model import corpus
from triage_core.model.artifact import load
from triage_core.model.dataset import read_jsonl
from triage_core.model.train import TrainOptions, data_digest


@pytest.mark.corpus
def test_shipped_model_was_trained_on_the_current_data(spamassassin_dir: Path) -> None:
    model = load()
    labeled = read_jsonl([ROOT / "data" / "business" / "train"])
    messages = list(corpus.iter_messages(corpus.TRAIN_SETS, spamassassin_dir))
    assert model.info["data_sha256"] == data_digest(labeled, messages), (
        "data/business/train changed since the model was built: run `make model`"
    )
    assert model.info["options"] == TrainOptions().__dict__


def test_held_out_data_is_never_in_the_training_data() -> None:
    def key(record: dict[str, object]) -> tuple[object, object]:
        return (record.get("subject"), record.get("body") or record.get("html"))

    train = {key(x.record) for x in read_jsonl([ROOT / "data" / "business" / "train"])}
    held = [key(x.record) for x in read_jsonl([ROOT / "data" / "business" / "heldout"])]
    assert len(held) == 150
    assert [h for h in held if h in train] == []
