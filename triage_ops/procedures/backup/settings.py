"""The settings the backup procedures read, with their defaults, in one place.

They belong in `OpsConfig`; until every one of them is there, each is read with
`getattr(config, name, default)`, so a config without them still works. A runbook step's
params (and a CLI option) override the config for one run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# name -> (type, default, what it is): reported to whoever owns OpsConfig
SETTINGS: dict[str, tuple[type, Any, str]] = {
    "backup_dir": (str, "", "base backups, one directory each (pg_basebackup -D DIR)"),
    "backup_max_age_hours": (int, 26, "the latest base backup may be this old"),
    "backup_verify_timeout_s": (int, 1800, "pg_verifybackup (and tar extraction) budget"),
    "replica_max_lag_bytes": (int, 16 * 1024 * 1024, "replay lag above this: a finding"),
    "replica_max_lag_seconds": (int, 300, "replay lag above this: a finding"),
    "restore_scratch_dir": (str, "", "where restore-test makes its scratch instance"),
    "restore_timeout_s": (int, 3600, "budget of one restore test, copy to last count"),
    "wal_archive_dir": (str, "", "archived WAL, for the PITR plan's restore_command"),
    "pg_data_dir": (str, "/var/lib/postgresql/data", "the primary's data directory"),
}


def setting(config: Any, name: str, params: Mapping[str, Any] | None = None) -> Any:
    """`params[name]` if given, else the config's value, else the default; converted to
    the declared type (a config file or an environment variable may hold a string)."""
    kind, default, _ = SETTINGS[name]
    value = (params or {}).get(name)
    if value is None:
        value = getattr(config, name, default)
    if value is None or value == "":
        return default
    return kind(value)
