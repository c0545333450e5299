"""The shortcuts taken for speed give exactly what the plain computation gives.

Each shortcut in the parser (memoized header values, case tables built at import, first-
character filters in front of a case-insensitive regex, scans in place of copies) claims
equality with a slower, obvious form; these tests state that form and compare, including
on the inputs where such shortcuts usually break (odd casing, Unicode case folding,
overlong values, a full cache).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator

import pytest

from triage_core.config import ParseLimits
from triage_core.parsing import (
    charsets,
    headers,
    html_text,
    memo,
    mime,
    parse_email,
    quotes,
    warm_up,
)
from triage_core.parsing.addresses import address_list, parse_mailbox
from triage_core.parsing.dates import parse_date
from triage_core.parsing.params import param, split_value


@pytest.fixture(autouse=True)
def _cold_caches() -> Iterator[None]:
    memo.clear_caches()
    yield
    memo.clear_caches()


def test_memo_returns_the_computed_value_and_keeps_only_short_values() -> None:
    calls: list[str] = []

    @memo.per_short_value
    def shout(value: str) -> str:
        calls.append(value)
        return value.upper()

    long_value = "x" * (memo.CACHED_CHARS + 1)
    assert [shout("a"), shout("a"), shout(long_value), shout(long_value)] == [
        "A",
        "A",
        long_value.upper(),
        long_value.upper(),
    ]
    assert calls == ["a", long_value, long_value]
    memo.clear_caches()
    assert shout("a") == "A"
    assert calls == ["a", long_value, long_value, "a"]


def test_memo_starts_over_when_full() -> None:
    calls: list[str] = []

    @memo.per_short_value
    def ident(value: str) -> str:
        calls.append(value)
        return value

    for i in range(memo.CACHED_ENTRIES + 1):  # the last one clears the cache first
        ident(str(i))
    ident(str(memo.CACHED_ENTRIES))  # kept after the restart
    ident("0")  # forgotten by the restart
    assert len(calls) == memo.CACHED_ENTRIES + 2
    assert calls[-1] == "0"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "a@x.org",
        "'A@X.ORG'.",
        "`a@x`, b@y.",
        '"Doe, John" <J@X.org>, (comment a@c) d@e;',
        "<mailto:A@B.c>, <@relay:u@h>, group: a@x, b@y;",
        "no address at all",
        "a@x, A@X, a@x.",
    ],
)
def test_memoized_address_parsers_match_a_fresh_parse(value: str) -> None:
    first = (address_list(value), parse_mailbox(value))
    again = (address_list(value), parse_mailbox(value))  # served from the memo
    memo.clear_caches()
    assert first == again == (address_list(value), parse_mailbox(value))


def test_display_name_whitespace_is_squeezed_only_when_present() -> None:
    assert parse_mailbox('"  Ann   Lee " <a@x>') == ("Ann Lee", "a@x")
    assert parse_mailbox('"Ann\\tLee" <a@x>') == ("Ann\\tLee", "a@x")
    assert parse_mailbox("Ann\u00a0Lee <a@x>") == ("Ann Lee", "a@x")
    assert parse_mailbox("Ann Lee <a@x>") == ("Ann Lee", "a@x")


def test_every_unicode_space_but_the_ascii_one_is_unprintable() -> None:
    # _unquote_name skips its whitespace squeeze for printable names on this ground.
    spaces = [c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()]
    assert [c for c in spaces if c.isprintable()] == [" "]
    assert all(re.fullmatch(r"\s", c) for c in spaces)


def test_html_tag_table_covers_every_spelling() -> None:
    for name, value in html_text._REPLACEMENT.items():
        assert html_text._ANY_CASE[name.upper()] == value
        assert html_text._ANY_CASE[name.title()] == value
    assert html_text._ANY_CASE["bLoCkQuOtE"] == html_text._MARK
    assert html_text._ANY_CASE.get("font", "") == ""
    assert len(html_text._ANY_CASE) == sum(
        2 ** sum(c.isalpha() for c in name) for name in html_text._REPLACEMENT
    )


def test_html_tags_in_any_case_give_the_same_text() -> None:
    lower = "<p>one<br>two</p><ul><li>a<li>b</ul><table><tr><td>x<td>y</table>"
    mixed = "<P>one<bR>two</p><Ul><lI>a<LI>b</uL><TaBlE><Tr><tD>x<Td>y</tAbLe>"
    expected = "one\ntwo\n\n- a\n- b\n\nx y"
    assert html_text.html_to_text(lower) == html_text.html_to_text(mixed) == expected


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("a<script>x</script>b", "ab"),
        ("a<SCRIPT type=x>x < y</SCRIPT >b", "ab"),
        ("a<style>p{}</styles></style>b", "ab"),
        ("a<head><title>t</title></head>b", "ab"),
        ("a<header>kept</header>b", "a\nkept\nb"),
        ("a<script>never closed", "a"),
        ("a<!-- c -- d --->b<!---->c", "abc"),
        ("a<!-->b-->c", "ac"),
        ("a<!-- never closed", "a"),
        ("a<noscript>n</noscript><template>t</template>b", "ab"),
    ],
)
def test_dropped_blocks(markup: str, text: str) -> None:
    assert html_text.html_to_text(markup) == text


# One phrase per alternative of _CLOSING (a new alternative belongs here too).
CLOSING_PHRASES = [
    *(f"{w} regards" for w in ("best", "kind", "warm", "warmest", "many", "with", "kindest")),
    "my regards",
    "regards",
    "wishes",
    "thanks",
    "best",
    "cheers",
    "sincerely",
    "yours truly",
    "thank you",
    "many thanks",
    "thx",
    "br",
    "rgds",
    "take care",
    "talk soon",
    "all the best",
    "mit freundlichen grüßen",
    "viele grüße",
    "gruß",
    "cordialement",
    "bien à vous",
    "saludos",
    "atentamente",
    "cumprimentos",
]


def test_closing_first_characters_are_those_the_regex_engine_folds() -> None:
    assert all(quotes._CLOSING.fullmatch(p) for p in CLOSING_PHRASES)
    # Under re.IGNORECASE a character other than the literal itself can only match a
    # letter if it is cased, so the cased characters and ASCII are every candidate.
    candidates = {
        c
        for c in map(chr, range(sys.maxunicode + 1))
        if c.isascii() or c.lower() != c or c.upper() != c
    }
    starts = {
        c for c in candidates for p in CLOSING_PHRASES if quotes._CLOSING.fullmatch(c + p[1:])
    }
    assert starts == quotes._CLOSING_FIRST


@pytest.mark.parametrize(
    ("body", "signature"),
    [
        ("See you.\n\u017fincerely,\nBob", "\u017fincerely,\nBob"),
        ("See you.\n\u212aind regards\nBob", "\u212aind regards\nBob"),
        ("See you.\n  BR,  \nBob", "BR,  \nBob"),
        ("See you.\nSent from my phone", "Sent from my phone"),
        ("See you.\n\u017fent from my phone", ""),  # the mobile check is case-sensitive
        ("See you.\nI agree\nBob", ""),
    ],
)
def test_closing_lines_with_folded_first_letters(body: str, signature: str) -> None:
    assert quotes.split_message(body)[2] == signature


def test_signature_search_without_any_dash_line() -> None:
    assert quotes.split_message("Hi\nno dashes here\n-x-\nBob") == (
        "Hi\nno dashes here\n-x-\nBob",
        "",
        "",
    )
    assert quotes.split_message("Hi there\n--\nBob") == ("Hi there", "", "--\nBob")


def test_header_names_are_shared_lowercase_strings() -> None:
    raw = b"SUBJECT: a\nSubject: b\nX-Odd-CASE: c\n\nbody"
    e1, e2 = parse_email(raw), parse_email(raw)
    assert e1.headers == (("subject", "a"), ("subject", "b"), ("x-odd-case", "c"))
    assert e1.headers[0][0] is e2.headers[0][0]  # one string per name as written


def test_header_name_table_is_bounded() -> None:
    table = headers._LowerNames()
    long_name = "X-" + "a" * 100
    assert table[long_name] == long_name.lower()
    assert long_name not in table
    for i in range(headers._MAX_NAMES + 10):
        assert table[f"X-N{i}"] == f"x-n{i}"
    assert len(table) == headers._MAX_NAMES


def test_encoded_words_are_decoded_outside_structured_headers_only() -> None:
    raw = (
        b"Subject: =?utf-8?q?caf=C3=A9?= ok\n"
        b"X-Plain: plain\n"
        b'Content-Type: text/plain; name="=?utf-8?q?a_b.txt?="\n\nbody'
    )
    assert parse_email(raw).headers == (
        ("subject", "café ok"),
        ("x-plain", "plain"),
        ("content-type", 'text/plain; name="=?utf-8?q?a_b.txt?="'),
    )


@pytest.mark.parametrize(
    "value",
    [
        'text/plain; charset="us-ascii"',
        "TEXT/PLAIN; CHARSET=US-ASCII; name=a.txt",
        "attachment; filename*=utf-8''na%C3%AFve.txt",
        'multipart/mixed; boundary="=_b"',
        "text/plain; name*0=a; name*1=b.txt",
        "text/plain; name==?utf-8?q?a_b.pdf?=",
    ],
)
def test_shared_content_type_parse_matches_a_fresh_one(value: str) -> None:
    main, params = split_value(value)
    shared_main, shared = mime._split_shared(value)
    assert (shared_main, dict(shared)) == (main, params)
    assert mime._name_param(value) == param(params, "name")
    assert mime._filename_param(value) == param(params, "filename")
    assert mime._boundary_param(value) == param(params, "boundary")
    with pytest.raises(TypeError):
        shared["x"] = "y"  # type: ignore[index]  # shared between messages: read-only


@pytest.mark.parametrize(
    ("payload", "expected"),
    [(b"", False), (b" \t\r\n\x0b\x0c", False), (b"\n\n x", True), (b"\x1c", True)],
)
def test_has_text_matches_bytes_strip(payload: bytes, expected: bool) -> None:
    data = b"HEAD" + payload + b"TAIL"
    walker = mime.MimeWalker(data, ParseLimits(), [])
    part = mime.TextPart(4, 4 + len(payload), "7bit", "", False)
    assert walker.has_text(part) is expected is bool(payload.strip())


def test_has_text_looks_at_the_first_4_kib_only() -> None:
    data = b" " * 4096 + b"x"
    walker = mime.MimeWalker(data, ParseLimits(), [])
    assert walker.has_text(mime.TextPart(0, len(data), "7bit", "", False)) is False
    assert walker.has_text(mime.TextPart(1, len(data), "7bit", "", False)) is True


@pytest.mark.parametrize(
    ("value", "iso"),
    [
        ("Thu, 22 Aug 2002 18:26:25 +0700", "2002-08-22T18:26:25+07:00"),
        ("Thu, 22 AUG 2002 18:26:25 -0700", "2002-08-22T18:26:25-07:00"),
        ("22 aug 02 18:26 EST", "2002-08-22T18:26:00-05:00"),
        ("22 Aug 2002 18:26:25 ZZZ", "2002-08-22T18:26:25+00:00"),
        ("22 Aug 2002 18:26:25", "2002-08-22T18:26:25+00:00"),
    ],
)
def test_dates_with_cached_zones(value: str, iso: str) -> None:
    for _ in range(2):  # the second parse takes the zone from the cache
        parsed = parse_date(value)
        assert parsed is not None and parsed.isoformat() == iso


def test_impossible_zone_is_no_date_every_time() -> None:
    assert parse_date("22 Aug 2002 18:26:25 +9999") is None
    assert parse_date("22 Aug 2002 18:26:25 +9999") is None
    assert parse_date("22 Aug 2002 18:26:25 -2400") is None


def test_warm_up_leaves_detection_unchanged() -> None:
    big5 = "中文測試，這是一封信。".encode("big5") * 4
    assert charsets.detect_codec(big5) == "big5"
    warm_up()
    assert charsets.detect_codec(big5) == "big5"
    assert parse_email(b"Subject: x\n\n" + big5).body == "中文測試，這是一封信。" * 4
