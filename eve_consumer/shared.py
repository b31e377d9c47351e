"""State shared by consumers on different machines through one Redis (``consumer.shared``).

- **Prevalence**: the beacon handler's distinct-host counts (:mod:`sakimori.distinct_shared`,
  plugged in through :meth:`eve_consumer.context.Context.distinct`).
- **Findings**: after every evaluation each consumer replaces its own hash
  ``sakimori:findings:<consumer id>`` (field ``host|detection`` → the finding's JSON) and its
  ``sakimori:stats:<consumer id>`` in one MULTI/EXEC, and registers its id in
  ``sakimori:consumers``.
- **Mail warnings** (the kill chain's recipients): the lines of the consumer's
  ``mail_warnings.jsonl`` go into the hash ``sakimori:mail_warnings`` (field: a digest of the
  line, so republishing after a restart changes nothing).

:func:`merged_report` reads all of it back for ``sakimori report``: the findings of every
consumer (for one host and detection reported by two consumers, the more confident one),
correlated into rows exactly as one consumer does; the stats of every consumer side by side.
The consumer id is ``hostname:state_dir`` — stable across restarts of the same service.
"""

from __future__ import annotations

import hashlib
import logging
import socket
from pathlib import Path
from typing import Any

import orjson

from eve_consumer.correlate import HostReport, correlate
from eve_consumer.model import Finding
from eve_consumer.outputs import Output, Report
from sakimori.config import Config
from sakimori.distinct_shared import SharedCounters
from sakimori.errors import SakimoriError
from sakimori.redisconn import connect, redact

log = logging.getLogger("sakimori.shared")
CONSUMERS = "sakimori:consumers"
WARNINGS = "sakimori:mail_warnings"
WARNINGS_FILE = "mail_warnings.jsonl"


def consumer_id(state_dir: Path) -> str:
    return f"{socket.gethostname()}:{Path(state_dir).resolve()}"


def open_shared(cfg: Config) -> Any:
    """A checked client for ``consumer.shared`` (SakimoriError when unreachable)."""
    assert cfg.redis is not None
    return connect(cfg.consumer.shared, cfg.redis, "consumer.shared")


class SharedOutput(Output):
    """Publishes each evaluation's findings, stats and mail warnings to the shared Redis."""

    name = "shared"

    def __init__(self, cfg: Config, client: Any, cid: str,
                 counters: SharedCounters | None = None) -> None:
        super().__init__(cfg, None, True)
        self.client = client
        self.cid = cid
        self.counters = counters
        self._warn_offset = 0

    def write(self, report: Report) -> None:
        """Publish; a Redis failure is one logged line and ``stats.shared.error`` (the next
        evaluation publishes everything again)."""
        import redis

        report.stats["shared"] = {"url": redact(self.cfg.consumer.shared), "consumer": self.cid,
                                  "prevalence_errors": self.counters.errors
                                  if self.counters is not None else 0}
        try:
            self._publish(report)
        except redis.RedisError as exc:
            report.stats["shared"]["error"] = str(exc)[:200]
            log.error("consumer.shared %s: findings not published: %s",
                      redact(self.cfg.consumer.shared), exc)

    def _publish(self, report: Report) -> None:
        offset = self._warn_offset
        fields = {f"{f.host}|{f.detection}": orjson.dumps(f.as_dict())
                  for f in report.findings}
        stats = orjson.dumps(report.stats, option=orjson.OPT_NON_STR_KEYS)
        pipe = self.client.pipeline(transaction=True)
        pipe.sadd(CONSUMERS, self.cid)
        pipe.delete(f"sakimori:findings:{self.cid}")
        if fields:
            pipe.hset(f"sakimori:findings:{self.cid}", mapping=fields)
        pipe.set(f"sakimori:stats:{self.cid}", stats)
        for line in self._new_warnings(report.out_dir):
            pipe.hset(WARNINGS, hashlib.sha256(line).hexdigest()[:24], line)
        try:
            pipe.execute()
        except BaseException:
            self._warn_offset = offset  # those warnings go again next time
            raise

    def _new_warnings(self, out_dir: Path) -> list[bytes]:
        path = Path(out_dir) / WARNINGS_FILE
        try:
            with path.open("rb") as fh:
                fh.seek(self._warn_offset)
                data = fh.read()
        except OSError:
            return []
        end = data.rfind(b"\n") + 1
        self._warn_offset += end
        return [ln for ln in data[:end].split(b"\n") if ln.strip()]


def attach(cfg: Config, ctx: Any, state_dir: Path) -> SharedOutput | None:
    """With ``consumer.shared``: shared counters in *ctx* (before the handlers are built) and
    the output that publishes each evaluation; None without it."""
    if not cfg.consumer.shared:
        return None
    client = open_shared(cfg)
    ctx.shared = SharedCounters(client)
    return SharedOutput(cfg, client, consumer_id(state_dir), ctx.shared)


def merged_report(cfg: Config, out_dir: Path) -> Report:
    """Every consumer's findings, correlated into one report (not written yet)."""
    if not cfg.consumer.shared:
        raise SakimoriError(f"{cfg.source}: consumer.shared is not set: nothing to merge")
    client = open_shared(cfg)
    best: dict[tuple[str, str], Finding] = {}
    per_consumer: dict[str, Any] = {}
    for raw_id in sorted(client.smembers(CONSUMERS)):
        cid = raw_id.decode("utf-8", "replace")
        n = 0
        for blob in client.hgetall(f"sakimori:findings:{cid}").values():
            f = Finding.from_dict(orjson.loads(blob))
            n += 1
            old = best.get(f.key)
            if old is None or (f.confidence, f.last_seen) > (old.confidence, old.last_seen):
                best[f.key] = f
        stats = client.get(f"sakimori:stats:{cid}")
        per_consumer[cid] = {"findings": n,
                             "stats": orjson.loads(stats) if stats else None}
    findings = sorted(best.values(), key=lambda f: f.key)
    rows: list[HostReport] = correlate(findings, cfg.is_home)
    warnings = [orjson.loads(v) for v in client.hgetall(WARNINGS).values()]
    stats = {"shared": redact(cfg.consumer.shared), "consumers": per_consumer,
             "hosts_reported": len(rows), "findings": len(findings),
             "mail_warnings": len(warnings)}
    _write_warnings(out_dir, warnings)
    return Report(Path(out_dir), rows, findings, stats, follow=False)


def _write_warnings(out_dir: Path, warnings: list[dict[str, Any]]) -> None:
    from eve_consumer.outputs import atomic_write

    warnings.sort(key=lambda w: (str(w.get("time") or w.get("recorded") or ""),
                                 orjson.dumps(w, option=orjson.OPT_SORT_KEYS)))
    atomic_write(Path(out_dir) / WARNINGS_FILE,
                 b"".join(orjson.dumps(w) + b"\n" for w in warnings))
