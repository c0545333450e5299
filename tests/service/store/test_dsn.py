"""Connection strings: described and redacted without their password."""

from __future__ import annotations

import pytest
from psycopg.conninfo import conninfo_to_dict

from triage_core.errors import ConfigError
from triage_core.service.store.dsn import build_conninfo, describe, redact


def test_describe_names_the_server_only() -> None:
    assert describe("postgresql://u:pw@db.internal:6543/triage") == "db.internal:6543/triage"
    assert describe("host=db port=5433 dbname=x user=u password=pw") == "db:5433/x"
    assert describe("postgresql:///triage") == "localhost:5432/triage"
    assert describe("postgresql://u@h") == "h:5432/u"
    assert describe("host=x password=a b") == "<invalid database URL>"


def test_redact_removes_the_dsn_password_and_any_other() -> None:
    dsn = "postgresql://u:p%40ss-word@h/db"
    assert redact("failed for p@ss-word", dsn) == "failed for ***"
    assert redact("see postgresql://u:p%40ss-word@h/db", dsn) == "see postgresql://u:***@h/db"
    assert redact("x redis://:other@r:6379/0 y") == "x redis://:***@r:6379/0 y"
    assert redact("host=h password='a b\\' c' port=1") == "host=h password=*** port=1"
    assert redact("host=h password=plain port=1") == "host=h password=*** port=1"
    assert redact("nothing secret", "postgresql://u@h/db") == "nothing secret"


def test_build_conninfo_adds_timeouts_and_keeps_the_users_choices() -> None:
    built = conninfo_to_dict(build_conninfo("postgresql://u:pw@h:1/db", timeout_s=2.5))
    assert built == {
        "user": "u",
        "password": "pw",
        "host": "h",
        "port": "1",
        "dbname": "db",
        "connect_timeout": "3",
        "application_name": "email-triage",
    }
    mine = build_conninfo("host=h connect_timeout=9 application_name=me", timeout_s=1)
    assert conninfo_to_dict(mine) == {"host": "h", "connect_timeout": "9", "application_name": "me"}
    with pytest.raises(ConfigError) as caught:
        build_conninfo("host=h password=secret1 secret2", timeout_s=1)
    assert "secret" not in str(caught.value)
