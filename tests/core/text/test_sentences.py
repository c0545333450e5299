from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triage_core.text.sentences import (
    _SPLIT,
    MAX_SENTENCES,
    _blocks,
    joined,
    joined_leading,
    split_sentences,
)


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
    # Bullet marks ("-", "*", "a)", "1.") may be dropped, but nothing is invented: every
    # word of the output is a piece of the input.
    squeezed = "".join(text.split())
    for sentence in out:
        for word in sentence.split():
            assert word in squeezed


def test_bullets_in_a_paragraph_of_short_lines() -> None:
    # Only a mark first, or "." / ")" second or third, can open a bullet: "123. x" cannot.
    assert split_sentences("Shopping:\n- milk\n2) eggs\nab. c\n123. x") == [
        "Shopping:",
        "milk",
        "eggs",
        "ab. c",
        "123. x",
    ]
    assert split_sentences("A short line\nb) second item\nlast") == [
        "A short line",
        "second item",
        "last",
    ]


# Drawn one character at a time: hypothesis also seeds text strategies with the string
# literals of the module, and these would change what the older property above is fed.
_TEXTS = st.text(
    alphabet=st.sampled_from(
        ["a", "B", " ", ".", "?", "!", "\n", "-", "1", ")", "İ", "Σ", "\u3000"]
    ),
    max_size=200,
)


@settings(max_examples=200, deadline=None)
@given(_TEXTS)
def test_one_split_for_all_blocks_splits_each_block_alone(text: str) -> None:
    blocks = _blocks(text)
    if blocks:
        each = [sentence for block in blocks for sentence in _SPLIT.split(block)]
        assert _SPLIT.split(" \n ".join(blocks)) == each


@pytest.mark.parametrize(
    "text",
    [
        "Hello there. Could you HELP? Bye",
        "One. Two. Three. Four. Five.",
        "Ödön wrote. İstanbul calls. ΟΔΟΣ ends. Last one.",
        "First. Then İ at the end.",
        "",
    ],
)
def test_joined_leading_is_the_start_of_joined(text: str) -> None:
    full = joined(text)
    count_all = len(split_sentences(text))
    for count in range(count_all + 2):
        lead = joined_leading(text, count)
        end = full.starts[count] if count < count_all else len(full.lowered)
        assert (lead.lowered, lead.starts) == (full.lowered[:end], full.starts[:count])


@settings(max_examples=200, deadline=None)
@given(_TEXTS, st.integers(min_value=0, max_value=8))
def test_joined_leading_matches_joined_on_any_text(text: str, count: int) -> None:
    full = joined(text)
    lead = joined_leading(text, count)
    end = full.starts[count] if count < len(full.starts) else len(full.lowered)
    assert (lead.lowered, lead.starts) == (full.lowered[:end], full.starts[:count])
