"""Split a body into the newest message, the quoted history and the signature.

Later stages (summary, urgency, asks) must judge what *this* sender wrote. The quote
start is found by one multi-line regex (attribution lines in a few languages, Outlook and
Gmail header blocks, forward markers); interleaved "> " lines are moved out line by line;
the signature is looked for only in the last few lines, where it lives. All patterns are
bounded ({0,200}) so that a 100,000-character body cannot make them backtrack.
"""

from __future__ import annotations

import re

_ATTRIB = r"[^\n]{0,200}?(?:\n[^\n]{0,200}?)?"
_HDR_WORDS = (
    r"(?:Sent|Date|To|Cc|Subject|Gesendet|Datum|An|Betreff|Envoy[ée]|[ÀA]|Objet|Enviado|"
    r"Para|Asunto|Fecha)"
)
# Applied to "\n" + text: the leading literal newline lets the engine jump from line start
# to line start, and the lookahead rejects most lines with one character-class test.
# Case-sensitive on purpose: mailers write these lines in a fixed case, and re.IGNORECASE
# would slow every comparison.
_QUOTE_START = re.compile(
    r"\n(?=[OALEIB_*FVD-])(?:"
    rf"(?P<attr>(?:On|Am|Le|El|Il|Op)\s{_ATTRIB}\b"
    r"(?:wrote|schrieb[^\n]{0,60}?|a [ée]crit[ \t]*|escribi[óo][ \t]*|ha scritto[ \t]*"
    r"|schreef[^\n]{0,60}?):[ \t]*$)"
    r"|-{2,}[ \t]*(?:Original [Mm]essage|ORIGINAL MESSAGE|Urspr[üu]ngliche Nachricht"
    r"|Message d'origine|Forwarded [Mm]essage)[ \t]*-{2,}"
    r"|Begin forwarded message:"
    r"|_{20,}[ \t]*\n(?:[ \t]*\n)?[ \t]*\*?(?:From|Von|De)[ \t]?:"
    rf"|\*?(?:From|Von|De)[ \t]?:\*?[ \t][^\n]*\n(?:\*?{_HDR_WORDS}[ \t]?:[^\n]*\n){{1,6}}?"
    rf"\*?{_HDR_WORDS}[ \t]?:"
    r")",
    re.M,
)
_QUOTED_RUN = re.compile(r"\n>[^\n]*(?:\n>[^\n]*)*")
# `"\n>" in text` and `"\n--" in text` as regexes: the engine's literal search is about
# twice as fast as str's for these two-character needles in newline-dense text.
_QUOTED_LINE = re.compile(r"\n>")
_DASH_LINE = re.compile(r"\n--")
_ATTRIBUTION_END = ("wrote:", "wrote :", "writes:", "said:", "schrieb:", "écrit :", "écrit:")
_CLOSING = re.compile(
    r"(?:(?:best|kind|warm|warmest|many|with|kindest|warm|my)\s+)?"
    r"(?:regards|wishes|thanks)(?:\s+(?:to\s+all|again))?"
    r"|best|cheers|sincerely(?:\s+yours)?|yours\s+(?:truly|sincerely|faithfully)"
    r"|thanks(?:\s+(?:again|so\s+much|a\s+lot|in\s+advance))?"
    r"|thank\s+you(?:\s+(?:again|so\s+much|very\s+much|in\s+advance))?"
    r"|many\s+thanks|thx|br|rgds|take\s+care|talk\s+soon|all\s+the\s+best"
    r"|mit\s+freundlichen\s+gr[üu](?:ß|ss)en|viele\s+gr[üu](?:ß|ss)e|gru(?:ß|ss)"
    r"|cordialement|bien\s+[àa]\s+vous|saludos|atentamente|cumprimentos",
    re.I,
)
_CLOSING_PUNCT = ",.!-– "
# Every character _CLOSING (case-insensitive) can start with: the first letters of its
# phrases in both cases, plus the two non-ASCII letters that fold to one of them (LATIN
# SMALL LETTER LONG S, KELVIN SIGN). A line starting with anything else skips the regex;
# a test derives the set again from the regex engine.
_CLOSING_FIRST = frozenset("abcgkmrstvwyABCGKMRSTVWY\u017f\u212a")
_MOBILE_FIRST = frozenset("SsGgEeVv")
_MOBILE = re.compile(
    r"(?:sent\s+from\s+(?:my\s|mail\s+for\s|outlook|yahoo|aol|samsung|the\s)"
    r"|sent\s+via\s|get\s+outlook\s+for\s|envoy[ée]\s+de\s+mon\s|von\s+meinem\s)",
    re.I,
)
_TAIL_LINES = 6
_TAIL_SCAN = 12  # lines looked at from the end to find _TAIL_LINES non-blank ones
_MAX_BARE_DASH_TAIL = 12


def split_message(body: str) -> tuple[str, str, str]:
    """(newest, quoted, signature), each stripped; newest is never empty for a body with
    text: when the split would leave nothing, newest is the whole body."""
    text = body.strip()
    if not text:
        return "", "", ""
    lined = "\n" + text
    m = _QUOTE_START.search(lined)
    cut = m.start() if m else len(text)  # lined[i + 1] is text[i]
    head, quoted = text[:cut], text[cut:]
    if head.startswith(">") or _QUOTED_LINE.search(head):
        head, interleaved = _drop_quoted_lines(head)
        quoted = f"{interleaved}\n{quoted}" if quoted else interleaved
    head = head.strip()
    if not head and m is not None and m.group("attr") is not None and _QUOTED_LINE.search(quoted):
        # "On ... wrote:" on top of an interleaved reply: the answers are between quotes.
        attribution_end = m.end() - 1
        answers, only_quotes = _drop_quoted_lines(text[attribution_end:])
        head = answers.strip()
        if head:
            quoted = f"{text[:attribution_end].strip()}\n{only_quotes}"
    if not head:
        return text, quoted.strip(), ""
    newest, signature = _split_signature(head)
    return newest, quoted.strip(), signature


def _drop_quoted_lines(text: str) -> tuple[str, str]:
    """(text without its "> " lines, those lines). An attribution line ("... wrote:") just
    before a run of quoted lines goes with them."""
    lined = "\n" + text
    kept: list[str] = []
    quoted: list[str] = []
    last = 0
    for m in _QUOTED_RUN.finditer(lined):
        start = m.start()
        line_start = lined.rfind("\n", last, start)
        if line_start >= 0 and lined[line_start:start].rstrip().endswith(_ATTRIBUTION_END):
            start = line_start
        kept.append(lined[last:start])
        quoted.append(lined[start : m.end()].strip("\n"))
        last = m.end()
    kept.append(lined[last:])
    return "".join(kept).strip("\n"), "\n".join(quoted).strip()


def _find_line(text: str, line: str, *, last: bool) -> int:
    """Offset of a line equal to `line` (never the first line), or -1."""
    needle = "\n" + line + "\n"
    i = text.rfind(needle) if last else text.find(needle)
    if text.endswith("\n" + line) and (last or i < 0):
        i = len(text) - len(line) - 1
    return i + 1 if i >= 0 else -1


def _split_signature(text: str) -> tuple[str, str]:
    cut = -1
    if _DASH_LINE.search(text):  # one scan rules out both delimiter searches for most bodies
        cut = _find_line(text, "-- ", last=False)
        if cut < 0:
            bare = _find_line(text, "--", last=True)
            if bare > 0 and text.count("\n", bare) <= _MAX_BARE_DASH_TAIL:
                cut = bare
    region = text if cut < 0 else text[:cut]
    closing = _closing_line(region)
    if closing > 0:
        cut = closing
    if cut <= 0:
        return text, ""
    newest = text[:cut].strip()
    if not newest:
        return text, ""
    return newest, text[cut:].strip()


def _closing_line(region: str) -> int:
    """Offset of the earliest closing or mobile-footer line among the last few non-blank
    lines of `region` (never its first line), or -1."""
    region = region.rstrip()
    lines = region.rsplit("\n", _TAIL_SCAN)
    pos = len(region)
    found = -1
    seen = 0
    for idx in range(len(lines) - 1, 0, -1):
        line = lines[idx]
        pos -= len(line)  # where this line starts
        stripped = line.strip()
        if stripped:
            seen += 1
            first = stripped[0]
            n = len(stripped)
            if (
                first in _CLOSING_FIRST
                and n <= 40
                and _CLOSING.fullmatch(stripped.rstrip(_CLOSING_PUNCT))
            ) or (first in _MOBILE_FIRST and n <= 80 and _MOBILE.match(stripped)):
                found = pos
            if seen >= _TAIL_LINES:
                break
        pos -= 1  # the newline before it
    return found
