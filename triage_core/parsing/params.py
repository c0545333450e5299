"""Content-Type / Content-Disposition values: the type and its parameters.

Parameters follow RFC 2045 with the tolerance real mail needs (missing semicolons,
unterminated quotes, comments after a value) and RFC 2231 for extended values
(filename*=utf-8''na%C3%AFve.txt) and continuations (filename*0*=..., filename*1*=...).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import unquote_to_bytes

from triage_core.parsing.charsets import decode_8bit, decode_charset, resolve_charset
from triage_core.parsing.encoded_words import decode_encoded_words

_PARAM = re.compile(r'[;\s]\s*([^\s=;"]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"?|([^;\s]*))')
_MAIN = re.compile(r"\s*([^;\s]*)")
_MAX_SECTIONS = 64
_MAX_VALUE = 8192


def split_value(value: str) -> tuple[str, dict[str, str]]:
    """("type/subtype" or disposition, lower-cased; {lower-cased param name: value})."""
    value = value[:_MAX_VALUE]
    if "  " in value or "\t" in value or "\n" in value or "\r" in value:
        # Single spaces keep _PARAM's whitespace handling free of backtracking.
        value = " ".join(value.split())
    m = _MAIN.match(value)
    main = m.group(1).lower() if m else ""
    params: dict[str, str] = {}
    if m is None or m.end() == len(value):
        return main, params
    for pm in _PARAM.finditer(value, m.end()):
        name = pm.group(1).lower()
        if name in params:
            continue
        quoted = pm.group(2)
        if quoted is not None:
            if "\\" in quoted:
                quoted = quoted.replace('\\"', '"').replace("\\\\", "\\")
            params[name] = quoted
        else:
            params[name] = pm.group(3)
    return main, params


def param(params: Mapping[str, str], name: str) -> str:
    """A parameter's value with RFC 2231 and (non-standard but common) RFC 2047 decoding;
    "" when absent."""
    ext = params.get(name + "*")
    if ext is not None:
        return _decode_ext([(ext, True)])
    if name + "*0" in params or name + "*0*" in params:
        sections: list[tuple[str, bool]] = []
        for i in range(_MAX_SECTIONS):
            enc = params.get(f"{name}*{i}*")
            if enc is not None:
                sections.append((enc, True))
                continue
            plain = params.get(f"{name}*{i}")
            if plain is None:
                break
            sections.append((plain, False))
        return _decode_ext(sections)
    value = params.get(name, "")
    return decode_encoded_words(value) if "=?" in value else value


def _decode_ext(sections: list[tuple[str, bool]]) -> str:
    charset = ""
    chunks: list[bytes] = []
    for i, (text, encoded) in enumerate(sections):
        if i == 0 and encoded and text.count("'") >= 2:
            charset, _, rest = text.partition("'")
            text = rest.partition("'")[2]
        if encoded:
            chunks.append(unquote_to_bytes(text))
        else:
            chunks.append(text.encode("utf-8", "surrogateescape"))
    data = b"".join(chunks)
    codec = resolve_charset(charset) if charset else None
    if codec is None:
        return decode_8bit(data)
    return decode_charset(data, codec)
