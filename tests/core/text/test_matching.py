from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triage_core.text.matching import (
    _LOOKBACK_CHARS,
    PhraseMatch,
    PhraseMatcher,
    _is_negated_in_window,
    is_negated,
)

URGENCY = {
    "urgent": ["urgent", "urgently", "emergency", "rush"],
    "asap": ["asap", "as soon as possible", "as soon"],
    "eod": ["eod", "eod today"],
    "esc": ["esc"],
}


@pytest.fixture(scope="module")
def matcher() -> PhraseMatcher:
    return PhraseMatcher(URGENCY)


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("not urgent at all", "urgent"),
        ("no rush", "rush"),
        ("this is not an emergency", "emergency"),
        ("nothing urgent", "urgent"),
        ("don't need this asap", "asap"),
        ("I don’t need this asap", "asap"),
        ("It isn't urgent", "urgent"),
        ("we never rush", "rush"),
        ("without rush", "rush"),
        ("hardly urgent", "urgent"),
        ("there is no need to rush", "rush"),
        ("doesnt look urgent", "urgent"),
        ("this cannot be urgent", "urgent"),
        ("this can not be urgent", "urgent"),
        ("It CANNOT be urgent", "urgent"),
    ],
)
def test_negated_examples(matcher: PhraseMatcher, text: str, phrase: str) -> None:
    (m,) = matcher.find(text)
    assert m.phrase == phrase
    assert m.negated is True
    assert matcher.keys(text) == set()
    assert matcher.keys(text, include_negated=True) == {m.key}


@pytest.mark.parametrize(
    "text",
    [
        "urgent: the server is down",
        "not the printer. urgent: the server",  # sentence boundary
        "no, urgent",  # comma ends the clause
        "not only that; urgent",
        "not a test but urgent",
        "not one of the two three urgent",  # negator four words back
        "cannot stress enough how urgent",  # "cannot" is four words back
        "nottingham urgent",  # "not" inside a word is no word
        "not 'but' urgent",  # "but" ends the clause, quoted too
        "notice: urgent",
        "knot urgent",
    ],
)
def test_not_negated(matcher: PhraseMatcher, text: str) -> None:
    (m,) = matcher.find(text)
    assert m.negated is False
    assert matcher.keys(text) == {m.key}


@pytest.mark.parametrize(
    "text", ["insurgent", "geodesic", "escalate", "peod", "eodx", "rushed", "asaps", "urgent_ly"]
)
def test_word_boundaries(matcher: PhraseMatcher, text: str) -> None:
    assert matcher.find(text) == []


def test_exact_matches_in_text_order(matcher: PhraseMatcher) -> None:
    text = "URGENT: please do it As Soon  as\nPossible, by EOD today (esc)."
    assert matcher.find(text) == [
        PhraseMatch("urgent", "urgent", 0, 6, False),
        PhraseMatch("asap", "as soon as possible", 21, 41, False),
        PhraseMatch("eod", "eod today", 46, 55, False),
        PhraseMatch("esc", "esc", 57, 60, False),
    ]


def test_longest_phrase_wins_but_falls_back_on_boundary(matcher: PhraseMatcher) -> None:
    assert [m.phrase for m in matcher.find("eod todays")] == ["eod"]
    assert [m.phrase for m in matcher.find("as soon as we can")] == ["as soon"]
    assert [m.phrase for m in matcher.find("urgently")] == ["urgently"]


def test_match_after_rejected_inner_hit() -> None:
    m = PhraseMatcher({"k": ["b c"]})
    assert m.find("ab c, b c") == [PhraseMatch("k", "b c", 6, 9, False)]


def test_phrase_under_two_keys_yields_both() -> None:
    m = PhraseMatcher({"billing": ["invoice"], "request": ["invoice", "send"]})
    assert m.keys("Send the invoice") == {"billing", "request"}
    assert [x.key for x in m.find("invoice")] == ["billing", "request"]


def test_non_ascii_lowercasing_keeps_offsets(matcher: PhraseMatcher) -> None:
    text = "İİ URGENT"  # "İ".lower() is two code points
    (m,) = matcher.find(text)
    assert (m.start, m.end, text[m.start : m.end]) == (3, 9, "URGENT")


def test_apostrophes_in_phrases() -> None:
    m = PhraseMatcher({"k": ["can't wait"]})
    assert [x.phrase for x in m.find("I can’t wait")] == ["can't wait"]


def test_empty_inputs() -> None:
    assert PhraseMatcher({}).find("urgent") == []
    assert PhraseMatcher(URGENCY).find("") == []
    with pytest.raises(ValueError, match="empty phrase"):
        PhraseMatcher({"k": ["  "]})


def test_is_negated_is_bounded_on_long_words() -> None:
    text = "x" * 200 + " not urgent"
    assert is_negated(text, len(text) - 6) is True
    text = "c" * 200 + "annot urgent"
    assert is_negated(text, len(text) - 6) is False


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="abcdegnorstuy .,!'\n", max_size=200))
def test_matches_are_whole_words_and_ordered(text: str) -> None:
    matcher = PhraseMatcher(URGENCY)
    found = matcher.find(text)
    assert [m.start for m in found] == sorted(m.start for m in found)
    for m in found:
        assert " ".join(text[m.start : m.end].lower().split()) == m.phrase
        assert m.start == 0 or not text[m.start - 1].isalnum()
        assert m.end == len(text) or not text[m.end].isalnum()


def test_ascii_apostrophe_phrase_and_openers() -> None:
    m = PhraseMatcher({"k": ["can't wait", "asap"]})
    assert [x.phrase for x in m.find("I can't wait (ASAP)")] == ["can't wait", "asap"]
    found = m.find('"asap" [asap] *asap* /asap >asap\tasap')
    assert [x.start for x in found] == [1, 8, 15, 22, 28, 33]


def test_opener_inside_a_phrase_still_maps_back() -> None:
    m = PhraseMatcher({"k": ["we need"]})
    assert m.find("we/ need it") == [PhraseMatch("k", "we need", 0, 8, False)]


def test_cut_word_at_window_start_skipped_up_to_a_newline() -> None:
    text = "c" * 200 + "annot\nnot urgent"
    assert is_negated(text, len(text) - 6) is True


def test_negator_cut_by_the_window_start_is_no_word() -> None:
    # "don't" is the end of a 79-character word, cut by the 80-character look-back.
    text = "a" * 100 + "don't urgent"
    assert is_negated(text, len(text) - 6) is False
    text = "a" * 100 + " don't urgent"
    assert is_negated(text, len(text) - 6) is True


_PIECES = [
    "not", "no", "but", "'but'", "but's", "cannot", "can't", "isn’t", "x", "abut", "butter",
    "urgent", " ", "  ", ", ", ". ", "'", "-", "İ", "c" * 30,
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(_PIECES), max_size=40),
    st.integers(0, 400),
)
def test_backward_reading_agrees_with_reading_the_whole_window(
    parts: list[str], start: int
) -> None:
    text = " ".join(parts)
    start = min(start, len(text))
    lo = max(0, start - _LOOKBACK_CHARS)
    expected = _is_negated_in_window(text[lo:start].lower(), cut=lo > 0)
    assert is_negated(text, start) is expected
