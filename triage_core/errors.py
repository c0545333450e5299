"""Typed exceptions of the library.

Callers catch `TriageError` to handle anything the library raises on purpose; the
subclasses let the CLI map each kind to its own exit code and message.
"""

from __future__ import annotations


class TriageError(Exception):
    """Base of every error raised on purpose by triage_core."""


class ConfigError(TriageError):
    """The configuration file or an option is invalid: the user must fix it."""


class ModelError(TriageError):
    """A model artifact is missing, corrupt, or of an unknown format."""


class BackendUnavailable(TriageError):
    """A classification backend could not answer (down, timed out, circuit open)."""


class InputError(TriageError):
    """An input path or record could not be read at all (not: a strange email, which
    always parses into an `Email` with `errors` filled in)."""
