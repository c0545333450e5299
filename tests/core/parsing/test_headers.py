"""Header decoding: RFC 2047, raw 8-bit, folding, addresses, dates, ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from triage_core.parsing import parse_email


def _msg(headers: str, body: str = "Hello.\n") -> bytes:
    return (headers.rstrip("\n") + "\n\n" + body).encode("utf-8")


def test_rfc2047_base64_and_q_subjects() -> None:
    e = parse_email(_msg("Subject: =?utf-8?B?SGVsbG8gV8O2cmxk?="))
    assert e.subject == "Hello Wörld"
    e = parse_email(_msg("Subject: =?iso-8859-1?Q?Caf=E9_ouvert?= today"))
    assert e.subject == "Café ouvert today"


def test_rfc2047_adjacent_words_join_without_space() -> None:
    e = parse_email(_msg("Subject: =?utf-8?Q?abc?= =?utf-8?Q?def?=  =?utf-8?Q?_ghi?= end"))
    assert e.subject == "abcdef ghi end"


def test_rfc2047_multibyte_char_split_across_words() -> None:
    # "é" is C3 A9 in UTF-8: the two bytes are in two encoded-words.
    e = parse_email(_msg("Subject: =?utf-8?Q?caf=C3?= =?utf-8?Q?=A9?="))
    assert e.subject == "café"


def test_rfc2047_bad_base64_padding_is_tolerated() -> None:
    e = parse_email(_msg("Subject: =?utf-8?B?SGVsbG8?= x"))  # "Hello" without its "="
    assert e.subject == "Hello x"
    e = parse_email(_msg("Subject: =?utf-8?B?SGV$$sbG8=?="))  # junk characters
    assert e.subject == "Hello"


def test_rfc2047_unknown_charset_in_word_falls_back() -> None:
    e = parse_email(_msg("Subject: =?x-bogus?Q?plain_text?="))
    assert e.subject == "plain text"


def test_rfc2047_in_from_display_name() -> None:
    e = parse_email(_msg("From: =?utf-8?Q?J=C3=BCrgen_M=C3=BCller?= <JM@Example.DE>"))
    assert (e.from_name, e.from_addr) == ("Jürgen Müller", "jm@example.de")


def test_raw_8bit_headers_utf8_and_latin1() -> None:
    raw = b"Subject: caf\xc3\xa9 cr\xc3\xa8me\nFrom: Ren\xe9 <rene@example.fr>\n\nbody\n"
    e = parse_email(raw)
    assert e.subject == "café crème"
    assert e.from_name == "René"
    assert e.errors == ()


def test_raw_8bit_cp1252_quotes() -> None:
    e = parse_email(b"Subject: \x93quoted\x94 \x96 dash\n\nbody\n")
    assert e.subject == "\u201cquoted\u201d \u2013 dash"


def test_folded_headers_are_unfolded() -> None:
    e = parse_email(_msg("Subject: a long\n  subject line\n\tcontinued\nTo: a@example.com"))
    assert e.subject == "a long subject line continued"
    assert e.to == ("a@example.com",)


def test_crlf_line_endings() -> None:
    raw = b"Subject: crlf\r\nFrom: a@b.example\r\n folded\r\n\r\nBody line\r\nTwo\r\n"
    e = parse_email(raw)
    assert e.subject == "crlf"
    assert e.header("from") == "a@b.example folded"
    assert e.body == "Body line\nTwo"


def test_from_forms() -> None:
    cases = {
        '"Doe, John" <John.Doe@Example.com>': ("Doe, John", "john.doe@example.com"),
        "Jane Roe <jane@example.com>": ("Jane Roe", "jane@example.com"),
        "jane@example.com (Jane Roe)": ("Jane Roe", "jane@example.com"),
        "<only@example.com>": ("", "only@example.com"),
        "Bare@Example.com": ("", "bare@example.com"),
        "MAILER-DAEMON": ("", "mailer-daemon"),
        "'Quoted Single' <q@example.com>": ("Quoted Single", "q@example.com"),
        '"Esc \\"Q\\" Name" <e@example.com>': ('Esc "Q" Name', "e@example.com"),
        "Just A Name": ("Just A Name", ""),
    }
    for value, expected in cases.items():
        e = parse_email(_msg(f"From: {value}"))
        assert (e.from_name, e.from_addr) == expected, value


def test_to_and_cc_address_lists() -> None:
    e = parse_email(
        _msg(
            'To: "Name, Jr" <A@B.example>, c@d.example, Team: e@f.example, g@h.example;\n'
            "Cc: undisclosed-recipients:;, junk <<>> <X@Y.example> (comment x@z.example)"
        )
    )
    assert e.to == ("a@b.example", "c@d.example", "e@f.example", "g@h.example")
    assert e.cc == ("x@y.example",)


def test_duplicate_addresses_kept_once() -> None:
    e = parse_email(_msg("To: a@b.example, A <A@B.example>"))
    assert e.to == ("a@b.example",)


def test_reply_to_and_bulk_headers() -> None:
    e = parse_email(
        _msg(
            "Reply-To: Support <Support@Example.com>\nList-Id: Dev list <dev.example.com>\n"
            "List-Unsubscribe: <mailto:leave@example.com>\nPrecedence: bulk\n"
            "Auto-Submitted: auto-generated"
        )
    )
    assert e.reply_to == "support@example.com"
    assert e.list_id == "Dev list <dev.example.com>"
    assert e.list_unsubscribe == "<mailto:leave@example.com>"
    assert e.precedence == "bulk"
    assert e.auto_submitted == "auto-generated"
    assert e.is_bulk


def test_dates() -> None:
    e = parse_email(_msg("Date: Thu, 22 Aug 2002 12:36:23 +0100"))
    assert e.date == datetime(2002, 8, 22, 12, 36, 23, tzinfo=timezone(timedelta(hours=1)))
    e = parse_email(_msg("Date: 5 Jan 99 23:01 EST"))
    assert e.date == datetime(1999, 1, 5, 23, 1, tzinfo=timezone(timedelta(hours=-5)))
    e = parse_email(_msg("Date: Mon, 1 Jul 2024 10:00:00"))  # no zone: UTC
    assert e.date == datetime(2024, 7, 1, 10, 0, tzinfo=UTC)
    e = parse_email(_msg("Date: Mon, 1 Jul 2024 10:00:00 -0000"))
    assert e.date == datetime(2024, 7, 1, 10, 0, tzinfo=UTC)
    assert e.date is not None and e.date.tzinfo is not None


def test_bad_dates_give_none() -> None:
    for value in (
        "yesterday",
        "Thu, 32 Aug 2002 12:36:23 +0100",
        "",
        "Mon, 1 Jul 2024 99:99",
        "Tue, 1 Jan 2002 10:00:00 +9999",
    ):
        assert parse_email(_msg(f"Date: {value}")).date is None, value


def test_message_ids_and_references() -> None:
    e = parse_email(
        _msg(
            "Message-ID: <abc@host>\nIn-Reply-To: <parent@host> (junk)\n"
            "References: <r1@host>\n <r2@host> <parent@host>"
        )
    )
    assert e.message_id == "<abc@host>"
    assert e.in_reply_to == "<parent@host>"
    assert e.references == ("<r1@host>", "<r2@host>", "<parent@host>")
    assert e.is_reply


def test_synthetic_message_id_is_stable() -> None:
    raw = _msg("Subject: no id")
    a, b = parse_email(raw), parse_email(raw)
    assert a.message_id == b.message_id
    assert a.message_id.endswith("@triage.local>")
    assert len(a.message_id) == len("<@triage.local>") + 40
    assert parse_email(_msg("Subject: other")).message_id != a.message_id


def test_headers_tuple_in_order_lowercased_and_decoded() -> None:
    e = parse_email(_msg("X-First: 1\nSubject: =?utf-8?Q?hi?=\nX-First: 2\nReceived: a\n b"))
    assert e.headers == (("x-first", "1"), ("subject", "hi"), ("x-first", "2"), ("received", "a b"))
    assert e.header("X-FIRST") == "1"


def test_mbox_from_line_is_skipped() -> None:
    raw = (
        b"From bob@example.com  Thu Aug 22 12:36:23 2002\nFrom: Bob <bob@example.com>\n"
        b"Subject: mbox\n\nHi\n"
    )
    e = parse_email(raw)
    assert e.headers[0] == ("from", "Bob <bob@example.com>")
    assert e.from_addr == "bob@example.com"
    assert e.subject == "mbox"
    assert e.errors == ()


def test_no_blank_line_before_body() -> None:
    e = parse_email(b"Subject: hi\nThis line is body text\nmore\n")
    assert e.subject == "hi"
    assert e.body == "This line is body text\nmore"
    assert e.errors == ("no blank line after the headers",)


def test_raw_size_is_input_length() -> None:
    raw = _msg("Subject: size", "x" * 100)
    assert parse_email(raw).raw_size == len(raw)
