"""Who sent the email and how the mailbox owner was addressed.

VIP lists are matched exactly (addresses) or by domain including subdomains
("eu.bigcustomer.com" is "bigcustomer.com"), never by substring: "notbigcustomer.com"
must not inherit a customer's priority.
"""

from __future__ import annotations

from collections.abc import Iterable

from triage_core.message import Email


def normalise_address(raw: str) -> str:
    """Lower-cased bare address; tolerates "Name <addr>" in hand-built emails."""
    addr = raw.strip()
    if "<" in addr:
        addr = addr[addr.find("<") + 1 :].split(">", 1)[0]
    return addr.strip().lower()


def normalise_domain(raw: str) -> str:
    return raw.strip().lower().lstrip("@.").rstrip(".")


def domain_of(address: str) -> str:
    return address.rpartition("@")[2] if "@" in address else ""


def matching_domain(domain: str, vip_domains: Iterable[str]) -> str | None:
    """The configured VIP domain that `domain` is, or is a subdomain of."""
    if not domain:
        return None
    for vip in vip_domains:
        if domain == vip or domain.endswith("." + vip):
            return vip
    return None


def only_cced(email: Email, self_addresses: frozenset[str]) -> bool:
    """True when the mailbox owner is on Cc but not on To.

    Without configured own addresses the best evidence is the headers alone: nobody on
    To and somebody on Cc."""
    if self_addresses:
        if any(normalise_address(a) in self_addresses for a in email.to):
            return False
        return any(normalise_address(a) in self_addresses for a in email.cc)
    return not email.to and bool(email.cc)


def bulk_reason(email: Email) -> str | None:
    """Why the email counts as bulk or machine-sent, naming the header that says so.

    Mirrors `Email.is_bulk` test for test, so the two never disagree."""
    if email.list_id:
        return "bulk mail (List-Id)"
    if email.list_unsubscribe:
        return "bulk mail (List-Unsubscribe)"
    precedence = email.precedence.lower()
    if precedence in {"bulk", "list", "junk"}:
        return f"bulk mail (Precedence: {precedence})"
    auto = email.auto_submitted.lower()
    if auto and auto != "no":
        return f"automated (Auto-Submitted: {auto})"
    return None
