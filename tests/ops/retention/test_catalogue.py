"""Our finding codes: declared once, valid, each command naming only evidence we give."""

from __future__ import annotations

from triage_ops.engine.catalogue import read_file
from triage_ops.engine.runbook import default_dir

CODES = [f"TRI-RET-00{n}" for n in range(1, 7)]


def test_codes_are_declared_with_their_commands() -> None:
    entries = {e.code: e for e in read_file(default_dir() / "findings.d" / "retention.yaml")}
    assert sorted(entries) == CODES
    assert {c: str(e.severity) for c, e in entries.items()} == {
        "TRI-RET-001": "warning",
        "TRI-RET-002": "warning",
        "TRI-RET-003": "critical",
        "TRI-RET-004": "critical",
        "TRI-RET-005": "warning",
        "TRI-RET-006": "critical",
    }
    # every placeholder is evidence the retention code gives (archive_dir)
    assert {k for e in entries.values() for k in e.evidence_keys} == {"archive_dir"}
    assert entries["TRI-RET-002"].render_command({"archive_dir": "/a b"}) == (
        "triage-ops retention run --archive-to '/a b'"
    )
