"""MIME structure: body choice, transfer encodings, attachments, forwarded messages."""

from __future__ import annotations

import base64

from triage_core.message import Attachment
from triage_core.parsing import parse_email


def _multipart(
    subtype: str, boundary: str, *parts: str, close: bool = True, headers: str = "Subject: mp\n"
) -> bytes:
    out = [
        f'{headers}Content-Type: multipart/{subtype}; boundary="{boundary}"\n\n'
        "This is a multi-part message in MIME format.\n"
    ]
    for part in parts:
        out.append(f"--{boundary}\n{part}\n")
    if close:
        out.append(f"--{boundary}--\nepilogue\n")
    return "".join(out).encode("utf-8")


PLAIN = "Content-Type: text/plain; charset=utf-8\n\nPlain version.\n"
HTML = "Content-Type: text/html; charset=utf-8\n\n<p>HTML <b>version</b>.</p>\n"


def test_alternative_prefers_plain_whatever_the_order() -> None:
    for parts in ((PLAIN, HTML), (HTML, PLAIN)):
        e = parse_email(_multipart("alternative", "b1", *parts))
        assert e.body == "Plain version."
        assert e.body_is_html is False
        assert e.attachments == ()
        assert e.errors == ()


def test_alternative_with_empty_plain_uses_html() -> None:
    empty = "Content-Type: text/plain\n\n   \n"
    e = parse_email(_multipart("alternative", "b1", empty, HTML))
    assert e.body == "HTML version."
    assert e.body_is_html is True


def test_html_only_message() -> None:
    raw = (
        b"Subject: h\nContent-Type: text/html\n\n<html><head><title>T</title>"
        b"<style>p{color:red}</style></head><body><p>Hello&nbsp;there</p>"
        b"<ul><li>one</li><li>two</li></ul></body></html>\n"
    )
    e = parse_email(raw)
    assert e.body == "Hello there\n\n- one\n- two"
    assert e.body_is_html is True


def test_nested_multiparts() -> None:
    inner = _multipart("alternative", "inner", PLAIN, HTML, headers="").decode()
    related_part = inner.replace("This is a multi-part message in MIME format.\n", "")
    image = (
        'Content-Type: image/png; name="logo.png"\nContent-Transfer-Encoding: base64\n\n'
        + base64.b64encode(b"\x89PNG" + b"\x00" * 96).decode()
        + "\n"
    )
    e = parse_email(_multipart("mixed", "outer", related_part, image))
    assert e.body == "Plain version."
    assert e.attachments == (Attachment("logo.png", "image/png", 100),)
    assert e.errors == ()


def test_mixed_concatenates_inline_text_parts() -> None:
    second = "Content-Type: text/plain\nContent-Disposition: inline\n\nSecond part.\n"
    e = parse_email(_multipart("mixed", "b", PLAIN, second))
    assert e.body == "Plain version.\n\nSecond part."


def test_quoted_printable_body() -> None:
    raw = (
        b"Subject: qp\nContent-Type: text/plain; charset=iso-8859-1\n"
        b"Content-Transfer-Encoding: quoted-printable\n\n"
        b"Caf=E9 au lait, a soft=\nbreak and =3D sign.\n"
    )
    assert parse_email(raw).body == "Café au lait, a softbreak and = sign."


def test_base64_body_with_bad_padding_and_garbage() -> None:
    encoded = base64.b64encode("Grüße aus Köln!".encode()).decode().rstrip("=")
    raw = (
        f"Subject: b64\nContent-Type: text/plain; charset=utf-8\n"
        f"Content-Transfer-Encoding: BASE64\n\n{encoded[:8]}\n{encoded[8:]}*!\n"
    )
    e = parse_email(raw.encode())
    assert e.body == "Grüße aus Köln!"


def test_8bit_and_binary_transfer_encodings() -> None:
    for cte in ("8bit", "7bit", "binary", "x-unknown"):
        raw = (
            f"Subject: t\nContent-Type: text/plain; charset=utf-8\n"
            f"Content-Transfer-Encoding: {cte}\n\nnaïve\n"
        ).encode()
        assert parse_email(raw).body == "naïve", cte


def test_attachment_metadata_and_size_estimate() -> None:
    payload = bytes(range(256)) * 40  # 10,240 bytes
    encoded = base64.encodebytes(payload).decode()
    pdf = (
        'Content-Type: application/PDF; name="ignored.pdf"\n'
        'Content-Disposition: attachment; filename="report.pdf"\n'
        f"Content-Transfer-Encoding: base64\n\n{encoded}"
    )
    text_att = (
        "Content-Type: text/plain\nContent-Disposition: attachment; filename=notes.txt"
        "\n\nnot the body\n"
    )
    e = parse_email(_multipart("mixed", "zz", PLAIN, pdf, text_att))
    assert e.body == "Plain version."
    assert e.attachments == (
        Attachment("report.pdf", "application/pdf", 10240),
        Attachment("notes.txt", "text/plain", 13),
    )


def test_rfc2231_filenames() -> None:
    extended = (
        "Content-Type: application/octet-stream\n"
        "Content-Disposition: attachment; filename*=UTF-8''na%C3%AFve%20file.txt\n\nx\n"
    )
    continued = (
        "Content-Type: application/octet-stream\n"
        "Content-Disposition: attachment;\n filename*0*=iso-8859-1''r%E9sum%E9;\n"
        ' filename*1=".doc"\n\nx\n'
    )
    by_name = "Content-Type: image/gif; name==?utf-8?Q?bild_=C3=A4.gif?=\n\nx\n"
    e = parse_email(_multipart("mixed", "q", PLAIN, extended, continued, by_name))
    assert [a.filename for a in e.attachments] == ["naïve file.txt", "résumé.doc", "bild ä.gif"]


def test_non_text_part_without_disposition_is_attachment() -> None:
    part = "Content-Type: application/zip\n\nPK\x03\x04\n"
    e = parse_email(_multipart("mixed", "q", PLAIN, part))
    assert e.attachments == (Attachment("", "application/zip", 5),)


def test_inline_text_with_filename_is_body_when_nothing_else() -> None:
    part = "Content-Type: text/plain\nContent-Disposition: inline; filename=msg.txt\n\nHello.\n"
    e = parse_email(_multipart("mixed", "q", part))
    assert e.body == "Hello."
    assert e.attachments == (Attachment("msg.txt", "text/plain", 7),)


def test_forwarded_message_rfc822_part() -> None:
    fwd = (
        "Content-Type: message/rfc822\n\nFrom: Carol <carol@example.com>\n"
        "Subject: Original topic\nDate: Mon, 1 Jul 2024 10:00:00 +0000\n\n"
        "The forwarded text.\n"
    )
    e = parse_email(_multipart("mixed", "f", "Content-Type: text/plain\n\nFYI, see below.\n", fwd))
    assert e.body == (
        "FYI, see below.\n\n---------- Forwarded message ---------\n"
        "From: Carol <carol@example.com>\nDate: Mon, 1 Jul 2024 10:00:00 +0000\n"
        "Subject: Original topic\n\nThe forwarded text."
    )
    assert e.newest == "FYI, see below."
    assert e.quoted.startswith("---------- Forwarded message ---------")
    assert e.attachments == ()


def test_boundary_prefix_of_another_line_is_not_a_delimiter() -> None:
    part = "Content-Type: text/plain\n\nline one\n--bXYZ is not a boundary\nline two\n"
    e = parse_email(_multipart("mixed", "b", part))
    assert e.body == "line one\n--bXYZ is not a boundary\nline two"


def test_truncated_mime_keeps_the_text() -> None:
    e = parse_email(_multipart("mixed", "t", PLAIN, close=False))
    assert e.body == "Plain version."
    assert e.errors == ("truncated MIME: closing boundary missing",)


def test_missing_boundary_reads_body_as_text() -> None:
    raw = b"Subject: x\nContent-Type: multipart/mixed\n\nJust text.\n"
    e = parse_email(raw)
    assert e.body == "Just text."
    assert e.errors == ("multipart without boundary: body read as text",)


def test_boundary_never_found_reads_body_as_text() -> None:
    raw = b"Subject: x\nContent-Type: multipart/mixed; boundary=nope\n\nJust text.\n"
    e = parse_email(raw)
    assert e.body == "Just text."
    assert e.errors == ("MIME boundary not found: body read as text",)


def test_crlf_multipart() -> None:
    raw = _multipart("alternative", "c", PLAIN, HTML).replace(b"\n", b"\r\n")
    e = parse_email(raw)
    assert e.body == "Plain version."
    assert e.errors == ()


def test_digest_parts_default_to_messages() -> None:
    part = "\nFrom: a@example.com\nSubject: one\n\nDigest item.\n"
    e = parse_email(_multipart("digest", "d", part))
    assert "Digest item." in e.body
    assert e.body.startswith("---------- Forwarded message ---------")
