"""A step module that is slow to import, like one that imports the kubernetes client."""

from __future__ import annotations

import time

from triage_ops.engine.contract import StepContext
from triage_ops.findings import Finding

time.sleep(0.6)


def check(ctx: StepContext) -> list[Finding]:
    ctx.note("imported")
    return []
