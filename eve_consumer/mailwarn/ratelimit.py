"""Rate limit of warning mails: at most N per minute overall and M per recipient per minute.

Sliding 60-second windows kept in memory (a restart starts them empty). A warning over either
limit is not dropped: it stays pending in the outbox and is sent when the windows allow, and
the delay is counted (``rate_limited`` in the sender's stats). Memory is bounded: timestamps
older than the window are pruned, so at most ``per_minute`` entries overall and
``per_recipient`` per recipient seen in the last minute are kept.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

WINDOW_S = 60.0


class RateLimiter:
    """``allow`` / ``record`` around each sent warning (times from the sender's clock)."""

    def __init__(self, per_minute: int, per_recipient: int) -> None:
        self.per_minute = per_minute
        self.per_recipient = per_recipient
        self._all: deque[float] = deque()
        self._by_rcpt: dict[str, deque[float]] = {}

    def _prune(self, now: float) -> None:
        edge = now - WINDOW_S
        while self._all and self._all[0] <= edge:
            self._all.popleft()
        for rcpt in list(self._by_rcpt):
            times = self._by_rcpt[rcpt]
            while times and times[0] <= edge:
                times.popleft()
            if not times:
                del self._by_rcpt[rcpt]

    def allow(self, recipients: Iterable[str], now: float) -> bool:
        """True when one more warning to *recipients* stays within both limits."""
        self._prune(now)
        if len(self._all) >= self.per_minute:
            return False
        return all(len(self._by_rcpt.get(r, ())) < self.per_recipient for r in recipients)

    def record(self, recipients: Iterable[str], now: float) -> None:
        self._all.append(now)
        for rcpt in dict.fromkeys(recipients):
            self._by_rcpt.setdefault(rcpt, deque()).append(now)

    def next_free(self, now: float) -> float:
        """Seconds until the oldest entry of a full window leaves it (0 when none is full)."""
        self._prune(now)
        full = [w[0] for w in self._by_rcpt.values() if len(w) >= self.per_recipient]
        if len(self._all) >= self.per_minute:
            full.append(self._all[0])
        return max(0.0, min(full) + WINDOW_S - now) if full else 0.0
