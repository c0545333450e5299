"""Where the service keeps things in Redis: the one place both packages import.

The split matters operationally. The runbook's "clear cache if corrupted" step
(`redis-cli FLUSHDB`) would also destroy queued email when queue and cache share a Redis.
The ops CLI's safe flush deletes only keys under `CACHE_PREFIX` and never anything under
`QUEUE_PREFIX`, so every key the service writes must start with one of the prefixes below.

Queue keys carry the hash tag `{triage-queue}` so that, on a Redis Cluster, the stream, its
dead-letter stream and the control keys live in one slot (multi-key commands stay legal).
Cache keys are spread over all slots on purpose: the cache is the big keyspace.
"""

from __future__ import annotations

CACHE_PREFIX = "triage:cache:"
QUEUE_PREFIX = "{triage-queue}:"

QUEUE_STREAM = QUEUE_PREFIX + "emails"
DEAD_LETTER_STREAM = QUEUE_PREFIX + "dead-letter"
CONSUMER_GROUP = "triage-workers"

# The runtime switch to fallback classification mode (the runbook's P0 action): a key
# whose presence turns it on; running API processes and workers poll it every few seconds.
CONTROL_PREFIX = QUEUE_PREFIX + "control:"
FALLBACK_SWITCH = CONTROL_PREFIX + "fallback"

ALL_SERVICE_PREFIXES = (CACHE_PREFIX, QUEUE_PREFIX)


def cache_key(content_hash: str) -> str:
    return CACHE_PREFIX + content_hash


def is_cache_key(key: str | bytes) -> bool:
    text = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
    return text.startswith(CACHE_PREFIX)


def is_queue_key(key: str | bytes) -> bool:
    text = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
    return text.startswith(QUEUE_PREFIX)
