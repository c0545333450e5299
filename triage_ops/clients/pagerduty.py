"""PagerDuty Events API v2 (`POST /v2/enqueue`): trigger, acknowledge and resolve an alert.

The routing key is the credential: whoever holds it can page the on-call engineer. It goes
into the request body and nowhere else: not into messages, plans (`masked()` shows
`***`), exceptions (requests' own exceptions are dropped, `from None`, since they can
carry the request) or logs. Text PagerDuty sends back is scrubbed of it too.

The API answers 202 `{"status": "success", "message": "Event processed", "dedup_key": ...}`;
400 `{"status": "invalid event", "message": ..., "errors": [...]}` for a payload it
refuses (not worth retrying); 429 when the integration key is throttled (~120 events/min;
retry later). We validate what the documentation states before sending (enums, required
fields, summary <= 1024 and dedup_key <= 255 characters) so a mistake is a usage error
here rather than a 400 mid-incident.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from triage_core.service.settings import Secret
from triage_ops.clients.errors import BadResponse, TimedOut, Unreachable
from triage_ops.errors import UsageError

SYSTEM = "pagerduty"
EVENT_ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
MAX_SUMMARY = 1024
MAX_DEDUP_KEY = 255
MASK = "***"


class EventRejected(BadResponse):
    """400: PagerDuty refused the event (invalid JSON or fields); retrying will not help."""

    def __init__(self, message: str, *, errors: tuple[str, ...] = ()) -> None:
        super().__init__(message, system=SYSTEM, status=400)
        self.errors = errors


class Throttled(BadResponse):
    """429: too many events for this routing key; PagerDuty asks to retry later."""

    def __init__(self, message: str) -> None:
        super().__init__(message, system=SYSTEM, status=429)


@dataclass(frozen=True)
class EventAccepted:
    """What a 202 says: the event was queued for processing (not yet applied: the Events
    API is asynchronous)."""

    http_status: int
    status: str  # "success"
    message: str  # "Event processed"
    dedup_key: str

    def to_json(self) -> dict[str, Any]:
        return {
            "http_status": self.http_status,
            "status": self.status,
            "message": self.message,
            "dedup_key": self.dedup_key,
        }


class PagerDutyClient:
    def __init__(self, routing_key: Secret | str, *, url: str, timeout: float) -> None:
        self.routing_key = Secret(routing_key)
        self.url = url
        self.timeout = timeout
        parts = urlsplit(url)
        self.address = f"{parts.scheme}://{parts.netloc}{parts.path}"

    @classmethod
    def from_config(cls, config: Any, *, timeout: float) -> PagerDutyClient:
        if not config.pagerduty_routing_key:
            raise UsageError(
                "no pagerduty_routing_key configured "
                "(config file or TRIAGE_OPS_PAGERDUTY_ROUTING_KEY)"
            )
        if not config.pagerduty_events_url:
            raise UsageError(
                "no pagerduty_events_url configured "
                "(config file or TRIAGE_OPS_PAGERDUTY_EVENTS_URL)"
            )
        return cls(config.pagerduty_routing_key, url=config.pagerduty_events_url, timeout=timeout)

    # -- building requests ------------------------------------------------------------------

    def body(
        self,
        event_action: str,
        *,
        dedup_key: str | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The exact JSON body `send` posts (routing key included: mask it before showing)."""
        if event_action not in EVENT_ACTIONS:
            raise UsageError(
                f"pagerduty: event_action must be one of {', '.join(EVENT_ACTIONS)}, "
                f"not {event_action!r}"
            )
        if dedup_key is not None and not 0 < len(dedup_key) <= MAX_DEDUP_KEY:
            raise UsageError(f"pagerduty: dedup_key must be 1..{MAX_DEDUP_KEY} characters")
        if event_action != "trigger" and not dedup_key:
            raise UsageError(f"pagerduty: {event_action} needs the alert's dedup_key")
        if event_action == "trigger" and payload is None:
            raise UsageError("pagerduty: trigger needs a payload (summary, source, severity)")
        body: dict[str, Any] = {"routing_key": str(self.routing_key), "event_action": event_action}
        if dedup_key:
            body["dedup_key"] = dedup_key
        if payload is not None:
            body["payload"] = dict(payload)
        return body

    @staticmethod
    def alert_payload(
        *,
        summary: str,
        source: str,
        severity: str,
        component: str = "",
        group: str = "",
        event_class: str = "",
        custom_details: Mapping[str, Any] | None = None,
        timestamp: str = "",
    ) -> dict[str, Any]:
        """A trigger's `payload` (PD-CEF). A summary over 1024 characters is cut with "…"
        rather than refused: losing the tail of a summary beats not paging anyone."""
        if severity not in SEVERITIES:
            raise UsageError(
                f"pagerduty: severity must be one of {', '.join(SEVERITIES)}, not {severity!r}"
            )
        if not summary.strip() or not source.strip():
            raise UsageError("pagerduty: a trigger needs a non-empty summary and source")
        if len(summary) > MAX_SUMMARY:
            summary = summary[: MAX_SUMMARY - 1] + "…"
        payload: dict[str, Any] = {"summary": summary, "source": source, "severity": severity}
        optional = {
            "timestamp": timestamp,
            "component": component,
            "group": group,
            "class": event_class,
        }
        payload.update({k: v for k, v in optional.items() if v})
        if custom_details:
            payload["custom_details"] = dict(custom_details)
        return payload

    def masked(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The body as it may be shown (plans, dry-runs, audit): routing key replaced."""
        shown = dict(body)
        if "routing_key" in shown:
            shown["routing_key"] = MASK
        return shown

    # -- sending ----------------------------------------------------------------------------

    def trigger(self, payload: Mapping[str, Any], *, dedup_key: str | None = None) -> EventAccepted:
        return self.send(self.body("trigger", dedup_key=dedup_key, payload=payload))

    def acknowledge(self, dedup_key: str) -> EventAccepted:
        return self.send(self.body("acknowledge", dedup_key=dedup_key))

    def resolve(self, dedup_key: str) -> EventAccepted:
        return self.send(self.body("resolve", dedup_key=dedup_key))

    def send(self, body: Mapping[str, Any]) -> EventAccepted:
        try:
            response = requests.post(
                self.url,
                data=json.dumps(body).encode("utf-8"),
                headers={"Content-Type": "application/json", "Accept": "application/json"},
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.Timeout:
            raise TimedOut(
                f"pagerduty: {self.address} did not answer within {self.timeout:g}s",
                system=SYSTEM,
            ) from None
        except requests.RequestException as exc:
            raise Unreachable(
                f"pagerduty: cannot reach {self.address} ({type(exc).__name__})", system=SYSTEM
            ) from None
        return self._accepted(response)

    def _accepted(self, response: requests.Response) -> EventAccepted:
        data = _json_object(response)
        message = self._scrub(str(data.get("message", "")))
        errors = tuple(self._scrub(str(e)) for e in data.get("errors", []) or [])
        status = response.status_code
        if status == 202:
            if data.get("status") != "success" or not isinstance(data.get("dedup_key"), str):
                raise BadResponse(
                    "pagerduty: 202 without the documented body (status, message, dedup_key)",
                    system=SYSTEM,
                    status=status,
                )
            return EventAccepted(status, str(data["status"]), message, str(data["dedup_key"]))
        if status == 400:
            detail = "; ".join(errors) or message or "invalid event"
            raise EventRejected(f"pagerduty: event rejected (400): {detail}", errors=errors)
        if status == 429:
            raise Throttled("pagerduty: throttled (429): too many events, retry in a minute")
        raise BadResponse(
            f"pagerduty: {self.address} answered HTTP {status}", system=SYSTEM, status=status
        )

    def _scrub(self, text: str) -> str:
        key = str(self.routing_key)
        return text.replace(key, MASK) if key else text


def _json_object(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


__all__ = [
    "EVENT_ACTIONS",
    "SEVERITIES",
    "EventAccepted",
    "EventRejected",
    "PagerDutyClient",
    "Throttled",
]
