"""Where triage-ops finds the systems it operates: a YAML file (`--config` or
TRIAGE_OPS_CONFIG), overridden by TRIAGE_OPS_* environment variables, overridden by flags.
`triage-ops sandbox up` writes such a file for the local sandbox."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from triage_core.service.settings import Secret
from triage_ops.errors import UsageError

_NONE = Secret("")


@dataclass(frozen=True)
class OpsConfig:
    api_url: str = "http://127.0.0.1:8000"
    database_url: Secret = _NONE
    database_replica_url: Secret = _NONE
    redis_url: Secret = _NONE
    queue_redis_url: Secret = _NONE
    redis_cluster: bool = False
    prometheus_url: str = ""
    alertmanager_url: str = ""
    model_server_url: str = ""
    model_name: str = "email-classifier"
    api_key: Secret = _NONE  # the service API's key, when it requires one
    namespace: str = "email-triage"
    kube_context: str = ""
    kubeconfig: str = ""  # "" = $KUBECONFIG, ~/.kube/config, then in-cluster config
    api_deployment: str = "email-triage-api"
    worker_deployment: str = "email-triage-worker"
    model_deployment: str = "email-classifier-model"
    ingress_name: str = "email-triage-ingress"
    db_secret_name: str = "db-credentials"
    db_secret_key: str = "password"
    db_service_role: str = "email_triage"  # the role the service logs in as
    audit_log: str = ""  # "" = ~/.local/state/triage-ops/audit.jsonl
    audit_database_url: Secret = _NONE  # optional Postgres mirror of the audit timeline
    pagerduty_routing_key: Secret = _NONE
    pagerduty_events_url: str = "https://events.pagerduty.com/v2/enqueue"
    slack_webhook_url: Secret = _NONE
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_username: str = ""
    smtp_password: Secret = _NONE
    comms_from: str = ""
    comms_to: str = ""  # comma-separated recipients of incident mail
    status_page_url: str = "https://status.company.com/email-triage"
    # maintenance (issue 5)
    backup_dir: str = ""  # base backups, one directory each (pg_basebackup -D)
    backup_max_age_hours: int = 26
    backup_verify_timeout_s: int = 1800
    replica_max_lag_bytes: int = 16 * 2**20
    replica_max_lag_seconds: int = 300
    restore_scratch_dir: str = ""  # "" = a temporary directory
    restore_timeout_s: int = 3600
    wal_archive_dir: str = ""  # for the point-in-time recovery plan's restore_command
    pg_data_dir: str = "/var/lib/postgresql/data"
    db_slow_query_ms: int = 500
    db_index_min_rows: int = 10_000
    db_unused_index_min_bytes: int = 8 * 2**20
    db_index_build_timeout_s: int = 3600
    db_connections_threshold: int = 80  # the DatabaseConnections alert's threshold
    db_idle_in_transaction_minutes: int = 5
    tls_endpoints: str = ""  # comma-separated host:port whose certificates are watched
    cert_warn_days: int = 21
    trivy_report: str = ""  # a `trivy image --format json` report
    secret_max_age_days: int = 90
    dr_document: str = ""  # the disaster-recovery procedure document
    dr_max_age_days: int = 180

    @classmethod
    def load(cls, path: str | Path | None, env: dict[str, str] | None = None) -> OpsConfig:
        env = dict(os.environ if env is None else env)
        config = cls()
        path = path or env.get("TRIAGE_OPS_CONFIG")
        if path:
            config = config.merged(_read_yaml(Path(path)), where=str(path))
        overrides = {
            f.name: env["TRIAGE_OPS_" + f.name.upper()]
            for f in fields(cls)
            if "TRIAGE_OPS_" + f.name.upper() in env
        }
        return config.merged(overrides, where="environment")

    def merged(self, data: dict[str, Any], *, where: str) -> OpsConfig:
        known = {f.name: f for f in fields(self)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise UsageError(f"{where}: unknown setting(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for key, value in data.items():
            kind = str(known[key].type)
            if kind == "Secret":
                values[key] = Secret("" if value is None else str(value))
            elif kind == "bool":
                values[key] = (
                    value
                    if isinstance(value, bool)
                    else str(value).lower() in {"1", "true", "yes", "on"}
                )
            elif kind == "int":
                try:
                    values[key] = int(value)
                except (TypeError, ValueError) as exc:
                    raise UsageError(f"{where}: {key} must be an integer, not {value!r}") from exc
            else:
                values[key] = "" if value is None else str(value)
        return replace(self, **values)


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise UsageError(f"cannot read config {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise UsageError(f"config {path} is not valid YAML") from exc
    if not isinstance(data, dict):
        raise UsageError(f"config {path} must be a mapping")
    return data
