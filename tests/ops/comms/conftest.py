"""Fixtures of the comms tests: the local PagerDuty/Slack and SMTP servers, a TLS CA, the
fixture timeline, and a CLI wired like `triage-ops` (the real global options and `Ctx`)
with the comms and incident-record commands mounted the way the lead mounts them."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest
import trustme
import yaml
from click.testing import CliRunner

from tests.ops.comms import servers, timeline
from triage_ops.cli import main
from triage_ops.commands.comms import comms
from triage_ops.commands.incident_record import (
    incident_list,
    incident_note,
    incident_open,
    incident_resolve,
    incident_show,
)

incident = click.Group(
    "incident",
    commands={
        "list": incident_list,
        "show": incident_show,
        "open": incident_open,
        "note": incident_note,
        "resolve": incident_resolve,
    },
)
cli = click.Group(
    "triage-ops",
    params=main.params,
    callback=main.callback,
    commands={"comms": comms, "incident": incident},
)


@dataclass
class Result:
    code: int
    out: str
    err: str


def invoke(*args: str, input: str | None = None) -> Result:
    result = CliRunner().invoke(cli, list(args), input=input)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Result(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def http() -> Iterator[servers.HttpServices]:
    with servers.http_services() as services:
        yield services


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def trusting(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The default SSL context (what the CLI uses) trusts the test CA."""
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    monkeypatch.setenv("SSL_CERT_FILE", str(path))
    return path


@pytest.fixture
def audit_path(tmp_path: Path) -> Path:
    return timeline.write(
        tmp_path / "audit.jsonl", [*timeline.OPENED, *timeline.ACTED, *timeline.RESOLVED]
    )


def write_config(path: Path, **settings: Any) -> Path:
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return path


@pytest.fixture
def config_path(tmp_path: Path, audit_path: Path, http: servers.HttpServices) -> Path:
    """A config with every comms setting pointing at the local servers (SMTP added by the
    tests that start a relay)."""
    return write_config(
        tmp_path / "triage-ops.yaml",
        audit_log=str(audit_path),
        pagerduty_routing_key=servers.ROUTING_KEY,
        pagerduty_events_url=http.pagerduty_url,
        slack_webhook_url=http.slack_url,
        status_page_url="https://status.example.com/email-triage",
    )
