"""AlertmanagerClient against a real Alertmanager (API v2): reading, silences, the errors
Alertmanager gives, and the faults a client must survive (stopped, black-holed)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.ops.alerts.conftest import Alertmanager
from tests.ops.blackhole import black_hole
from triage_ops.clients.alertmanager import AlertmanagerClient, Matcher, iso, parse_time
from triage_ops.clients.errors import BadResponse, NotFound, TimedOut, Unreachable
from triage_ops.config import OpsConfig
from triage_ops.errors import UsageError
from triage_ops.exit_codes import ExitCode
from triage_ops.sandbox import processes as proc

pytestmark = pytest.mark.timeout(60)
SECRET = "hunter2-am-pass"


def _alert(name: str, severity: str, **labels: str) -> dict[str, object]:
    return {
        "labels": {"alertname": name, "severity": severity, **labels},
        "annotations": {"summary": f"{name} summary", "runbook_url": "runbooks/incident-p0.md"},
        "startsAt": iso(datetime.now(UTC) - timedelta(minutes=5)),
    }


def test_from_config_needs_the_setting() -> None:
    with pytest.raises(UsageError) as err:
        AlertmanagerClient.from_config(OpsConfig(), timeout=1)
    assert str(err.value) == (
        "no alertmanager_url configured (config file or TRIAGE_OPS_ALERTMANAGER_URL)"
    )
    assert err.value.exit_code == ExitCode.USAGE


def test_status_ready_and_alerts_with_filters(alertmanager: Alertmanager) -> None:
    client = AlertmanagerClient(alertmanager.url, timeout=3)
    assert client.ready() is True
    status = client.status()
    assert status["versionInfo"]["version"] == "0.25.0"
    assert "config" not in status  # receivers' credentials live there

    client.post_alerts([_alert("ClientA", "critical", instance="a"), _alert("ClientB", "warning")])
    names = sorted(a["labels"]["alertname"] for a in client.alerts() if "Client" in str(a))
    assert names == ["ClientA", "ClientB"]
    only = client.alerts(filter=[Matcher.parse("alertname=~Client.*"), "severity=critical"])
    assert [a["labels"]["alertname"] for a in only] == ["ClientA"]
    assert only[0]["status"]["state"] == "active"
    assert only[0]["annotations"]["summary"] == "ClientA summary"


def test_silence_create_read_expire(alertmanager: Alertmanager) -> None:
    client = AlertmanagerClient(alertmanager.url, timeout=3)
    client.post_alerts([_alert("ClientSilenced", "warning", instance="s")])
    now = datetime.now(UTC)
    silence_id = client.create_silence(
        matchers=[Matcher("alertname", "ClientSilenced"), Matcher.parse("instance=~s|t")],
        starts_at=now,
        ends_at=now + timedelta(hours=1),
        created_by="tester",
        comment="client test",
    )
    silence = client.silence(silence_id)
    assert silence["status"]["state"] == "active"
    assert silence["createdBy"] == "tester"
    assert [Matcher.from_api(m) for m in silence["matchers"]] == [
        Matcher("alertname", "ClientSilenced"),
        Matcher("instance", "s|t", is_regex=True),
    ]
    assert abs(parse_time(silence["endsAt"]) - (now + timedelta(hours=1))) < timedelta(seconds=1)
    assert silence_id in [s["id"] for s in client.silences()]
    alert = client.alerts(filter=["alertname=ClientSilenced"])[0]
    assert alert["status"]["silencedBy"] == [silence_id]
    assert client.alerts(filter=["alertname=ClientSilenced"], silenced=False) == []

    client.expire_silence(silence_id)
    assert client.silence(silence_id)["status"]["state"] == "expired"


def test_alertmanager_errors_are_typed_and_quote_its_text(alertmanager: Alertmanager) -> None:
    client = AlertmanagerClient(alertmanager.url, timeout=3)
    now = datetime.now(UTC)
    with pytest.raises(BadResponse) as bad:
        client.create_silence(
            matchers=[Matcher("alertname", "X")],
            starts_at=now,
            ends_at=now - timedelta(hours=1),
            created_by="t",
            comment="c",
        )
    assert bad.value.status == 400
    assert str(bad.value) == (
        f"Alertmanager at {alertmanager.url}: HTTP 400: Failed to create silence: start time"
        " must be before end time (POST /api/v2/silences)"
    )
    unknown = "0b7c5ab4-0000-0000-0000-000000000000"
    with pytest.raises(NotFound):
        client.silence(unknown)
    with pytest.raises(NotFound) as gone:
        client.expire_silence(unknown)  # Alertmanager 0.25 answers 500 "silence not found"
    assert "silence not found" in str(gone.value)
    with pytest.raises(BadResponse) as matcher:
        client.alerts(filter=["no-operator"])
    assert "bad matcher format: no-operator" in str(matcher.value)


def test_v1_api_is_not_used() -> None:
    source = Path(__file__).resolve().parents[3] / "triage_ops" / "clients" / "alertmanager.py"
    code = [line for line in source.read_text().splitlines() if '"/api/' in line]
    assert code and all("/api/v2/" in line for line in code)


def test_stopped_alertmanager_is_unreachable_at_once(tmp_path: Path) -> None:
    client = AlertmanagerClient(f"http://ops:{SECRET}@127.0.0.1:{proc.free_port()}", timeout=3)
    started = time.monotonic()
    with pytest.raises(Unreachable) as err:
        client.alerts()
    assert time.monotonic() - started < 1.0
    assert not isinstance(err.value, TimedOut)
    assert "connection refused" in str(err.value)
    assert SECRET not in str(err.value)
    assert err.value.exit_code == ExitCode.UNREACHABLE


@pytest.mark.parametrize("call", ["ready", "alerts", "silences", "status"])
def test_black_holed_alertmanager_times_out_within_the_timeout(call: str) -> None:
    with black_hole() as port:
        client = AlertmanagerClient(f"http://ops:{SECRET}@127.0.0.1:{port}", timeout=0.5)
        started = time.monotonic()
        with pytest.raises(TimedOut) as err:
            getattr(client, call)()
        elapsed = time.monotonic() - started
    assert 0.4 < elapsed < 1.5
    assert str(err.value).startswith(
        f"Alertmanager at http://127.0.0.1:{port}: no answer within 0.5 s"
    )
    assert SECRET not in str(err.value)


@pytest.mark.parametrize(
    ("text", "expected", "api_filter"),
    [
        ("severity=critical", Matcher("severity", "critical"), 'severity="critical"'),
        ('instance!="a b"', Matcher("instance", "a b", is_equal=False), 'instance!="a b"'),
        ("job=~api|worker", Matcher("job", "api|worker", is_regex=True), 'job=~"api|worker"'),
        (
            "env!~prod.*",
            Matcher("env", "prod.*", is_regex=True, is_equal=False),
            'env!~"prod.*"',
        ),
        ('q="say \\"hi\\""', Matcher("q", 'say "hi"'), 'q="say \\"hi\\""'),
    ],
)
def test_matcher_parse_and_filter_text(text: str, expected: Matcher, api_filter: str) -> None:
    assert Matcher.parse(text) == expected
    assert str(expected) == api_filter


@pytest.mark.parametrize("text", ["", "severity", "=x", "1a=b", "x=~("])
def test_bad_matchers_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        Matcher.parse(text)


def test_matcher_semantics_follow_alertmanager() -> None:
    labels = {"alertname": "A", "instance": "10.0.0.1:80"}
    assert Matcher.parse("instance=~10\\.0\\..*").matches(labels)
    assert not Matcher.parse("instance=~10").matches(labels)  # anchored
    assert Matcher.parse("team=").matches(labels)  # a missing label is ""
    assert not Matcher.parse("team!=").matches(labels)
    assert Matcher.parse("alertname!~B|C").matches(labels)
