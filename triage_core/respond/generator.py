"""Draft replies rendered from jinja2 templates in a sandbox.

Security model: an email is hostile input. Its text (subject, name, asks) reaches a
template only as *variables*, never as template source, so `{{ 7*7 }}` or
`{{ ''.__class__ }}` in a subject stays literal text in the draft. Templates run in
`ImmutableSandboxedEnvironment`, so even a template from `templates_dir` cannot reach
Python internals or mutate the values it is given; StrictUndefined turns a typo in a
template into an error instead of a silently empty sentence.

Templates are looked up by category (`<category>.j2`, else `default.j2`), first in
`config.templates_dir`, then in the shipped `templates/`; each is loaded and compiled once,
on first use, and cached (jinja's own mtime check is off: no file I/O per email).
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    Template,
    TemplateError,
)
from jinja2.sandbox import ImmutableSandboxedEnvironment

from triage_core.config import ResponseConfig
from triage_core.errors import ConfigError
from triage_core.message import Email
from triage_core.respond.addressing import display_name, greeting, is_no_reply, reply_subject
from triage_core.text.asks import asks
from triage_core.text.clip import clip
from triage_core.text.dates import deadlines
from triage_core.text.own import own_text

TONES = ("neutral", "formal", "friendly")
NEVER_REPLY = frozenset({"spam", "newsletter", "notification"})
# Someone wrote to us wanting something even when no sentence reads as a question.
REPLY_IMPLIED = frozenset({"request", "question", "meeting", "complaint", "incident"})
URGENT_LEVELS = frozenset({"P0", "P1"})
MAX_ASKS_IN_DRAFT = 3
MAX_ASK_CHARS_IN_DRAFT = 100
MAX_DEADLINES_IN_DRAFT = 3
DEFAULT_TEMPLATE = "default.j2"
_SAFE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_BLANK_LINES = re.compile(r"\n{3,}")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")


class ResponseGenerator:
    def __init__(self, config: ResponseConfig) -> None:
        if config.tone not in TONES:
            raise ConfigError(
                f"response.tone must be one of {', '.join(TONES)}, got {config.tone!r}"
            )
        self.config = config
        self._env: ImmutableSandboxedEnvironment | None = None
        self._templates: dict[str, Template] = {}
        self._lock = threading.Lock()

    def needs_reply(self, email: Email, *, category: str) -> bool:
        if category in NEVER_REPLY or email.is_bulk:
            return False
        if not email.from_addr or is_no_reply(email.from_addr):
            return False
        if email.reply_to and is_no_reply(email.reply_to):
            return False
        return category in REPLY_IMPLIED or bool(asks(own_text(email)))

    def __call__(self, email: Email, *, category: str, priority: str) -> str | None:
        if not self.needs_reply(email, category=category):
            return None
        template = self._template(category)
        text = own_text(email)
        variables: dict[str, Any] = {
            "greeting": greeting(email.from_name, tone=self.config.tone),
            "sender_name": display_name(email.from_name),
            "sender_address": email.from_addr,
            "subject": email.subject,
            "reply_subject": reply_subject(email.subject),
            "category": category,
            "priority": priority,
            "urgent": priority in URGENT_LEVELS,
            "asks": [clip(a, MAX_ASK_CHARS_IN_DRAFT) for a in asks(text)[:MAX_ASKS_IN_DRAFT]],
            "deadlines": [
                d.label for d in deadlines(text, reference=email.date)[:MAX_DEADLINES_IN_DRAFT]
            ],
            "tone": self.config.tone,
            "signature": self.config.signature.strip(),
        }
        try:
            draft = template.render(variables)
        except TemplateError as exc:
            raise ConfigError(f"reply template {template.name}: {exc}") from exc
        draft = _TRAILING_SPACE.sub("\n", draft)
        return _BLANK_LINES.sub("\n\n", draft).strip()

    def _template(self, category: str) -> Template:
        name = category if _SAFE_NAME.fullmatch(category) else ""
        cached = self._templates.get(name)
        if cached is not None:
            return cached
        with self._lock:
            env = self._environment()
            candidates = [f"{name}.j2", DEFAULT_TEMPLATE] if name else [DEFAULT_TEMPLATE]
            try:
                template = env.select_template(candidates)
            except TemplateError as exc:
                raise ConfigError(f"cannot load reply template {candidates}: {exc}") from exc
            self._templates[name] = template
            return template

    def _environment(self) -> ImmutableSandboxedEnvironment:
        if self._env is None:
            loaders: list[BaseLoader] = []
            if self.config.templates_dir is not None:
                directory = Path(self.config.templates_dir)
                if not directory.is_dir():
                    raise ConfigError(f"response.templates_dir {directory} is not a directory")
                loaders.append(FileSystemLoader(directory))
            loaders.append(PackageLoader("triage_core.respond", "templates"))
            self._env = ImmutableSandboxedEnvironment(
                loader=ChoiceLoader(loaders),
                autoescape=False,
                undefined=StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
                auto_reload=False,
            )
        return self._env
