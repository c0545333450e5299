"""P0 "Immediate Response", step 1: "Acknowledge incident in PagerDuty".

Acknowledging stops the page from escalating to the next person while someone is on it.
We send an Events API v2 `acknowledge` for the alert's dedup key, when paging is configured
(`pagerduty_routing_key`) and the on-call engineer gave the key of the alert they were
paged for; otherwise the check says so and the engineer acknowledges in the app.

What we do differently from the runbook, and why:
- The runbook assumes a human clicks "Acknowledge". Doing it from the CLI is only safe with
  the alert's own dedup key: an acknowledge sent with a made-up key is silently dropped by
  PagerDuty (202 all the same), so we never guess one.
- The Events API is asynchronous: its 202 means "queued", not "applied". We verify what can
  be verified (202, status "success", the same dedup key echoed back) and say so.
- The plan shows the exact request body with the routing key masked; the key never reaches
  the output, the logs or the audit timeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from triage_ops.clients.pagerduty import EventAccepted
from triage_ops.engine.contract import Plan, StepContext
from triage_ops.findings import Finding

NOT_CONFIGURED = "TRI-COMMS-001"
NO_DEDUP_KEY = "TRI-COMMS-002"
NOT_ACKNOWLEDGED = "TRI-COMMS-003"


def _dedup_key(ctx: StepContext, given: str | None = None) -> str:
    return str(given or ctx.params.get("dedup_key") or "").strip()


def check_pagerduty_configured(ctx: StepContext) -> list[Finding]:
    """Whether triage-ops can acknowledge the page itself (info findings when it cannot:
    nothing is broken, the engineer acknowledges by hand)."""
    if not ctx.config.pagerduty_routing_key:
        return [
            ctx.finding(
                NOT_CONFIGURED,
                "PagerDuty paging is not configured here: acknowledge the page in PagerDuty",
            )
        ]
    key = _dedup_key(ctx)
    if not key:
        return [
            ctx.finding(
                NO_DEDUP_KEY,
                "PagerDuty is configured but no dedup key was given: acknowledge the page in"
                " PagerDuty, or give the alert's dedup key",
            )
        ]
    ctx.note(f"PagerDuty configured; alert {key} will be acknowledged")
    return []


class PagerDutyAcknowledge:
    """Send `acknowledge` for one alert. The dedup key comes from the constructor or, when
    the engine builds the action from a runbook step, from the step's `dedup_key` param."""

    name = "pagerduty.acknowledge"

    def __init__(self, dedup_key: str | None = None) -> None:
        self.dedup_key = dedup_key
        self.accepted: EventAccepted | None = None

    def plan(self, ctx: StepContext) -> Plan:
        key = _dedup_key(ctx, self.dedup_key)
        if not ctx.config.pagerduty_routing_key or not key:
            why = "no pagerduty_routing_key configured" if key else "no dedup key given"
            return Plan(summary=f"acknowledge in PagerDuty: skipped ({why})", noop=True)
        client = ctx.clients.pagerduty()
        body = client.body("acknowledge", dedup_key=key)
        return Plan(
            summary=f"acknowledge PagerDuty alert {key} (POST {client.address})",
            changes=[
                {
                    "target": f"pagerduty alert {key}",
                    "before": "triggered (not readable through the Events API)",
                    "after": "acknowledged",
                }
            ],
            commands=[
                f"curl -sS -X POST {client.address} -H 'Content-Type: application/json'"
                f' -d \'{{"routing_key": "$PAGERDUTY_ROUTING_KEY", "event_action":'
                f' "acknowledge", "dedup_key": "{key}"}}\''
            ],
            dry_run={"method": "POST", "url": client.address, "json": client.masked(body)},
        )

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        key = _dedup_key(ctx, self.dedup_key)
        self.accepted = ctx.clients.pagerduty().acknowledge(key)
        return self.accepted.to_json()

    def verify(self, ctx: StepContext, plan: Plan) -> list[Finding]:
        key = _dedup_key(ctx, self.dedup_key)
        accepted = self.accepted
        if (
            accepted is not None
            and accepted.http_status == 202
            and accepted.status == "success"
            and accepted.dedup_key == key
        ):
            ctx.note(f"PagerDuty accepted the acknowledge for {key} ({accepted.message})")
            return []
        seen = (
            f"HTTP {accepted.http_status} {accepted.status!r} for {accepted.dedup_key!r}"
            if accepted is not None
            else "no answer recorded"
        )
        return [
            ctx.finding(
                NOT_ACKNOWLEDGED,
                f"PagerDuty did not confirm the acknowledge of {key} ({seen})",
                dedup_key=key,
            )
        ]
