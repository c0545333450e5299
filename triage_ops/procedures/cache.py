"""The result cache in Redis: `triage-ops cache stats` (the runbook's daily "Cache status",
`redis-cli info stats`) and `triage-ops cache flush` (the runbook's P1 "Clear cache if
corrupted", `redis-cli FLUSHDB`).

What it does differently from the runbook, and why:

- No FLUSHDB. The queue (a Redis Stream, its consumer group, the dead-letter stream and
  the fallback switch) and the cache share one Redis unless `queue_redis_url` says
  otherwise, so FLUSHDB destroys queued email (DESIGN.md "Known traps"). FLUSHDB also runs
  synchronously and blocks every client for as long as freeing the whole keyspace takes.
  Here the flush walks the keyspace with `SCAN MATCH <prefix>* COUNT <batch>` and deletes
  with `UNLINK` (memory freed off the main thread), batch by batch, so no single command
  holds Redis for more than about a millisecond (benchmarks/cache_flush.py measures it).
- Only cache keys. The prefix must start with `keys.CACHE_PREFIX`; a prefix that could
  reach a queue key is refused before Redis is touched. The prefix is glob-escaped for
  MATCH (a `*` in it is a literal), and every key SCAN returns is checked again here
  (`keys.is_cache_key`, the prefix, not `keys.is_queue_key`) before it is unlinked: SCAN's
  MATCH is a convenience, not the safety.
- Every master. On a Redis Cluster SCAN sees one node's keys, so the flush walks each master
  (`RedisOpsClient.masters()`). A multi-key UNLINK across slots is a CROSSSLOT error, so on
  a cluster the keys of a batch are grouped by slot, one UNLINK per slot group, sent in one
  pipeline to the node that owns them; a key whose slot moved meanwhile (MOVED/ASK) is
  unlinked through the cluster client, which routes it.
- Verified. Afterwards a SCAN must find no key under the prefix. SCAN guarantees to return
  every key present for the whole walk, and the flush unlinks every such key it is given,
  so a key found afterwards was written (by the running service) after the walk passed its
  bucket: it is reported in a note, not an error. The queue is snapshotted before and
  after: a queue key that disappeared, a consumer group that vanished, a dead-letter
  stream that shrank, or a stream whose length changed although nothing moved it (no
  entry added, read or deleted by the service) is TRI-CACHE-001, critical.
- Planned exactly. The plan (what --dry-run prints, and what the confirmation shows) is one
  SCAN of each master's whole keyspace: exact counts of what would go per master, and the
  names of the queue keys that must stay.

`check_eviction` is a check for runbooks: a Redis holding the queue with an allkeys-*
eviction policy can drop queued email on its own (TRI-CACHE-002).
"""

from __future__ import annotations

import queue
import shlex
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import urlsplit

import redis
import redis.cluster
from redis.crc import key_slot

from triage_core.service import keys
from triage_core.service.redis_clients import RedisUnavailable
from triage_ops.clients import Clients
from triage_ops.clients.errors import ClientError
from triage_ops.clients.redis import RedisOpsClient
from triage_ops.config import OpsConfig
from triage_ops.engine.contract import Plan, StepContext
from triage_ops.errors import DependencyUnreachable, UsageError
from triage_ops.findings import Finding

if TYPE_CHECKING:
    from triage_ops.engine.audit import AuditLog
    from triage_ops.engine.report import ActionOutcome

T = TypeVar("T")

# Keys per SCAN COUNT and per UNLINK. Measured on this project's 2-core machine with the
# service's key shape (benchmarks/cache_flush.py, "calibration": SLOWLOG of every command):
# at 250 a SCAN keeps Redis busy 0.35-0.45 ms on average and an UNLINK of 250 keys
# 0.35-0.6 ms (p99 0.9-3.4 ms, depending on what else the machine runs); at 500 the means
# are 0.5-1 ms, and at 1,000 an UNLINK alone averages 1.2-5 ms. The flush rate hardly
# depends on it (SCAN and UNLINK overlap, see _flush_master).
DEFAULT_BATCH = 250
MIN_BATCH = 1
MAX_BATCH = 5000
DEFAULT_SAMPLE = 200  # keys whose MEMORY USAGE and TTL `stats` reads, per master

CACHE_PREFIX_B = keys.CACHE_PREFIX.encode()
QUEUE_PREFIX_B = keys.QUEUE_PREFIX.encode()
QUEUE_HASH_TAG = keys.QUEUE_PREFIX.split(":", 1)[0]  # "{triage-queue}"

# Upper bounds (seconds) of the TTL buckets `stats` reports, then everything longer.
TTL_BUCKETS: tuple[tuple[str, float], ...] = (
    ("<1m", 60),
    ("<1h", 3600),
    ("<1d", 86400),
)
_GLOB_SPECIAL = frozenset(b"*?[]\\")


class PrefixRefused(UsageError):
    """A --prefix that is not under the cache prefix, or could reach a queue key."""


# -- which keys may go -------------------------------------------------------------------


def checked_prefix(prefix: str | None) -> str:
    """The prefix a flush may use: `keys.CACHE_PREFIX` by default; anything that is not
    under it, or that could name a queue key, raises PrefixRefused (exit 3)."""
    if prefix is None:
        return keys.CACHE_PREFIX
    if (
        keys.is_queue_key(prefix)
        or keys.QUEUE_PREFIX.startswith(prefix)
        or QUEUE_HASH_TAG in prefix
    ):
        raise PrefixRefused(
            f"refused --prefix {prefix!r}: it could match queue keys ({keys.QUEUE_PREFIX}*)"
        )
    if not prefix.startswith(keys.CACHE_PREFIX) or not keys.is_cache_key(prefix):
        raise PrefixRefused(
            f"refused --prefix {prefix!r}: a cache flush prefix must start with"
            f" {keys.CACHE_PREFIX!r}"
        )
    return prefix


def is_flushable(key: bytes, prefix: bytes) -> bool:
    """The last check before UNLINK, on the exact bytes Redis returned."""
    return (
        key.startswith(prefix)
        and key.startswith(CACHE_PREFIX_B)
        and not key.startswith(QUEUE_PREFIX_B)
        and keys.is_cache_key(key)
        and not keys.is_queue_key(key)
    )


def glob_escape(text: bytes) -> bytes:
    """`text` as a literal in a Redis glob pattern (SCAN MATCH)."""
    out = bytearray()
    for byte in text:
        if byte in _GLOB_SPECIAL:
            out.append(0x5C)  # backslash
        out.append(byte)
    return bytes(out)


def match_pattern(prefix: str) -> bytes:
    return glob_escape(prefix.encode()) + b"*"


# -- talking to Redis --------------------------------------------------------------------


@dataclass(frozen=True)
class Master:
    """One master node (the server itself when Redis is not a cluster)."""

    address: str  # host:port, never credentials
    client: redis.Redis


def _call(ops: RedisOpsClient, fn: Callable[[], T], what: str, *, queue: bool = False) -> T:
    """`ops.call`: failures become the typed error naming the server (the queue's Redis
    with `queue=True`); the service's RedisUnavailable too."""
    try:
        return ops.call(fn, what, queue=queue)
    except RedisUnavailable as exc:
        raise ops.translate(exc, what, queue=queue) from None


def host_port(ops: RedisOpsClient) -> str:
    """host:port of the configured Redis (the first node of a cluster list). Error texts
    carry it besides the redacted URL: the engine masks the configured URL as a whole."""
    first = ops.address.split(",", 1)[0].strip()
    try:
        parts = urlsplit(first)
        return f"{parts.hostname}:{parts.port or 6379}"
    except ValueError:
        return "?"


def masters(ops: RedisOpsClient) -> list[Master]:
    try:
        nodes = _call(ops, ops.masters, f"connect to {host_port(ops)}")
    except ClientError as exc:
        # "(connect)" names the configured URL, which the engine masks whole as a secret:
        # say where again in words it keeps.
        raise type(exc)(f"{exc} [{host_port(ops)}]", system=exc.system) from None
    found = []
    for node in nodes:
        kwargs = node.connection_pool.connection_kwargs
        found.append(Master(f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}", node))
    return sorted(found, key=lambda m: m.address)


def scan_batches(
    ops: RedisOpsClient, master: Master, *, pattern: bytes | None, count: int
) -> Iterator[list[bytes]]:
    """SCAN one node to the end, one list of keys per reply (possibly empty)."""
    cursor = 0
    while True:
        cursor, batch = _call(
            ops,
            lambda c=cursor: master.client.scan(c, match=pattern, count=count),  # type: ignore[misc]
            f"SCAN on {master.address}",
        )
        yield _as_bytes(batch)
        if int(cursor) == 0:
            return


def _as_bytes(found: Sequence[bytes | str]) -> list[bytes]:
    """SCAN's keys as bytes (the service's clients never decode; a decoding client's
    str keys are encoded back, so the checks always see the exact bytes)."""
    if all(isinstance(key, bytes) for key in found):
        return cast(list[bytes], list(found))
    return [key if isinstance(key, bytes) else key.encode() for key in found]


@dataclass
class Census:
    """One SCAN of one master's whole keyspace (no MATCH: one walk gives the cache keys
    under the prefix, the queue keys and everything else)."""

    master: str
    cache_keys: int = 0  # keys a flush of the prefix would unlink
    queue_keys: list[str] = field(default_factory=list)  # names
    other_keys: int = 0
    sample: list[bytes] = field(default_factory=list)  # the first cache keys seen


def census(
    ops: RedisOpsClient,
    master: Master,
    *,
    prefix: str,
    batch: int = DEFAULT_BATCH,
    sample: int = 0,
) -> Census:
    prefix_b = prefix.encode()
    seen = Census(master.address)
    queue: set[bytes] = set()
    for found in scan_batches(ops, master, pattern=None, count=batch):
        for key in found:
            if is_flushable(key, prefix_b):
                seen.cache_keys += 1
                if len(seen.sample) < sample:
                    seen.sample.append(key)
            elif keys.is_queue_key(key):
                queue.add(key)
            else:
                seen.other_keys += 1
    seen.queue_keys = sorted(key.decode("utf-8", "replace") for key in queue)
    return seen


# -- stats -------------------------------------------------------------------------------


def ttl_bucket(pttl_ms: int) -> str:
    if pttl_ms < 0:  # -1: no expiry (-2, gone meanwhile, is left out by the caller)
        return "none"
    for name, bound in TTL_BUCKETS:
        if pttl_ms < bound * 1000:
            return name
    return ">=1d"


def stats(
    config: OpsConfig,
    *,
    timeout: float,
    prefix: str | None = None,
    sample: int = DEFAULT_SAMPLE,
) -> list[dict[str, Any]]:
    """`triage-ops cache stats`: `collect_stats` over the configured Redis."""
    prefix = checked_prefix(prefix)
    if sample < 0:
        raise UsageError("--sample must be >= 0")
    return collect_stats(Clients(config, timeout=timeout).redis(), prefix=prefix, sample=sample)


def collect_stats(
    ops: RedisOpsClient,
    *,
    prefix: str = keys.CACHE_PREFIX,
    sample: int = DEFAULT_SAMPLE,
    batch: int = DEFAULT_BATCH,
) -> list[dict[str, Any]]:
    """One row per master: cache keys under `prefix` (exact, one SCAN), their memory
    estimated from MEMORY USAGE of a sample (the first `sample` keys SCAN returns:
    hash-table order, as good as random), the sample's TTL distribution, the queue keys
    living there (names only), and the server's memory, hit/miss and eviction figures
    (INFO; keyspace hits and misses count every key, the queue's reads too)."""
    prefix = checked_prefix(prefix)
    rows = []
    for master in masters(ops):
        # INFO first: the sample's PTTL lookups would count as keyspace hits.
        info = _call(ops, master.client.info, f"INFO on {master.address}")
        seen = census(ops, master, prefix=prefix, batch=batch, sample=sample)
        sizes, ttls = _sample(ops, master, seen.sample)
        hits, misses = int(info.get("keyspace_hits", 0)), int(info.get("keyspace_misses", 0))
        mean = round(sum(sizes) / len(sizes)) if sizes else 0
        buckets = Counter(ttl_bucket(ttl) for ttl in ttls)
        ttl = {name: buckets.get(name, 0) for name in TTL_NAMES}
        rows.append(
            {
                "master": master.address,
                "keys": seen.cache_keys + len(seen.queue_keys) + seen.other_keys,
                "cache_keys": seen.cache_keys,
                "sampled": len(sizes),
                "mean_bytes": mean,
                "cache_bytes_est": mean * seen.cache_keys,
                "ttl": ttl,
                "ttl_sample": " ".join(f"{k}:{v}" for k, v in ttl.items()),
                "queue_keys": seen.queue_keys,
                "other_keys": seen.other_keys,
                "used_memory": int(info.get("used_memory", 0)),
                "used_memory_human": str(info.get("used_memory_human", "")),
                "maxmemory_policy": str(info.get("maxmemory_policy", "")),
                "keyspace_hits": hits,
                "keyspace_misses": misses,
                "hit_rate": round(hits / (hits + misses), 4) if hits + misses else None,
                "evicted_keys": int(info.get("evicted_keys", 0)),
                "expired_keys": int(info.get("expired_keys", 0)),
            }
        )
    return rows


TTL_NAMES = ("none", *(name for name, _ in TTL_BUCKETS), ">=1d")


def _sample(
    ops: RedisOpsClient, master: Master, sampled: Sequence[bytes]
) -> tuple[list[int], list[int]]:
    """MEMORY USAGE and PTTL of each sampled key, in one pipeline (single-key commands:
    legal on a cluster node for the keys it owns). Keys gone meanwhile are left out."""
    if not sampled:
        return [], []
    pipe = master.client.pipeline(transaction=False)
    for key in sampled:
        pipe.memory_usage(key, samples=0)
        pipe.pttl(key)
    replies = _call(
        ops, lambda: pipe.execute(raise_on_error=False), f"MEMORY USAGE on {master.address}"
    )
    sizes, ttls = [], []
    for size, ttl in zip(replies[::2], replies[1::2], strict=True):
        if isinstance(size, int) and isinstance(ttl, int) and ttl != -2:
            sizes.append(size)
            ttls.append(ttl)
    return sizes, ttls


def check_eviction(ctx: StepContext) -> list[Finding]:
    """A check for runbooks: a master that holds queue keys and may evict any key under
    memory pressure (maxmemory set, policy allkeys-*) can drop queued email the way
    FLUSHDB does, only silently. volatile-* policies evict only keys with a TTL (the
    cache's), never the streams."""
    ops = ctx.clients.redis()
    findings = []
    for master in masters(ops):
        info = _call(ops, lambda m=master: m.client.info("memory"), f"INFO on {master.address}")  # type: ignore[misc]
        policy = str(info.get("maxmemory_policy", ""))
        limit = int(info.get("maxmemory", 0))
        if not limit or not policy.startswith("allkeys-"):
            ctx.note(f"{master.address}: maxmemory-policy {policy or '?'}")
            continue
        queue = [name for name in _known_queue_keys(ops, master)]
        if queue:
            findings.append(
                ctx.finding(
                    "TRI-CACHE-002",
                    f"Redis {master.address} may evict queue keys: maxmemory-policy {policy}"
                    f" with maxmemory {limit} bytes, and it holds {', '.join(queue)}",
                    master=master.address,
                    policy=policy,
                    maxmemory=limit,
                    queue_keys=queue,
                )
            )
    return findings


def _known_queue_keys(ops: RedisOpsClient, master: Master) -> list[str]:
    """Which of the service's fixed queue keys this node holds (EXISTS, no SCAN)."""
    names = (keys.QUEUE_STREAM, keys.DEAD_LETTER_STREAM, keys.FALLBACK_SWITCH)
    found = _exists(ops, master, names)
    return [name for name in names if name in found]


def _exists(ops: RedisOpsClient, master: Master, names: Sequence[str]) -> set[str]:
    """Which of `names` exist on `master` (one EXISTS each: single-key, cluster-safe; a
    name whose slot another node owns counts as absent here)."""
    if not names:
        return set()
    pipe = master.client.pipeline(transaction=False)
    for name in names:
        pipe.exists(name)
    replies = _call(ops, lambda: pipe.execute(raise_on_error=False), f"EXISTS on {master.address}")
    return {name for name, reply in zip(names, replies, strict=True) if reply == 1}


# -- queue snapshot (what the flush must leave alone) -------------------------------------


@dataclass(frozen=True)
class QueueSnapshot:
    stream_length: int
    dead_letter_length: int
    groups: tuple[str, ...]
    moved: tuple[str, ...]  # stream counters that change whenever the service touches it
    queue_keys: tuple[str, ...]  # queue keys on the flushed Redis (names only)

    def to_json(self) -> dict[str, Any]:
        return {
            "stream_length": self.stream_length,
            "dead_letter_length": self.dead_letter_length,
            "groups": list(self.groups),
            "queue_keys": list(self.queue_keys),
        }


def queue_snapshot(ops: RedisOpsClient, queue_keys: Sequence[str]) -> QueueSnapshot:
    """The queue's figures now (on the queue's Redis), with `queue_keys`: the queue keys
    found on the flushed Redis by a census, or known to have been there."""
    redis_q = ops.client(queue=True)
    stream, dead = keys.QUEUE_STREAM, keys.DEAD_LETTER_STREAM

    def ask(fn: Callable[[], T], what: str) -> T:
        return _call(ops, fn, what, queue=True)

    stream_length = int(ask(lambda: redis_q.xlen(stream), "XLEN of the queue stream"))
    dead_length = int(ask(lambda: redis_q.xlen(dead), "XLEN of the dead-letter stream"))
    groups: tuple[str, ...] = ()
    moved: tuple[str, ...] = ()
    if ask(lambda: redis_q.exists(stream), "EXISTS queue stream"):
        info: Any = ask(lambda: redis_q.xinfo_stream(stream), "XINFO STREAM")
        raw_groups: Any = ask(lambda: redis_q.xinfo_groups(stream), "XINFO GROUPS")
        groups = tuple(sorted(_text(g.get("name")) for g in raw_groups))
        moved = (
            _text(info.get("last-generated-id")),
            _text(info.get("max-deleted-entry-id")),
            _text(info.get("entries-added")),
            *(f"{_text(g.get('name'))}={_text(g.get('last-delivered-id'))}" for g in raw_groups),
            *(f"{_text(g.get('name'))}~{_text(g.get('pending'))}" for g in raw_groups),
        )
    return QueueSnapshot(stream_length, dead_length, groups, moved, tuple(sorted(queue_keys)))


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def queue_problems(before: QueueSnapshot, after: QueueSnapshot) -> list[str]:
    """What a flush must never cause, as sentences (empty: the queue is intact)."""
    problems = []
    gone = sorted(set(before.queue_keys) - set(after.queue_keys))
    if gone:
        problems.append(f"queue keys disappeared: {', '.join(gone)}")
    lost_groups = sorted(set(before.groups) - set(after.groups))
    if lost_groups:
        problems.append(f"consumer groups disappeared: {', '.join(lost_groups)}")
    if after.dead_letter_length < before.dead_letter_length:
        problems.append(
            f"dead-letter stream shrank: {before.dead_letter_length} -> {after.dead_letter_length}"
        )
    if after.stream_length != before.stream_length and after.moved == before.moved:
        problems.append(
            f"queue stream length changed {before.stream_length} -> {after.stream_length}"
            " although the service did not touch it"
        )
    return problems


# -- the flush ---------------------------------------------------------------------------


@dataclass
class MasterFlush:
    """What the flush did on one master."""

    master: str
    scanned: int = 0  # keys SCAN MATCH returned
    unlinked: int = 0  # keys UNLINK reported deleted
    skipped: int = 0  # returned by SCAN but failed the re-check: left alone
    rerouted: int = 0  # slot moved meanwhile: unlinked through the cluster client
    scans: int = 0
    unlinks: int = 0  # UNLINK commands (single Redis) or pipelines of them (cluster)
    max_scan_ms: float = 0.0  # slowest round trips seen from here
    max_unlink_ms: float = 0.0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "master": self.master,
            "scanned": self.scanned,
            "unlinked": self.unlinked,
            "skipped": self.skipped,
            "rerouted": self.rerouted,
            "scans": self.scans,
            "unlinks": self.unlinks,
            "max_scan_ms": round(self.max_scan_ms, 3),
            "max_unlink_ms": round(self.max_unlink_ms, 3),
            "seconds": round(self.seconds, 3),
        }


@dataclass
class _Pace:
    """At most `keys_per_s` keys per second over the whole flush (0: no limit)."""

    keys_per_s: float
    started: float = field(default_factory=time.monotonic)
    done: int = 0

    def wait(self, count: int) -> None:
        self.done += count
        if self.keys_per_s <= 0:
            return
        ahead = self.done / self.keys_per_s - (time.monotonic() - self.started)
        if ahead > 0:
            time.sleep(ahead)


def flush_keys(
    ops: RedisOpsClient,
    *,
    prefix: str = keys.CACHE_PREFIX,
    batch: int = DEFAULT_BATCH,
    rate_limit: float = 0.0,
    log: Callable[[str], None] = lambda message: None,
) -> list[MasterFlush]:
    """SCAN + UNLINK every key under `prefix` on every master, one master after the
    other; returns what was done. `rate_limit` caps keys unlinked per second (0: none)."""
    prefix = checked_prefix(prefix)
    if not MIN_BATCH <= batch <= MAX_BATCH:
        raise UsageError(f"batch size must be {MIN_BATCH}..{MAX_BATCH}, not {batch}")
    pace = _Pace(rate_limit)
    report = []
    for master in masters(ops):
        done = _flush_master(ops, master, prefix=prefix, batch=batch, pace=pace, log=log)
        log(f"{master.address}: {done.unlinked} keys unlinked in {done.seconds:.1f} s")
        report.append(done)
    return report


def _flush_master(
    ops: RedisOpsClient,
    master: Master,
    *,
    prefix: str,
    batch: int,
    pace: _Pace,
    log: Callable[[str], None],
) -> MasterFlush:
    """This thread walks the keyspace with SCAN while a second one UNLINKs the batch
    before, on another pooled connection: Redis executes one command while Python parses
    or encodes the other, which roughly halves the flush on two cores. Every command stays
    one batch long, so Redis still serves other clients between any two of them. The
    queue between the two holds at most two batches (back-pressure for --rate-limit), and
    a failure on either side stops both within one client timeout."""
    done = MasterFlush(master.address)
    prefix_b = prefix.encode()
    pattern = match_pattern(prefix)
    started = last_log = time.monotonic()
    work: queue.Queue[list[bytes] | None] = queue.Queue(maxsize=2)
    failed: list[BaseException] = []
    stop = threading.Event()

    def unlinker() -> None:
        while (doomed := work.get()) is not None:
            if stop.is_set():
                continue
            try:
                _unlink(ops, master, doomed, done)
                pace.wait(len(doomed))
            except BaseException as exc:  # handed to the scanning thread, which raises it
                failed.append(exc)
                stop.set()

    thread = threading.Thread(target=unlinker, name=f"unlink {master.address}", daemon=True)
    thread.start()
    try:
        cursor = 0
        while not stop.is_set():
            t0 = time.perf_counter()
            cursor, reply = _call(
                ops,
                lambda c=cursor: master.client.scan(c, match=pattern, count=batch),  # type: ignore[misc]
                f"SCAN on {master.address}",
            )
            found = _as_bytes(reply)
            done.scans += 1
            done.max_scan_ms = max(done.max_scan_ms, (time.perf_counter() - t0) * 1000)
            done.scanned += len(found)
            doomed = [key for key in found if is_flushable(key, prefix_b)]
            done.skipped += len(found) - len(doomed)
            if doomed:
                _put(work, doomed, stop)
            if time.monotonic() - last_log >= 5:
                log(f"{master.address}: {done.unlinked} keys unlinked so far")
                last_log = time.monotonic()
            if int(cursor) == 0:
                break
    except BaseException:
        stop.set()
        raise
    finally:
        _put(work, None, threading.Event())
        thread.join()
    if failed:
        raise failed[0]
    done.seconds = time.monotonic() - started
    return done


def _put(
    work: queue.Queue[list[bytes] | None], item: list[bytes] | None, stop: threading.Event
) -> None:
    """Hand a batch over, waiting while the unlinker is two batches behind (until it
    stops: then the batch is dropped)."""
    while not stop.is_set():
        try:
            work.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


def _unlink(ops: RedisOpsClient, master: Master, doomed: list[bytes], done: MasterFlush) -> None:
    t0 = time.perf_counter()
    if not ops.cluster:
        done.unlinked += int(
            _call(ops, lambda: master.client.unlink(*doomed), f"UNLINK on {master.address}")
        )
    else:
        _unlink_by_slot(ops, master, doomed, done)
    done.unlinks += 1
    done.max_unlink_ms = max(done.max_unlink_ms, (time.perf_counter() - t0) * 1000)


def _unlink_by_slot(
    ops: RedisOpsClient, master: Master, doomed: list[bytes], done: MasterFlush
) -> None:
    """One UNLINK per slot group (a multi-key command across slots is CROSSSLOT), all in
    one pipeline to the node that returned the keys; a MOVED/ASK reply (the slot migrated
    meanwhile) is retried key by key through the cluster client, which routes it."""
    by_slot: dict[int, list[bytes]] = {}
    for key in doomed:
        by_slot.setdefault(key_slot(key), []).append(key)
    groups = list(by_slot.values())
    pipe = master.client.pipeline(transaction=False)
    for group in groups:
        pipe.unlink(*group)
    replies = _call(ops, lambda: pipe.execute(raise_on_error=False), f"UNLINK on {master.address}")
    for group, reply in zip(groups, replies, strict=True):
        if isinstance(reply, int):
            done.unlinked += reply
        elif isinstance(reply, redis.ResponseError) and str(reply).split(" ", 1)[0] in _MOVED:
            for key in group:
                done.unlinked += _unlink_routed(ops, key)
                done.rerouted += 1
        else:
            raise ops.translate(reply, f"UNLINK on {master.address}")


def _unlink_routed(ops: RedisOpsClient, key: bytes) -> int:
    routed = ops.client()
    return int(_call(ops, lambda: routed.unlink(key), "UNLINK"))


_MOVED = frozenset({"MOVED", "ASK"})


# -- the Action --------------------------------------------------------------------------


@dataclass
class FlushCache:
    """`triage-ops cache flush` as an engine Action: plan = one census per master (exact
    counts: the dry run), apply = SCAN + UNLINK, verify = nothing left under the prefix
    (keys the service wrote meanwhile are a note, not a failure) and the queue intact."""

    prefix: str = keys.CACHE_PREFIX
    batch: int = DEFAULT_BATCH
    rate_limit: float = 0.0
    name: str = "cache.flush"
    _before: QueueSnapshot | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.prefix = checked_prefix(self.prefix)
        if not MIN_BATCH <= self.batch <= MAX_BATCH:
            raise UsageError(f"--batch-size must be {MIN_BATCH}..{MAX_BATCH}, not {self.batch}")
        if self.rate_limit < 0:
            raise UsageError("--rate-limit must be >= 0 keys/s")

    def plan(self, ctx: StepContext) -> Plan:
        ops = ctx.clients.redis()
        seen = [census(ops, m, prefix=self.prefix, batch=self.batch) for m in masters(ops)]
        names = sorted({name for one in seen for name in one.queue_keys})
        before = queue_snapshot(ops, names)
        counts = {one.master: one.cache_keys for one in seen}
        total = sum(counts.values())
        where = f"{len(counts)} master{'s' if len(counts) != 1 else ''}"
        return Plan(
            summary=(
                f"UNLINK {total} cache keys under {self.prefix!r} on {where}"
                f" (SCAN COUNT {self.batch}); {len(names)} queue keys left alone"
            ),
            changes=[
                {
                    "target": f"redis {one.master} {self.prefix}*",
                    "before": one.cache_keys,
                    "after": 0,
                }
                for one in seen
            ],
            commands=[
                _manual_command(one.master, self.prefix, batch=self.batch, cluster=ops.cluster)
                for one in seen
            ],
            dry_run={
                "would_unlink": counts,
                "total": total,
                "prefix": self.prefix,
                "queue_keys_by_master": {one.master: one.queue_keys for one in seen},
                "other_keys_by_master": {one.master: one.other_keys for one in seen},
                "queue": before.to_json(),
            },
            noop=total == 0,
            destructive=True,
        )

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        ops = ctx.clients.redis()
        nodes = masters(ops)
        by_master: Mapping[str, Sequence[str]] = plan.dry_run.get("queue_keys_by_master", {})
        present = set()
        for master in nodes:  # the plan's queue keys that still exist now (no second walk)
            present |= _exists(ops, master, list(by_master.get(master.address, ())))
        self._before = queue_snapshot(ops, sorted(present))
        started = time.monotonic()
        report = flush_keys(
            ops, prefix=self.prefix, batch=self.batch, rate_limit=self.rate_limit, log=ctx.log
        )
        return {
            "unlinked": sum(m.unlinked for m in report),
            "seconds": round(time.monotonic() - started, 3),
            "masters": [m.to_json() for m in report],
            "queue_before": self._before.to_json(),
        }

    def verify(self, ctx: StepContext, plan: Plan) -> list[Finding]:
        ops = ctx.clients.redis()
        seen = [census(ops, m, prefix=self.prefix, batch=self.batch) for m in masters(ops)]
        after = queue_snapshot(ops, sorted({name for one in seen for name in one.queue_keys}))
        before = self._before or _snapshot_of(plan)
        problems = queue_problems(before, after)
        findings = []
        if problems:
            findings.append(
                ctx.finding(
                    "TRI-CACHE-001",
                    "the queue changed during the cache flush: " + "; ".join(problems),
                    before=before.to_json(),
                    after=after.to_json(),
                )
            )
        else:
            ctx.note(
                f"queue intact: stream {before.stream_length} -> {after.stream_length} entries,"
                f" dead-letter {before.dead_letter_length} -> {after.dead_letter_length},"
                f" groups {', '.join(after.groups) or 'none'},"
                f" queue keys {', '.join(after.queue_keys) or 'none'}"
            )
        remaining = {one.master: one.cache_keys for one in seen if one.cache_keys}
        if remaining:
            # SCAN returns every key present for its whole walk, and each was unlinked: a
            # key here was written after the walk passed it (the service refilling).
            ctx.note(
                f"{sum(remaining.values())} keys under {self.prefix!r} written by the service"
                f" while the flush ran (not an error): "
                + ", ".join(f"{m} {n}" for m, n in remaining.items())
            )
        else:
            ctx.note(f"0 keys left under {self.prefix!r} on {len(seen)} master(s)")
        return findings


def _snapshot_of(plan: Plan) -> QueueSnapshot:
    """The plan's queue figures, when verify runs without apply having recorded its own."""
    figures: Mapping[str, Any] = plan.dry_run.get("queue", {})
    return QueueSnapshot(
        stream_length=int(figures.get("stream_length", 0)),
        dead_letter_length=int(figures.get("dead_letter_length", 0)),
        groups=tuple(figures.get("groups", ())),
        moved=("unknown",),
        queue_keys=tuple(figures.get("queue_keys", ())),
    )


def _manual_command(address: str, prefix: str, *, batch: int, cluster: bool) -> str:
    """The safe manual equivalent, for the human reading the plan (no credentials)."""
    host, _, port = address.rpartition(":")
    cli = f"redis-cli -h {host} -p {port}"
    pattern = shlex.quote(match_pattern(prefix).decode("utf-8", "replace"))
    return (
        f"{cli} --scan --pattern {pattern} --count {batch}"
        f" | xargs -r -d '\\n' -n {1 if cluster else batch} {cli} UNLINK"
    )


# -- the command's one call ----------------------------------------------------------------

# The flush's overall deadline in the engine. Each Redis call is bounded by the client
# timeout (--timeout) already; this only stops a flush that keeps going far past any
# sensible size (1,000,000 keys take ~10 s).
FLUSH_DEADLINE_S = 3600.0


class FlushNotStarted(DependencyUnreachable):
    """The plan could not be made (Redis down, hung, refusing): nothing was deleted."""


@dataclass
class FlushResult:
    outcome: ActionOutcome
    notes: list[str]

    def to_json(self) -> dict[str, Any]:
        return {**self.outcome.to_json(), "notes": list(self.notes)}


def flush_cache(
    config: OpsConfig,
    *,
    timeout: float,
    prefix: str | None = None,
    batch: int | None = None,
    rate_limit: float = 0.0,
    dry_run: bool,
    yes: bool,
    confirm: Callable[[Plan], bool],
    audit: AuditLog | None,
    incident: str | None = None,
    log: Callable[[str], None] = lambda message: None,
    deadline_s: float = FLUSH_DEADLINE_S,
) -> FlushResult:
    """`triage-ops cache flush`: refuse a bad prefix or option before touching anything,
    then run FlushCache through the engine (plan -> dry-run | confirm -> apply -> verify,
    one audit entry whatever happens). A plan that cannot be made raises FlushNotStarted
    naming Redis (exit 4); other outcomes are returned for the command to render and
    exit on (ActionOutcome.exit_code)."""
    from triage_ops.engine import standalone

    action = FlushCache(
        prefix=checked_prefix(prefix),
        batch=DEFAULT_BATCH if batch is None else batch,
        rate_limit=rate_limit,
    )
    unplanned = f"{action.name}: unplanned"

    def engine_log(line: str) -> None:
        if not line.startswith(unplanned):  # said once, below, as the command's error
            log(line)

    ctx = standalone.step_context(
        config, timeout=timeout, deadline_s=deadline_s, step_id="cache.flush", log=engine_log
    )
    outcome = standalone.run_action(
        action, ctx, dry_run=dry_run, yes=yes, confirm=confirm, audit=audit, incident=incident
    )
    if outcome.outcome == "unplanned":
        raise FlushNotStarted(f"cache flush not started, nothing deleted: {outcome.error}")
    return FlushResult(outcome, list(ctx.notes))
