"""Connection strings: built once with our timeouts, described without the password.

Every message the store writes names the server as `host:port/dbname`; `redact` is the
second line of defence for texts that come from elsewhere (a driver message that quotes
the DSN back, for instance).
"""

from __future__ import annotations

import math
import re

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from triage_core.errors import ConfigError

APPLICATION_NAME = "email-triage"

# user:password@ inside a URL, and password=... in a key/value DSN
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]*@", re.IGNORECASE)
_KV_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def build_conninfo(dsn: str, *, timeout_s: float, application_name: str = "") -> str:
    """The DSN (URL or key=value) plus a connect timeout and an application name.

    libpq rounds connect_timeout up to whole seconds (2 at least); callers that need a
    tighter bound also wait on the pool with their own timeout.
    """
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        # the parser's message may quote a piece of the password: say nothing more
        raise ConfigError(
            "invalid database URL: expected postgresql://user:password@host:port/db"
            " or key=value pairs"
        ) from None
    params.setdefault("connect_timeout", str(max(1, math.ceil(timeout_s))))
    params.setdefault("application_name", application_name or APPLICATION_NAME)
    return make_conninfo("", **params)


def describe(dsn: str) -> str:
    """`host:port/dbname` for messages: enough to find the server, nothing secret."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<invalid database URL>"
    host = str(params.get("host") or params.get("hostaddr") or "localhost")
    port = str(params.get("port") or "5432")
    dbname = str(params.get("dbname") or params.get("user") or "")
    return f"{host}:{port}/{dbname}"


def password_of(dsn: str) -> str:
    try:
        return str(conninfo_to_dict(dsn).get("password") or "")
    except psycopg.ProgrammingError:
        return ""


def redact(text: str, dsn: str = "") -> str:
    """`text` with any password removed: the DSN's own, and any URL or key=value one."""
    secret = password_of(dsn) if dsn else ""
    if secret:
        text = text.replace(secret, "***")
    text = _URL_PASSWORD.sub(r"\g<head>***@", text)
    return _KV_PASSWORD.sub(r"\g<head>***", text)
