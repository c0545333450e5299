"""P0 step 1, acknowledge in PagerDuty: the check and the action through the engine's
`execute_action`, against the local Events API v2 server."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.ops.blackhole import black_hole
from tests.ops.comms import servers
from triage_core.service.settings import Secret
from triage_ops.clients import Clients
from triage_ops.config import OpsConfig
from triage_ops.engine.audit import AuditLog
from triage_ops.engine.contract import Plan, StepContext
from triage_ops.engine.runner import execute_action
from triage_ops.engine.scrub import config_secrets
from triage_ops.procedures.pagerduty_ack import PagerDutyAcknowledge, check_pagerduty_configured

pytestmark = pytest.mark.timeout(60)
DEDUP = "email-triage/api-5xx"


def context(config: OpsConfig, **params: str) -> StepContext:
    from triage_ops.engine.catalogue import Catalogue
    from triage_ops.engine.runbook import default_dir

    catalogue = Catalogue.load(default_dir(), config=config)
    return StepContext(
        config=config,
        clients=Clients(config, timeout=2.0),
        timeout=2.0,
        step_id="acknowledge",
        params=params,
        make_finding=catalogue.finding,
    )


def configured(http: servers.HttpServices) -> OpsConfig:
    return OpsConfig(
        pagerduty_routing_key=Secret(servers.ROUTING_KEY),
        pagerduty_events_url=http.pagerduty_url,
    )


def never(plan: Plan) -> bool:
    raise AssertionError("--yes must not ask")


def test_check_says_whether_paging_is_configured(http: servers.HttpServices) -> None:
    [finding] = check_pagerduty_configured(context(OpsConfig()))
    assert (finding.code, finding.severity) == ("TRI-COMMS-001", "info")
    [finding] = check_pagerduty_configured(context(configured(http)))
    assert finding.code == "TRI-COMMS-002"
    ctx = context(configured(http), dedup_key=DEDUP)
    assert check_pagerduty_configured(ctx) == []
    assert ctx.notes == [f"PagerDuty configured; alert {DEDUP} will be acknowledged"]


def test_acknowledge_through_the_engine(
    http: servers.HttpServices, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = configured(http)
    audit = AuditLog(tmp_path / "audit.jsonl", secrets=config_secrets(config))
    outcome = execute_action(
        PagerDutyAcknowledge(DEDUP),
        context(config),
        dry_run=False,
        yes=True,
        confirm=never,
        audit=audit,
        incident="INC-1",
    )
    assert outcome.outcome == "ok", outcome.error
    assert outcome.after == {
        "http_status": 202,
        "status": "success",
        "message": "Event processed",
        "dedup_key": DEDUP,
    }
    [seen] = http.requests
    assert seen.json() == {
        "routing_key": servers.ROUTING_KEY,
        "event_action": "acknowledge",
        "dedup_key": DEDUP,
    }
    [entry] = audit.entries()
    assert (entry["kind"], entry["outcome"], entry["incident"]) == ("action", "ok", "INC-1")
    assert entry["plan"]["dry_run"]["json"] == {
        "routing_key": "***",
        "event_action": "acknowledge",
        "dedup_key": DEDUP,
    }
    assert servers.ROUTING_KEY not in (tmp_path / "audit.jsonl").read_text()
    assert servers.ROUTING_KEY not in caplog.text


def test_dry_run_shows_the_masked_payload_and_sends_nothing(http: servers.HttpServices) -> None:
    outcome = execute_action(
        PagerDutyAcknowledge(),
        context(configured(http), dedup_key=DEDUP),
        dry_run=True,
        yes=False,
        confirm=never,
        audit=None,
        incident=None,
    )
    assert outcome.outcome == "dry-run"
    assert outcome.plan is not None
    assert (
        outcome.plan.summary == f"acknowledge PagerDuty alert {DEDUP} (POST {http.pagerduty_url})"
    )
    assert outcome.plan.dry_run == {
        "method": "POST",
        "url": http.pagerduty_url,
        "json": {"routing_key": "***", "event_action": "acknowledge", "dedup_key": DEDUP},
    }
    assert servers.ROUTING_KEY not in str(outcome.plan.to_json())
    assert http.requests == []


def test_not_configured_or_no_key_is_a_noop(http: servers.HttpServices) -> None:
    for ctx in (context(OpsConfig(), dedup_key=DEDUP), context(configured(http))):
        outcome = execute_action(
            PagerDutyAcknowledge(),
            ctx,
            dry_run=False,
            yes=True,
            confirm=never,
            audit=None,
            incident=None,
        )
        assert outcome.outcome == "noop"
    assert http.requests == []


def test_rejected_acknowledge_is_failed(http: servers.HttpServices) -> None:
    config = OpsConfig(
        pagerduty_routing_key=Secret("too-short"), pagerduty_events_url=http.pagerduty_url
    )
    outcome = execute_action(
        PagerDutyAcknowledge(DEDUP),
        context(config),
        dry_run=False,
        yes=True,
        confirm=never,
        audit=None,
        incident=None,
    )
    assert outcome.outcome == "failed"
    assert outcome.error == (
        "pagerduty: event rejected (400):"
        " Length of 'routing_key' is incorrect (should be 32 characters)"
    )


def test_verify_wants_the_same_dedup_key(http: servers.HttpServices) -> None:
    http.force(202, {"status": "success", "message": "Event processed", "dedup_key": "other"})
    outcome = execute_action(
        PagerDutyAcknowledge(DEDUP),
        context(configured(http)),
        dry_run=False,
        yes=True,
        confirm=never,
        audit=None,
        incident=None,
    )
    assert outcome.outcome == "unverified"
    assert [f.code for f in outcome.findings] == ["TRI-ACTION-002", "TRI-COMMS-003"]
    assert outcome.findings[1].summary == (
        f"PagerDuty did not confirm the acknowledge of {DEDUP} (HTTP 202 'success' for 'other')"
    )


def test_black_holed_pagerduty_fails_within_the_timeout() -> None:
    with black_hole() as port:
        config = OpsConfig(
            pagerduty_routing_key=Secret(servers.ROUTING_KEY),
            pagerduty_events_url=f"http://127.0.0.1:{port}/v2/enqueue",
        )
        ctx = context(config)
        ctx.timeout = 0.5
        ctx.clients = Clients(config, timeout=0.5)
        outcome = execute_action(
            PagerDutyAcknowledge(DEDUP),
            ctx,
            dry_run=False,
            yes=True,
            confirm=never,
            audit=None,
            incident=None,
        )
    assert outcome.outcome == "failed"
    assert outcome.error == (
        f"pagerduty: http://127.0.0.1:{port}/v2/enqueue did not answer within 0.5s"
    )
