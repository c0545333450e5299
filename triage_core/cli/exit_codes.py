"""Exit codes of the `triage` command, stable for scripts."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1  # an unexpected internal error (a bug: please report it)
    USAGE = 2  # bad flags or arguments (click's own code)
    INPUT = 3  # an input path or data file could not be read
    CONFIG = 4  # the configuration file is invalid
    MODEL = 5  # the model artifact is missing or corrupt
    DATABASE = 6  # the database is unreachable or refused the operation
