"""Redis clients for the service: one place decides timeouts, retries and error wording.

Every client is built with both `socket_connect_timeout` and `socket_timeout`, because a
Redis that accepts TCP and never answers (paused, swapping, a half-open connection
through a load balancer) would otherwise block a request or a worker forever.

Retries are deliberately small. redis-py's defaults retry up to 10 times with backoff,
which turns a 2 s timeout into tens of seconds. Here:
- a single Redis retries once, immediately, and only on a *connection* error (a pooled
  socket that died because Redis restarted), never on a timeout: a hung Redis costs a
  caller one `timeout_s`, not several;
- a Redis Cluster does not retry inside a call at all. On a connection error redis-py
  already refreshes its slot table before raising, so the caller's next call goes to the
  right node; the worker loop and the API (503) are the retry.

Error messages name the host and port, never the password: `redact()` is what any text
about a Redis URL goes through.
"""

from __future__ import annotations

import re
from typing import Any, TypeAlias
from urllib.parse import unquote, urlsplit

import redis
import redis.cluster
from redis.backoff import NoBackoff
from redis.connection import parse_url
from redis.exceptions import RedisClusterException
from redis.retry import Retry

from triage_core.errors import TriageError

RedisClient: TypeAlias = redis.Redis | redis.cluster.RedisCluster

# Every exception the client raises on purpose. RedisClusterException is not a RedisError
# ("Redis Cluster cannot be connected", "No targets were found").
REDIS_ERRORS: tuple[type[Exception], type[Exception]] = (redis.RedisError, RedisClusterException)

# Up to the authority's LAST "@": an unencoded "@" in a password must not leave its tail.
_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<userinfo>[^/\s]*)@", re.IGNORECASE)
_PASSWORD_QUERY = re.compile(r"(?P<key>[?&]password=)[^&\s]*", re.IGNORECASE)


class RedisUnavailable(TriageError):
    """Redis could not answer: refused, timed out, cluster down, or an unexpected reply.
    The original redis-py exception is kept as `__cause__`."""


def redact(url: str) -> str:
    """The URL with any password replaced by `***` (user names are kept: they help)."""
    text = _USERINFO.sub(_mask_userinfo, url)
    return _PASSWORD_QUERY.sub(r"\g<key>***", text)


def _mask_userinfo(match: re.Match[str]) -> str:
    user, sep, _password = match.group("userinfo").partition(":")
    return f"{match.group('scheme')}{user}{':***' if sep else ''}@"


def connect(url: str, *, cluster: bool, timeout_s: float) -> RedisClient:
    """A client for `url` whose every call fails within about `timeout_s` when Redis hangs.

    For a cluster, `url` may list several nodes separated by commas (any reachable one is
    enough to discover the rest); building a cluster client contacts the cluster, so this
    raises `RedisUnavailable` when no node answers. A single-Redis client connects lazily.
    Responses are bytes (`decode_responses=False`): payloads are opaque bytes.
    """
    if timeout_s <= 0:
        raise ValueError("timeout_s must be > 0")
    secrets = _passwords(url)
    try:
        if cluster:
            return _connect_cluster(url, timeout_s=timeout_s)
        return redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
            health_check_interval=0,
        )
    except (redis.RedisError, RedisClusterException, ValueError) as exc:
        raise _unavailable(f"cannot connect to Redis at {redact(url)}", exc, secrets) from (
            None if _leaks(exc, secrets) else exc
        )


def _connect_cluster(url: str, *, timeout_s: float) -> redis.cluster.RedisCluster:
    urls = [part.strip() for part in url.split(",") if part.strip()]
    if not urls:
        raise ValueError("empty Redis URL")
    options: dict[str, Any] = {
        "socket_timeout": timeout_s,
        "socket_connect_timeout": timeout_s,
        "retry": Retry(NoBackoff(), 0),
    }
    parsed: list[dict[str, Any]] = [parse_url(one) for one in urls]  # type: ignore[no-untyped-call]
    startup = [
        redis.cluster.ClusterNode(str(node["host"]), int(node.get("port", 6379)))  # type: ignore[no-untyped-call]
        for node in parsed
    ]
    first = dict(parsed[0])
    if first.pop("connection_class", None) is redis.SSLConnection:
        options["ssl"] = True
    for name in ("host", "port", "db", "path"):  # per node, or meaningless on a cluster
        first.pop(name, None)
    options.update(first)  # credentials and query-string options (ssl_cert_reqs, ...)
    return redis.cluster.RedisCluster(startup_nodes=startup, **options)


def socket_timeout_of(client: RedisClient) -> float | None:
    """The read timeout the client was built with (None: none set)."""
    if isinstance(client, redis.cluster.RedisCluster):
        kwargs: dict[str, Any] = client.nodes_manager.connection_kwargs
    else:
        kwargs = client.connection_pool.connection_kwargs
    value = kwargs.get("socket_timeout")
    return float(value) if value is not None else None


def unavailable(what: str, exc: BaseException, *, cls: type[RedisUnavailable]) -> RedisUnavailable:
    """A typed error for a failed call; the message names the operation and the redis-py
    error (whose texts carry host:port, never credentials)."""
    return cls(f"{what}: {type(exc).__name__}: {exc}")


def _unavailable(what: str, exc: BaseException, secrets: list[str]) -> RedisUnavailable:
    text = str(exc)
    for secret in secrets:
        text = text.replace(secret, "***")
    return RedisUnavailable(f"{what}: {type(exc).__name__}: {text}")


def _passwords(url: str) -> list[str]:
    """Every password spelled in `url` (raw and percent-decoded), longest first."""
    found: list[str] = []
    for part in url.split(","):
        try:
            password = urlsplit(part.strip()).password
        except ValueError:
            password = None
        for match in _PASSWORD_QUERY.finditer(part):
            found.append(match.group(0).split("=", 1)[1])
        if password:
            found += [password, unquote(password)]
    return sorted({secret for secret in found if secret}, key=len, reverse=True)


def _leaks(exc: BaseException, secrets: list[str]) -> bool:
    text = f"{exc!s} {exc!r}"
    return any(secret in text for secret in secrets)
