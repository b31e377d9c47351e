"""Distinct counts shared by consumers through Redis (``consumer.shared``).

:class:`SharedDistinct` has the interface of :class:`sakimori.distinct.DistinctCount` (``add``,
``len``, ``in``, ``update``, ``to_state``), so the beacon handler's prevalence counts go to
Redis without a twin of its logic: every consumer adds the internal hosts *it* saw reach a
destination, and ``len()`` is the count over **all** consumers. The local
:class:`~sakimori.distinct.DistinctCount` is kept as well (the handler's snapshot, membership).

In Redis the same exact-then-HyperLogLog rule holds: a set (SADD) up to ``EXACT_MAX`` members,
then, atomically in a Lua script, a HyperLogLog (PFADD; Redis's own, 2^14 registers,
standard error 0.81 %) replaces it. Keys are ``sakimori:d:{H}:s`` / ``…:h`` with *H* a
BLAKE2b digest of the counter's name (network-derived names never become key syntax, and
both keys share one Redis Cluster slot). Adds are idempotent, so an event delivered twice
after a crash changes nothing. Adds are queued in memory and sent in one pipeline by
:meth:`SharedCounters.flush` — before every count and before every state commit. While Redis
cannot be reached the adds stay queued, a count is this consumer's own (logged, counted in
``errors``), and the consumer goes on.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from typing import Any

from redis.exceptions import RedisError

from sakimori.distinct import EXACT_MAX, DistinctCount

log = logging.getLogger("sakimori.shared")
CHUNK = 1000  # members per script call (Lua unpack limit is ~8000)

_ADD = """
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('PFADD', KEYS[2], unpack(ARGV, 2))
  return 0
end
redis.call('SADD', KEYS[1], unpack(ARGV, 2))
if redis.call('SCARD', KEYS[1]) > tonumber(ARGV[1]) then
  local m = redis.call('SMEMBERS', KEYS[1])
  for i = 1, #m, 1000 do
    redis.call('PFADD', KEYS[2], unpack(m, i, math.min(i + 999, #m)))
  end
  redis.call('DEL', KEYS[1])
end
return 1
"""
_COUNT = """
if redis.call('EXISTS', KEYS[2]) == 1 then return redis.call('PFCOUNT', KEYS[2]) end
return redis.call('SCARD', KEYS[1])
"""


def _keys(name: str) -> list[str]:
    tag = hashlib.blake2b(name.encode("utf-8", "replace"), digest_size=12).hexdigest()
    return [f"sakimori:d:{{{tag}}}:s", f"sakimori:d:{{{tag}}}:h"]


class SharedCounters:
    """The Redis side: queued adds, one pipeline per flush, counts by name."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._add = client.register_script(_ADD)
        self._count = client.register_script(_COUNT)
        self._queued: dict[str, set[str]] = {}
        self.round_trips = 0
        self.errors = 0  # Redis failures: counts fell back to this consumer's own

    def counter(self, name: str, local: DistinctCount | None = None) -> SharedDistinct:
        return SharedDistinct(self, name, local)

    def queue(self, name: str, item: str) -> None:
        self._queued.setdefault(name, set()).add(item)

    def flush(self) -> bool:
        """Send every queued add (idempotent in Redis); on a Redis failure keep them queued
        for the next flush and return False."""
        if not self._queued:
            return True
        try:
            self._send()
        except RedisError as exc:
            self.errors += 1
            log.error("consumer.shared: prevalence not shared this time: %s", exc)
            return False
        self._queued.clear()
        return True

    def _send(self) -> None:
        pipe = self.client.pipeline(transaction=False)
        for name, items in self._queued.items():
            members = sorted(items)
            for i in range(0, len(members), CHUNK):
                self._add(keys=_keys(name), args=[EXACT_MAX, *members[i:i + CHUNK]],
                          client=pipe)
        pipe.execute()
        self.round_trips += 1

    def count(self, name: str) -> int | None:
        """The count over every consumer; None when Redis cannot be reached."""
        if not self.flush():
            return None
        self.round_trips += 1
        try:
            return int(self._count(keys=_keys(name)))
        except RedisError as exc:
            self.errors += 1
            log.error("consumer.shared: prevalence not shared this time: %s", exc)
            return None


class SharedDistinct:
    """A :class:`DistinctCount` whose ``len()`` counts what every consumer added."""

    __slots__ = ("hub", "local", "name")

    def __init__(self, hub: SharedCounters, name: str, local: DistinctCount | None = None
                 ) -> None:
        self.hub = hub
        self.name = name
        self.local = local if local is not None else DistinctCount()
        if self.local.items:  # restored from a snapshot: make sure Redis has them
            for item in self.local.items:
                hub.queue(name, item)

    @property
    def exact(self) -> bool:
        return self.local.exact

    def add(self, item: str) -> None:
        if item not in self.local:
            self.hub.queue(self.name, item)
        self.local.add(item)

    def __contains__(self, item: str) -> bool:
        return item in self.local

    def __len__(self) -> int:
        """What every consumer added; this consumer's own count while Redis is down."""
        shared = self.hub.count(self.name)
        return len(self.local) if shared is None else shared

    def update(self, other: DistinctCount | SharedDistinct) -> None:
        items: Iterable[str] = (other.local if isinstance(other, SharedDistinct)
                                else other).items or ()
        for it in items:
            self.add(it)

    def to_state(self) -> list[str] | dict[str, Any]:
        return self.local.to_state()
