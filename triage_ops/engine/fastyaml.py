"""`yaml.safe_load` for the definitions (runbooks/*.yaml, the finding catalogue), on
libyaml's C parser when PyYAML was built with it: every command that runs a runbook reads
the whole catalogue first, and the C parser reads it several times faster.

Same documents, same values (both use PyYAML's safe constructor), same errors: a text the
C parser refuses is parsed again by the pure-Python one, so a definition error quotes its
words and line ("mapping values are not allowed here at line 2"), not libyaml's.
"""

from __future__ import annotations

from typing import Any


def safe_load(text: str) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError:
        if loader is yaml.SafeLoader:
            raise
        return yaml.safe_load(text)  # raises the pure-Python parser's error
