"""Turning an `Email` into the token sets the embedded model scores.

Two views of one email, because the two heads of the model answer different questions:
- `category_tokens`: what *this* sender wrote (subject + newest message) plus a few
  structural cues (bulk headers, reply, HTML-only, attachment types). Quoted history would
  make a reply look like whatever it replies to.
- `spam_tokens`: everything a spam filter can use: the category tokens, the quoted and
  signature text, and a handful of header tokens (sender domain, mailer, content type).

Features are binary (presence), which keeps the model robust to long, repetitive spam and
makes scoring a sum over a small set. The text is cut at `MAX_CHARS` characters: the first
few kilobytes decide the category, and the cut keeps the per-email cost bounded.
"""

from __future__ import annotations

import re
from itertools import pairwise

from triage_core.message import Email

MAX_CHARS = 3000
BIGRAM_WORDS = 80
# A token starts and ends on a word character (so "end." and "'quoted'" lose their
# punctuation inside the regex engine, not in a Python loop) and is 2..32 characters long.
_WORD = re.compile(r"[a-z0-9$€£][a-z0-9'$€£%._-]{0,30}[a-z0-9$€£%]")
_DOMAIN = re.compile(r"@([a-z0-9.-]+)")
_URL = re.compile(r"https?://([A-Za-z0-9.-]+)")
_SHOUT = re.compile(r"[A-Z]{4,}")
SHOUT_CHARS = 1000  # shouting shows in the opening; scanning further costs more than it tells
_SPAM_HEADERS = frozenset(
    {
        "x-mailer",
        "user-agent",
        "content-type",
        "x-priority",
        "x-msmail-priority",
        "importance",
        "organization",
    }
)


def word_list(text: str) -> list[str]:
    """Lower-cased word tokens in order. One `findall` and nothing per token in Python:
    this is the classifier's hot loop."""
    return _WORD.findall(text[:MAX_CHARS].lower())


def words(text: str, *, prefix: str = "") -> set[str]:
    if prefix:
        return {prefix + w for w in word_list(text)}
    return set(word_list(text))


def category_tokens(email: Email) -> set[str]:
    ws = word_list(email.newest or email.body)
    toks = set(ws)
    # Word pairs of the opening: "could you", "is down", "invoice attached" carry the
    # intent that single words miss.
    head = ws[:BIGRAM_WORDS]
    toks.update(map("_".join, pairwise(head)))
    toks.update(words(email.subject, prefix="s:"))
    if email.list_id:
        toks.add("~list-id")
    if email.list_unsubscribe:
        toks.add("~list-unsubscribe")
    if email.precedence:
        toks.add("~precedence:" + email.precedence.lower()[:16])
    if email.auto_submitted and email.auto_submitted.lower() != "no":
        toks.add("~auto-submitted")
    if email.is_reply:
        toks.add("~reply")
    if email.body_is_html:
        toks.add("~html-only")
    if not (email.newest or email.body).strip():
        toks.add("~no-body")
    local = email.from_addr.partition("@")[0]
    if local:
        toks.add("~from-local:" + local[:24])
        if "noreply" in local.replace("-", "").replace("_", ""):
            toks.add("~from-noreply")
    for att in email.attachments[:10]:
        toks.add("~att:" + att.content_type[:40])
    return toks


def spam_tokens(email: Email, base: set[str] | None = None) -> set[str]:
    toks = set(base) if base is not None else category_tokens(email)
    toks.update(spam_extra_tokens(email))
    return toks


def spam_extra_tokens(email: Email) -> set[str]:
    """The spam view's tokens beyond the category view. Every one carries a prefix (`q:`
    or `~`), so the two sets never overlap and a scorer can look each token up once."""
    toks: set[str] = set()
    rest = email.quoted + "\n" + email.signature
    if len(rest) > 1:
        toks.update(words(rest, prefix="q:"))
    domain = email.from_addr.rpartition("@")[2]
    if domain:
        toks.add("~from-domain:" + domain[-40:])
        toks.add("~from-tld:" + domain.rpartition(".")[2][:10])
    name = email.from_name.lower()
    if name:
        toks.update("~from-name:" + w for w in name.split()[:4])
    else:
        toks.add("~from-name-empty")
    for key, value in email.headers:
        if key in _SPAM_HEADERS:
            for w in _WORD.findall(value[:200].lower())[:6]:
                toks.add(f"~h:{key}:{w}")
        elif key == "reply-to":
            m = _DOMAIN.search(value.lower())
            if m and m.group(1) != domain:
                toks.add("~reply-to-other-domain")
    toks.update(_shape_tokens(email))
    toks.add("~to-count:" + _bucket(len(email.to)))
    if not email.message_id or email.message_id.endswith("@triage.local>"):
        toks.add("~no-message-id")
    return toks


def _bucket(n: int) -> str:
    return "0" if n == 0 else "1" if n == 1 else "few" if n < 5 else "many"


def _shape_tokens(email: Email) -> list[str]:
    """Typography that spam gives away: shouting, exclamation, money, links."""
    text = email.body[:MAX_CHARS]
    subj = email.subject
    out = [
        "~shout:" + _bucket(len(_SHOUT.findall(text, 0, SHOUT_CHARS))),
        "~bang:" + _bucket(text.count("!")),
        "~money:" + _bucket(text.count("$")),
    ]
    hosts = {h.lower() for h in _URL.findall(text)}
    out.append("~urls:" + _bucket(len(hosts)))
    out.extend("~url-host:" + h[-30:] for h in sorted(hosts)[:8])
    if subj and subj.upper() == subj and any(c.isalpha() for c in subj):
        out.append("~subject-caps")
    if "!" in subj:
        out.append("~subject-bang")
    return out
