"""Body charsets: declared, aliased, bogus, lying."""

from __future__ import annotations

import pytest

from triage_core.parsing import parse_email
from triage_core.parsing.charsets import resolve_charset

CHINESE = "这是一个测试邮件，我们需要检测它的编码。" * 8


def _msg(charset: str, body: bytes, cte: str = "8bit") -> bytes:
    head = (
        f"Subject: t\nContent-Type: text/plain; charset={charset}\n"
        f"Content-Transfer-Encoding: {cte}\n\n"
    )
    return head.encode("ascii") + body


@pytest.mark.parametrize(
    ("name", "codec"),
    [
        ("us-ascii", "ascii"),
        ("ANSI_X3.4-1968", "ascii"),
        ('"UTF-8"', "utf-8"),
        ("latin1", "iso8859-1"),
        ("windows-1252", "cp1252"),
        ("x-sjis", "shift_jis"),
        ("ks_c_5601-1987", "euc_kr"),
        ("3Diso-8859-1", "iso8859-1"),
        ("x-unknown", None),
        ("chinesebig5", None),
        ("default", None),
        ("unknown-8bit", None),
        ("x-user-defined", None),
        ("", None),
        ("no-such-charset", None),
    ],
)
def test_resolve_charset(name: str, codec: str | None) -> None:
    assert resolve_charset(name) == codec


def test_declared_charset_is_used() -> None:
    e = parse_email(_msg("koi8-r", "Привет, мир".encode("koi8-r")))
    assert e.body == "Привет, мир"
    assert e.errors == ()


def test_declared_latin1_reads_cp1252_punctuation() -> None:
    e = parse_email(_msg("iso-8859-1", b"\x93smart\x94 caf\xe9"))
    assert e.body == "\u201csmart\u201d café"
    assert e.errors == ()


def test_bogus_charset_is_detected() -> None:
    e = parse_email(_msg("chinesebig5", CHINESE.encode("gb2312")))
    assert e.body == CHINESE
    assert len(e.errors) == 1
    assert e.errors[0].startswith("unknown charset 'chinesebig5': detected g")


@pytest.mark.parametrize("name", ["default", "unknown-8bit", "x-user-defined", "x-unknown"])
def test_uninformative_charsets_with_utf8_text(name: str) -> None:
    e = parse_email(_msg(name, "naïve café".encode()))
    assert e.body == "naïve café"
    assert e.errors == (f"unknown charset '{name}': detected utf-8",)


def test_bogus_charset_with_ascii_text() -> None:
    e = parse_email(_msg("default", b"plain words"))
    assert e.body == "plain words"
    assert e.errors == ("unknown charset 'default': text is plain ASCII",)


def test_us_ascii_lie_with_utf8_text() -> None:
    e = parse_email(_msg("us-ascii", "Grüße".encode()))
    assert e.body == "Grüße"
    assert e.errors == ("charset 'us-ascii' does not fit the text: detected utf-8",)


def test_us_ascii_lie_with_sparse_latin1() -> None:
    e = parse_email(_msg("us-ascii", b"Un caf\xe9 cr\xe8me \x93tr\xe8s\x94 d\xe9j\xe0 vu."))
    assert e.body == "Un café crème \u201ctrès\u201d déjà vu."
    assert e.errors == ("charset 'us-ascii' does not fit the text: detected windows-1252",)


def test_missing_charset_with_dense_8bit_is_detected() -> None:
    raw = b"Subject: t\n\n" + CHINESE.encode("gb2312")
    e = parse_email(raw)
    assert e.body == CHINESE
    assert e.errors[0].startswith("charset 'us-ascii' does not fit the text: detected g")


def test_binary_junk_is_replaced_not_detected() -> None:
    e = parse_email(_msg("utf-8", b"\xff\xfe\x00\x00\x81 text"))
    assert "text" in e.body
    assert "\ufffd" in e.body
    assert e.errors == (
        "charset 'utf-8' does not fit the text: decoded as utf-8 with replacements",
    )


def test_declared_multibyte_charset_that_fails_to_decode() -> None:
    # UTF-8 "€" (E2 82 AC) is not valid GB2312: the declared charset does not fit.
    e = parse_email(_msg("gb2312", "price 5€".encode()))
    assert e.body == "price 5€"
    assert e.errors == ("charset 'gb2312' does not fit the text: detected utf-8",)


def test_declared_charset_that_decodes_is_trusted() -> None:
    e = parse_email(_msg("koi8-r", "ok".encode("koi8-r") + b"\xc1"))
    assert e.body == "okа"
    assert e.errors == ()
