"""Memoized pure functions of one short header value.

A stream of mail repeats the same few hundred Content-Type, From and To strings
('text/plain; charset="us-ascii"', a list's address, a colleague's mailbox): parsing each
again costs microseconds, a cache hit costs a dict lookup. Only short values are kept, so
a hostile 256 KiB header can neither fill memory nor evict the useful entries, and a full
cache simply starts over (cheaper than LRU bookkeeping on every hit, and the values that
matter are back after a few messages). Results must be immutable (str, tuples, read-only
mappings) because every caller shares them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TypeVar, cast

T = TypeVar("T")

CACHED_ENTRIES = 1024
CACHED_CHARS = 256
_CLEARERS: list[Callable[[], None]] = []
_MISSING = object()


def per_short_value(fn: Callable[[str], T]) -> Callable[[str], T]:
    """`fn` memoized for values of at most CACHED_CHARS characters."""
    memo: dict[str, T] = {}
    _CLEARERS.append(memo.clear)

    @wraps(fn)
    def call(value: str) -> T:
        # One get, not `in` then [ ]: another thread may clear the memo in between.
        found = memo.get(value, _MISSING)
        if found is not _MISSING:
            return cast(T, found)
        result = fn(value)
        if len(value) <= CACHED_CHARS:
            if len(memo) >= CACHED_ENTRIES:
                memo.clear()
            memo[value] = result
        return result

    return call


def clear_caches() -> None:
    """Forget every memoized value (tests and benchmarks that must start cold)."""
    for clear in _CLEARERS:
        clear()
