"""Byte counts as people read them in `Email.errors` ("25 MiB", "256 KiB")."""

from __future__ import annotations


def human_size(n: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= factor and n % factor == 0:
            return f"{n // factor} {unit}"
    return f"{n} bytes"
