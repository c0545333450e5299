"""Where emails come from: .eml files, directories, mbox, Maildir, JSONL, stdin.

Everything streams: an mbox of a million messages is read one message at a time, so memory
does not grow with the input. Each input carries its source (`path`, or `path#N` for the
N-th message of an mbox or the N-th line of a JSONL file) into the result.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from triage_core.errors import InputError
from triage_core.pipeline import SourcedInput

_MBOX_SUFFIXES = {".mbox", ".mbx"}
_JSONL_SUFFIXES = {".jsonl", ".ndjson"}
_FROM_ESCAPED = re.compile(rb"^>+From ")


def check_paths(paths: Sequence[str]) -> None:
    """Fails before any output when a path is missing, so a typo in the third of three
    paths does not leave a half-written report behind."""
    for name in paths:
        if name == "-":
            continue
        path = Path(name)
        if not path.exists():
            raise InputError(f"{name}: no such file or directory")
        if not (path.is_dir() or path.is_file()):
            raise InputError(f"{name}: not a regular file or directory")


def iter_inputs(paths: Sequence[str]) -> Iterator[SourcedInput]:
    for name in paths:
        if name == "-":
            yield from _from_stream(sys.stdin.buffer, "<stdin>")
            continue
        path = Path(name)
        if path.is_dir():
            yield from _from_directory(path)
        elif path.is_file():
            yield from _from_file(path)
        elif path.exists():
            raise InputError(f"{name}: not a regular file or directory")
        else:
            raise InputError(f"{name}: no such file or directory")


def count_inputs_hint(paths: Sequence[str]) -> int | None:
    """A cheap size hint for the progress bar: the number of files, when that is the
    number of messages (no mbox or JSONL, which would need a full read to count)."""
    total = 0
    for name in paths:
        path = Path(name)
        if name == "-" or not path.exists():
            return None
        files = _message_files(path) if path.is_dir() else [path]
        for f in files:
            if f.suffix.lower() in _MBOX_SUFFIXES | _JSONL_SUFFIXES:
                return None
        total += len(files)
    return total


def _message_files(directory: Path) -> list[Path]:
    if (directory / "cur").is_dir() and (directory / "new").is_dir():
        sub = [directory / "new", directory / "cur"]
        return sorted(f for d in sub for f in d.iterdir() if f.is_file())
    return sorted(f for f in directory.iterdir() if f.is_file() and not f.name.startswith("."))


def _from_directory(directory: Path) -> Iterator[SourcedInput]:
    for f in _message_files(directory):
        yield from _from_file(f)


def _from_file(path: Path) -> Iterator[SourcedInput]:
    suffix = path.suffix.lower()
    try:
        if suffix in _JSONL_SUFFIXES:
            with path.open("rb") as fh:
                yield from _jsonl_lines(fh, str(path))
            return
        with path.open("rb") as fh:
            head = fh.read(5)
            fh.seek(0)
            if suffix in _MBOX_SUFFIXES or (head == b"From " and _looks_like_mbox(path)):
                yield from _mbox(fh, str(path))
                return
            yield SourcedInput(str(path), fh.read())
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}") from exc


def _looks_like_mbox(path: Path) -> bool:
    """A file starting with a From_ line is an mbox when a second From_ line follows a
    blank line; a single saved message (as in the SpamAssassin corpus) is not."""
    with path.open("rb") as fh:
        prev_blank = False
        for i, line in enumerate(fh):
            if i > 0 and prev_blank and line.startswith(b"From "):
                return True
            prev_blank = line in (b"\n", b"\r\n")
    return False


def _from_stream(stream: BinaryIO, name: str) -> Iterator[SourcedInput]:
    data = stream.read()
    stripped = data.lstrip()
    if stripped.startswith(b"{"):
        yield from _jsonl_lines(data.splitlines(), name)
    elif data.startswith(b"From ") and re.search(rb"\r?\n\r?\nFrom ", data):
        import io

        yield from _mbox(io.BytesIO(data), name)
    else:
        yield SourcedInput(name, data)


def _mbox(fh: BinaryIO, name: str) -> Iterator[SourcedInput]:
    """mboxo/mboxrd: messages start at a From_ line after a blank line; `>From ` lines
    inside a body are unescaped by one level."""
    lines: list[bytes] = []
    n = 0
    prev_blank = True
    for line in fh:
        if line.startswith(b"From ") and prev_blank:
            if lines:
                n += 1
                yield SourcedInput(f"{name}#{n}", b"".join(lines))
            lines = []
            prev_blank = False
            continue
        prev_blank = line in (b"\n", b"\r\n")
        if line.startswith(b">") and _FROM_ESCAPED.match(line):
            line = line[1:]
        lines.append(line)
    if lines:
        n += 1
        yield SourcedInput(f"{name}#{n}", b"".join(lines))


def _jsonl_lines(lines: Sequence[bytes] | BinaryIO, name: str) -> Iterator[SourcedInput]:
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        # A bad line becomes a result with an error, not an abort: the lines after it
        # still get triaged and the output keeps one result per input line.
        source = f"{name}#{n}"
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            yield SourcedInput(source, {}, error=f"line {n} is not valid JSON: {exc}")
            continue
        if not isinstance(record, dict):
            yield SourcedInput(source, {}, error=f"line {n} is not a JSON object")
            continue
        yield SourcedInput(source, record)
