"""A Kubernetes API emulator: real HTTP on loopback, speaking enough of the API for
triage-ops' Kubernetes client (and kubectl's read paths), with objects from scenario files.

No API server can run on the machines this project is built and tested on, so the
Kubernetes client is tested over real HTTP against this: responses shaped like the real
API (kind/apiVersion/metadata with resourceVersion, List kinds, `Status` objects with
code and reason for errors, server-side dry run, strategic-merge and merge patches,
label and field selectors, pod logs as text, discovery, optional metrics.k8s.io), from
scenarios that hold the situations the runbook is about (a crash loop, an OOMKilled
container, a stuck rollout, a service with no ready endpoints).

    python -m triage_ops.kube_emulator --scenario crashloop --port 0 --kubeconfig-out PATH
"""

from triage_ops.kube_emulator.scenario import names as scenario_names
from triage_ops.kube_emulator.server import CONTEXT, NAMESPACE, Emulator

__all__ = ["CONTEXT", "NAMESPACE", "Emulator", "scenario_names"]
