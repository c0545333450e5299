"""`triage run` as a user calls it, through click's CliRunner."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from click.testing import CliRunner

from tests.conftest import EXAMPLES
from triage_core import Pipeline, PipelineConfig
from triage_core.cli import main
from triage_core.cli.exit_codes import ExitCode
from triage_core.cli.render import CSV_COLUMNS
from triage_core.sources import iter_inputs

INBOX = EXAMPLES / "inbox"
CONFIG = EXAMPLES / "config.yaml"


def _without_timings(d: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in d.items() if k != "timings_ms"}


def _invoke(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_jsonl_is_exactly_what_the_library_returns() -> None:
    code, out, err = _invoke("run", str(INBOX), "--format", "jsonl", "--config", str(CONFIG))
    assert code == 0, err
    got = [_without_timings(json.loads(line)) for line in out.splitlines()]
    pipeline = Pipeline(PipelineConfig.from_yaml(CONFIG))
    want = [_without_timings(r.to_dict()) for r in pipeline.pipe(iter_inputs([str(INBOX)]))]
    assert got == want
    assert len(got) == 30
    assert [Path(str(d["source"])).name for d in got] == sorted(p.name for p in INBOX.iterdir())


def test_json_is_one_array() -> None:
    code, out, _ = _invoke("run", str(INBOX / "01-p0-dispatch-api-outage.eml"), "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert isinstance(data, list) and len(data) == 1
    assert data[0]["schema"] == "triage/v1"


def test_csv_has_the_documented_columns() -> None:
    code, out, _ = _invoke("run", str(INBOX), "--format", "csv")
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 31


def test_table_has_a_header_and_one_row_per_email() -> None:
    code, out, _ = _invoke("run", str(INBOX), "--config", str(CONFIG))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["SOURCE", "CATEGORY", "PRI", "REPLY", "SUBJECT", "SUMMARY"]
    assert len(lines) == 31
    assert lines[1].startswith("01-p0-dispatch-api-ou…  incident")


def test_stdin_and_workers_give_the_same_answers() -> None:
    raw = (INBOX / "03-vip-cfo-board-pack-by-1700.eml").read_bytes()
    code, out, _ = _invoke("run", "-", "--format", "jsonl", stdin=raw)
    assert code == 0
    from_stdin = _without_timings(json.loads(out))
    assert from_stdin["source"] == "<stdin>"
    code, out2, _ = _invoke(
        "run", str(INBOX), "--format", "jsonl", "--workers", "2", "--batch-size", "4"
    )
    code1, out1, _ = _invoke("run", str(INBOX), "--format", "jsonl")
    assert code == code1 == 0
    assert [_without_timings(json.loads(x)) for x in out2.splitlines()] == [
        _without_timings(json.loads(x)) for x in out1.splitlines()
    ]


def test_jsonl_input_with_a_bad_line(tmp_path: Path) -> None:
    f = tmp_path / "in.jsonl"
    f.write_text('{"subject": "Invoice 7", "body": "Please pay invoice 7"}\nnot json\n')
    code, out, _ = _invoke("run", str(f), "--format", "jsonl")
    assert code == 0
    lines = [json.loads(x) for x in out.splitlines()]
    assert [d["source"] for d in lines] == [f"{f}#1", f"{f}#2"]
    assert lines[1]["errors"][0]["stage"] == "read"


def test_missing_input_is_one_line_and_exit_3(tmp_path: Path) -> None:
    code, out, err = _invoke("run", str(tmp_path / "nope.eml"))
    assert code == ExitCode.INPUT == 3
    assert out == ""
    assert err == f"triage: error: {tmp_path / 'nope.eml'}: no such file or directory\n"


def test_bad_config_is_one_line_and_exit_4(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("priority:\n  vip_sender: [a@b.c]\n")
    code, _, err = _invoke("run", str(INBOX), "--config", str(cfg))
    assert code == ExitCode.CONFIG == 4
    assert err.startswith("triage: error: unknown config key 'priority.vip_sender'")
    assert err.count("\n") == 1


def test_missing_model_is_one_line_and_exit_5(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("classifier:\n  model_path: missing.npz\n")
    code, out, err = _invoke("run", str(INBOX), "--config", str(cfg))
    assert code == ExitCode.MODEL == 5
    assert out == ""
    assert err == f"triage: error: model file not found: {tmp_path / 'missing.npz'}\n"


def test_progress_bar_goes_to_stderr_only() -> None:
    code, out, err = _invoke("run", str(INBOX), "--format", "jsonl", "--progress")
    assert code == 0
    assert len(out.splitlines()) == 30
    # Not a terminal here, so click prints the label once instead of redrawing a bar.
    assert err.startswith("triaging")
