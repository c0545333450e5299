"""Who a reply goes to and how it opens: greeting, first name, "Re:" subject, no-reply.

Kept apart from rendering so the rules (which are where drafts usually go wrong: "Hi
Support Team,", "Re: Re: RE: ...") are tested on their own.
"""

from __future__ import annotations

import re

_REPLY_PREFIX = re.compile(r"^(?:\s*(?:re|aw|sv|antw)\s*(?:\[\d+\]|\(\d+\))?\s*:)+\s*", re.I)
_PARENTHETICAL = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_TITLES = frozenset({"mr", "mrs", "ms", "miss", "dr", "prof", "sir", "madam", "mx"})
# A display name holding one of these is a role or a system, not a person to greet.
_NOT_A_PERSON = frozenset(
    {
        "team",
        "support",
        "service",
        "services",
        "info",
        "admin",
        "administrator",
        "billing",
        "sales",
        "notifications",
        "notification",
        "newsletter",
        "noreply",
        "no-reply",
        "alerts",
        "helpdesk",
        "customer",
        "department",
        "office",
        "daemon",
        "robot",
        "bot",
        "system",
        "mailer",
        "accounts",
        "security",
        "the",
    }
)
_NO_REPLY_LOCAL = re.compile(
    r"(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|mailer[-_.]?daemon|postmaster|bounces?)"
    r"(?:$|[-_.+])",
    re.I,
)
NO_SUBJECT = "(no subject)"


def reply_subject(subject: str) -> str:
    """ "Re: <subject>" with any existing reply prefixes ("Re:", "RE:", "Re[2]:", "AW:")
    folded into one; "Fwd:" is kept: it is part of what the sender wrote."""
    rest = _REPLY_PREFIX.sub("", " ".join(subject.split()))
    return f"Re: {rest or NO_SUBJECT}"


def display_name(from_name: str) -> str:
    """The sender's name fit for a greeting, or "" for none, a role, or an address."""
    name = " ".join(_PARENTHETICAL.sub(" ", from_name).replace('"', " ").split()).strip(" '")
    if not name or "@" in name or not any(ch.isalpha() for ch in name):
        return ""
    if "," in name:  # "Smith, Dana"
        last, _, first = name.partition(",")
        name = f"{first.strip()} {last.strip()}".strip()
    words = name.split()
    if any(w.lower().strip(".") in _NOT_A_PERSON for w in words):
        return ""
    if name.isupper() or name.islower():
        name = " ".join(w.capitalize() for w in words)
    return name


def first_name(name: str) -> str:
    for word in name.split():
        if word.lower().strip(".") not in _TITLES:
            return word
    return ""


def greeting(from_name: str, *, tone: str) -> str:
    name = display_name(from_name)
    if not name:
        return "Hello,"
    if tone == "formal":
        return f"Dear {name},"
    return f"Hi {first_name(name) or name},"


def is_no_reply(address: str) -> bool:
    local = address.strip().lower().rpartition("@")[0] if "@" in address else ""
    return bool(local) and _NO_REPLY_LOCAL.match(local) is not None
