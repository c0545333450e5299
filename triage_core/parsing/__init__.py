"""Parsing stage: raw RFC 822 / MIME (bytes or str), the API's dict form, or a ready
Email -> `triage_core.message.Email`.

`parse_email` never raises on content: whatever the input holds, problems are reported
as short strings in `Email.errors`. Only a Python type it cannot read at all is a
TypeError (a caller bug, not a strange email).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from triage_core.config import ParseLimits
from triage_core.message import Email
from triage_core.parsing.charsets import warm_up
from triage_core.parsing.dict_form import parse_mapping
from triage_core.parsing.html_text import html_to_text
from triage_core.parsing.ids import synthetic_id
from triage_core.parsing.quotes import split_message
from triage_core.parsing.raw import parse_bytes

__all__ = ["html_to_text", "parse_email", "split_message", "warm_up"]

_DEFAULT_LIMITS = ParseLimits()


def parse_email(
    source: bytes | str | Mapping[str, Any] | Email,
    *,
    limits: ParseLimits | None = None,
    source_name: str | None = None,
) -> Email:
    """Parse one email. See the module docstring for the never-raise contract."""
    if isinstance(source, Email):
        return source if source_name is None else dataclasses.replace(source, source=source_name)
    lim = limits if limits is not None else _DEFAULT_LIMITS
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    elif isinstance(source, str):
        data = _encode(source)
    elif isinstance(source, Mapping):
        return _guarded_mapping(source, lim, source_name)
    else:
        raise TypeError(
            f"parse_email() takes bytes, str, a mapping or an Email, not {type(source).__name__}"
        )
    try:
        return parse_bytes(data, limits=lim, source=source_name)
    except Exception as exc:
        # A parser bug must cost one email's fields, not the batch: the contract is that
        # parse_email never raises, and the error stays visible in the result (the test
        # suite asserts it never appears over the corpora and the property tests).
        return Email(
            message_id=synthetic_id(data),
            raw_size=len(data),
            source=source_name,
            errors=(f"internal parser error ({type(exc).__name__}): {exc}"[:200],),
        )


def _guarded_mapping(
    source: Mapping[Any, Any], limits: ParseLimits, source_name: str | None
) -> Email:
    try:
        return parse_mapping(source, limits=limits, source=source_name)
    except Exception as exc:  # a caller's Mapping subclass may raise anything from get()
        return Email(
            source=source_name, errors=(f"unreadable mapping ({type(exc).__name__}): {exc}"[:200],)
        )


def _encode(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # lone surrogates outside the surrogateescape range
        return text.encode("utf-8", "replace")
