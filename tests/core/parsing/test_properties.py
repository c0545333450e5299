"""Property tests: whatever the input, parse_email returns a well-formed Email."""

from __future__ import annotations

import base64
import binascii
import dataclasses
from datetime import datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from triage_core.message import Attachment, Email
from triage_core.parsing import parse_email

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STR_FIELDS = [f.name for f in dataclasses.fields(Email) if f.type in ("str", str)]


def _check(e: Email) -> None:
    assert isinstance(e, Email)
    for name in STR_FIELDS:
        assert isinstance(getattr(e, name), str), name
    for name in ("to", "cc", "references", "errors"):
        value = getattr(e, name)
        assert isinstance(value, tuple) and all(isinstance(v, str) for v in value), name
    assert e.date is None or (isinstance(e.date, datetime) and e.date.tzinfo is not None)
    assert all(
        isinstance(a, Attachment)
        and isinstance(a.filename, str)
        and isinstance(a.content_type, str)
        and a.size >= 0
        for a in e.attachments
    )
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in e.headers)
    assert not any(err.startswith("internal parser error") for err in e.errors), e.errors
    if e.body.strip():
        assert e.newest
    assert e.message_id


@SETTINGS
@given(st.binary(max_size=3000))
def test_arbitrary_bytes(raw: bytes) -> None:
    _check(parse_email(raw))


@SETTINGS
@given(st.text(max_size=2000))
def test_arbitrary_text(raw: str) -> None:
    _check(parse_email(raw))


HEADER_NAMES = st.sampled_from(
    [
        "Subject",
        "From",
        "To",
        "Cc",
        "Date",
        "Message-ID",
        "References",
        "In-Reply-To",
        "Reply-To",
        "List-Id",
        "X-Junk",
        "Content-Type",
        "Content-Transfer-Encoding",
    ]
)
HEADER_VALUES = st.one_of(
    st.text(max_size=80).map(lambda s: s.replace("\n", " ").replace("\r", " ")),
    st.sampled_from(
        [
            "=?utf-8?B?w6k=?=",
            "=?bogus?Q?x_y?=",
            '"A, B" <a@b.c>',
            "x@y.z (Z)",
            "Thu, 22 Aug 2002 12:36:23 +0100",
            "<a@b> <c@d>",
            "g: a@b, c@d;",
            "<<>>",
        ]
    ),
)
CHARSETS = st.sampled_from(
    [
        "utf-8",
        "us-ascii",
        "iso-8859-1",
        "chinesebig5",
        "default",
        "x-user-defined",
        "koi8-r",
        "gb2312",
        "utf-16",
        "",
        '"',
    ]
)
CTES = st.sampled_from(["7bit", "8bit", "base64", "quoted-printable", "binary", "x-uue", ""])
LEAF_TYPES = st.sampled_from(
    [
        "text/plain",
        "text/html",
        "application/pdf",
        "image/png",
        "message/rfc822",
        "text/calendar",
        "bogus",
        "",
    ]
)
PAYLOADS = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(lambda s: s.encode("utf-8", "replace")),
    st.sampled_from(
        [
            b"<p>Hi <b>there</b></p>",
            b"On x wrote:\n> q\nreply",
            b"Subject: inner\n\ninner body",
            b"=E9=\n",
            b"w6k",
        ]
    ),
)


def _encode(payload: bytes, cte: str) -> bytes:
    if cte == "base64":
        return base64.encodebytes(payload)
    if cte == "quoted-printable":
        return binascii.b2a_qp(payload)
    return payload


@st.composite
def leaf(draw: st.DrawFn) -> bytes:
    ctype = draw(LEAF_TYPES)
    cte = draw(CTES)
    charset = draw(CHARSETS)
    disposition = draw(
        st.sampled_from(
            ["", "inline", "attachment; filename=a.txt", "attachment; filename*=utf-8''%C3%A9.pdf"]
        )
    )
    head = f"Content-Type: {ctype}; charset={charset}\nContent-Transfer-Encoding: {cte}\n"
    if disposition:
        head += f"Content-Disposition: {disposition}\n"
    return head.encode() + b"\n" + _encode(draw(PAYLOADS), cte)


def multipart(children: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        subtype = draw(st.sampled_from(["mixed", "alternative", "related", "digest"]))
        boundary = draw(st.sampled_from(["b", "b1", "==x==", "a b", "--", "x" * 70]))
        parts = draw(st.lists(children, max_size=4))
        close = draw(st.booleans())
        body = b"".join(b"--" + boundary.encode() + b"\n" + p + b"\n" for p in parts)
        if close:
            body += b"--" + boundary.encode() + b"--\n"
        return (
            f'Content-Type: multipart/{subtype}; boundary="{boundary}"\n\n'.encode()
            + b"preamble\n"
            + body
        )

    return build()


MIME_TREES = st.recursive(leaf(), multipart, max_leaves=8)


@SETTINGS
@given(
    st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=8),
    MIME_TREES,
    st.integers(min_value=0, max_value=10_000),
    st.booleans(),
)
def test_structured_mime(headers: list[tuple[str, str]], tree: bytes, cut: int, crlf: bool) -> None:
    raw = "".join(f"{k}: {v}\n" for k, v in headers).encode("utf-8", "replace") + tree
    if cut:
        raw = raw[:cut]  # truncated anywhere
    if crlf:
        raw = raw.replace(b"\n", b"\r\n")
    _check(parse_email(raw))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=50),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=10,
)
FIELDS = st.sampled_from(
    [
        "subject",
        "body",
        "from",
        "to",
        "cc",
        "date",
        "message_id",
        "in_reply_to",
        "references",
        "reply_to",
        "html",
        "headers",
        "attachments",
        "other",
    ]
)


@SETTINGS
@given(st.dictionaries(FIELDS, JSON, max_size=8))
def test_arbitrary_dicts(data: dict[str, Any]) -> None:
    _check(parse_email(data))
