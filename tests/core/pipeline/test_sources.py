from __future__ import annotations

import json
from pathlib import Path

import pytest

from triage_core.errors import InputError
from triage_core.sources import iter_inputs

MSG = b"From: a@example.com\nSubject: %d\n\nbody %d\n"


def test_directory_each_file_is_a_message(tmp_path: Path) -> None:
    for i in (2, 1):
        (tmp_path / f"{i}.eml").write_bytes(MSG % (i, i))
    (tmp_path / ".hidden").write_bytes(b"x")
    got = [(Path(s.source).name, s.data) for s in iter_inputs([str(tmp_path)])]
    assert got == [("1.eml", MSG % (1, 1)), ("2.eml", MSG % (2, 2))]


def test_mbox_is_split_and_from_lines_unescaped(tmp_path: Path) -> None:
    box = tmp_path / "inbox.mbox"
    box.write_bytes(
        b"From a@example.com Tue Nov 24 07:00:00 2026\nSubject: one\n\n>From the start\n\n"
        b"From b@example.com Tue Nov 24 08:00:00 2026\nSubject: two\n\nbye\n"
    )
    got = list(iter_inputs([str(box)]))
    assert [s.source for s in got] == [f"{box}#1", f"{box}#2"]
    assert got[0].data == b"Subject: one\n\nFrom the start\n\n"
    assert got[1].data == b"Subject: two\n\nbye\n"


def test_a_single_saved_message_with_a_from_line_is_not_an_mbox(tmp_path: Path) -> None:
    f = tmp_path / "00001.txt"
    f.write_bytes(b"From a@example.com Thu Aug 22 12:36:23 2002\nSubject: x\n\nhello\n")
    got = list(iter_inputs([str(f)]))
    assert [s.source for s in got] == [str(f)]


def test_maildir_reads_new_and_cur(tmp_path: Path) -> None:
    for sub in ("cur", "new", "tmp"):
        (tmp_path / sub).mkdir()
    (tmp_path / "new" / "1").write_bytes(MSG % (1, 1))
    (tmp_path / "cur" / "2:2,S").write_bytes(MSG % (2, 2))
    (tmp_path / "tmp" / "3").write_bytes(MSG % (3, 3))
    got = sorted(s.data for s in iter_inputs([str(tmp_path)]))
    assert got == [MSG % (1, 1), MSG % (2, 2)]


def test_jsonl_bad_line_becomes_an_error_input(tmp_path: Path) -> None:
    f = tmp_path / "in.jsonl"
    f.write_text(json.dumps({"subject": "a"}) + "\n{not json\n\n[1]\n", encoding="utf-8")
    got = list(iter_inputs([str(f)]))
    assert [(s.source, s.data, s.error is None) for s in got] == [
        (f"{f}#1", {"subject": "a"}, True),
        (f"{f}#2", {}, False),
        (f"{f}#4", {}, False),
    ]
    assert got[2].error == "line 4 is not a JSON object"


def test_missing_path_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file or directory"):
        list(iter_inputs([str(tmp_path / "nope.eml")]))
