"""Alertmanager for triage-ops, over its HTTP API v2 (the one `amtool` uses):

    GET    /-/ready                      200 when it serves
    GET    /api/v2/status                version, uptime, cluster (the config is not kept)
    GET    /api/v2/alerts                ?active= &silenced= &inhibited= &filter=<matcher>
    POST   /api/v2/alerts                [{"labels", "annotations", "startsAt", ...}]
    GET    /api/v2/silences              ?filter=<matcher>
    POST   /api/v2/silences              {"matchers", "startsAt", "endsAt", ...} -> silenceID
    GET    /api/v2/silence/{id}
    DELETE /api/v2/silence/{id}          expires it (a silence is never deleted)

The runbook's `curl http://alertmanager:9093/api/v1/alerts` is the v1 API: deprecated since
Alertmanager 0.16 and removed in 0.27, so it answers 404 on a current Alertmanager. v2
also says more: each alert's `status.state` (active / suppressed) and the silences and
inhibitions that suppress it.

Every request has one deadline (`HttpTransport`: connect and read share it), so a stopped
Alertmanager is `Unreachable` at once and a black-holed one `TimedOut` within the timeout.
An error answer is a typed error quoting Alertmanager's own text ("start time must be
before end time"). The URL may carry basic-auth credentials; messages show it without them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

from triage_ops.clients.errors import (
    AuthFailed,
    BadResponse,
    ClientError,
    Conflict,
    NotFound,
)
from triage_ops.clients.http import HttpTransport, display_url
from triage_ops.errors import UsageError

SYSTEM = "alertmanager"
_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")


@dataclass(frozen=True)
class Matcher:
    """One label matcher, as silences and alert filters take it: `name=value`,
    `name!=value`, `name=~regex`, `name!~regex`."""

    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """`severity=critical`, `instance=~"10\\.0\\..*"` (quotes around the value are
        optional); a malformed matcher is a UsageError naming it."""
        match = _MATCHER.match(text)
        if match is None:
            raise UsageError(
                f"invalid matcher {text!r}: expected name=value, name!=value, name=~regex"
                " or name!~regex"
            )
        name, op, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = re.sub(r"\\(.)", r"\1", value[1:-1])  # a quoted value: \" and \\ escapes
        elif len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        if op in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as exc:
                raise UsageError(f"invalid matcher {text!r}: bad regex ({exc})") from None
        return cls(name, value, is_regex=op in ("=~", "!~"), is_equal=op in ("=", "=~"))

    @property
    def op(self) -> str:
        return {(False, True): "=", (False, False): "!=", (True, True): "=~"}.get(
            (self.is_regex, self.is_equal), "!~"
        )

    def __str__(self) -> str:
        """The API's filter syntax: `name="value"` (the value quoted and escaped)."""
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.name}{self.op}"{escaped}"'

    def to_api(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "isRegex": self.is_regex,
            "isEqual": self.is_equal,
        }

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Matcher:
        return cls(
            str(data.get("name", "")),
            str(data.get("value", "")),
            is_regex=bool(data.get("isRegex", False)),
            is_equal=bool(data.get("isEqual", True)),
        )

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Alertmanager's semantics: a missing label is the empty string; regexes are
        anchored at both ends."""
        actual = labels.get(self.name, "")
        hit = (
            re.fullmatch(self.value, actual) is not None if self.is_regex else actual == self.value
        )
        return hit == self.is_equal


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, the form Alertmanager writes."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: give a timezone-aware one")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """Alertmanager's timestamps ("2024-05-01T10:00:00.123456789Z") as aware datetimes;
    Python reads at most microseconds, so extra digits are dropped."""
    cleaned = re.sub(r"(\.\d{6})\d+", r"\1", text.strip()).replace("Z", "+00:00")
    return datetime.fromisoformat(cleaned)


class AlertmanagerClient:
    def __init__(self, url: str, *, timeout: float) -> None:
        if not url:
            raise UsageError(
                "no alertmanager_url configured (config file or TRIAGE_OPS_ALERTMANAGER_URL)"
            )
        self.url = url.rstrip("/")
        self.http = HttpTransport(self.url, system=SYSTEM, label="Alertmanager", timeout=timeout)
        self.address = display_url(self.url)

    @classmethod
    def from_config(cls, config: Any, *, timeout: float) -> AlertmanagerClient:
        return cls(config.alertmanager_url, timeout=timeout)

    @property
    def timeout(self) -> float:
        return self.http.timeout

    # -- reading -------------------------------------------------------------------------

    def ready(self) -> bool:
        """`/-/ready`: True when it serves; False while it starts (503)."""
        what = "GET /-/ready"
        response = self.http.request("GET", "/-/ready", what=what)
        if response.status_code == 200:
            return True
        if response.status_code == 503:
            return False
        raise self._status_error(response, what)

    def status(self) -> dict[str, Any]:
        """Version, uptime and cluster state. The running configuration is dropped: it
        holds receivers' credentials (webhook URLs, routing keys) that must never reach
        output or the audit timeline."""
        data = self._get_json("/api/v2/status", "GET /api/v2/status")
        if not isinstance(data, dict):
            raise self._shape("GET /api/v2/status")
        data.pop("config", None)
        return data

    def alerts(
        self,
        *,
        active: bool = True,
        silenced: bool = True,
        inhibited: bool = True,
        unprocessed: bool = True,
        filter: Sequence[Matcher | str] = (),
        receiver: str | None = None,
    ) -> list[dict[str, Any]]:
        """The alerts Alertmanager holds now (resolved ones are gone), each with `labels`,
        `annotations`, `startsAt`, `status` ({"state", "silencedBy", "inhibitedBy"}) and
        `fingerprint`. `filter` matchers select on labels server-side."""
        params: dict[str, Any] = {
            "active": _flag(active),
            "silenced": _flag(silenced),
            "inhibited": _flag(inhibited),
            "unprocessed": _flag(unprocessed),
            "filter": [str(m) for m in filter],
        }
        if receiver:
            params["receiver"] = receiver
        what = "GET /api/v2/alerts"
        data = self._get_json("/api/v2/alerts", what, params=params)
        if not isinstance(data, list) or not all(isinstance(a, dict) for a in data):
            raise self._shape(what)
        return data

    def silences(self, *, filter: Sequence[Matcher | str] = ()) -> list[dict[str, Any]]:
        """Every silence Alertmanager remembers (active, pending and expired ones), each
        with `id`, `matchers`, `startsAt`, `endsAt`, `createdBy`, `comment` and
        `status.state`."""
        what = "GET /api/v2/silences"
        data = self._get_json("/api/v2/silences", what, params={"filter": [str(m) for m in filter]})
        if not isinstance(data, list) or not all(isinstance(s, dict) for s in data):
            raise self._shape(what)
        return data

    def silence(self, silence_id: str) -> dict[str, Any]:
        """One silence; NotFound when Alertmanager does not know the id."""
        what = f"GET /api/v2/silence/{silence_id}"
        data = self._get_json(f"/api/v2/silence/{silence_id}", what)
        if not isinstance(data, dict):
            raise self._shape(what)
        return data

    # -- changing ------------------------------------------------------------------------

    def post_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        """Send alerts as Prometheus does (each: `labels`, `annotations`, `startsAt`,
        `endsAt`, `generatorURL`); used to fire a test alert through the routing tree."""
        what = "POST /api/v2/alerts"
        response = self.http.request("POST", "/api/v2/alerts", what=what, json_body=list(alerts))
        if response.status_code != 200:
            raise self._status_error(response, what)

    def create_silence(
        self,
        *,
        matchers: Sequence[Matcher],
        starts_at: datetime,
        ends_at: datetime,
        created_by: str,
        comment: str,
    ) -> str:
        """Creates a silence and returns its id."""
        what = "POST /api/v2/silences"
        body = {
            "matchers": [m.to_api() for m in matchers],
            "startsAt": iso(starts_at),
            "endsAt": iso(ends_at),
            "createdBy": created_by,
            "comment": comment,
        }
        response = self.http.request("POST", "/api/v2/silences", what=what, json_body=body)
        if response.status_code != 200:
            raise self._status_error(response, what)
        data = self.http.json(response, what)
        silence_id = data.get("silenceID") if isinstance(data, dict) else None
        if not isinstance(silence_id, str) or not silence_id:
            raise self._shape(what)
        return silence_id

    def expire_silence(self, silence_id: str) -> None:
        """Expires a silence now (it stays listed, with state `expired`)."""
        what = f"DELETE /api/v2/silence/{silence_id}"
        response = self.http.request("DELETE", f"/api/v2/silence/{silence_id}", what=what)
        if response.status_code != 200:
            raise self._status_error(response, what)

    # -- plumbing ------------------------------------------------------------------------

    def _get_json(self, path: str, what: str, *, params: Mapping[str, Any] | None = None) -> Any:
        response = self.http.request("GET", path, what=what, params=params)
        if response.status_code != 200:
            raise self._status_error(response, what)
        return self.http.json(response, what)

    def _status_error(self, response: requests.Response, what: str) -> ClientError:
        status = response.status_code
        where = self.http.where
        text = self.http.excerpt(response)
        if text.startswith('"') and text.endswith('"') and len(text) >= 2:
            text = text[1:-1]  # Alertmanager's errors are often a bare JSON string
        if status in (401, 403):
            return AuthFailed(f"{where}: HTTP {status}: access refused ({what})", system=SYSTEM)
        # Alertmanager 0.25 answers an unknown silence id with 500 "silence not found".
        if status == 404 or "not found" in text.lower():
            detail = "" if text == "(empty body)" else f": {text}"
            return NotFound(f"{where}: HTTP {status}{detail} ({what})", system=SYSTEM)
        if status == 409:
            return Conflict(f"{where}: HTTP 409: {text} ({what})", system=SYSTEM)
        return BadResponse(f"{where}: HTTP {status}: {text} ({what})", system=SYSTEM, status=status)

    def _shape(self, what: str) -> BadResponse:
        return BadResponse(
            f"{self.http.where}: the answer is not in Alertmanager's documented shape ({what})",
            system=SYSTEM,
        )


def _flag(value: bool) -> str:
    return "true" if value else "false"
