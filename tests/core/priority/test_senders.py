from __future__ import annotations

from triage_core.priority.senders import (
    domain_of,
    matching_domain,
    normalise_address,
    normalise_domain,
)


def test_normalise() -> None:
    assert normalise_address(" Dana <Dana@Example.COM> ") == "dana@example.com"
    assert normalise_address("dana@example.com") == "dana@example.com"
    assert normalise_domain(" @Example.com. ") == "example.com"
    assert domain_of("a@b.example.com") == "b.example.com"
    assert domain_of("nobody") == ""


def test_matching_domain() -> None:
    vips = ("bigcustomer.com", "acme.io")
    assert matching_domain("bigcustomer.com", vips) == "bigcustomer.com"
    assert matching_domain("eu.west.acme.io", vips) == "acme.io"
    assert matching_domain("notacme.io", vips) is None
    assert matching_domain("", vips) is None
