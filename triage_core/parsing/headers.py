"""Header blocks over raw bytes: where they end, and (name, decoded value) pairs.

Headers are the bulk of the parsing work for ordinary mail (a dozen Received lines), so
the block is unfolded and split by two C-level regex passes over one decoded string; a
per-line Python loop runs only when the block contains a line that is not a header, to
find where the body really starts.
"""

from __future__ import annotations

import re

from triage_core.config import ParseLimits
from triage_core.parsing.charsets import decode_8bit
from triage_core.parsing.encoded_words import decode_encoded_words
from triage_core.parsing.sizes import human_size

_FOLD = re.compile(r"\n[ \t]+")
# Applied to "\n" + block: the literal newline prefix lets the engine jump line to line.
# Possessive repeats: none of them could give anything back usefully (the name holds no
# blank or colon), and the engine skips the backtracking bookkeeping.
_LINE = re.compile(r"\n([!-9;-~]++)[ \t]*+:[ \t]*+([^\n]*+)")
_RAW_HEADER_LINE = re.compile(rb"[!-9;-~]+[ \t]*:")
# The blank line after the headers. The regex engine finds these literals about twice as
# fast as bytes.find does over a header block full of newlines; same offsets (the search
# bound works as find's: a match must end by `endpos`).
_LF_BLANK = re.compile(rb"\n\n")
_CRLF_BLANK = re.compile(rb"\n\r\n")
# `"=?" in text`, likewise faster as a regex over a block with many "=" (Received lines).
_ENCODED_WORD = re.compile(r"=\?")

Header = tuple[str, str]
_STRUCTURED = frozenset({"content-type", "content-disposition"})


def find_header_end(
    data: bytes, start: int, end: int, limits: ParseLimits, errors: list[str]
) -> tuple[int, int]:
    """(end of the header block, start of the body) within data[start:end].

    The block ends at the first empty line; without one, everything is header and the body
    is empty. The search is bounded by `max_header_bytes`.
    """
    if data.startswith(b"\n", start):
        return start, start + 1
    if data.startswith(b"\r\n", start):
        return start, start + 2
    limit = min(end, start + limits.max_header_bytes)
    blank, skip = _find_blank_line(data, start, limit)
    if blank >= 0:
        return blank + 1, blank + skip
    if limit < end:
        errors.append(f"header block over {human_size(limits.max_header_bytes)}: rest ignored")
        cut = data.rfind(b"\n", start, limit)
        hend = cut + 1 if cut > start else limit
        blank, skip = _find_blank_line(data, limit, end)
        return hend, (blank + skip if blank >= 0 else end)
    return end, end


def _find_blank_line(data: bytes, start: int, end: int) -> tuple[int, int]:
    """(offset of the newline that ends the last header line, length of the separator
    from there), or (-1, 0). Each search scans the block once: the CRLF form is searched
    first only when the block's first line ends in CRLF."""
    nl = data.find(b"\n", start, end)
    if nl < 0:
        return -1, 0
    if nl > start and data[nl - 1] == 0x0D:
        m = _CRLF_BLANK.search(data, start, end)
        j = m.start() if m else -1
        m = _LF_BLANK.search(data, start, j if j >= 0 else end)
        i = m.start() if m else -1
    else:
        m = _LF_BLANK.search(data, start, end)
        i = m.start() if m else -1
        j = -1
        if i < 0:
            m = _CRLF_BLANK.search(data, start, end)
            j = m.start() if m else -1
    if i >= 0 and (j < 0 or i < j):
        return i, 2
    if j >= 0:
        return j, 3
    return -1, 0


def first_non_header_line(block: bytes) -> int:
    """Offset of the first line of `block` that is neither a header nor a continuation,
    or -1. A leading continuation line (a defect) is tolerated, as the stdlib does."""
    pos = 0
    n = len(block)
    while pos < n:
        nl = block.find(b"\n", pos)
        line_end = n if nl < 0 else nl
        first = block[pos : pos + 1]
        if (
            first not in (b" ", b"\t")
            and not _RAW_HEADER_LINE.match(block, pos, line_end)
            and block[pos:line_end].strip()
        ):
            return pos
        pos = line_end + 1
    return -1


def decode_block(block: bytes) -> str:
    if block.isascii():
        text = block.decode("ascii")
    else:
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError:
            # Each header may come from a different mailer: decide line by line.
            text = "".join(decode_8bit(line) for line in block.splitlines(keepends=True))
    return text.replace("\r\n", "\n") if "\r" in text else text


def unfold(text: str) -> str:
    """Folded lines joined with one space. _FOLD starts with a literal newline, so the
    regex engine skips straight from one newline to the next."""
    return _FOLD.sub(" ", text)


class _LowerNames(dict[str, str]):
    """Header name as written -> lower-cased, for the few dozen names mail uses: a lookup
    replaces a lower() call per header, and every Email shares one string per name (its
    hash computed once). Unseen names are computed on the fly; at most _MAX_NAMES short ones
    are kept, so hostile input cannot grow it without bound."""

    def __missing__(self, name: str) -> str:
        lowered = name.lower()
        if len(self) < _MAX_NAMES and len(name) <= 64:
            self[name] = lowered
        return lowered


_MAX_NAMES = 2048
_LOWER = _LowerNames()


def _decoded(name: str, value: str) -> tuple[str, str]:
    # Content-Type/-Disposition stay raw: an encoded-word there sits inside a parameter
    # ("name==?utf-8?Q?a_b.pdf?=") and is decoded with the parameter.
    lname = _LOWER[name]
    value = value.strip()
    return lname, value if lname in _STRUCTURED else decode_encoded_words(value)


def _finish(
    found: list[tuple[str, str]], limits: ParseLimits, errors: list[str], *, encoded: bool
) -> list[Header]:
    if len(found) > limits.max_headers:
        errors.append(f"too many headers (>{limits.max_headers}): rest ignored")
        del found[limits.max_headers :]
    lower = _LOWER
    if not encoded:
        return [(lower[name], value.strip()) for name, value in found]
    return [
        (lower[name], value.strip()) if "=?" not in value else _decoded(name, value)
        for name, value in found
    ]


def read_headers(
    data: bytes, start: int, end: int, limits: ParseLimits, errors: list[str]
) -> tuple[list[Header], int]:
    """Parse the header block at data[start:end]: the headers and where the body starts.

    When a line of the block is not a header (no blank line before the body), the body
    starts at that line; a block whose first line is not a header gives no headers.
    """
    hend, body_start = find_header_end(data, start, end, limits, errors)
    if hend == start:
        return [], body_start
    block = data[start:hend]
    text = "\n" + unfold(decode_block(block))
    found = _LINE.findall(text)
    lines = text.count("\n") - (1 if text.endswith("\n") else 0)
    if len(found) < lines:
        cut = first_non_header_line(block)
        if cut >= 0:
            body_start = start + cut
            if cut == 0:
                return [], body_start
            errors.append("no blank line after the headers")
            text = "\n" + unfold(decode_block(block[:cut]))
            found = _LINE.findall(text)
    encoded = _ENCODED_WORD.search(text) is not None
    return _finish(found, limits, errors, encoded=encoded), body_start
