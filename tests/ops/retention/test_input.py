"""Bad input is refused with one line and exit 3, before anything is touched: no database
is needed to get these answers (the configured one does not even exist)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ops.retention.harness import env_for, invoke
from triage_ops.errors import UsageError
from triage_ops.procedures.retention.policy import Policy, parse_batch_size, parse_duration

NOWHERE = "postgresql://nobody@127.0.0.1:1/none"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90d", 90 * 86400), ("12h", 43200), ("2w", 14 * 86400), ("30m", 1800), ("45s", 45),
     (" 90D ", 90 * 86400), ("1d", 86400)],
)  # fmt: skip
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "90", "d", "0d", "-5d", "1.5d", "90x", "9 0d", "1e3d", "90dd"]
)
def test_bad_durations(text: str) -> None:
    with pytest.raises(UsageError, match="invalid duration"):
        parse_duration(text)


def test_policy_statuses() -> None:
    assert Policy.parse("90d").statuses == ("processed",)
    assert Policy.parse("90d", ["failed", "processed", "failed"]).statuses == (
        "failed",
        "processed",
    )
    with pytest.raises(UsageError, match="invalid --status deleted"):
        Policy.parse("90d", ["deleted"])
    assert parse_batch_size("500", maximum=1000) == 500
    for bad in ("0", "-1", "abc", "1001", "1.5", ""):
        with pytest.raises(UsageError, match="invalid --batch-size"):
            parse_batch_size(bad, maximum=1000)


DURATION = "a whole number and one of s, m, h, d, w (e.g. 90d)"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--older-than", "90x"], f"invalid duration '90x': {DURATION}"),
        (["--older-than", "0d"], f"invalid duration '0d': {DURATION}"),
        (["--older-than", "-5d"], f"invalid duration '-5d': {DURATION}"),
        (
            ["--older-than", "90d", "--status", "deleted"],
            "invalid --status deleted: one of queued, processing, processed, failed",
        ),
        (
            ["--older-than", "90d", "--batch-size", "0"],
            "invalid --batch-size '0': a whole number from 1 to 200000",
        ),
        (
            ["--older-than", "90d", "--batch-size", "many"],
            "invalid --batch-size 'many': a whole number from 1 to 200000",
        ),
        (["--older-than", "90d", "--max-duration", "soon"], f"invalid duration 'soon': {DURATION}"),
        ([], "--older-than is required for a new archive (e.g. --older-than 90d)"),
    ],
)
def test_run_refuses_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    archive = tmp_path / "archive"
    result = invoke(
        env_for(NOWHERE, tmp_path), "retention", "run", "--archive-to", str(archive), *args
    )
    assert (result.code, result.err, result.out) == (3, f"triage-ops: error: {message}\n", "")
    assert not archive.exists()


def test_archive_to_a_file_and_missing_archives(tmp_path: Path) -> None:
    env = env_for(NOWHERE, tmp_path)
    a_file = tmp_path / "file"
    a_file.write_text("not a directory")
    result = invoke(env, "retention", "run", "--older-than", "90d", "--archive-to", str(a_file))
    assert (result.code, result.err) == (
        3,
        f"triage-ops: error: --archive-to {a_file} is not a directory\n",
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    for command in (["restore", str(empty)], ["status", str(empty)]):
        result = invoke(env, "retention", *command)
        assert (result.code, result.err) == (
            3,
            f"triage-ops: error: {empty} holds no retention archive (manifest.json not found)\n",
        )


def test_the_command_mirrors_the_library_defaults() -> None:
    from triage_core.service.store.records import STATUSES
    from triage_ops.commands import retention as command
    from triage_ops.procedures.retention import execute, run

    assert command.DEFAULT_BATCH == run.DEFAULT_BATCH
    assert command.DEFAULT_MAX_DURATION == execute.DEFAULT_MAX_DURATION
    assert command.STATUSES == STATUSES


def test_every_subcommand_is_documented(tmp_path: Path) -> None:
    env = env_for(NOWHERE, tmp_path)
    top = invoke(env, "retention", "--help")
    assert top.code == 0
    for name in ("run", "restore", "status"):
        assert f"  {name} " in top.out
        result = invoke(env, "retention", name, "--help")
        assert result.code == 0
        assert "Usage: main retention " + name in result.out
    assert "--older-than DURATION" in invoke(env, "retention", "run", "--help").out
