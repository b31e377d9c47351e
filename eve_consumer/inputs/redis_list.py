"""Read Suricata's ``redis`` eve-log output, at least once and in order (the ``redis`` input).

Suricata 7.0.10 pushes one EVE JSON event per list element: ``mode: list`` (= ``lpush``, its
default) puts the newest at the head, so the oldest is at the tail; ``mode: rpush`` the other
way round. Per key K this input keeps a *processing list* ``{K}:sakimori:processing`` (same
Redis Cluster slot as K thanks to the hash tag) and a counter ``{K}:sakimori:acked``:

- **Take**: a Lua script moves up to ``max_lines`` of the oldest events from K to the head of
  the processing list (LMOVE, atomic) and returns them oldest first; with nothing to take in
  follow mode it blocks on BLMOVE for ``block_s``. The processing list therefore always holds,
  from its tail, the events handed out and not yet acknowledged, oldest at the tail.
- **Checkpoint**: ``checkpoint()`` names round *seq* and the number *n* of events handed out
  since the last acknowledgement. The consumer stores it in the same SQLite transaction as the
  handler snapshots (:meth:`eve_consumer.store.StateStore.commit`; fields reused: ``path`` =
  ``redis:K``, ``inode`` = seq, ``offset`` = n, ``lineno`` = events taken in total).
- **Acknowledge** (after that commit): one MULTI/EXEC trims those *n* events from the tail of
  the processing list and sets ``acked`` to *seq*.
- **Start**: if the store has round *seq* but Redis has ``acked`` < *seq*, the process died
  between commit and acknowledgement: the *n* oldest events of the processing list are already
  in the state, so they are trimmed now (not counted twice). Everything else in the processing
  list was taken but never committed: it is handed out again first, oldest first.

So ``kill -9`` at any moment loses no event and counts none twice. One consumer per key (the
key is locked by ``{K}:sakimori:owner`` with a TTL; the same state directory takes over its own
lock at once after a crash). Suricata itself drops events while Redis is unreachable
(platform.md): the delivery guarantee starts when an event is in the list.
"""

from __future__ import annotations

import logging
import socket
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from eve_consumer.store import Checkpoint
from sakimori.errors import SakimoriError, UsageError
from sakimori.eve.lines import DEFAULT_MAX_LINES, Batch

log = logging.getLogger("sakimori.redis")
LOCK_TTL_S = 60
LOCK_REFRESH_S = 10.0

# KEYS: source, processing. ARGV: n, source side (RIGHT for list/lpush, LEFT for rpush).
_TAKE = """
local out = {}
for i = 1, tonumber(ARGV[1]) do
  local v = redis.call('LMOVE', KEYS[1], KEYS[2], ARGV[2], 'LEFT')
  if not v then break end
  out[#out + 1] = v
end
return out
"""


@dataclass
class _Key:
    """One Suricata key: where to take from, and what was handed out since the last ack."""

    name: str
    side: str      # RIGHT: mode list/lpush (oldest at the tail); LEFT: rpush
    seq: int = 0   # last committed round
    pending: int = 0  # events in the processing list handed out since the last ack
    taken: int = 0    # events handed out in total (the "line number")
    committed_seq: int | None = None  # round of the checkpoint given out, until acked

    @property
    def proc(self) -> str:
        return "{" + self.name + "}:sakimori:processing"

    @property
    def acked(self) -> str:
        return "{" + self.name + "}:sakimori:acked"

    @property
    def owner(self) -> str:
        return "{" + self.name + "}:sakimori:owner"

    @property
    def checkpoint_name(self) -> str:
        return f"redis:{self.name}"


def parse_keys(specs: list[str], default_mode: str) -> list[tuple[str, str]]:
    """``KEY`` or ``KEY#list`` / ``KEY#lpush`` / ``KEY#rpush`` → (key, mode)."""
    out: list[tuple[str, str]] = []
    for spec in specs:
        key, sep, mode = spec.rpartition("#")
        if not sep:
            key, mode = spec, default_mode
        mode = "list" if mode == "lpush" else mode
        if not key or mode not in ("list", "rpush"):
            raise UsageError(f"--redis-key {spec!r}: expected KEY or KEY#list / KEY#rpush")
        if "{" in key or "}" in key:
            raise UsageError(f"--redis-key {spec!r}: braces are reserved (cluster hash tags)")
        if any(k == key for k, _ in out):
            raise UsageError(f"--redis-key {key!r} given twice")
        out.append((key, mode))
    return out


class RedisListInput:
    """Hand out EVE events from Redis lists in batches; see the module docstring."""

    name = "redis"

    def __init__(self, client: Any, keys: list[tuple[str, str]], source: str,
                 owner: str, max_lines: int = DEFAULT_MAX_LINES, block_s: float = 1.0) -> None:
        self.client = client
        self.source = source  # the redacted URL, for messages
        self.owner = f"{socket.gethostname()}:{owner}"
        self.max_lines = max_lines
        self.block_s = block_s
        self.keys = [_Key(k, "RIGHT" if mode == "list" else "LEFT") for k, mode in keys]
        self.stats: Counter[str] = Counter()
        self._take = client.register_script(_TAKE)
        # key -> events of its processing list (taken before a restart) not yet handed out
        self._replay: dict[str, int] = {}
        self._next = 0
        self._locked_at = 0.0

    # --- start ----------------------------------------------------------------------------
    def resume(self, checkpoints: dict[str, Checkpoint | None]) -> None:
        """Lock the keys; finish an interrupted acknowledgement; queue the unacknowledged."""
        self._lock(initial=True)
        for k in self.keys:
            cp = checkpoints.get(k.checkpoint_name)
            acked = int(self.client.get(k.acked) or 0)
            left = self.client.llen(k.proc)
            self._check_history(k, cp, acked, left)
            if cp is not None:
                k.seq, k.taken = cp.inode, cp.lineno
                if acked < cp.inode:  # died between commit and ack: trim the committed ones
                    self._trim(k, cp.offset, cp.inode)
                    self.stats["acks_finished_on_start"] += 1
            k.seq = max(k.seq, acked)
            left = self.client.llen(k.proc)
            if left:
                self.stats["redelivered"] += left
                self._replay[k.name] = left

    def _check_history(self, k: _Key, cp: Checkpoint | None, acked: int, left: int) -> None:
        """Say so when the state directory and Redis disagree about what was consumed.

        The guarantee above holds for one state directory and one Redis that keep their data
        together. Three starts break that pairing; each is logged (one line, WARNING) and
        counted in ``stats.json`` ``input`` — the run goes on, because refusing would blind
        the sensor over a bookkeeping mismatch:

        - ``history_without_state``: no checkpoint for K here, but Redis has acknowledged
          rounds (another or a deleted state directory consumed K). What that state counted
          is not in this one; the processing list it left is read again (it may already be
          in that state's report).
        - ``state_behind_redis``: the checkpoint's round is older than Redis's ``acked``
          (the state was restored from a backup, or another state consumed K meanwhile): the
          events of the rounds in between were trimmed from Redis and are in neither.
        - ``redis_behind_state``: Redis's ``acked`` is more than one round behind the
          checkpoint (Redis restarted without its data, or from an older snapshot): what its
          processing list holds may already be counted.
        """
        if cp is None:
            if acked > 0:
                self.stats["history_without_state"] += 1
                log.warning("%s key %r: this state directory has no record of the key, but "
                            "Redis has acknowledged %d round(s) of it by an earlier consumer "
                            "state; its findings are not in this state, and the %d event(s) "
                            "left in %s are read again", self.source, k.name, acked, left,
                            k.proc)
            return
        if acked > cp.inode:
            self.stats["state_behind_redis"] += acked - cp.inode
            log.warning("%s key %r: the state is at round %d but Redis acknowledged round %d; "
                        "the events of the %d round(s) in between are in neither (state "
                        "restored from a backup, or the key consumed by another state)",
                        self.source, k.name, cp.inode, acked, acked - cp.inode)
        elif acked < cp.inode - 1:
            self.stats["redis_behind_state"] += cp.inode - 1 - acked
            log.warning("%s key %r: the state is at round %d but Redis acknowledged only "
                        "round %d (Redis restarted without its data or from an older "
                        "snapshot?); the %d event(s) in %s may already be counted",
                        self.source, k.name, cp.inode, acked, left, k.proc)

    def _lock(self, initial: bool = False) -> None:
        now = time.monotonic()
        if not initial and now - self._locked_at < LOCK_REFRESH_S:
            return
        for k in self.keys:
            holder = self.client.set(k.owner, self.owner, ex=LOCK_TTL_S, nx=True, get=True)
            if holder is not None and holder.decode("utf-8", "replace") != self.owner:
                raise SakimoriError(f"{self.source} key {k.name!r} is being consumed by "
                                    f"{holder.decode('utf-8', 'replace')!r} (one consumer per "
                                    f"key; the lock expires {LOCK_TTL_S} s after it stops)")
            self.client.expire(k.owner, LOCK_TTL_S)
        self._locked_at = now

    # --- reading --------------------------------------------------------------------------
    def read_batch(self, block: bool = False) -> Batch:
        """The next events of one key (round robin); empty when every key is empty (after
        blocking up to ``block_s`` on one key when *block*)."""
        self._lock()
        for name, left in list(self._replay.items()):
            return self._replay_batch(next(k for k in self.keys if k.name == name), left)
        n = len(self.keys)
        for i in range(n):
            k = self.keys[(self._next + i) % n]
            lines = self._take(keys=[k.name, k.proc], args=[self.max_lines, k.side])
            if lines:
                self._next = (self._next + i + 1) % n
                return self._batch(k, lines)
        if block:
            k = self.keys[self._next]
            self._next = (self._next + 1) % n
            v = self.client.blmove(k.name, k.proc, self.block_s, k.side, "LEFT")
            if v is not None:
                return self._batch(k, [v])
        return Batch(self.source)

    def _replay_batch(self, k: _Key, left: int) -> Batch:
        """The next oldest events of the processing list taken before a restart, at most
        ``max_lines``. They sit at its tail, just above the ``pending`` ones handed out since
        the last acknowledgement (an acknowledgement trims exactly those), and nothing new
        is taken until all are handed out."""
        n = min(left, self.max_lines)
        lines = self.client.lrange(k.proc, -(k.pending + n), -(k.pending + 1))
        lines.reverse()  # oldest first
        if left - n > 0 and lines:
            self._replay[k.name] = left - n
        else:
            del self._replay[k.name]
        return self._batch(k, lines)

    def _batch(self, k: _Key, lines: list[bytes]) -> Batch:
        k.pending += len(lines)
        first = k.taken + 1
        k.taken += len(lines)
        self.stats["events"] += len(lines)
        return Batch(f"{self.source} key {k.name}", list(lines), first)

    # --- checkpoint / acknowledgement -----------------------------------------------------
    def checkpoints(self) -> dict[str, Checkpoint]:
        """The positions to commit with the state: one round per key with events since the
        last acknowledgement (keys without are left as they are)."""
        out = {}
        for k in self.keys:
            if k.pending:
                k.committed_seq = k.seq + 1
                out[k.checkpoint_name] = Checkpoint(k.checkpoint_name, k.committed_seq,
                                                    k.pending, k.taken)
        return out

    def acknowledge(self) -> None:
        """After the checkpoints are committed: drop the committed events from Redis."""
        for k in self.keys:
            if k.committed_seq is not None:
                self._trim(k, k.pending, k.committed_seq)
                k.seq, k.pending, k.committed_seq = k.committed_seq, 0, None
                self.stats["acks"] += 1

    def _trim(self, k: _Key, n: int, seq: int) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.ltrim(k.proc, 0, -(n + 1))
        pipe.set(k.acked, seq)
        pipe.execute()

    def empty(self) -> bool:
        """No event left in any key (nor queued for replay)."""
        return not self._replay and all(self.client.llen(k.name) == 0 for k in self.keys)

    def close(self) -> None:
        """Release the key locks (a crash leaves them to expire, or to our restart)."""
        try:
            for k in self.keys:
                if self.client.get(k.owner) == self.owner.encode():
                    self.client.delete(k.owner)
        except Exception as exc:
            log.warning("%s: could not release the key locks: %s", self.source, exc)
