from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triage_core.text.sentences import MAX_SENTENCES, joined, split_sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One. Two! Three? Four", ["One.", "Two!", "Three?", "Four"]),
        (
            "Send the report, e.g. the Q3 one. Thanks.",
            ["Send the report, e.g. the Q3 one.", "Thanks."],
        ),
        ("Ask Mr. Smith and Dr. Jones. Then go.", ["Ask Mr. Smith and Dr. Jones.", "Then go."]),
        (
            "It costs 3.5 dollars. Version 2.1 is out.",
            ["It costs 3.5 dollars.", "Version 2.1 is out."],
        ),
        ("J. Smith signed it. Done.", ["J. Smith signed it.", "Done."]),
        ("See approx. ten people. OK.", ["See approx. ten people.", "OK."]),
        ('He said "stop." Then left.', ['He said "stop."', "Then left."]),
        ("Wait... What? Yes!!! Fine.", ["Wait...", "What?", "Yes!!!", "Fine."]),
        ("Meet on Nov. 28 please. OK", ["Meet on Nov. 28 please.", "OK"]),
        ("i.e. this one", ["i.e. this one"]),
        # Newlines: short lines are boundaries, wrapped prose is joined.
        (
            "Hi Bob,\nCould you help?\nThanks,\nAlice",
            ["Hi Bob,", "Could you help?", "Thanks,", "Alice"],
        ),
        (
            "We cannot keep running the old release in production\n"
            "because it leaks memory every night. Please advise.",
            [
                "We cannot keep running the old release in production because it leaks "
                "memory every night.",
                "Please advise.",
            ],
        ),
        # Bullets are boundaries and lose their markers.
        (
            "Please do the following for the release next week:\n- tag it\n* build it\n"
            "• ship it\n1. announce\n2) celebrate\na) rest",
            [
                "Please do the following for the release next week:",
                "tag it",
                "build it",
                "ship it",
                "announce",
                "celebrate",
                "rest",
            ],
        ),
        ("- lone bullet", ["lone bullet"]),
        (
            "First para.\n\n\n  \n\nSecond  para\twith   spaces.",
            ["First para.", "Second para with spaces."],
        ),
        ("a\r\nb\r\n\r\nc", ["a", "b", "c"]),
        ("", []),
        (" \n\t\n ", []),
    ],
)
def test_split(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_returns_a_fresh_list_each_time() -> None:
    first = split_sentences("One. Two.")
    first.append("mutated")
    assert split_sentences("One. Two.") == ["One.", "Two."]


def test_bounded() -> None:
    assert len(split_sentences("Yes. " * 5_000)) == MAX_SENTENCES


def test_joined_view_maps_offsets_back_to_sentences() -> None:
    view = joined("Hello there. Could you HELP? Bye")
    assert view.lowered == " hello there.\0 could you help?\0 bye\0"
    assert [view.index_of(view.lowered.find(w)) for w in ("hello", "help", "bye")] == [0, 1, 2]
    assert joined("").lowered == ""


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab .?!\n-*1)e.g", max_size=200))
def test_sentences_are_clean_and_keep_the_words(text: str) -> None:
    out = split_sentences(text)
    for sentence in out:
        assert sentence and sentence == sentence.strip() and "\n" not in sentence
        assert "  " not in sentence
    assert (
        "".join("".join(out).split()).replace("-", "").replace("*", "")
        in "".join(text.split()).replace("-", "").replace("*", "")
        or not out
    )
