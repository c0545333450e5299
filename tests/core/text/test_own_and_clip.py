from __future__ import annotations

from triage_core.message import Email
from triage_core.text.clip import clip
from triage_core.text.own import HEAD_CHARS, TAIL_CHARS, own_text


def test_own_text_is_newest_else_body_without_quote() -> None:
    assert own_text(Email(newest="mine", body="mine\n> theirs", quoted="theirs")) == "mine"
    assert own_text(Email(body="only a body")) == "only a body"
    assert own_text(Email(body="> theirs", quoted="theirs")) == ""


def test_short_text_is_the_same_object() -> None:
    text = "Could you help? " * 10
    assert own_text(Email(newest=text)) is text


def test_long_text_keeps_opening_and_closing_on_boundaries() -> None:
    head = "First line of the message.\n" * 30  # 810 chars
    tail = "Middle filler text here. " * 40 + "\nPlease reply by Friday."
    text = own_text(Email(newest=head + tail))
    assert text.startswith("First line of the message.\n")
    assert text.endswith("Please reply by Friday.")
    assert len(text) <= HEAD_CHARS + TAIL_CHARS + 2
    opening, closing = text.split("\n\n")
    assert opening.endswith("First line of the message.")
    assert closing.startswith(("Middle", "Please"))


def test_clip() -> None:
    assert clip("short", 10) == "short"
    assert clip("one two three four", 12) == "one two…"
    assert clip("one two three four", 9) == "one two…"
    assert clip("abcdefghijklmnop", 8) == "abcdefg…"  # no space: cut inside
    assert clip("one two, three", 9) == "one two…"
    assert len(clip("word " * 100, 280)) <= 280


def test_long_text_is_kept_once_per_text() -> None:
    newest = "Opening line of a long message.\n" * 40
    first = own_text(Email(newest=newest))
    assert own_text(Email(newest=newest, subject="same text, other email")) is first
    other = own_text(Email(newest="x" + newest))
    assert other is not first and other.startswith("xOpening")
    assert own_text(Email(newest=newest)) == first
