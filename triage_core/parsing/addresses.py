"""Addresses out of From/To/Cc/Reply-To values, tolerant of real-world junk.

Instead of a full RFC 5322 grammar (slow, and strict where mail is not), values are
tokenized by one linear regex: angle-addrs and bare words; quoted display names and
comments are blanked first so that "Doe, John" <j@x> or a group "team: a@x, b@y;" yield
only the addresses. Every pattern is free of nested or overlapping quantifiers, so a
256 KiB hostile header stays linear. Both parsers are pure and their results immutable:
short values are memoized (memo.py), since a mailbox sees the same few senders and lists.
"""

from __future__ import annotations

import re

from triage_core.parsing.memo import per_short_value

_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_COMMENT = re.compile(r"\(([^()]*)\)")
_TOKEN = re.compile(r'<([^<>]*)>|([^\s<>,;:"()]+)')
_SPACES = re.compile(r"\s+")


def _clean_addr(raw: str) -> str:
    addr = raw.strip().strip(";,'`").rstrip(".").lower()
    if addr.startswith("mailto:"):
        addr = addr[7:]
    if ":" in addr:  # obsolete source route "@relay:user@host", or a group's debris
        addr = addr.rpartition(":")[2].lstrip(";,")
    return addr.replace(" ", "")


def _is_addr(addr: str) -> bool:
    at = addr.find("@")
    return 0 < at < len(addr) - 1


@per_short_value
def address_list(value: str) -> tuple[str, ...]:
    """Lower-cased addresses of an address-list header, in order, without duplicates."""
    if not value:
        return ()
    if '"' in value:
        value = _QUOTED.sub(" ", value)
    if "(" in value:
        value = _COMMENT.sub(" ", value)
    out: list[str] = []
    for angle, bare in _TOKEN.findall(value):
        if angle:
            if "@" not in angle:
                continue
            addr = _clean_addr(angle)
        elif "@" in bare:
            # What _clean_addr does to a bare token: it holds no whitespace, ",", ";" or
            # ":" (they end a token), so only the quote and dot trimming can apply.
            addr = bare.strip("'`").rstrip(".").lower()
        else:
            continue
        at = addr.find("@")
        if 0 < at < len(addr) - 1 and addr not in out:
            out.append(addr)
    return tuple(out)


def _unquote_name(name: str) -> str:
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'":
        name = name[1:-1]
        if "\\" in name:
            name = name.replace('\\"', '"').replace("\\\\", "\\")
    if name.isprintable() and "  " not in name:
        # Every whitespace character but the ASCII space is unprintable: nothing to squeeze.
        return name.strip()
    return _SPACES.sub(" ", name).strip()


@per_short_value
def parse_mailbox(value: str) -> tuple[str, str]:
    """(display name, lower-cased address) of a From-like header."""
    value = value.strip()
    if not value:
        return "", ""
    # A "<" inside a quoted display name ("\"<Karen D\" <k@x>") is not the address.
    masked = _QUOTED.sub(lambda m: " " * len(m.group(0)), value) if '"' in value else value
    lt = masked.find("<")
    if lt >= 0:
        gt = masked.find(">", lt)
        inner = value[lt + 1 : gt if gt >= 0 else len(value)]
        addr = _clean_addr(inner)
        name = _unquote_name(value[:lt])
        if not name and gt >= 0:
            m = _COMMENT.search(value, gt)
            name = _unquote_name(m.group(1)) if m else ""
        if not _is_addr(addr):
            if " " in inner.strip():  # "<Joe Bloggs>": a name, not an address
                return _unquote_name(inner), ""
            addr = addr if addr and "@" not in addr else ""
        return name, addr
    found = address_list(value)
    if found:
        m = _COMMENT.search(value)
        if m:
            return _unquote_name(m.group(1)), found[0]
        rest = _QUOTED.search(value)
        return (_unquote_name(rest.group(0)) if rest else ""), found[0]
    if " " not in value and "\t" not in value and "@" not in value:
        return "", value.lower()  # a local name such as MAILER-DAEMON
    return _unquote_name(value), ""
