"""Hostile and broken input: never an exception, bounded time, `errors` filled.

Each test runs under pytest-timeout: a regression to quadratic behaviour fails by time
instead of hanging CI.
"""

from __future__ import annotations

import base64
import random

import pytest

from triage_core.config import ParseLimits
from triage_core.message import Email
from triage_core.parsing import parse_email

MiB = 1024 * 1024


def _ok(e: Email) -> None:
    assert isinstance(e, Email)
    assert not any(err.startswith("internal parser error") for err in e.errors)


@pytest.mark.timeout(10)
def test_50_mb_body() -> None:
    line = b"All work and no play makes Jack a dull boy. " * 2 + b"\n"
    raw = b"Subject: big\nContent-Type: text/plain\n\n" + line * (50 * MiB // len(line) + 1)
    assert len(raw) > 50 * MiB
    e = parse_email(raw)
    _ok(e)
    assert e.subject == "big"
    assert e.raw_size == len(raw)
    assert len(e.body) == 100_000
    assert e.errors == (
        "message over 25 MiB: tail ignored",
        "body over 100000 characters: truncated",
    )


@pytest.mark.timeout(10)
def test_50_mb_single_line_html() -> None:
    raw = b"Subject: big\nContent-Type: text/html\n\n" + b"<b>x</b> " * (50 * MiB // 9)
    e = parse_email(raw)
    _ok(e)
    assert e.body_is_html
    assert len(e.body) == 100_000
    assert e.errors == (
        "message over 25 MiB: tail ignored",
        "text part over 5 MiB: tail ignored",
        "body over 100000 characters: truncated",
    )


@pytest.mark.timeout(10)
def test_big_base64_attachment_is_not_decoded() -> None:
    payload = base64.encodebytes(b"\x00\x01\x02" * (6 * MiB))
    raw = (
        b"Subject: att\nContent-Type: multipart/mixed; boundary=b\n\n--b\n"
        b"Content-Type: text/plain\n\nsee attached\n--b\nContent-Type: application/zip\n"
        b"Content-Transfer-Encoding: base64\n\n" + payload + b"\n--b--\n"
    )
    e = parse_email(raw)
    _ok(e)
    assert e.body == "see attached"
    assert e.attachments[0].size == 18 * MiB
    assert e.errors == ()


@pytest.mark.timeout(10)
def test_1000_nested_multiparts() -> None:
    head = "".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n' for i in range(1000)
    )
    tail = "".join(f"\n--b{i}--\n" for i in reversed(range(1000)))
    raw = ("Subject: deep\n" + head + "Content-Type: text/plain\n\ndeep text" + tail).encode()
    e = parse_email(raw)
    _ok(e)
    assert e.subject == "deep"
    assert e.body == ""
    assert e.errors == ("MIME nesting deeper than 20: inner parts ignored",)


@pytest.mark.timeout(10)
def test_many_parts() -> None:
    parts = "".join(f"--b\nContent-Type: text/plain\n\npart {i}\n" for i in range(5000))
    raw = f"Subject: many\nContent-Type: multipart/mixed; boundary=b\n\n{parts}--b--\n".encode()
    e = parse_email(raw)
    _ok(e)
    assert e.body.split("\n\n") == [f"part {i}" for i in range(100)]
    assert e.errors == ("too many MIME parts (>100): rest ignored",)


@pytest.mark.timeout(10)
def test_many_headers() -> None:
    raw = "".join(f"X-H{i}: v\n" for i in range(5000)).encode() + b"\nbody\n"
    e = parse_email(raw)
    _ok(e)
    assert len(e.headers) == 1000
    assert e.body == "body"
    assert e.errors == ("too many headers (>1000): rest ignored",)


@pytest.mark.timeout(10)
def test_header_block_over_limit() -> None:
    raw = b"Subject: s\nX-Long: " + b"a" * (300 * 1024) + b"\n\nbody\n"
    e = parse_email(raw)
    _ok(e)
    assert e.subject == "s"
    assert e.body == "body"
    assert e.errors == ("header block over 256 KiB: rest ignored",)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("seed", range(5))
def test_binary_garbage(seed: int) -> None:
    raw = random.Random(seed).randbytes(2 * MiB)
    e = parse_email(raw)
    _ok(e)
    assert e.errors
    assert e.raw_size == 2 * MiB


@pytest.mark.timeout(10)
def test_garbage_without_nul() -> None:
    raw = random.Random(7).randbytes(1 * MiB).replace(b"\x00", b"\x01")
    e = parse_email(raw)
    _ok(e)
    assert e.errors


@pytest.mark.timeout(10)
def test_truncated_mime_mid_part() -> None:
    raw = (
        b"Subject: t\nContent-Type: multipart/alternative; boundary=zz\n\n--zz\n"
        b"Content-Type: text/plain\n\nvisible text\n--zz\nContent-Type: text/html\n\n<p>cut"
    )
    e = parse_email(raw)
    _ok(e)
    assert e.body == "visible text"
    assert e.errors == ("truncated MIME: closing boundary missing",)


@pytest.mark.timeout(10)
def test_truncated_inside_headers() -> None:
    e = parse_email(b"Subject: cut\nContent-Type: multipart/mixed; bound")
    _ok(e)
    assert e.subject == "cut"
    assert e.errors == ("no body after the headers",)


@pytest.mark.timeout(10)
def test_header_block_with_no_body() -> None:
    e = parse_email(b"Subject: only headers\nFrom: a@b.example\n")
    _ok(e)
    assert (e.subject, e.from_addr, e.body, e.newest) == ("only headers", "a@b.example", "", "")
    assert e.errors == ("no body after the headers",)


@pytest.mark.parametrize("raw", [b"", "", b"   \r\n\n", b"\n"])
def test_empty(raw: bytes | str) -> None:
    e = parse_email(raw)
    _ok(e)
    assert e.errors == ("empty message",)
    assert e.body == "" and e.subject == ""
    assert e.message_id.endswith("@triage.local>")


@pytest.mark.timeout(10)
def test_hostile_header_values() -> None:
    raw = (
        b"Subject: "
        + b"=?" * 50_000
        + b"\nFrom: "
        + b'"' * 50_000
        + b"<" * 50_000
        + b"\nTo: "
        + b"a" * 200_000
        + b"\nContent-Type: text/plain;"
        + b" ;" * 50_000
        + b"\nDate: "
        + b" " * 100_000
        + b"\n\nbody\n"
    )
    e = parse_email(raw)
    _ok(e)
    assert e.body == "body"


@pytest.mark.timeout(10)
def test_boundary_flood() -> None:
    raw = (
        b"Subject: f\nContent-Type: multipart/mixed; boundary=x\n\n"
        + b"--x" * 1_000_000
        + b"\n--x--\n"
    )
    _ok(parse_email(raw))


SMALL = (
    b"Subject: s\nContent-Type: multipart/mixed; boundary=b\n\n"
    b"--b\nContent-Type: multipart/alternative; boundary=c\n\n--c\n\ninner\n--c--\n"
    b"--b\nContent-Type: text/plain\n\n" + b"word " * 100 + b"\n"
    b"--b\n\nthird\n--b--\n"
)


@pytest.mark.parametrize(
    ("limits", "body", "errors"),
    [
        (ParseLimits(), "inner\n\n" + " ".join(["word"] * 100) + "\n\nthird", ()),
        (
            ParseLimits(max_depth=1),
            " ".join(["word"] * 100) + "\n\nthird",
            ("MIME nesting deeper than 1: inner parts ignored",),
        ),
        (
            ParseLimits(max_parts=2),
            "inner",  # parts are counted over the whole tree
            ("too many MIME parts (>2): rest ignored",),
        ),
        (
            ParseLimits(max_part_bytes=12),
            "inner\n\nword word wo\n\nthird",
            ("text part over 12 bytes: tail ignored",),
        ),
        (ParseLimits(max_text_chars=8), "inner\n\nw", ("body over 8 characters: truncated",)),
        (
            ParseLimits(max_message_bytes=150),
            "inner",
            ("message over 150 bytes: tail ignored", "truncated MIME: closing boundary missing"),
        ),
        (
            ParseLimits(max_headers=1),
            SMALL.split(b"\n\n", 1)[1].decode().strip(),
            ("too many headers (>1): rest ignored",),
        ),
    ],
)
def test_each_limit_is_enforced(limits: ParseLimits, body: str, errors: tuple[str, ...]) -> None:
    e = parse_email(SMALL, limits=limits)
    _ok(e)
    assert e.body == body
    assert e.errors == errors


def test_internal_failure_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    import triage_core.parsing as parsing

    def broken(data: bytes, **_: object) -> Email:
        raise RuntimeError("boom")

    monkeypatch.setattr(parsing, "parse_bytes", broken)
    e = parse_email(b"Subject: x\n\nbody\n")
    assert e.errors == ("internal parser error (RuntimeError): boom",)
    assert e.raw_size == 17
    assert e.message_id.endswith("@triage.local>")
