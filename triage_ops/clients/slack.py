"""Slack incoming webhook: POST `{"text": ..., "blocks": [...]}`; Slack answers 200 with
the body `ok`, or an HTTP error whose body is one short error string.

The webhook URL is the credential (anyone holding it can post to the channel), so it is
shown only as `https://hooks.slack.com/services/T…/***` and never reaches messages,
exceptions (requests' own exceptions carry the URL: dropped with `from None`) or logs:
urllib3 logs each request line at DEBUG (`triage-ops -vv`), so its loggers get a filter
that masks every webhook path this process has used.

Errors, as Slack documents them for incoming webhooks:
400 invalid_payload, no_text, invalid_blocks, user_not_found -> `MessageRejected`;
403 action_prohibited, invalid_token -> `AuthFailed`;
404 no_service, no_team, channel_not_found and 410 channel_is_archived -> `NotFound`;
429 rate_limited -> `Throttled`; 5xx (rollup_error) -> `BadResponse`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from triage_core.service.settings import Secret
from triage_ops.clients.errors import AuthFailed, BadResponse, NotFound, TimedOut, Unreachable
from triage_ops.errors import UsageError

SYSTEM = "slack"
MAX_TEXT = 40_000  # Slack truncates longer messages
MAX_BLOCKS = 50
MASK = "***"
_ERROR_STRING = re.compile(r"[a-z][a-z0-9_]{0,63}")


class MessageRejected(BadResponse):
    """400: Slack could not use the message (invalid_payload, no_text, invalid_blocks)."""


class Throttled(BadResponse):
    """429: the webhook is rate limited (about one message per second)."""


@dataclass(frozen=True)
class SlackAccepted:
    http_status: int  # 200
    body: str  # "ok"

    def to_json(self) -> dict[str, Any]:
        return {"http_status": self.http_status, "body": self.body}


def mask_webhook(url: str) -> str:
    """`https://hooks.slack.com/services/T000/B000/XXXX` -> `https://hooks.slack.com/services/***`:
    enough to tell which Slack it goes to, nothing that lets anyone post."""
    parts = urlsplit(url)
    first = parts.path.strip("/").split("/", 1)[0]
    prefix = f"/{first}/" if first else "/"
    return f"{parts.scheme}://{parts.hostname or ''}{prefix}{MASK}"


class _MaskSecrets(logging.Filter):
    """Masks registered secrets in urllib3's DEBUG lines ("POST /services/T/B/X HTTP/1.1")."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            text = masked = record.getMessage()
            for secret in self.secrets:
                masked = masked.replace(secret, MASK)
            if masked != text:
                record.msg, record.args = masked, None
        return True


_LOG_MASK = _MaskSecrets()
for _name in ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.poolmanager"):
    logging.getLogger(_name).addFilter(_LOG_MASK)


class SlackClient:
    def __init__(self, webhook_url: Secret | str, *, timeout: float) -> None:
        self.webhook_url = Secret(webhook_url)
        self.timeout = timeout
        self.address = mask_webhook(str(webhook_url))
        parts = urlsplit(str(webhook_url))
        _, _, token = parts.path.strip("/").partition("/")  # after /services/: the secret
        for secret in (token or parts.path, parts.query):
            if len(secret) > 1:
                _LOG_MASK.secrets.add(secret)

    @classmethod
    def from_config(cls, config: Any, *, timeout: float) -> SlackClient:
        if not config.slack_webhook_url:
            raise UsageError(
                "no slack_webhook_url configured (config file or TRIAGE_OPS_SLACK_WEBHOOK_URL)"
            )
        url = str(config.slack_webhook_url)
        if urlsplit(url).scheme not in ("http", "https"):
            raise UsageError("slack_webhook_url must be an http(s) URL")
        return cls(config.slack_webhook_url, timeout=timeout)

    @staticmethod
    def body(text: str, *, blocks: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
        """The exact JSON posted. `text` is always sent: it is the notification and the
        fallback when blocks are given."""
        if not text.strip():
            raise UsageError("slack: the message text is empty")
        if len(text) > MAX_TEXT:
            raise UsageError(
                f"slack: the message is {len(text)} characters; Slack takes {MAX_TEXT}"
            )
        body: dict[str, Any] = {"text": text}
        if blocks:
            if len(blocks) > MAX_BLOCKS:
                raise UsageError(f"slack: {len(blocks)} blocks; Slack takes {MAX_BLOCKS}")
            body["blocks"] = [dict(b) for b in blocks]
        return body

    def post(
        self, text: str, *, blocks: Sequence[Mapping[str, Any]] | None = None
    ) -> SlackAccepted:
        payload = self.body(text, blocks=blocks)
        try:
            response = requests.post(
                str(self.webhook_url),
                data=json.dumps(payload).encode("utf-8"),
                headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.Timeout:
            raise TimedOut(
                f"slack: {self.address} did not answer within {self.timeout:g}s", system=SYSTEM
            ) from None
        except requests.RequestException as exc:
            raise Unreachable(
                f"slack: cannot reach {self.address} ({type(exc).__name__})", system=SYSTEM
            ) from None
        return self._accepted(response)

    def _accepted(self, response: requests.Response) -> SlackAccepted:
        status = response.status_code
        text = response.text.strip()
        error = text if _ERROR_STRING.fullmatch(text) else "unexpected body"
        if status == 200:
            if text != "ok":
                raise BadResponse(
                    f"slack: 200 without the documented body 'ok' ({error})",
                    system=SYSTEM,
                    status=status,
                )
            return SlackAccepted(status, text)
        message = f"slack: {self.address} refused the message ({status} {error})"
        if status == 400:
            raise MessageRejected(message, system=SYSTEM, status=status)
        if status in (401, 403):
            raise AuthFailed(message, system=SYSTEM)
        if status in (404, 410):
            raise NotFound(message, system=SYSTEM)
        if status == 429:
            retry = response.headers.get("Retry-After", "")
            hint = f", retry after {retry}s" if retry.isdigit() else ""
            raise Throttled(message + hint, system=SYSTEM, status=status)
        raise BadResponse(message, system=SYSTEM, status=status)
