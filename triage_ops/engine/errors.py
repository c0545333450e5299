"""The engine's own errors: a definition that does not load (a configuration error the
author fixes in YAML) versus a check that names a code the catalogue does not know (a bug
in the check, which the runner reports as TRI-ENGINE-003)."""

from __future__ import annotations

from triage_ops.errors import OpsError, UsageError


class DefinitionError(UsageError):
    """A runbook or catalogue file is invalid; the message names the file and the field."""


class UnknownFinding(OpsError):
    """A step asked for a code that is not in the catalogue: a bug in that step."""


class AuditError(OpsError):
    """The audit timeline could not be read or written."""
