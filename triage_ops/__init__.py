"""triage-ops: the on-call engineer's CLI for the email triage service.

A thin click layer (`triage_ops.cli`) over procedures (`triage_ops.procedures`), one module
per runbook procedure, rendering through one output module and exiting with `ExitCode`.
"""

__version__ = "0.1.0"
