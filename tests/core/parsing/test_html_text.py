"""HTML -> text conversion."""

from __future__ import annotations

import pytest

from triage_core.parsing import html_to_text


def test_structure_becomes_lines() -> None:
    markup = (
        "<HTML><HEAD><TITLE>Title</TITLE><script>var x = '<p>';</script></HEAD>"
        "<BODY><h1>News</h1><P>First&nbsp;para<br>second line</P>\n<div>Block</div>"
        "<ul><li>one</li><LI>two</ul><table><tr><td>a</td><td>b</td></tr>"
        "<tr><th>c</th><td>d</td></tr></table><!-- hidden <p> --></BODY></HTML>"
    )
    assert html_to_text(markup) == (
        "News\n\nFirst para\nsecond line\n\nBlock\n\n- one\n- two\n\na b\nc d"
    )


def test_entities_are_unescaped_after_tags_are_removed() -> None:
    assert html_to_text("<p>&lt;b&gt; is &quot;bold&quot; &amp; &#233;t&eacute;</p>") == (
        '<b> is "bold" & été'
    )


def test_source_whitespace_collapses() -> None:
    assert html_to_text("  Hello \n\n   <b>big</b>\t world  ") == "Hello big world"


@pytest.mark.parametrize(
    "markup",
    [
        "<script>never closed",
        "<style>p{}",
        "<!-- never closed",
        "a < b > c",
        "<<<<>>>>",
        "<p",
        "",
        "<br/><br/>",
    ],
)
def test_broken_markup(markup: str) -> None:
    text = html_to_text(markup)
    assert isinstance(text, str)
    assert "script" not in text and "style" not in text


def test_unclosed_script_drops_the_rest_only() -> None:
    assert html_to_text("before<script>evil() more") == "before"


def test_text_with_angle_brackets_is_kept() -> None:
    assert html_to_text("1 < 2 and 3 > 2") == "1 < 2 and 3 > 2"


@pytest.mark.timeout(10)
def test_hostile_markup_is_linear() -> None:
    for markup in (
        "<" * 200_000,
        "<a " * 100_000,
        "<script" * 50_000,
        "<!--" * 50_000,
        "&" * 200_000,
        "<p>" * 100_000,
    ):
        assert isinstance(html_to_text(markup), str)
