"""Bytes -> str for declared, missing, bogus and lying charsets.

Real mail declares charsets Python does not know ("chinesebig5", "default",
"unknown-8bit") and, more often, declares "us-ascii" over 8-bit text. Decoding must never
raise and must stay cheap: pure-ASCII data (most of it) skips every codec, a strict UTF-8
try catches most lies for free, and the slow statistical detector runs only on what is
left, over a bounded prefix.
"""

from __future__ import annotations

import codecs
import re
from functools import lru_cache

# Imported with the parser, not on first use: about one message in 200 needs the detector,
# so any stream meets one soon, and the ~30 ms import would then land on that message (a
# latency spike, and a dent in every throughput measurement) instead of on start-up.
# `import triage_core` stays lazy and does not load the parser.
from charset_normalizer import from_bytes

DETECT_BYTES = 64 * 1024
_HIGH_BYTES = bytes(range(0x80, 0x100))
_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_HIGH_PAIR = re.compile(rb"[\x80-\xff]{2}")

# Names seen in the wild that codecs.lookup() does not know, mapped to what the sender meant.
# None: the name carries no information, detect the charset from the bytes.
_ALIASES: dict[str, str | None] = {
    "x-unknown": None,
    "unknown": None,
    "unknown-8bit": None,
    "x-user-defined": None,
    "default": None,
    "default_charset": None,
    "charset": None,
    "chinesebig5": None,
    "x-sjis": "shift_jis",
    "x-gbk": "gbk",
    "gb2312_charset": "gb2312",
    "x-euc-jp": "euc_jp",
    "x-euc-kr": "euc_kr",
    "ks_c_5601": "euc_kr",
    "x-mac-roman": "mac_roman",
    "iso-8859-8-i": "iso8859_8",
    "iso-8859-6-i": "iso8859_6",
    "window-1252": "cp1252",
    "windows-1252a": "cp1252",
    "cp-850": "cp850",
    "unicode-1-1-utf-8": "utf-8",
    "x-unicode20utf8": "utf-8",
    "utf8mb4": "utf-8",
}

# Codecs whose ASCII range is not ASCII: the pure-ASCII shortcut must not apply to them.
_NOT_ASCII_COMPATIBLE = frozenset(
    {
        "utf-16",
        "utf-16-le",
        "utf-16-be",
        "utf-32",
        "utf-32-le",
        "utf-32-be",
        "utf-7",
        "cp037",
        "cp273",
        "cp424",
        "cp500",
        "cp875",
        "cp1026",
        "cp1140",
        "hz",
        "iso2022_jp",
        "iso2022_jp_1",
        "iso2022_jp_2",
        "iso2022_jp_2004",
        "iso2022_jp_3",
        "iso2022_jp_ext",
        "iso2022_kr",
    }
)

# Declared Latin-1 is, in practice, Windows-1252 (the WHATWG rule): the 0x80-0x9F range
# holds curly quotes and dashes, not C1 control characters.
_LATIN1_AS_CP1252 = frozenset({"iso8859-1", "latin-1"})


@lru_cache(maxsize=512)
def resolve_charset(name: str) -> str | None:
    """Python codec name for a declared charset, or None when it must be detected."""
    key = name.strip().strip("\"'").strip().lower()
    if not key or len(key) > 64:
        return None
    if key in _ALIASES:
        return _ALIASES[key]
    try:
        return codecs.lookup(key).name
    except (LookupError, ValueError):
        pass
    # "3Diso-8859-1" (a QP-mangled HTML meta copied into a header) and similar debris.
    if key.startswith("3d"):
        return resolve_charset(key[2:])
    return None


def is_ascii_compatible(codec: str) -> bool:
    return codec not in _NOT_ASCII_COMPATIBLE


def decode_8bit(data: bytes) -> str:
    """Undeclared 8-bit text (raw header bytes): UTF-8 when it is valid, else Windows-1252,
    else Latin-1, which cannot fail."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return _decode_western(data)


def _decode_western(data: bytes) -> str:
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:  # 0x81, 0x8D, 0x8F, 0x90, 0x9D are unassigned in cp1252
        return data.decode("latin-1")


def decode_charset(data: bytes, codec: str) -> str:
    """Decode with a known codec, replacing bad bytes: used for encoded-words, where a
    statistical detector would cost more than the few characters are worth."""
    if data.isascii() and is_ascii_compatible(codec):
        return data.decode("ascii")
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        pass
    except LookupError:
        return decode_8bit(data)
    if codec in _LATIN1_AS_CP1252 or codec in ("ascii", "cp1252"):
        return decode_8bit(data)
    return data.decode(codec, "replace")


def detect_codec(data: bytes) -> str | None:
    """charset_normalizer's best guess over a bounded prefix."""
    try:
        best = from_bytes(data[:DETECT_BYTES]).best()
    except Exception:  # a third-party detector's failure only means "no guess"
        return None
    if best is None:
        return None
    try:
        codec = codecs.lookup(best.encoding).name
    except LookupError:
        return None
    # UTF-16/32 without a BOM is a frequent false guess on short 8-bit text, and mail is
    # practically never sent that way.
    if not is_ascii_compatible(codec) and not data.startswith(_BOMS):
        return None
    return codec


_WARM_UP_SAMPLE = bytes(range(0x80, 0x100)) * 8  # fits no codec well: every one is tried


def warm_up() -> None:
    """Pay the detector's one-time cost now: its first run imports the ~70 codec modules it
    tries (30-150 ms), which would otherwise fall on the first message that needs it. For
    long-running workers and benchmarks, before the first message; results never change."""
    detect_codec(_WARM_UP_SAMPLE)


def decode_body(data: bytes, declared: str, errors: list[str]) -> str:
    """Decode a body part. `declared` is the raw charset parameter ("" when absent);
    problems are appended to `errors` and never raised."""
    codec = resolve_charset(declared) if declared else "ascii"
    if data.isascii() and (codec is None or is_ascii_compatible(codec)):
        if codec is None:
            errors.append(f"unknown charset {_shown(declared)}: text is plain ASCII")
        return data.decode("ascii")
    if codec in _LATIN1_AS_CP1252:
        return _decode_western(data)
    if codec is not None:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            pass
        except LookupError:
            codec = None
    # Unknown, bogus, or the declared codec does not fit: UTF-8 is the commonest truth and
    # is validated for free; otherwise ask the detector.
    what = (
        f"unknown charset {_shown(declared)}"
        if codec is None and declared
        else f"charset {_shown(declared or 'us-ascii')} does not fit the text"
    )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        errors.append(f"{what}: detected utf-8")
        return text
    sample = data[:DETECT_BYTES]
    high = len(sample) - len(sample.translate(None, _HIGH_BYTES))
    if high * 100 <= len(sample) or len(_HIGH_PAIR.findall(sample)) * 10 <= high:
        # A few 8-bit bytes in ASCII text, or 8-bit characters standing alone between
        # ASCII ones (accents, curly quotes, no-break spaces), are a Western single-byte
        # charset: the statistical detector guesses poorly on so little (cp1250, cp775) and
        # costs ~1 ms. Text with runs of 8-bit bytes (CJK, Cyrillic) goes to the detector.
        errors.append(f"{what}: detected windows-1252")
        return _decode_western(data)
    # Binary junk (NUL bytes) is no text in any charset: the detector would burn
    # milliseconds to guess one.
    detected = None if b"\x00" in sample else detect_codec(data)
    if detected is not None:
        try:
            text = data.decode(detected, "replace")
        except LookupError:
            pass
        else:
            errors.append(f"{what}: detected {detected}")
            return text
    errors.append(f"{what}: decoded as utf-8 with replacements")
    return data.decode("utf-8", "replace")


def _shown(name: str) -> str:
    return repr(name.strip().strip("\"'")[:40].lower())
