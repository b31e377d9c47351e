"""Sharding by internal host for ``consume --workers N`` (see :mod:`eve_consumer.workers`).

Every worker reads the whole EVE file and keeps only the lines of its shard, judged on the
raw bytes before any parse. A host belongs to shard ``crc32(address) % N`` (the same in every
process, unlike Python's salted ``hash``). A line's owners:

- ``flow``, ``http``, ``tls``, ``alert``, ``drop`` events: the shards of their internal sides
  (``src_ip``/``dest_ip``). An event between two internal hosts of different shards goes to
  both — each worker sees every event that involves any of its hosts, so a host's findings
  are computed in one worker from exactly the events one worker would see. An event with no
  internal side (skipped by the prefilter anyway) and one whose address holds a JSON escape
  go to worker 0 / to every worker respectively.
- ``dns`` events go to every worker (the IP → name map serves every host's whitelist).
- Everything else — ``smtp`` (spoofed-mail warnings are per mail, not per host), unwanted
  event types, lines without a readable event type (bad lines) — goes to worker 0 alone.

Each line is *counted* once: by its first owner (:data:`PRIMARY`); the others decode it with
scratch statistics (:data:`SECONDARY`), so ``stats.json``'s decode counts summed over the
workers equal one worker's.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable

from eve_consumer.prefilter import _raw  # the raw bytes of a string field

NOT_MINE = 0
PRIMARY = 1
SECONDARY = 2
_ET = b'"event_type":"'
_SRC = b'"src_ip":"'
_DST = b'"dest_ip":"'
_BY_HOST = frozenset({b"flow", b"http", b"tls", b"alert", b"drop"})
# event_type, src_ip and dest_ip as Suricata writes them (adjacent, compact); other layouts
# take the general path (each field found on its own).
_COMPACT = re.compile(rb'"event_type":"([a-z_]+)","src_ip":"([^"]*)","src_port":\d+,'
                      rb'"dest_ip":"([^"]*)"').search


def shard_of(host: str | bytes, n: int) -> int:
    """The shard (0 … n−1) of an internal host's address."""
    raw = host.encode("utf-8", "replace") if isinstance(host, str) else host
    return zlib.crc32(raw) % n


class ShardFilter:
    """``owner(line)`` for worker *index* of *count*: NOT_MINE, PRIMARY or SECONDARY."""

    def __init__(self, index: int, count: int, home: Callable[[str], bool]) -> None:
        if not 0 <= index < count:
            raise ValueError(f"shard {index} of {count}")
        self.index, self.count = index, count
        self._home = home
        self._shard: dict[bytes, int] = {}  # address bytes → shard, -1 when not internal
        self._pairs: dict[tuple[bytes, bytes], int] = {}  # (src, dst) → verdict
        self._first = PRIMARY if index == 0 else NOT_MINE  # lines for worker 0 alone
        self._all = PRIMARY if index == 0 else SECONDARY  # lines for every worker

    def owns(self, host: str) -> bool:
        """Is the internal *host* one of this worker's?"""
        return shard_of(host, self.count) == self.index

    def _of(self, ip: bytes) -> int:
        known = self._shard.get(ip)
        if known is None:
            if len(self._shard) > 200_000:
                self._shard.clear()
            text = ip.decode("utf-8", "replace")
            known = self._shard[ip] = shard_of(ip, self.count) if self._home(text) else -1
        return known

    def owner(self, line: bytes) -> int:
        m = _COMPACT(line)  # Suricata's layout: one C call for the three fields
        if m is not None:
            kind, src, dst = m.group(1, 2, 3)
            if kind not in _BY_HOST:
                return self._all if kind == b"dns" else self._first
            known = self._pairs.get((src, dst))
            if known is None:
                if len(self._pairs) > 200_000:
                    self._pairs.clear()
                known = self._pairs[(src, dst)] = self._owner(src, dst)
            return known
        return self._general(line)

    def _general(self, line: bytes) -> int:
        i = line.find(_ET)
        if i < 0:
            return self._first
        i += 14
        kind = line[i:line.find(b'"', i)]
        if kind == b"dns":
            return self._all
        if kind not in _BY_HOST:
            return self._first
        src, dst = _raw(line, _SRC), _raw(line, _DST)
        if src is None or dst is None:
            return self._first
        return self._owner(src, dst)

    def _owner(self, src: bytes, dst: bytes) -> int:
        """The verdict for an event sharded by host between *src* and *dst* (the raw bytes
        of the addresses)."""
        if b"\\" in src or b"\\" in dst:
            return self._all  # decoded address unknown from the bytes: every worker judges
        a, b = self._of(src), self._of(dst)
        if a < 0:
            a, b = b, -1
        if a < 0:
            return self._first
        me = self.index
        if a == me:
            return PRIMARY
        return SECONDARY if b == me else NOT_MINE
