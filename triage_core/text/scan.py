"""Preparing text for fast regex scans.

CPython's regex engine searches for a pattern that begins with a literal character at
memchr speed, but falls back to testing every position (~8 ns per character here) when the
pattern begins with a character class, a word boundary or a look-behind. Phrase and date scanning
therefore run on a lower-cased copy in which every word is preceded by a plain space, and
their patterns begin with " ". Both helpers keep offsets stable so matches map back to the
original text.
"""

from __future__ import annotations


def lower_same_length(text: str) -> str:
    """`text.lower()`, except that the few letters that lengthen ("İ") are kept as they are,
    so offsets into the result are offsets into `text`."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(ch if len(ch.lower()) != 1 else ch.lower() for ch in text)


# Characters that may open a word; `spaced` turns them into spaces. Not the apostrophe:
# it sits inside words ("can't").
OPENERS = ("\n", "\t", "\r", "(", "[", "{", '"', "“", "*", "/", "<", ">")


def spaced(lowered: str, openers: tuple[str, ...] = OPENERS) -> str:
    """ " " + `lowered` with whitespace and opening punctuation turned into plain spaces.

    A regex that begins with a literal space is searched by CPython at memchr speed,
    several times faster than a character class or a look-behind, and a phrase can only
    begin after a space: a word boundary for free. Same length plus one, so offsets map
    back by subtracting one. ASCII text (nearly all mail) goes through `bytes.translate`,
    one table lookup per byte, about twice as fast as a `str.replace` per opener; other
    text takes the replaces, as `str.translate` with a mapping is five times slower."""
    out = " " + lowered
    if out.isascii():
        table = _DEFAULT_TABLE if openers is OPENERS else _ascii_table(openers)
        return out.encode("ascii").translate(table).decode("ascii")
    for ch in openers:
        if ch in out:
            out = out.replace(ch, " ")
    return out


def _ascii_table(openers: tuple[str, ...]) -> bytes:
    """The `bytes.translate` table of `openers` other than the default (built once): kept
    in one slot for the deadline reader's tuple, compared by identity because hashing a
    tuple per call would cost more than the table saves."""
    global _other_table
    if _other_table[0] is not openers:
        _other_table = (openers, _table(openers))
    return _other_table[1]


def _table(openers: tuple[str, ...]) -> bytes:
    ascii_openers = "".join(ch for ch in openers if ch.isascii()).encode("ascii")
    return bytes.maketrans(ascii_openers, b" " * len(ascii_openers))


_DEFAULT_TABLE = _table(OPENERS)
_other_table: tuple[tuple[str, ...], bytes] = (OPENERS, _DEFAULT_TABLE)
