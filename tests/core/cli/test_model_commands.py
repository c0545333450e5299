"""`triage model train|eval|info` on a user's own taxonomy, end to end."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from triage_core.cli import main

ROWS = [
    ("Where is my parcel", "Tracking has not moved in days, where is my parcel?", "shipping"),
    ("Order not delivered", "The courier says delivered but nothing arrived.", "shipping"),
    ("Late delivery", "My order is a week late, when will it be delivered?", "shipping"),
    ("Return these shoes", "I want to return these shoes, they are too small.", "returns"),
    ("Return label", "Please send a return label for the broken lamp.", "returns"),
    ("Refund my return", "I sent the jacket back, please process the return.", "returns"),
]


def _jsonl(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    path.write_text(
        "".join(json.dumps({"subject": s, "body": b, "category": c}) + "\n" for s, b, c in rows)
    )
    return path


def test_train_eval_info_on_a_custom_taxonomy(tmp_path: Path) -> None:
    runner = CliRunner()
    train = _jsonl(tmp_path / "train.jsonl", ROWS * 4)
    held = _jsonl(tmp_path / "held.jsonl", ROWS[:1] + ROWS[3:4])
    model = tmp_path / "mine.npz"
    r = runner.invoke(main, ["model", "train", "--data", str(train), "--out", str(model)])
    assert r.exit_code == 0, r.stderr
    assert r.stdout == f"wrote {model} (labels: returns, shipping)\n"

    r = runner.invoke(main, ["model", "info", "--model", str(model)])
    assert r.exit_code == 0
    assert r.stdout.splitlines()[1] == "labels:              returns, shipping"
    assert r.stdout.splitlines()[3] == "spam head:           no"

    r = runner.invoke(
        main,
        [
            "model",
            "eval",
            "--model",
            str(model),
            "--data",
            str(held),
            "--no-spam-corpus",
            "--output",
            "json",
        ],
    )
    assert r.exit_code == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["heldout"]["n"] == 2
    assert report["heldout"]["accuracy"] == 1.0
    assert "spamassassin_time_ordered" not in report


def test_train_rejects_a_file_without_categories(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"subject": "x", "body": "y"}\n')
    r = CliRunner().invoke(
        main, ["model", "train", "--data", str(bad), "--out", str(tmp_path / "m.npz")]
    )
    assert r.exit_code == 3
    assert r.stderr == f"triage: error: {bad}:1: missing 'category'\n"
    assert not (tmp_path / "m.npz").exists()
