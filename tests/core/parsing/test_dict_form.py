"""The HTTP API's dict form, including wrong types."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from triage_core.message import Attachment, Email
from triage_core.parsing import parse_email


def test_full_dict() -> None:
    e = parse_email(
        {
            "subject": "Server down",
            "body": "Production is down!\n\nThanks,\nAlice\n\nOn Mon, Bob wrote:\n> status?",
            "from": "Alice Example <Alice@Example.com>",
            "to": ["ops@example.com", "Bob <bob@example.com>"],
            "cc": "x@example.com, y@example.com",
            "date": "2024-07-01T10:00:00+02:00",
            "message_id": "<m1@example.com>",
            "in_reply_to": "<m0@example.com>",
            "references": ["<r1@example.com>", "<m0@example.com>"],
            "reply_to": "help@example.com",
            "headers": {"List-Id": "<ops.example.com>", "X-Mailer": "curl"},
            "attachments": [{"filename": "log.txt", "content_type": "Text/Plain", "size": 12}],
        },
        source_name="api",
    )
    assert e.subject == "Server down"
    assert (e.from_name, e.from_addr) == ("Alice Example", "alice@example.com")
    assert e.to == ("ops@example.com", "bob@example.com")
    assert e.cc == ("x@example.com", "y@example.com")
    assert e.date == datetime(2024, 7, 1, 10, 0, tzinfo=timezone(timedelta(hours=2)))
    assert e.message_id == "<m1@example.com>"
    assert e.in_reply_to == "<m0@example.com>"
    assert e.references == ("<r1@example.com>", "<m0@example.com>")
    assert e.reply_to == "help@example.com"
    assert e.list_id == "<ops.example.com>"
    assert e.header("x-mailer") == "curl"
    assert e.attachments == (Attachment("log.txt", "text/plain", 12),)
    assert e.newest == "Production is down!"
    assert e.signature == "Thanks,\nAlice"
    assert e.quoted == "On Mon, Bob wrote:\n> status?"
    assert e.source == "api"
    assert e.errors == ()
    assert e.is_bulk


def test_minimal_dict_and_dates() -> None:
    e = parse_email({"subject": "hi", "date": "Mon, 1 Jul 2024 10:00:00 +0000"})
    assert e.date == datetime(2024, 7, 1, 10, 0, tzinfo=UTC)
    assert e.body == ""
    assert e.message_id.endswith("@triage.local>")
    assert (
        e.message_id
        == parse_email({"subject": "hi", "date": "Mon, 1 Jul 2024 10:00:00 +0000"}).message_id
    )
    assert parse_email({"date": "2024-07-01T10:00:00Z"}).date == datetime(
        2024, 7, 1, 10, tzinfo=UTC
    )
    assert parse_email({"date": "2024-07-01"}).date == datetime(2024, 7, 1, tzinfo=UTC)


def test_html_used_when_body_missing() -> None:
    e = parse_email({"subject": "s", "html": "<p>Hello <b>there</b></p><p>Bye</p>"})
    assert e.body == "Hello there\n\nBye"
    assert e.body_is_html is True
    e = parse_email({"body": "plain", "html": "<p>ignored</p>"})
    assert (e.body, e.body_is_html) == ("plain", False)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"to": 5}, "field 'to' must be a string or a list of strings"),
        ({"cc": ["a@b.example", 3]}, "field 'cc' must be a string or a list of strings"),
        ({"subject": ["x"]}, "field 'subject' must be a string"),
        ({"body": b"bytes"}, "field 'body' must be a string"),
        ({"from": {"name": "x"}}, "field 'from' must be a string"),
        ({"date": 12}, "field 'date' must be a string (RFC 2822 or ISO 8601)"),
        ({"date": "not a date"}, "field 'date' is not an RFC 2822 or ISO 8601 date: 'not a date'"),
        ({"headers": ["List-Id"]}, "field 'headers' must be a mapping of header names to strings"),
        ({"headers": {"X-A": 1}}, "field 'headers' must be a mapping of header names to strings"),
        (
            {"attachments": "a.pdf"},
            "field 'attachments' must be a list of {filename, content_type, size}",
        ),
        (
            {"attachments": [{"filename": "a", "size": -1}]},
            "field 'attachments' must be a list of {filename, content_type, size}",
        ),
        (
            {"attachments": [{"filename": "a", "size": True}]},
            "field 'attachments' must be a list of {filename, content_type, size}",
        ),
        ({"references": 7}, "field 'references' must be a string or a list of strings"),
        ({"surprise": 1}, "unknown field 'surprise' ignored"),
        ({1: "x"}, "unknown field '1' ignored"),
    ],
)
def test_wrong_types_become_errors(data: dict[Any, Any], error: str) -> None:
    e = parse_email(data)
    assert e.errors == (error,)


def test_wrong_field_does_not_cost_the_others() -> None:
    e = parse_email({"subject": "kept", "to": 5, "body": "text"})
    assert (e.subject, e.body, e.to) == ("kept", "text", ())


def test_encoded_word_subject_and_multiline_from() -> None:
    e = parse_email({"subject": "=?utf-8?Q?caf=C3=A9?=", "from": "A\n <a@example.com>"})
    assert e.subject == "café"
    assert e.from_addr == "a@example.com"


def test_body_capped() -> None:
    from triage_core.config import ParseLimits

    e = parse_email({"body": "x" * 50}, limits=ParseLimits(max_text_chars=10))
    assert e.body == "x" * 10
    assert e.errors == ("body over 10 characters: truncated",)


def test_email_passes_through() -> None:
    original = Email(subject="s", body="b")
    assert parse_email(original) is original
    named = parse_email(original, source_name="file.eml")
    assert named == dataclasses.replace(original, source="file.eml")


def test_str_input_is_raw_message() -> None:
    e = parse_email("Subject: caf\u00e9\n\nBody \udcff text\n")
    assert e.subject == "café"
    assert e.body.startswith("Body ")
    assert e.raw_size == len("Subject: café\n\nBody X text\n".encode())


def test_lone_surrogate_str() -> None:
    e = parse_email("Subject: x\n\n\ud800 body")
    assert e.subject == "x"
    assert e.body == "? body"


@pytest.mark.parametrize("value", [None, 5, 1.5, ["Subject: x"], object()])
def test_unsupported_types_raise_type_error(value: object) -> None:
    with pytest.raises(TypeError):
        parse_email(value)  # type: ignore[arg-type]


def test_bytearray_and_memoryview() -> None:
    raw = b"Subject: b\n\nbody\n"
    # Accepted at run time though the signature promises only bytes.
    assert parse_email(bytearray(raw)).subject == "b"  # type: ignore[arg-type]
    assert parse_email(memoryview(raw)).subject == "b"  # type: ignore[arg-type]
