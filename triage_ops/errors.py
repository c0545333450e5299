"""Typed errors of triage-ops; each maps to one exit code and one line on stderr."""

from __future__ import annotations

from triage_ops.exit_codes import ExitCode


class OpsError(Exception):
    exit_code = ExitCode.INTERNAL


class UsageError(OpsError):
    exit_code = ExitCode.USAGE


class DependencyUnreachable(OpsError):
    """A system (Postgres, Redis, Kubernetes, ...) did not answer within its timeout."""

    exit_code = ExitCode.UNREACHABLE


class ActionFailed(OpsError):
    exit_code = ExitCode.CRITICAL
