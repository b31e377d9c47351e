"""``consume --workers N``: one EVE file, N processes sharded by internal host, one report.

The calling process is worker 0 and keeps everything that is not per host: the state store,
the outputs (hosts.csv, findings.jsonl, stats.json, alert mail), the spoofed-mail warnings
(``smtp`` events go to worker 0 alone) and the unwanted/bad lines. Workers 1 … N−1 are
forked *before* worker 0 builds its :class:`~eve_consumer.pipeline.Consumer` (so they do not
inherit its SQLite store), each with its own consumer over a scratch state directory. Every
worker reads the whole file and keeps the lines of its shard, judged on the raw bytes
(:mod:`eve_consumer.shard`). Then:

1. each worker sends worker 0 its beacon **prevalence** counts — destination → internal
   hosts, and the internal hosts seen (:class:`sakimori.distinct.DistinctCount`, whose
   union is exact: sets, or HyperLogLog registers by maximum);
2. worker 0 merges them into its own and sends the union back, so every worker judges
   prevalence over all hosts, as one worker would;
3. each worker computes its findings for its own hosts and sends them, with its counters,
   notes and decode counts; worker 0 correlates all findings and writes the report.

Findings are per internal host and a worker sees every event that involves one of its
hosts, so hosts.csv and findings.jsonl are those of one worker (findings ordered by
detection, then host). Counted once in stats.json: lines and decode counts (a line shared by
two workers is counted by its first owner). Handler counters are summed; an event between
internal hosts of two shards is handled by both, so its handler counters can count twice.
Follow mode runs one worker (``--follow --workers N`` is refused).
"""

from __future__ import annotations

import multiprocessing
import tempfile
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from eve_consumer.context import GAUGES
from eve_consumer.handlers.beacon import MAX_PAIRS
from sakimori.config import Config
from sakimori.errors import SakimoriError

PREVALENCE = "prevalence"
DONE = "done"
ERROR = "error"


class WorkerError(SakimoriError):
    """A worker process failed (one line, exit code 1)."""


def _beacon(consumer: Any) -> Any:
    return next((h for h in consumer.handlers if h.name == "beacon"), None)


def prevalence(consumer: Any) -> tuple[dict[str, Any], Any] | None:
    """(destination → hosts, internal hosts seen) of the consumer's beacon handler."""
    beacon = _beacon(consumer)
    return None if beacon is None else (beacon.dest_hosts, beacon.hosts)


def merge_prevalence(consumer: Any, other: tuple[dict[str, Any], Any] | None) -> None:
    """Add another worker's prevalence counts to *consumer*'s beacon handler."""
    beacon = _beacon(consumer)
    if beacon is None or other is None:
        return
    dest_hosts, hosts = other
    beacon.hosts.update(hosts)
    mine = beacon.dest_hosts
    for key, count in dest_hosts.items():
        have = mine.get(key)
        if have is not None:
            have.update(count)
        elif len(mine) < MAX_PAIRS:
            mine[key] = count


def _child(conn: Connection, cfg: Config, baselines: dict[str, Any] | None, eve: Path,
           index: int, count: int, fw_logs: list[Path]) -> None:
    from eve_consumer.pipeline import Consumer

    try:
        with tempfile.TemporaryDirectory(prefix=f"sakimori-worker{index}-") as tmp, \
                Consumer(cfg, baselines, Path(tmp) / "out", Path(tmp) / "state",
                         mail=False) as consumer:
            consumer.set_shard(index, count)
            for path in fw_logs:
                consumer.add_fw_log(path)
            consumer.read(eve)
            conn.send((PREVALENCE, prevalence(consumer)))
            merged = conn.recv()
            beacon = _beacon(consumer)
            if beacon is not None and merged is not None:
                beacon.dest_hosts, beacon.hosts = merged
            findings = consumer.findings()
            conn.send((DONE, {
                "findings": findings, "counters": dict(consumer.ctx.counters),
                "notes": list(consumer.ctx.notes), "decode": consumer.decoder.stats.as_dict(),
                "latest_ts": consumer.ctx.latest_ts, "input": consumer.input_stats}))
    except BaseException as exc:  # the parent reports it as one line
        last = traceback.extract_tb(exc.__traceback__)[-1:] or [None]
        where = f" ({Path(last[0].filename).name}:{last[0].lineno})" if last[0] else ""
        conn.send((ERROR, f"worker {index}: {type(exc).__name__}: {exc}{where}"))
    finally:
        conn.close()


class Workers:
    """Workers 1 … count−1, forked at construction; the caller is worker 0."""

    def __init__(self, cfg: Config, baselines: dict[str, Any] | None, eve: Path, count: int,
                 fw_logs: list[Path] | None = None) -> None:
        self.count = count
        self.conns: list[Connection] = []
        self.procs: list[Any] = []
        ctx = multiprocessing.get_context("fork")
        for index in range(1, count):
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(target=_child, name=f"sakimori-worker{index}", daemon=True,
                               args=(theirs, cfg, baselines, Path(eve), index, count,
                                     list(fw_logs or [])))
            proc.start()
            theirs.close()
            self.conns.append(mine)
            self.procs.append(proc)

    def _recv(self, conn: Connection, expect: str) -> Any:
        try:
            kind, payload = conn.recv()
        except EOFError:
            raise WorkerError("a consume worker ended without a result") from None
        if kind == ERROR:
            raise WorkerError(str(payload))
        if kind != expect:
            raise WorkerError(f"a consume worker sent {kind!r}, expected {expect!r}")
        return payload

    def finish(self, consumer: Any) -> None:
        """After worker 0 (*consumer*, sharded 0 of count) read the file: merge prevalence,
        collect the other workers' findings and counts into *consumer*."""
        try:
            for conn in self.conns:
                merge_prevalence(consumer, self._recv(conn, PREVALENCE))
            merged = prevalence(consumer)
            for conn in self.conns:
                conn.send(merged)
            for conn in self.conns:
                self._add(consumer, self._recv(conn, DONE))
        finally:
            self.close()

    @staticmethod
    def _add(consumer: Any, res: dict[str, Any]) -> None:
        consumer.extra_findings.extend(res["findings"])
        counters = res["counters"]
        consumer.ctx.counters.update({k: n for k, n in counters.items() if k not in GAUGES})
        consumer.extra_gauges.update({k: n for k, n in counters.items() if k in GAUGES})
        for note in res["notes"]:
            consumer.ctx.notes.append(note)  # bounded like worker 0's own
        consumer.decoder.stats.restore(res["decode"])
        consumer.ctx.latest_ts = max(consumer.ctx.latest_ts, res["latest_ts"])

    def close(self, wait_s: float = 30.0) -> None:
        """Close the pipes and reap the workers (killed if still running after *wait_s*;
        ``close(0)`` when worker 0 failed)."""
        for conn in self.conns:
            conn.close()
        for proc in self.procs:
            proc.join(timeout=wait_s)
            if proc.is_alive():
                proc.kill()
                proc.join()
        self.conns, self.procs = [], []


def run_sharded(consumer: Any, workers: Workers, eve: Path) -> Any:
    """Worker 0's part of a one-shot run: its shard, the merge, the evaluation."""
    consumer.set_shard(0, workers.count)
    consumer.read(eve)
    workers.finish(consumer)
    consumer.input_stats["workers"] = workers.count
    return consumer.evaluate(follow=False)
