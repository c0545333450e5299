"""Exit codes of `triage-ops`, stable so CI cron jobs can gate on them."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    HEALTHY = 0  # everything checked is fine (or the action succeeded)
    WARNINGS = 1  # findings of warning severity only
    CRITICAL = 2  # at least one critical finding (or the action failed and was rolled back)
    USAGE = 3  # bad flags, arguments or configuration
    UNREACHABLE = 4  # a dependency needed to answer could not be reached
    INTERNAL = 70  # a bug: please report it (EX_SOFTWARE)
