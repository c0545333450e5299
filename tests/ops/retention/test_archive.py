"""The archive format on its own: segments written and read back, damage detected,
manifests replaced atomically, leftovers of a killed run removed, one user at a time."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from triage_ops.procedures.retention import archive as ar

ROWS = [
    b"00000000-0000-0000-0000-000000000001\t2026-01-01 00:00:00+00\tsummary\\twith tab\t{}\t100\n",
    b'00000000-0000-0000-0000-000000000002\t2026-01-01 00:00:00+00\t\\N\t{"a": 1}\t101\n',
    b"00000000-0000-0000-0000-000000000003\t2026-01-02 10:00:00.5+00\tline\\nbreak\t\\N\t7\n",
]


def _manifest(*segments: ar.Segment) -> ar.Manifest:
    return ar.Manifest(
        table="emails",
        database="127.0.0.1:5432/triage",
        schema_version=2,
        columns=["id", "created_at", "summary", "result"],
        policy={"older_than": "90d", "older_than_s": 7776000, "statuses": ["processed"]},
        cutoff="2026-03-01 00:00:00+00",
        created_at="2026-03-01T00:00:00Z",
        segments=list(segments),
    )


def _segment(directory: Path, name: str = "segment-000001.pgcopy.gz") -> ar.Segment:
    written = ar.write_segment(directory / name, iter(ROWS))
    assert written.first is not None and written.last is not None
    return ar.Segment(
        name=name,
        rows=written.rows,
        bytes=written.size,
        sha256=written.sha256,
        first=written.first,
        last=written.last,
        pass_no=1,
        archived_at="2026-03-01T00:00:00Z",
    )


def test_a_segment_reads_back_as_written(tmp_path: Path) -> None:
    path = tmp_path / "segment-000001.pgcopy.gz"
    written = ar.write_segment(path, [memoryview(r) for r in ROWS[:2]] + [ROWS[2]])
    assert written.rows == 3
    assert written.ids == [r[:36] for r in ROWS]
    assert written.versions == [b"100", b"101", b"7"]
    assert written.first == ar.Key("2026-01-01 00:00:00+00", "00000000-0000-0000-0000-000000000001")
    assert written.last == ar.Key(
        "2026-01-02 10:00:00.5+00", "00000000-0000-0000-0000-000000000003"
    )
    assert gzip.decompress(path.read_bytes()) == b"".join(ROWS)  # `zcat` reads it
    assert not path.with_name(path.name + ".tmp").exists()
    scan = ar.scan_segment(path)
    assert (scan.sha256, scan.size, scan.rows) == (written.sha256, written.size, 3)
    assert (scan.first, scan.last) == (written.first, written.last)
    assert scan.ids == [r[:36].decode() for r in ROWS]
    assert scan.versions == ["100", "101", "7"]
    assert ar.file_sha256(path) == written.sha256


def test_several_rows_in_one_chunk(tmp_path: Path) -> None:
    written = ar.write_segment(tmp_path / "s.pgcopy.gz", [ROWS[0] + ROWS[1], ROWS[2]])
    assert written.rows == 3
    assert written.versions == [b"100", b"101", b"7"]
    assert written.last is not None and written.last.id.endswith("3")


def test_an_empty_batch_leaves_no_file(tmp_path: Path) -> None:
    written = ar.write_segment(tmp_path / "s.pgcopy.gz", iter([]))
    assert (written.rows, written.sha256) == (0, "")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("keys", [True, False])
def test_damage_is_detected(tmp_path: Path, keys: bool) -> None:
    segment = _segment(tmp_path)
    path = tmp_path / segment.name
    good = path.read_bytes()
    ar.check_segment(tmp_path, segment, keys=keys)  # intact: no error

    path.write_bytes(good[:20] + bytes([good[20] ^ 0xFF]) + good[21:])
    with pytest.raises(ar.ArchiveError, match=r"^segment-000001\.pgcopy\.gz: corrupt gzip data"):
        ar.check_segment(tmp_path, segment, keys=keys)

    path.write_bytes(good[:-10])
    with pytest.raises(ar.ArchiveError, match=r"truncated \(the gzip stream does not end\)"):
        ar.check_segment(tmp_path, segment, keys=keys)

    path.write_bytes(good + good)  # a second gzip member appended
    with pytest.raises(ar.ArchiveError, match="data after the end of the gzip stream"):
        ar.check_segment(tmp_path, segment, keys=keys)

    path.unlink()
    with pytest.raises(ar.ArchiveError, match="missing from the archive directory"):
        ar.check_segment(tmp_path, segment, keys=keys)


def test_manifest_round_trip_is_atomic(tmp_path: Path) -> None:
    manifest = _manifest(_segment(tmp_path))
    manifest.position = manifest.segments[0].last
    ar.save_manifest(tmp_path, manifest)
    loaded = ar.load_manifest(tmp_path)
    assert loaded is not None
    assert loaded.to_json() == manifest.to_json()
    assert loaded.totals() == {
        "segments": 1, "rows": 3, "deleted": 0, "kept": 0, "pending": 1,
        "bytes": manifest.segments[0].bytes,
    }  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "manifest.json",
        "segment-000001.pgcopy.gz",
    ]
    assert ar.load_manifest(tmp_path / "nothing-here") is None
    (tmp_path / "manifest.json").write_text('{"format": "something-else"}')
    with pytest.raises(ar.ArchiveError) as raised:
        ar.load_manifest(tmp_path)
    assert str(raised.value) == (
        f"{tmp_path}/manifest.json is not a valid retention manifest:"
        " not a triage-retention/v1 manifest (format 'something-else')"
    )


def test_leftovers_of_a_killed_run_are_removed(tmp_path: Path) -> None:
    manifest = _manifest(_segment(tmp_path))
    _segment(tmp_path, "segment-000002.pgcopy.gz")  # written, never recorded
    (tmp_path / "segment-000003.pgcopy.gz.tmp").write_bytes(b"half")
    (tmp_path / "manifest.json.tmp").write_bytes(b"{")
    (tmp_path / "notes.txt").write_text("the operator's own file")
    removed = ar.remove_orphans(tmp_path, manifest)
    assert removed == [
        "manifest.json.tmp",
        "segment-000002.pgcopy.gz",
        "segment-000003.pgcopy.gz.tmp",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "segment-000001.pgcopy.gz"]


def test_one_process_per_archive_directory(tmp_path: Path) -> None:
    with (
        ar.locked(tmp_path),
        pytest.raises(ar.ArchiveBusy, match="another retention process is using"),
        ar.locked(tmp_path),
    ):
        pass
    with ar.locked(tmp_path):  # released
        pass


def test_the_quick_read_back_agrees_with_the_full_one(tmp_path: Path) -> None:
    """The read-back before a delete counts without splitting lines: the same rows, keys
    and checksum, also when lines straddle read blocks and the last line is 3 MB long."""
    long_line = (
        b"00000000-0000-0000-0000-000000000009\t2026-01-03 00:00:00+00\t"
        + (b"x" * 3_000_000)
        + b"\t42\n"
    )
    rows = [*ROWS * 2000, long_line]
    path = tmp_path / "s.pgcopy.gz"
    written = ar.write_segment(path, rows)
    quick, full = ar.scan_segment(path, keys=False), ar.scan_segment(path)
    assert (quick.sha256, quick.size, quick.rows) == (full.sha256, full.size, full.rows)
    assert (quick.first, quick.last) == (full.first, full.last) == (written.first, written.last)
    assert quick.rows == 6001
    assert quick.last == ar.Key("2026-01-03 00:00:00+00", "00000000-0000-0000-0000-000000000009")
    assert (quick.ids, len(full.ids)) == ([], 6001)
