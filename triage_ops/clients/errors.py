"""The typed errors every client raises (kopf's model: HTTP statuses become classes, the
original exception stays as `__cause__`). Messages are one line, name the system and its
address, and never carry a credential."""

from __future__ import annotations

from triage_ops.errors import DependencyUnreachable, OpsError
from triage_ops.exit_codes import ExitCode


class ClientError(OpsError):
    """A call to an external system failed. `system` names it ("redis", "kubernetes"...).
    Whatever the reason (refused, timed out, wrong credentials, an unexpected answer), the
    command could not get its answer from that system: exit UNREACHABLE."""

    exit_code = ExitCode.UNREACHABLE

    def __init__(self, message: str, *, system: str) -> None:
        super().__init__(message)
        self.system = system


class Unreachable(ClientError, DependencyUnreachable):
    """Refused, reset, DNS failure: nothing answered."""


class TimedOut(Unreachable):
    """It accepted the connection (or the request) and did not answer within the timeout."""


class AuthFailed(ClientError):
    """401/403, or a database/Redis authentication error."""


class NotFound(ClientError):
    """404, or a named object (deployment, database, model) that does not exist."""


class Conflict(ClientError):
    """409: someone else changed the object; re-read and retry."""


class BadResponse(ClientError):
    """It answered, but not in the documented shape (or with a 5xx)."""

    def __init__(self, message: str, *, system: str, status: int | None = None) -> None:
        super().__init__(message, system=system)
        self.status = status
