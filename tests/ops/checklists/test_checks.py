"""The checklist checks (triage_ops/procedures/checklists.py) one by one, against real
servers: a Prometheus with a chosen history, Redis, the Kubernetes API emulator, black
holes, and audit timelines written the way triage-ops writes them."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops.blackhole import black_hole
from tests.ops.checklists.conftest import DAY, iso, step_ctx, write_timeline
from triage_core.service.settings import Secret
from triage_ops.clients.errors import ClientError
from triage_ops.config import OpsConfig
from triage_ops.errors import UsageError
from triage_ops.kube_emulator import CONTEXT, Emulator
from triage_ops.procedures import checklists
from triage_ops.sandbox.redis import RedisServer, start_redis

pytestmark = pytest.mark.timeout(60)


# -- incidents ---------------------------------------------------------------------------


def _incident(ts: float, severity: str, title: str) -> tuple[str, dict[str, object]]:
    incident_id = f"INC-{time.strftime('%Y%m%d-%H%M', time.gmtime(ts))}-{severity}"
    entry = {
        "ts": ts,
        "kind": "incident.open",
        "incident": incident_id,
        "summary": f"opened {incident_id}",
        "details": {"severity": severity, "title": title},
    }
    return incident_id, entry


def test_incidents_overnight_and_still_open(tmp_path: Path) -> None:
    now = time.time()
    overnight, opened = _incident(now - 6 * 3600, "P1", "Slow classify")
    old_open, opened_old = _incident(now - 5 * DAY, "P2", "Drift")
    old_closed, opened_closed = _incident(now - 3 * DAY, "P0", "Outage")
    resolved = {
        "ts": now - 2 * DAY,
        "kind": "incident.resolve",
        "incident": old_closed,
        "summary": "resolved",
    }
    path = write_timeline(tmp_path / "audit.jsonl", [opened_old, opened_closed, resolved, opened])
    ctx = step_ctx(OpsConfig(audit_log=str(path)), since_hours=24)
    [finding] = checklists.check_recent_incidents(ctx)
    assert finding.code == "TRI-CHECK-001"
    assert str(finding.severity) == "warning"
    assert finding.summary == (
        f"2 incident(s) in the last 24 h or still open, 2 not resolved: {overnight}, {old_open}"
    )
    assert [(i["id"], i["status"], i["resolved_at"]) for i in finding.evidence["incidents"]] == [
        (overnight, "investigating", None),
        (old_open, "investigating", None),
    ]
    assert finding.evidence["incidents"][0]["started_at"] == iso(now - 6 * 3600).replace(
        "+00:00", "Z"
    )
    assert finding.command == "triage-ops incident list"
    # a week back, the resolved outage is in the window too
    week = step_ctx(OpsConfig(audit_log=str(path)), since_hours=24 * 7)
    [wide] = checklists.check_recent_incidents(week)
    assert [i["id"] for i in wide.evidence["incidents"]] == [overnight, old_closed, old_open]


def test_no_incident_is_a_note(tmp_path: Path) -> None:
    ctx = step_ctx(OpsConfig(audit_log=str(tmp_path / "none.jsonl")))
    assert checklists.check_recent_incidents(ctx) == []
    assert ctx.notes == ["no incident in the last 24 h and none open"]


def test_a_damaged_timeline_cannot_be_checked(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text('{"seq": 1}\nnot json\n', encoding="utf-8")
    with pytest.raises(UsageError, match="line 2 is not a JSON entry"):
        checklists.check_recent_incidents(step_ctx(OpsConfig(audit_log=str(path))))


# -- alerts, targets and trends from Prometheus --------------------------------------------


def test_overnight_alerts_from_the_alerts_history(prometheus_daily: str) -> None:
    [finding] = checklists.check_overnight_alerts(
        step_ctx(OpsConfig(prometheus_url=prometheus_daily))
    )
    assert finding.code == "TRI-CHECK-006"
    assert finding.summary == (
        "3 alert series fired in the last 24 h (1 still firing):"
        " HighFallbackRate, QueueBacklog, ServiceDown"
    )
    alerts = {a["alertname"]: a for a in finding.evidence["alerts"]}
    assert sorted(alerts) == ["HighFallbackRate", "QueueBacklog", "ServiceDown"]  # not 3 d ago
    assert alerts["QueueBacklog"]["still_firing"] is False
    assert alerts["QueueBacklog"]["severity"] == "warning"
    assert 115 <= alerts["QueueBacklog"]["firing_minutes"] <= 125  # two hours, to the step
    assert 95 <= alerts["HighFallbackRate"]["firing_minutes"] <= 105  # five times 20 minutes
    assert alerts["ServiceDown"]["still_firing"] is True
    assert alerts["ServiceDown"]["labels"] == {"instance": "api-2:8000"}


def test_no_alert_history_is_a_note(prometheus_calm: str) -> None:
    ctx = step_ctx(OpsConfig(prometheus_url=prometheus_calm), since_hours=12)
    assert checklists.check_overnight_alerts(ctx) == []
    assert ctx.notes == ["no alert fired in the last 12 h"]


def test_service_up_judges_the_runbook_query(prometheus_daily: str, prometheus_calm: str) -> None:
    [down] = checklists.check_service_up(step_ctx(OpsConfig(prometheus_url=prometheus_daily)))
    assert (down.code, str(down.severity)) == ("TRI-CHECK-007", "critical")
    assert down.summary == "1 of 2 target(s) of job email-triage down: api-2:8000"
    assert down.command == "triage-ops incident p0"
    worker = step_ctx(OpsConfig(prometheus_url=prometheus_daily), job="email-triage-worker")
    assert checklists.check_service_up(worker) == []
    assert worker.notes == ['up{job="email-triage-worker"}: 1 target(s) up']
    [blind] = checklists.check_service_up(step_ctx(OpsConfig(prometheus_url=prometheus_calm)))
    assert (blind.code, str(blind.severity)) == ("TRI-CHECK-008", "warning")
    assert blind.evidence == {"job": "email-triage", "query": 'up{job="email-triage"}'}


def test_resource_trends_against_a_week_ago(prometheus_daily: str, prometheus_calm: str) -> None:
    [grew] = checklists.check_resource_trends(step_ctx(OpsConfig(prometheus_url=prometheus_daily)))
    assert grew.code == "TRI-CHECK-011"
    # the containers' 0.22 cores became 0.66 two days ago (container metrics come first)
    assert grew.evidence["cpu"]["change"] == pytest.approx(2.0, abs=0.02)
    assert grew.evidence["cpu"]["last_day"] == pytest.approx(0.66, abs=0.005)
    assert grew.evidence["cpu"]["week_before"] == pytest.approx(0.22, abs=1e-3)
    assert "memory" not in grew.evidence  # flat
    assert grew.summary == (
        f"resource use grew against a week ago: cpu {grew.evidence['cpu']['change']:+.0%}"
        " (threshold +25%)"
    )
    # below the threshold it is a note: what was seen, with the change
    tolerant = step_ctx(OpsConfig(prometheus_url=prometheus_daily), trend_growth=3.0)
    assert checklists.check_resource_trends(tolerant) == []
    [note] = tolerant.notes
    assert re.fullmatch(
        r"cpu 0\.6\d* cores \(\+(199|200|201)% on a week ago\);"
        r" memory 220 MiB \(\+0% on a week ago\)",
        note,
    ), note
    flat = step_ctx(OpsConfig(prometheus_url=prometheus_calm))
    assert checklists.check_resource_trends(flat) == []  # 0.25 cores and 120 MiB all along
    assert flat.notes[0].endswith("; memory 120 MiB (+0% on a week ago)")


def test_cost_signals_find_idle_requests(prometheus_daily: str, prometheus_calm: str) -> None:
    [idle] = checklists.check_cost_signals(step_ctx(OpsConfig(prometheus_url=prometheus_daily)))
    assert idle.code == "TRI-CHECK-005"
    assert idle.evidence["pods"] == {"email-triage-api-a": 0.031}  # (5 x 0.02 + 2 x 0.06) / 7
    assert idle.summary == "1 of 2 pod(s) used under 20% of their CPU request over 7 days"
    none = step_ctx(OpsConfig(prometheus_url=prometheus_calm))
    assert checklists.check_cost_signals(none) == []
    assert none.notes == [
        "no container CPU usage against requests (needs cAdvisor + kube-state-metrics)"
    ]


def test_capacity_growth_against_the_threshold(
    tmp_path: Path, prometheus_daily: str, prometheus_calm: str
) -> None:  # the daily history's volume grows (the procedures' bad history), the calm one not
    chart = tmp_path / "plan" / "capacity.png"
    [fast] = checklists.check_capacity_growth(
        step_ctx(OpsConfig(prometheus_url=prometheus_daily), capacity_since="8d")
    )
    assert fast.code == "TRI-CHECK-004"
    assert fast.evidence["growth_per_week"] > 0.10
    assert fast.evidence["projected_daily_90d"] > fast.evidence["projected_daily_30d"]
    steady = step_ctx(
        OpsConfig(prometheus_url=prometheus_calm), capacity_since="8d", capacity_chart=str(chart)
    )
    assert checklists.check_capacity_growth(steady) == []
    assert steady.notes[0] == f"chart: {chart}"
    # flat volume (5 emails/s = 432,000 a day): the fixture's step from 10-minute to
    # 1-minute samples a day ago lowers one hour's rate() by a few percent, hence "about"
    growth = re.fullmatch(r"volume ([+-]\d\.\d)% a week; (\d+)/day now, .*", steady.notes[1])
    assert growth is not None and abs(float(growth[1])) < 1.0
    assert int(growth[2]) == pytest.approx(432000, rel=0.01)
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "check",
    [
        checklists.check_overnight_alerts,
        checklists.check_service_up,
        checklists.check_resource_trends,
        checklists.check_cost_signals,
        checklists.check_capacity_growth,
    ],
)
def test_a_black_holed_prometheus_is_unknown_within_the_timeout(check: object) -> None:
    with black_hole() as port:
        ctx = step_ctx(OpsConfig(prometheus_url=f"http://127.0.0.1:{port}"), timeout=1.0)
        started = time.monotonic()
        [finding] = check(ctx)  # type: ignore[operator]
        elapsed = time.monotonic() - started
    assert (finding.code, str(finding.severity)) == ("TRI-PROM-001", "unknown")
    assert f"127.0.0.1:{port}" in finding.summary
    assert elapsed < 2.5


# -- Redis INFO ----------------------------------------------------------------------------


@pytest.fixture
def small_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """maxmemory 2 MB, allkeys-lru: fills up and evicts."""
    server = start_redis(
        tmp_path / "redis", config={"maxmemory": "2mb", "maxmemory-policy": "allkeys-lru"}
    )
    try:
        yield server
    finally:
        server.stop()


def test_cache_stats_of_a_quiet_redis(tmp_path: Path) -> None:
    server = start_redis(tmp_path / "redis")
    try:
        ctx = step_ctx(OpsConfig(redis_url=Secret(f"redis://127.0.0.1:{server.port}/0")))
        assert checklists.check_cache_stats(ctx) == []
        [note] = ctx.notes
        assert note.startswith(f"127.0.0.1:{server.port}: hit rate no reads, 0 evicted, 0 rejected")
        assert note.endswith("(no maxmemory)")
    finally:
        server.stop()


def test_cache_stats_see_evictions_and_memory_pressure(small_redis: RedisServer) -> None:
    client = small_redis.client()
    blob = b"x" * 10_000
    for i in range(600):  # 6 MB into 2 MB
        client.set(f"triage:cache:{i}", blob)
    client.get("triage:cache:599")
    ctx = step_ctx(OpsConfig(redis_url=Secret(f"redis://127.0.0.1:{small_redis.port}/0")))
    findings = {f.code: f for f in checklists.check_cache_stats(ctx)}
    assert sorted(findings) == ["TRI-CHECK-009", "TRI-CHECK-010"]
    evicted = findings["TRI-CHECK-009"]
    assert str(evicted.severity) == "info"
    # Redis may go on evicting in the background (still above maxmemory): never fewer
    assert 0 < evicted.evidence["evicted_keys"] <= int(client.info("stats")["evicted_keys"])
    assert evicted.evidence["rejected_connections"] == 0
    pressure = findings["TRI-CHECK-010"]
    assert pressure.evidence["maxmemory"] == 2 * 1024 * 1024
    assert pressure.evidence["policy"] == "allkeys-lru"
    assert "hit rate 100.0%" in ctx.notes[0]


def test_a_black_holed_redis_raises_its_typed_error_within_the_timeout() -> None:
    with black_hole() as port:
        ctx = step_ctx(OpsConfig(redis_url=Secret(f"redis://127.0.0.1:{port}/0")), timeout=1.0)
        started = time.monotonic()
        with pytest.raises(ClientError) as caught:
            checklists.check_cache_stats(ctx)  # the engine makes it TRI-ENGINE-002
        elapsed = time.monotonic() - started
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert elapsed < 3.5


# -- secrets -------------------------------------------------------------------------------


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[tuple[Emulator, Path]]:
    kube = Emulator("healthy")
    kube.start()
    try:
        yield kube, kube.write_kubeconfig(tmp_path / "kubeconfig")
    finally:
        kube.stop()


def _rotation(ts: float) -> dict[str, object]:
    return {
        "ts": ts,
        "kind": "action",
        "step": "secrets.rotate-db-password",
        "summary": "secrets.rotate-db-password: rotate the password of email_triage -> ok",
        "outcome": "ok",
    }


def test_secret_age_from_the_last_rotation(tmp_path: Path) -> None:
    now = time.time()
    failed = {**_rotation(now - 3 * DAY), "outcome": "failed"}
    path = write_timeline(tmp_path / "audit.jsonl", [_rotation(now - 100 * DAY), failed])
    ctx = step_ctx(OpsConfig(audit_log=str(path)))  # no Kubernetes needed: the audit says
    [due] = checklists.check_secret_age(ctx)
    assert (due.code, str(due.severity)) == ("TRI-SECRET-002", "warning")
    assert due.summary == (
        "secret db-credentials: 100 days since its last rotation (audit timeline)"
        " (rotate every 90 days)"
    )
    assert due.evidence["age_days"] == pytest.approx(100.0, abs=0.01)
    fresh = write_timeline(
        tmp_path / "fresh.jsonl", [_rotation(now - 100 * DAY), _rotation(now - 5 * DAY)]
    )
    ok = step_ctx(OpsConfig(audit_log=str(fresh)))
    assert checklists.check_secret_age(ok) == []
    assert ok.notes == [
        "secret db-credentials: 5 days since its last rotation (audit timeline) (max 90)"
    ]


def test_secret_age_from_creation_when_never_rotated(
    tmp_path: Path, emulator: tuple[Emulator, Path]
) -> None:
    _, kubeconfig = emulator
    meta = (
        step_ctx(OpsConfig(kubeconfig=str(kubeconfig), kube_context=CONTEXT))
        .clients.kubernetes()
        .get_secret_metadata("db-credentials")
    )
    created = checklists._epoch(str(meta["creationTimestamp"]))
    age = (time.time() - created) / DAY
    config = OpsConfig(
        kubeconfig=str(kubeconfig), kube_context=CONTEXT, audit_log=str(tmp_path / "a.jsonl")
    )
    [due] = checklists.check_secret_age(step_ctx(config, secret_max_age_days=age / 2))
    assert due.code == "TRI-SECRET-002"
    assert "since its creation (no rotation in the audit timeline)" in due.summary
    assert due.evidence["since"] == meta["creationTimestamp"]
    ok = step_ctx(config, secret_max_age_days=age + 1)
    assert checklists.check_secret_age(ok) == []
    missing = OpsConfig(
        kubeconfig=str(kubeconfig),
        kube_context=CONTEXT,
        audit_log=str(tmp_path / "a.jsonl"),
        db_secret_name="no-such-secret",
    )
    [gone] = checklists.check_secret_age(step_ctx(missing))
    assert (gone.code, str(gone.severity)) == ("TRI-SECRET-001", "critical")
    assert gone.summary == (
        "secret no-such-secret does not exist in namespace email-triage:"
        " the service has no database password"
    )


def test_secret_age_with_the_kubernetes_api_black_holed(tmp_path: Path) -> None:
    with black_hole() as port:
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: hole\n"
            f"clusters: [{{name: hole, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\n"
            "users: [{name: me, user: {token: t}}]\n"
            "contexts: [{name: hole, context: {cluster: hole, user: me,"
            " namespace: email-triage}}]\n",
            encoding="utf-8",
        )
        config = OpsConfig(
            kubeconfig=str(kubeconfig), kube_context="hole", audit_log=str(tmp_path / "a.jsonl")
        )
        started = time.monotonic()
        [finding] = checklists.check_secret_age(step_ctx(config, timeout=1.0))
        elapsed = time.monotonic() - started
    assert (finding.code, str(finding.severity)) == ("TRI-KUBE-090", "unknown")
    assert elapsed < 3.0


# -- the disaster-recovery document ---------------------------------------------------------


def test_dr_document_present_and_recent(tmp_path: Path) -> None:
    doc = tmp_path / "dr.md"
    doc.write_text("# Disaster recovery\n", encoding="utf-8")
    fresh = step_ctx(OpsConfig(dr_document=str(doc)))
    assert checklists.check_dr_document(fresh) == []
    assert fresh.notes == ["dr.md changed 0 days ago (review every 180)"]

    old = time.time() - 200 * DAY
    os.utime(doc, (old, old))
    [stale] = checklists.check_dr_document(step_ctx(OpsConfig(dr_document=str(doc))))
    assert (stale.code, str(stale.severity)) == ("TRI-CHECK-003", "warning")
    assert stale.evidence["age_days"] == pytest.approx(200.0, abs=0.01)
    assert (
        stale.summary
        == f"disaster-recovery document {doc} last changed 200 days ago (review every 180)"
    )
    longer = step_ctx(OpsConfig(dr_document=str(doc), dr_max_age_days=365))
    assert checklists.check_dr_document(longer) == []


@pytest.mark.parametrize(
    ("setting", "summary"),
    [
        ("", "no dr_document configured"),
        (
            "{tmp}/missing.md",
            "disaster-recovery document {tmp}/missing.md is missing or not a file",
        ),
        ("{tmp}", "disaster-recovery document {tmp} is missing or not a file"),
    ],
)
def test_no_dr_document(tmp_path: Path, setting: str, summary: str) -> None:
    config = OpsConfig(dr_document=setting.format(tmp=tmp_path))
    [finding] = checklists.check_dr_document(step_ctx(config))
    assert (finding.code, finding.summary) == ("TRI-CHECK-002", summary.format(tmp=tmp_path))
