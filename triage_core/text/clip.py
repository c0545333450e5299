"""Cutting text for display without cutting a word in half."""

from __future__ import annotations

ELLIPSIS = "…"


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` chars on a word boundary, ending in "…" when cut.

    A word longer than half the limit (a URL) is cut inside rather than dropping most of
    the text."""
    if len(text) <= limit:
        return text
    if limit <= 1:
        return ELLIPSIS[:limit]
    cut = text[: limit - 1]
    if not text[limit - 1].isspace():
        space = cut.rfind(" ")
        if space > limit // 2:
            cut = cut[:space]
    return cut.rstrip(" ,;:-–") + ELLIPSIS
