"""Secrets out of everything the engine writes down: audit entries, error texts, notes.

Three nets, because no single one is enough:
- by key: a value whose key looks secret (password, token, secret, routing_key, webhook,
  api_key, ...) becomes "***", whatever it is;
- by shape: URLs lose their userinfo (`postgresql://***@host/db`), `password=...` pairs
  their value, Slack webhook URLs their path, `Bearer ...` its token;
- by value: the configured secrets themselves (`Scrubber(secrets=...)`), wherever they
  appear in a text, and any `Secret` instance.
The result is also plain JSON (mappings, lists, str, numbers, bool, None).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from enum import Enum
from pathlib import PurePath
from typing import Any
from urllib.parse import unquote

from triage_core.service.settings import Secret

MASK = "***"
_SECRET_KEY = re.compile(
    r"pass(word|wd|phrase)?|secret|token|routing[_-]?key|webhook|api[_-]?key|apikey|"
    r"authorization|credential|private[_-]?key|cookie|session[_-]?id|signature",
    re.IGNORECASE,
)
# Keys that merely talk about a secret (its name, age, count): kept.
_ABOUT_A_SECRET = re.compile(
    r"(_name|_names|_ref|_age|_age_days|_at|_count|_set|_configured|_rotated|_expires|_expiry)$",
    re.IGNORECASE,
)
_URL_USERINFO = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://)[^/@\s?#]+@", re.IGNORECASE)
_KV_PASSWORD = re.compile(
    # not after a hyphen: "secrets.rotate-db-password: done" names an action, not a value
    r"(?P<head>(?<![\w-])(?:password|passwd|pwd|token|secret|api_key|apikey)\s*[=:]\s*)"
    r"('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^\s,;&]+)",
    re.IGNORECASE,
)
_SLACK_HOOK = re.compile(r"(?P<head>https://hooks\.slack(?:-gov)?\.com/[a-z]+/)[^\s\"'<>]+", re.I)
_BEARER = re.compile(r"(?P<head>\bbearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_MIN_LITERAL = 4  # shorter configured "secrets" would shred ordinary text


def secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key)) and not _ABOUT_A_SECRET.search(key)


class Scrubber:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # longest first, so a secret that contains another is masked whole
        self.secrets = sorted(
            {str(s) for s in secrets if s and len(str(s)) >= _MIN_LITERAL}, key=len, reverse=True
        )

    def text(self, value: str) -> str:
        if isinstance(value, Secret) and value:
            return MASK
        for secret in self.secrets:
            value = value.replace(secret, MASK)
        value = _URL_USERINFO.sub(rf"\g<head>{MASK}@", value)
        value = _KV_PASSWORD.sub(rf"\g<head>{MASK}", value)
        value = _SLACK_HOOK.sub(rf"\g<head>{MASK}", value)
        return _BEARER.sub(rf"\g<head>{MASK}", value)

    def __call__(self, value: Any, *, depth: int = 0) -> Any:
        """A JSON-safe copy of `value` with secrets masked."""
        if depth > 32:
            return "<too deep>"
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Enum):
            return self(value.value, depth=depth + 1)
        if isinstance(value, datetime | date):
            return value.isoformat()
        if isinstance(value, PurePath):
            return self.text(str(value))
        to_json = getattr(value, "to_json", None)
        if callable(to_json):
            return self(to_json(), depth=depth + 1)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return self(dataclasses.asdict(value), depth=depth + 1)
        if isinstance(value, Mapping):
            return {
                str(k): (
                    MASK
                    if secret_key(str(k)) and value[k] not in (None, "", False)
                    else self(value[k], depth=depth + 1)
                )
                for k in value
            }
        if isinstance(value, list | tuple | set | frozenset):
            items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
            return [self(v, depth=depth + 1) for v in items]
        return self.text(str(value))


def config_secrets(config: Any) -> list[str]:
    """What of each Secret-typed setting must never be shown. A database or Redis URL is
    secret only in its password: masking the whole URL would hide which server an error
    is about ("Redis at ***"). Anything else (an HTTP webhook URL, a routing key, an API
    key) is secret whole."""
    values: list[str] = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if not (isinstance(value, Secret) and value):
            continue
        text = str(value)
        passwords = re.findall(r"://[^:/@\s]*:([^@\s]+)@", text)
        for password in passwords:
            values += [password, unquote(password)]
        scheme = text.split("://", 1)[0].lower() if "://" in text else ""
        if scheme in {"postgres", "postgresql", "redis", "rediss", "unix"}:
            values += re.findall(r"password=([^&\s]+)", text)
            continue
        values.append(text)
    return values
