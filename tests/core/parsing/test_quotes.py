"""Newest message vs quoted history vs signature."""

from __future__ import annotations

import pytest

from triage_core.parsing import parse_email, split_message

QUOTE_STYLES = {
    "gmail": "On Mon, Jan 6, 2020 at 10:00 AM Bob Smith <bob@example.com> wrote:\n> Old text",
    "two-line attribution": "On Mon, Jan 6, 2020 at 10:00 AM Bob Smith <\nbob@example.com> "
    "wrote:\n\n> Old text",
    "german": "Am 06.01.2020 um 10:00 schrieb Bob Smith <bob@example.com>:\n> Old text",
    "french": "Le lun. 6 janv. 2020 à 10:00, Bob Smith <bob@example.com> a écrit :\n> Old",
    "original message": "-----Original Message-----\nFrom: Bob\nSent: Monday\n\nOld text",
    "outlook block": "From: Bob Smith <bob@example.com>\nSent: Monday, January 6, 2020 10:00 AM"
    "\nTo: Alice <alice@example.com>\nSubject: RE: plan\n\nOld text",
    "outlook underscores": "________________________________\nFrom: Bob Smith\n"
    "Sent: Monday\nSubject: plan\n\nOld text",
    "apple forward": "Begin forwarded message:\n\nFrom: Bob\nSubject: plan\n\nOld text",
    "gmail forward": "---------- Forwarded message ---------\nFrom: Bob\nDate: Mon\n\nOld",
    "quoted lines": "> Old text\n> more old text",
}


@pytest.mark.parametrize("style", sorted(QUOTE_STYLES))
def test_quote_styles(style: str) -> None:
    history = QUOTE_STYLES[style]
    newest, quoted, signature = split_message(f"Sounds good, let's do it.\n\n{history}\n")
    assert newest == "Sounds good, let's do it."
    assert quoted == history.strip()
    assert signature == ""


def test_interleaved_reply_keeps_answers_in_newest() -> None:
    body = (
        "Bob Smith wrote:\n> Can you make Monday?\nYes, Monday works.\n"
        "> And the budget?\nStill pending.\n"
    )
    newest, quoted, _ = split_message(body)
    assert newest == "Yes, Monday works.\nStill pending."
    assert quoted == "Bob Smith wrote:\n> Can you make Monday?\n> And the budget?"


def test_interleaved_reply_under_on_wrote() -> None:
    body = "On Mon, Bob wrote:\n> q1\na1\n> q2\na2"
    assert split_message(body) == ("a1\na2", "On Mon, Bob wrote:\n> q1\n> q2", "")


@pytest.mark.parametrize(
    ("tail", "signature"),
    [
        ("-- \nAlice Example\nOps team", "-- \nAlice Example\nOps team"),
        ("--\nAlice Example", "--\nAlice Example"),
        ("Best regards,\nAlice", "Best regards,\nAlice"),
        ("Kind regards\nAlice Example\nAcme Corp", "Kind regards\nAlice Example\nAcme Corp"),
        ("Regards,\nAlice", "Regards,\nAlice"),
        ("Thanks,\nAlice", "Thanks,\nAlice"),
        ("Thank you,\nAlice", "Thank you,\nAlice"),
        ("Cheers,\nAl", "Cheers,\nAl"),
        ("Sincerely,\nAlice", "Sincerely,\nAlice"),
        ("Best,\nA.", "Best,\nA."),
        ("Sent from my iPhone", "Sent from my iPhone"),
        ("Get Outlook for Android", "Get Outlook for Android"),
        ("Thanks!\n\n-- \nAlice\nwww.example.com", "Thanks!\n\n-- \nAlice\nwww.example.com"),
    ],
)
def test_signature_styles(tail: str, signature: str) -> None:
    newest, quoted, sig = split_message(f"Hi Bob,\n\nThe server is back up.\n\n{tail}\n")
    assert (newest, quoted, sig) == ("Hi Bob,\n\nThe server is back up.", "", signature)


def test_closing_word_far_from_the_end_is_not_a_signature() -> None:
    body = "Thanks,\n" + "\n".join(f"line {i}" for i in range(10))
    assert split_message(body) == (body, "", "")


def test_thanks_inside_a_sentence_is_not_a_signature() -> None:
    body = "Can you check the logs?\nThanks for the quick reply yesterday."
    assert split_message(body) == (body, "", "")


def test_signature_before_quote() -> None:
    body = (
        "Agreed.\n\nThanks,\nAlice\n\nOn Mon, Jan 6, 2020 at 10:00 AM Bob <b@x.com> wrote:\n"
        "> Shall we?"
    )
    assert split_message(body) == (
        "Agreed.",
        "On Mon, Jan 6, 2020 at 10:00 AM Bob <b@x.com> wrote:\n> Shall we?",
        "Thanks,\nAlice",
    )


def test_newest_never_empty() -> None:
    for body in (
        "> only quoted\n> text",
        "-----Original Message-----\nFrom: x\n\nold",
        "Thanks,\nAlice",
        "-- \nsig only",
    ):
        newest, _, _ = split_message(body)
        assert newest == body.strip(), body


def test_empty_body() -> None:
    assert split_message("  \n ") == ("", "", "")


def test_parse_email_fills_the_split() -> None:
    raw = (
        b"Subject: Re: plan\n\nWorks for me.\n\nCheers,\nAl\n\n"
        b"On Mon, Jan 6, 2020 at 10:00 AM Bob <bob@example.com> wrote:\n> Monday?\n"
    )
    e = parse_email(raw)
    assert e.newest == "Works for me."
    assert e.signature == "Cheers,\nAl"
    assert e.quoted == "On Mon, Jan 6, 2020 at 10:00 AM Bob <bob@example.com> wrote:\n> Monday?"


@pytest.mark.timeout(10)
def test_hostile_bodies_are_linear() -> None:
    for body in (
        "On " * 100_000,
        "On x\n" * 50_000,
        ">\n" * 100_000,
        "From: a\n" * 50_000,
        "-- \n" * 50_000,
        "_" * 200_000 + "\nFrom:",
        "Thanks,\n" * 50_000,
    ):
        newest, _, _ = split_message(body)
        assert newest
