"""The runbook engine: the finding catalogue, runbook definitions, the runner (checks
concurrently, then actions through plan -> confirm -> apply -> verify, then verify steps),
the report, the audit timeline and the generated docs.

Nothing heavy is imported here: `triage-ops runbook list` loads definitions only, and step
modules are imported when a step runs.
"""
