"""The audit timeline: a hash chain that shows tampering, safe with concurrent writers,
scrubbed of secrets, optionally mirrored to Postgres."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from triage_core.service.settings import Secret
from triage_ops.config import OpsConfig
from triage_ops.engine.audit import FIELDS, GENESIS, AuditLog, default_path, entry_hash, line_hash
from triage_ops.engine.errors import AuditError
from triage_ops.engine.scrub import Scrubber, config_secrets
from triage_ops.sandbox.postgres import PostgresServer, start_postgres

from .conftest import ROOT


def _log(tmp_path: Path, count: int = 4) -> AuditLog:
    log = AuditLog(tmp_path / "audit.jsonl")
    for n in range(1, count + 1):
        log.append(kind="test", summary=f"entry {n}", incident="INC-1" if n % 2 else "INC-2")
    return log


def _lines(log: AuditLog) -> list[bytes]:
    return log.path.read_bytes().splitlines(keepends=True)


def _rewrite(log: AuditLog, lines: list[bytes]) -> None:
    log.path.write_bytes(b"".join(lines))


def test_entries_are_chained(tmp_path: Path) -> None:
    log = _log(tmp_path, 3)
    lines = _lines(log)
    entries = [json.loads(line) for line in lines]
    assert [tuple(e) for e in entries] == [FIELDS] * 3
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert entries[0]["prev"] == GENESIS
    assert entries[1]["prev"] == line_hash(lines[0])
    assert entries[2]["prev"] == line_hash(lines[1])
    assert all(e["hash"] == entry_hash(e) for e in entries)
    assert entries[0]["ts"].endswith("Z") and entries[0]["user"] and entries[0]["host"]
    assert (log.path.stat().st_mode & 0o777) == 0o600
    result = log.verify()
    assert (result.ok, result.entries, result.broken_at, result.reason) == (
        True,
        3,
        None,
        "3 entries, chain intact",
    )


def test_entries_of_one_incident(tmp_path: Path) -> None:
    log = _log(tmp_path, 4)
    assert [e["summary"] for e in log.entries(incident="INC-2")] == ["entry 2", "entry 4"]
    assert [e["seq"] for e in log.entries()] == [1, 2, 3, 4]


def test_no_log_yet(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "none.jsonl")
    assert list(log.entries()) == []
    assert log.verify().to_json() == {
        "ok": True,
        "entries": 0,
        "broken_at": None,
        "reason": "no audit log yet",
    }


def test_an_edited_entry_is_detected(tmp_path: Path) -> None:
    log = _log(tmp_path)
    lines = _lines(log)
    lines[1] = lines[1].replace(b"entry 2", b"entry X")
    _rewrite(log, lines)
    result = log.verify()
    assert (result.ok, result.entries, result.broken_at) == (False, 1, 2)
    assert result.reason == "line 2: entry 2 was edited (its hash does not match its content)"


def test_an_edited_and_rehashed_entry_is_detected_by_the_next(tmp_path: Path) -> None:
    log = _log(tmp_path)
    lines = _lines(log)
    entry = json.loads(lines[1])
    entry["summary"] = "nothing happened"
    entry["hash"] = entry_hash(entry)
    lines[1] = json.dumps(entry, separators=(",", ":")).encode() + b"\n"
    _rewrite(log, lines)
    result = log.verify()
    assert (result.ok, result.broken_at) == (False, 3)
    assert result.reason == (
        "line 3: entry 3 does not follow the line before it (an entry was deleted, inserted,"
        " moved or edited before it)"
    )


def test_a_deleted_entry_is_detected(tmp_path: Path) -> None:
    log = _log(tmp_path)
    lines = _lines(log)
    del lines[1]
    _rewrite(log, lines)
    result = log.verify()
    assert (result.ok, result.broken_at) == (False, 2)
    assert result.reason.startswith("line 2: entry 3 does not follow the line before it")


def test_reordered_entries_are_detected(tmp_path: Path) -> None:
    log = _log(tmp_path)
    lines = _lines(log)
    lines[1], lines[2] = lines[2], lines[1]
    _rewrite(log, lines)
    result = log.verify()
    assert (result.ok, result.broken_at) == (False, 2)
    assert result.reason.startswith("line 2: entry 3 does not follow the line before it")


def test_a_renumbered_entry_is_detected(tmp_path: Path) -> None:
    log = _log(tmp_path, 1)
    entry = json.loads(_lines(log)[0])
    entry["seq"] = 7
    entry["hash"] = entry_hash(entry)
    _rewrite(log, [json.dumps(entry, separators=(",", ":")).encode() + b"\n"])
    assert log.verify().reason == "line 1: entry numbered 7 where 1 was expected"


def test_a_cut_short_write_is_named_and_the_chain_goes_on(tmp_path: Path) -> None:
    log = _log(tmp_path, 2)
    lines = _lines(log)
    _rewrite(log, [*lines, b'{"seq":3,"ts":"2026-'])
    assert log.verify().reason == "line 3: cut short (a write did not finish)"
    entry = log.append(kind="test", summary="after the crash")
    assert entry["seq"] == 4  # the cut line counts as one
    assert entry["prev"] == line_hash(b'{"seq":3,"ts":"2026-')
    result = log.verify()
    assert (result.ok, result.broken_at, result.reason) == (False, 3, "line 3: not JSON")
    with pytest.raises(AuditError) as caught:
        list(log.entries())
    assert str(caught.value) == (
        f"{log.path}: line 3 is not a JSON entry (`triage-ops audit verify` says more)"
    )


APPENDER = """
import sys
from triage_ops.engine.audit import AuditLog
log = AuditLog(sys.argv[1])
for n in range(int(sys.argv[3])):
    log.append(kind="test", summary=f"{sys.argv[2]} {n}", details={"pad": "x" * 2000})
"""


@pytest.mark.timeout(60)
def test_two_processes_appending_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    count = 150
    writers = [
        subprocess.Popen([sys.executable, "-c", APPENDER, str(path), name, str(count)], cwd=ROOT)
        for name in ("a", "b")
    ]
    assert [w.wait(timeout=50) for w in writers] == [0, 0]
    log = AuditLog(path)
    result = log.verify()
    assert (result.ok, result.entries) == (True, 2 * count), result.reason
    entries = list(log.entries())
    assert [e["seq"] for e in entries] == list(range(1, 2 * count + 1))
    for name in ("a", "b"):  # each writer's entries, all there and in its own order
        mine = [e["summary"] for e in entries if e["summary"].startswith(name + " ")]
        assert mine == [f"{name} {n}" for n in range(count)]


def test_an_unwritable_log_fails_before_anything_changes(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    log = AuditLog(blocker / "audit.jsonl")
    with pytest.raises(AuditError) as caught:
        log.ensure_writable()
    assert str(caught.value).startswith(f"the audit log {blocker / 'audit.jsonl'} is not writable:")


def test_default_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert default_path(OpsConfig(audit_log="/var/log/triage/audit.jsonl")) == Path(
        "/var/log/triage/audit.jsonl"
    )
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert default_path(OpsConfig()) == tmp_path / "state" / "triage-ops" / "audit.jsonl"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_path(OpsConfig()) == (
        tmp_path / "home" / ".local" / "state" / "triage-ops" / "audit.jsonl"
    )


# -- secrets ---------------------------------------------------------------------------


def test_scrubber_masks_by_key_shape_and_value() -> None:
    scrub = Scrubber(secrets=["s3cr3t-value", "ab"])
    data: dict[str, Any] = {
        "password": "hunter2",
        "new_password": {"nested": "x"},
        "DB_PASSWORD": "y",
        "api_key": "k-123",
        "apiKey": "k-456",
        "routing_key": "R0UT1NG",
        "slack_webhook_url": "https://hooks.slack.com/services/T1/B2/C3",
        "token": "t",
        "Authorization": "Bearer abc.def",
        "secret": "z",
        "db_secret_name": "db-credentials",  # names a secret: kept
        "password_age_days": 91,  # about a secret: kept
        "password_set": True,
        "token_empty": "",
        "dsn": "postgresql://triage:pw@db:5432/triage",
        "url": "redis://:redispw@cache:6379/0",
        "plain_url": "http://prometheus:9090/api/v1/query",
        "kv": "host=db password='a b c' dbname=triage",
        "text": "connect failed for s3cr3t-value at https://hooks.slack.com/services/T9/B9/Z9",
        "header": "got header Bearer eyJhbGciOi.x-y_z",
        "short": "ab is too short to mask",
        "secret_obj": Secret("anything"),
        "list": [Secret("x1"), "mysql://root:toor@h/db", 3, None, True],
        "path": Path("/etc/triage"),
    }
    assert scrub(data) == {
        "password": "***",
        "new_password": "***",
        "DB_PASSWORD": "***",
        "api_key": "***",
        "apiKey": "***",
        "routing_key": "***",
        "slack_webhook_url": "***",
        "token": "***",
        "Authorization": "***",
        "secret": "***",
        "db_secret_name": "db-credentials",
        "password_age_days": 91,
        "password_set": True,
        "token_empty": "",
        "dsn": "postgresql://***@db:5432/triage",
        "url": "redis://***@cache:6379/0",
        "plain_url": "http://prometheus:9090/api/v1/query",
        "kv": "host=db password=*** dbname=triage",
        "text": "connect failed for *** at https://hooks.slack.com/services/***",
        "header": "got header Bearer ***",
        "short": "ab is too short to mask",
        "secret_obj": "***",
        "list": ["***", "mysql://***@h/db", 3, None, True],
        "path": "/etc/triage",
    }


def test_config_secrets_are_url_passwords_and_every_other_secret_whole() -> None:
    config = OpsConfig.load(
        None,
        env={
            "TRIAGE_OPS_DATABASE_URL": "postgresql://triage:p%40ss@db/triage",
            "TRIAGE_OPS_REDIS_URL": "redis://127.0.0.1:6379/0",  # nothing secret in it
            "TRIAGE_OPS_QUEUE_REDIS_URL": "redis://queue:6379/0?password=qpw",
            "TRIAGE_OPS_PAGERDUTY_ROUTING_KEY": "R0UTINGKEY",
            "TRIAGE_OPS_SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/A/B/C",
        },
    )
    assert config_secrets(config) == [
        "p%40ss",
        "p@ss",
        "qpw",
        "R0UTINGKEY",
        "https://hooks.slack.com/services/A/B/C",
    ]


def test_an_appended_entry_carries_no_secret(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", secrets=["R0UTINGKEY-123"])
    log.append(
        kind="comms.send",
        summary="paged with R0UTINGKEY-123 via postgresql://u:hunter2@db/x",
        plan={"changes": [{"target": "role", "before": {"password": "old"}, "after": "new"}]},
        details={"webhook": "https://hooks.slack.com/services/A/B/C", "count": 2},
        findings=[{"code": "TRI-X-001", "evidence": {"dsn": "postgresql://u:hunter2@db/x"}}],
    )
    text = log.path.read_text()
    for secret in ("R0UTINGKEY-123", "hunter2", "A/B/C", '"old"'):
        assert secret not in text
    assert log.verify().ok


# -- the Postgres mirror ---------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    # Its own temporary directory (owned by the postgres user), outside pytest's basetemp,
    # which a concurrent pytest run may prune.
    server = start_postgres(password="mirror-pass-42")
    yield server
    server.destroy()


@pytest.mark.timeout(60)
def test_entries_are_mirrored_to_postgres(postgres: PostgresServer, tmp_path: Path) -> None:
    dsn = postgres.create_database("audit_mirror")
    log = AuditLog(tmp_path / "audit.jsonl", mirror_dsn=dsn)
    first = log.append(kind="action", summary="one", incident="INC-7", plan={"summary": "p"})
    second = log.append(kind="runbook.run", summary="two", findings=[{"code": "TRI-X-001"}])
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            'SELECT seq, "user", kind, incident, summary, plan, findings, prev, hash, line'
            " FROM triage_ops_audit ORDER BY seq"
        ).fetchall()
    lines = log.path.read_text().splitlines()
    assert rows == [
        (1, first["user"], "action", "INC-7", "one", {"summary": "p"}, [], GENESIS,
         first["hash"], lines[0]),
        (2, second["user"], "runbook.run", None, "two", None, [{"code": "TRI-X-001"}],
         second["prev"], second["hash"], lines[1]),
    ]  # fmt: skip
    assert "mirror-pass-42" not in log.path.read_text()


@pytest.mark.timeout(60)
def test_a_mirror_that_is_down_never_loses_the_local_entry(
    postgres: PostgresServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dsn = postgres.url("audit_mirror").replace(str(postgres.port), str(_closed_port()))
    log = AuditLog(tmp_path / "audit.jsonl", mirror_dsn=dsn, mirror_timeout=1)
    with caplog.at_level(logging.WARNING, logger="triage_ops.audit"):
        entry = log.append(kind="test", summary="kept")
    assert [e["hash"] for e in log.entries()] == [entry["hash"]]
    [record] = caplog.records
    message = record.getMessage()
    assert message.startswith("audit mirror not written (Unreachable: PostgreSQL audit mirror at")
    assert message.endswith(f"the entry is in {log.path}")
    assert "mirror-pass-42" not in message


@pytest.mark.timeout(60)
def test_a_black_holed_mirror_costs_its_timeout(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(1)  # accepts TCP into the backlog, never answers
        dsn = f"postgresql://u:black-hole-pw@127.0.0.1:{hole.getsockname()[1]}/db"
        log = AuditLog(tmp_path / "audit.jsonl", mirror_dsn=dsn, mirror_timeout=1)
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="triage_ops.audit"):
            log.append(kind="test", summary="kept")
        elapsed = time.monotonic() - started
    assert elapsed < 4.0  # libpq's connect_timeout is 2 s at least
    assert log.verify().entries == 1
    [record] = caplog.records
    assert "TimedOut" in record.getMessage() and "black-hole-pw" not in record.getMessage()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
