"""The archive format on its own: segments written and read back (zstd, and the gzip of v1
archives), damage detected, manifests replaced atomically, leftovers of a killed run
removed, one user at a time."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest
import zstandard

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


def _segment(directory: Path, name: str = "segment-000001.pgcopy.zst") -> ar.Segment:
    if name.endswith(ar.GZIP_SUFFIX):  # as a v1 run wrote it: gzip -1
        (directory / name).write_bytes(gzip.compress(b"".join(ROWS), compresslevel=1))
        scan = ar.scan_segment(directory / name)
        written = ar.Written(scan.sha256, scan.size, scan.rows, scan.first, scan.last)
    else:
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
    path = tmp_path / "segment-000001.pgcopy.zst"
    written = ar.write_segment(path, [memoryview(r) for r in ROWS[:2]] + [ROWS[2]])
    assert written.rows == 3
    assert written.first == ar.Key("2026-01-01 00:00:00+00", "00000000-0000-0000-0000-000000000001")
    assert written.last == ar.Key(
        "2026-01-02 10:00:00.5+00", "00000000-0000-0000-0000-000000000003"
    )
    data = path.read_bytes()
    # `zstdcat` reads it: one frame, with zstd's checksum of the content
    assert zstandard.ZstdDecompressor().decompressobj().decompress(data) == b"".join(ROWS)
    assert zstandard.get_frame_parameters(data).has_checksum
    assert not path.with_name(path.name + ".tmp").exists()
    assert hashlib.sha256(data).hexdigest() == written.sha256
    assert len(data) == written.size
    scan = ar.scan_segment(path)
    assert (scan.sha256, scan.size, scan.rows) == (written.sha256, written.size, 3)
    assert (scan.first, scan.last) == (written.first, written.last)
    assert scan.ids == [r[:36].decode() for r in ROWS]
    assert scan.versions == ["100", "101", "7"]
    assert ar.file_sha256(path) == written.sha256


def test_a_v1_gzip_segment_is_read_the_same_way(tmp_path: Path) -> None:
    segment = _segment(tmp_path, "segment-000001.pgcopy.gz")
    scan = ar.check_segment(tmp_path, segment)
    assert (scan.rows, scan.ids, scan.versions) == (
        3,
        [r[:36].decode() for r in ROWS],
        ["100", "101", "7"],
    )
    blocks = [b for b, digest in ar.iter_blocks(tmp_path / segment.name) if not digest]
    assert b"".join(blocks) == b"".join(ROWS)
    assert segment.to_json()["compression"] == "gzip"


def test_several_rows_in_one_chunk(tmp_path: Path) -> None:
    # the last chunk is one whole line after a chunk that ended with a newline
    written = ar.write_segment(tmp_path / "s.pgcopy.zst", [ROWS[0] + ROWS[1], ROWS[2]])
    assert written.rows == 3
    assert written.first is not None and written.first.id.endswith("1")
    assert written.last is not None and written.last.id.endswith("3")
    scan = ar.scan_segment(tmp_path / "s.pgcopy.zst")
    assert scan.versions == ["100", "101", "7"]


def test_an_empty_batch_leaves_no_file(tmp_path: Path) -> None:
    written = ar.write_segment(tmp_path / "s.pgcopy.zst", iter([]))
    assert (written.rows, written.sha256) == (0, "")
    assert list(tmp_path.iterdir()) == []


def test_a_stream_that_ends_inside_a_line_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ar.ArchiveError, match=r"s\.pgcopy\.zst: the stream ended inside a line"):
        ar.write_segment(tmp_path / "s.pgcopy.zst", [ROWS[0], ROWS[1][:-1]])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("keys", [True, False])
@pytest.mark.parametrize(
    ("name", "codec"), [("segment-000001.pgcopy.zst", "zstd"), ("segment-000001.pgcopy.gz", "gzip")]
)
def test_damage_is_detected(tmp_path: Path, keys: bool, name: str, codec: str) -> None:
    segment = _segment(tmp_path, name)
    path = tmp_path / segment.name
    good = path.read_bytes()
    ar.check_segment(tmp_path, segment, keys=keys)  # intact: no error

    at = len(good) // 2
    path.write_bytes(good[:at] + bytes([good[at] ^ 0xFF]) + good[at + 1 :])
    with pytest.raises(ar.ArchiveError, match=rf"^{name}: corrupt {codec} data"):
        ar.check_segment(tmp_path, segment, keys=keys)

    path.write_bytes(good[:-10])
    with pytest.raises(ar.ArchiveError, match=rf"truncated \(the {codec} stream does not end\)"):
        ar.check_segment(tmp_path, segment, keys=keys)

    path.write_bytes(good + good)  # a second frame (member) appended
    with pytest.raises(ar.ArchiveError, match=f"data after the end of the {codec} stream"):
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
        "segment-000001.pgcopy.zst",
    ]
    stored = json.loads((tmp_path / "manifest.json").read_text())
    # self-describing: what a line holds and how a segment is compressed
    assert {k: stored[k] for k in ("format", "copy_format", "version_column")} == {
        "format": "triage-retention/v2",
        "copy_format": "text",
        "version_column": "xmin",
    }
    assert stored["segments"][0]["compression"] == "zstd"
    assert ar.load_manifest(tmp_path / "nothing-here") is None
    (tmp_path / "manifest.json").write_text('{"format": "something-else"}')
    with pytest.raises(ar.ArchiveError) as raised:
        ar.load_manifest(tmp_path)
    assert str(raised.value) == (
        f"{tmp_path}/manifest.json is not a valid retention manifest: not a"
        " triage-retention/v1 or triage-retention/v2 manifest (format 'something-else')"
    )


def test_a_v1_manifest_stays_v1_until_a_zstd_segment_is_added(tmp_path: Path) -> None:
    """A v1 archive (gzip segments, no column types) loads, saves as v1 (a restore
    records itself in it), and becomes v2 when a resumed run records a zstd segment."""
    v1 = _manifest(_segment(tmp_path, "segment-000001.pgcopy.gz")).to_json()
    v1["format"] = "triage-retention/v1"
    for key in ("column_types", "copy_format"):
        del v1[key]
    (tmp_path / "manifest.json").write_text(json.dumps(v1))
    loaded = ar.load_manifest(tmp_path)
    assert loaded is not None
    assert (loaded.format, loaded.column_types) == ("triage-retention/v1", [])
    ar.save_manifest(tmp_path, loaded)
    assert json.loads((tmp_path / "manifest.json").read_text())["format"] == "triage-retention/v1"
    ar.record_segment(tmp_path, loaded, _segment(tmp_path, "segment-000002.pgcopy.zst"))
    again = ar.load_manifest(tmp_path)
    assert again is not None
    assert again.format == "triage-retention/v2"
    assert [s.name for s in again.segments] == [
        "segment-000001.pgcopy.gz",
        "segment-000002.pgcopy.zst",
    ]
    for segment in again.segments:
        assert ar.check_segment(tmp_path, segment).rows == 3


def test_leftovers_of_a_killed_run_are_removed(tmp_path: Path) -> None:
    manifest = _manifest(_segment(tmp_path))
    _segment(tmp_path, "segment-000002.pgcopy.zst")  # written, never recorded
    _segment(tmp_path, "segment-000003.pgcopy.gz")  # a v1 run's, never recorded
    (tmp_path / "segment-000004.pgcopy.zst.tmp").write_bytes(b"half")
    (tmp_path / "manifest.json.tmp").write_bytes(b"{")
    (tmp_path / "notes.txt").write_text("the operator's own file")
    removed = ar.remove_orphans(tmp_path, manifest)
    assert removed == [
        "manifest.json.tmp",
        "segment-000002.pgcopy.zst",
        "segment-000003.pgcopy.gz",
        "segment-000004.pgcopy.zst.tmp",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "segment-000001.pgcopy.zst"]


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
    path = tmp_path / "s.pgcopy.zst"
    written = ar.write_segment(path, rows)
    quick, full = ar.read_back(path), ar.scan_segment(path)
    assert ar.scan_segment(path, keys=False) == quick
    assert (quick.sha256, quick.size, quick.rows) == (full.sha256, full.size, full.rows)
    assert (quick.first, quick.last) == (full.first, full.last) == (written.first, written.last)
    assert quick.rows == 6001
    assert quick.last == ar.Key("2026-01-03 00:00:00+00", "00000000-0000-0000-0000-000000000009")
    assert (quick.ids, len(full.ids)) == ([], 6001)


def test_a_run_counts_rows_once_when_it_reads_back(tmp_path: Path) -> None:
    """A run's writer does not count lines (the read-back and the server do): the file
    is the same, and so are its checks."""
    counted = ar.write_segment(tmp_path / "a.pgcopy.zst", ROWS)
    writer = ar.SegmentWriter(tmp_path / "b.pgcopy.zst", count_rows=False)
    writer.write(b"".join(ROWS))
    quiet = writer.finish()
    assert (quiet.rows, quiet.first, quiet.last) == (None, None, None)
    assert (quiet.sha256, quiet.size) == (counted.sha256, counted.size)
    assert ar.read_back(tmp_path / "b.pgcopy.zst").rows == 3


def test_numbers_continue_after_the_highest_segment(tmp_path: Path) -> None:
    """A range that held no row leaves a gap: the next run must not reuse a name."""
    manifest = _manifest(_segment(tmp_path), _segment(tmp_path, "segment-000004.pgcopy.zst"))
    assert manifest.next_segment_number() == 5
    assert _manifest().next_segment_number() == 1
