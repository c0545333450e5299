"""Kubernetes actions: plan (server-side dry run, nothing changes), apply, verify."""

from __future__ import annotations

import pytest

from tests.ops.kube.conftest import NS, Kube, StartKube, pod_names
from triage_ops.clients.kubernetes import RESTARTED_AT
from triage_ops.engine.contract import Action
from triage_ops.errors import UsageError
from triage_ops.procedures.kube_actions import (
    ACTIONS,
    Cordon,
    Drain,
    RolloutRestart,
    Scale,
    SetResources,
    wait_for_rollout,
)

pytestmark = pytest.mark.timeout(60)

API = "email-triage-api"


def mutations(kube: Kube) -> list[tuple[str, str, str | None]]:
    return [
        (
            r["method"],
            r["path"].rsplit("/", 2)[-2] + "/" + r["path"].rsplit("/", 1)[-1],
            r["query"].get("dryRun"),
        )
        for r in kube.requests()
        if r["method"] in ("POST", "PUT", "PATCH", "DELETE")
    ]


def test_actions_follow_the_protocol() -> None:
    actions: list[Action] = [
        RolloutRestart(API),
        Scale(API, 4),
        SetResources(API, "api", limits={"memory": "3Gi"}),
        Cordon("node-1"),
        Drain("node-1"),
    ]
    assert [a.name for a in actions] == list(ACTIONS)
    assert list(ACTIONS) == [
        "kube.rollout-restart",
        "kube.scale",
        "kube.set-resources",
        "kube.cordon",
        "kube.drain",
    ]


def test_rollout_restart_plan_apply_verify(kube: Kube) -> None:
    action = RolloutRestart(API, wait_s=10, poll_s=0.1)
    ctx = kube.ctx()
    kube.clear_requests()
    plan = action.plan(ctx)
    stamp = plan.dry_run["restartedAt"]
    assert plan.summary == (
        f"rollout restart deployment/{API} (ns {NS}): its 3 pods are replaced one by one"
    )
    assert [dict(c) for c in plan.changes] == [
        {
            "target": f"deployment/{API}",
            "field": f"spec.template.metadata.annotations[{RESTARTED_AT}]",
            "before": None,
            "after": stamp,
        },
        {"target": f"deployment/{API}", "field": "metadata.generation", "before": 2, "after": 3},
    ]
    assert list(plan.commands) == [f"kubectl -n {NS} rollout restart deployment/{API}"]
    assert mutations(kube) == [("PATCH", f"deployments/{API}", "All")]
    assert kube.client.get_deployment(API)["metadata"]["generation"] == 2

    done = action.apply(ctx, plan)
    assert done == {"deployment": API, "restartedAt": stamp, "generation": 3}
    assert action.verify(ctx, plan) == []
    assert ctx.notes == [f'deployment "{API}" successfully rolled out']
    template = kube.client.get_deployment(API)["spec"]["template"]
    assert template["metadata"]["annotations"][RESTARTED_AT] == stamp


def test_rollout_restart_verify_reports_a_stuck_rollout(start_kube: StartKube) -> None:
    kube = start_kube("healthy")
    kube.load("healthy", rollouts="stuck")
    action = RolloutRestart(API, wait_s=10, poll_s=0.1)
    ctx = kube.ctx()
    plan = action.plan(ctx)
    action.apply(ctx, plan)
    found = action.verify(ctx, plan)
    assert [(f.code, f.summary) for f in found] == [
        ("TRI-KUBE-060", f'deployment {API}: deployment "{API}" exceeded its progress deadline')
    ]
    evidence = found[0].evidence
    assert (evidence["phase"], evidence["updated"], evidence["available"]) == (
        "deadline-exceeded",
        1,
        3,
    )
    assert len(evidence["pending_pods"]) == 1


def test_wait_for_rollout_gives_up_at_its_timeout(kube: Kube) -> None:
    found = wait_for_rollout(kube.ctx(), API, wait_s=0.4, poll_s=0.1, replicas=7)
    assert [f.code for f in found] == ["TRI-KUBE-060"]
    assert found[0].summary == (
        f'deployment {API}: not complete after 0.4 s: deployment "{API}" successfully rolled out'
    )


def test_scale_moves_the_autoscaler_floor_too(kube: Kube) -> None:
    action = Scale(API, 5, wait_s=10, poll_s=0.1)
    ctx = kube.ctx()
    kube.clear_requests()
    plan = action.plan(ctx)
    assert plan.summary == f"scale out deployment/{API} (ns {NS}): 3 -> 5 replicas"
    assert plan.destructive is False
    assert [dict(c) for c in plan.changes] == [
        {"target": f"deployment/{API}", "field": "spec.replicas", "before": 3, "after": 5},
        {
            "target": f"horizontalpodautoscaler/{API}",
            "field": "spec.minReplicas",
            "before": 3,
            "after": 5,
            "why": "the autoscaler would undo a plain scale within a minute",
        },
    ]
    assert list(plan.commands) == [
        f'kubectl -n {NS} patch hpa {API} --type=merge -p \'{{"spec": {{"minReplicas": 5}}}}\'',
        f"kubectl -n {NS} scale deployment/{API} --replicas=5",
    ]
    assert mutations(kube) == [
        ("PATCH", f"{API}/scale", "All"),
        ("PATCH", f"horizontalpodautoscalers/{API}", "All"),
    ]
    assert kube.client.get_scale(API)["spec"] == {"replicas": 3}

    done = action.apply(ctx, plan)
    assert done == {
        "deployment": API,
        "hpa": {"name": API, "minReplicas": 5, "maxReplicas": 15},
        "replicas": 5,
    }
    assert action.verify(ctx, plan) == []
    assert len(pod_names(kube, "api")) == 5
    assert Scale(API, 5).plan(ctx).noop is True


def test_scale_refuses_big_steps_and_zero(kube: Kube) -> None:
    ctx = kube.ctx()
    with pytest.raises(UsageError, match="from 3 to 10: more than 5 replicas in one run"):
        Scale(API, 10).plan(ctx)
    with pytest.raises(UsageError, match="zero stops the service"):
        Scale(API, 0).plan(ctx)
    plan = Scale(API, 10, max_step=7).plan(ctx)
    assert [c["field"] for c in plan.changes] == ["spec.replicas", "spec.minReplicas"]
    scale_in = Scale("email-triage-worker", 1).plan(ctx)  # no autoscaler on the worker
    assert scale_in.destructive is True
    assert [dict(c) for c in scale_in.changes] == [
        {
            "target": "deployment/email-triage-worker",
            "field": "spec.replicas",
            "before": 2,
            "after": 1,
        }
    ]
    assert kube.client.get_scale(API)["spec"] == {"replicas": 3}


def test_scale_verify_reports_replicas_that_never_come(start_kube: StartKube) -> None:
    kube = start_kube("stuck-rollout")
    action = Scale("email-triage-worker", 4, wait_s=5, poll_s=0.1)
    ctx = kube.ctx()
    plan = action.plan(ctx)
    action.apply(ctx, plan)
    found = action.verify(ctx, plan)
    assert [f.code for f in found] == ["TRI-KUBE-061"]
    assert found[0].evidence["available"] == 2
    assert len(found[0].evidence["pending_pods"]) == 2


def test_set_resources_plan_warns_about_the_restart(kube: Kube) -> None:
    action = SetResources(
        API, "api", requests={"memory": "1536Mi"}, limits={"memory": "3Gi"}, wait_s=10, poll_s=0.1
    )
    ctx = kube.ctx()
    kube.clear_requests()
    plan = action.plan(ctx)
    assert plan.summary == (
        f"set resources of deployment/{API} container api (ns {NS}): RESTARTS all 3 pods (rolling)"
    )
    change = dict(plan.changes[0])
    assert change["before"] == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"cpu": "2000m", "memory": "2Gi"},
    }
    assert change["after"] == {
        "requests": {"cpu": "500m", "memory": "1536Mi"},
        "limits": {"cpu": "2000m", "memory": "3Gi"},
    }
    assert (
        change["warning"] == f"changes the pod template: every pod of deployment/{API} is replaced"
    )
    assert list(plan.commands) == [
        f"kubectl -n {NS} set resources deployment/{API} -c api --requests=memory=1536Mi"
        " --limits=memory=3Gi"
    ]
    assert mutations(kube) == [("PATCH", f"deployments/{API}", "All")]
    old_pods = pod_names(kube, "api")

    done = action.apply(ctx, plan)
    assert done["resources"] == change["after"]
    assert action.verify(ctx, plan) == []
    assert not set(pod_names(kube, "api")) & set(old_pods)
    assert action.plan(ctx).noop is True

    with pytest.raises(UsageError, match="memory request 4Gi is above its limit 3Gi"):
        SetResources(API, "api", requests={"memory": "4Gi"}).plan(ctx)
    with pytest.raises(UsageError, match="has no container sidecar"):
        SetResources(API, "sidecar", limits={"cpu": "1"}).plan(ctx)


def test_cordon(kube: Kube) -> None:
    action = Cordon("node-2")
    ctx = kube.ctx()
    plan = action.plan(ctx)
    assert [dict(c) for c in plan.changes] == [
        {"target": "node/node-2", "field": "spec.unschedulable", "before": False, "after": True}
    ]
    assert "unschedulable" not in kube.client.get_node("node-2")["spec"]
    assert action.verify(ctx, plan)[0].code == "TRI-KUBE-062"  # not applied yet
    assert action.apply(ctx, plan) == {"node": "node-2", "unschedulable": True}
    assert action.verify(ctx, plan) == []
    assert action.plan(ctx).noop is True


def test_drain_plan_apply_verify(kube: Kube) -> None:
    action = Drain("node-3", wait_s=5, poll_s=0.1)
    ctx = kube.ctx()
    kube.clear_requests()
    plan = action.plan(ctx)
    assert plan.destructive is True
    assert plan.summary == (
        "drain node node-3: cordon it and evict 2 pods (1 DaemonSet/mirror pods stay)"
    )
    assert [(c["target"], c["after"]) for c in plan.changes] == [
        ("node/node-3", True),
        (f"pod/{NS}/email-classifier-model-4llq8ctpgl-8s76x", "evicted"),
        (f"pod/{NS}/email-triage-api-rsp9vhg6lf-lwb2n", "evicted"),
    ]
    assert list(plan.commands) == [
        "kubectl cordon node-3",
        "kubectl drain node-3 --ignore-daemonsets --delete-emptydir-data --timeout=5s",
    ]
    assert {q for _, _, q in mutations(kube)} == {"All"}  # the plan changed nothing
    assert "unschedulable" not in kube.client.get_node("node-3")["spec"]

    done = action.apply(ctx, plan)
    assert done["complete"] is True
    assert done["skipped"] == {"kube-system/kube-proxy-qmwmh": "DaemonSet-managed"}
    assert action.verify(ctx, plan) == []


def test_drain_verify_reports_pods_a_budget_keeps(start_kube: StartKube) -> None:
    kube = start_kube("stuck-rollout")  # replacements never schedule: budgets run out
    ctx = kube.ctx()
    first = Drain("node-1", wait_s=2, poll_s=0.1)
    first.apply(ctx, first.plan(ctx))
    second = Drain("node-2", wait_s=0.5, poll_s=0.1)
    plan = second.plan(ctx)
    blocked = [c for c in plan.changes if "why" in c]
    assert [c["target"] for c in blocked] == [f"pod/{NS}/email-triage-api-ccknvghv74-g762h"]
    second.apply(ctx, plan)
    found = second.verify(ctx, plan)
    assert [(f.code, f.summary) for f in found] == [
        ("TRI-KUBE-062", "node node-2 is not isolated: 1 pods still on it")
    ]
    assert found[0].evidence["remaining"] == [f"{NS}/email-triage-api-ccknvghv74-g762h"]
    assert (
        "disruption budget"
        in found[0].evidence["blocked"][f"{NS}/email-triage-api-ccknvghv74-g762h"]
    )
