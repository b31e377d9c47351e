"""``consume --workers N``: one EVE file, N processes sharded by internal host, one report.

The calling process is worker 0 and keeps everything that is not per host: the state store,
the outputs (hosts.csv, findings.jsonl, stats.json, alert mail), the spoofed-mail warnings
(``smtp`` events go to worker 0 alone) and the unwanted/bad lines. Workers 1 … N−1 are
forked *before* worker 0 builds its :class:`~eve_consumer.pipeline.Consumer` (so they do not
inherit its SQLite store), each with its own consumer over a scratch state directory.

**One reader.** Worker 0 is also the splitter (by default): it alone reads the file
(:class:`SplitReader`: the batches and line numbers of the consumer's own
:class:`~sakimori.eve.file.FileInput`) and gives each line a one-byte route code
(:class:`eve_consumer.shard.Router`). With the compiled router (:mod:`eve_consumer._route`)
the file is memory-mapped and scanned — each line found with ``memchr`` and routed while its
bytes are in the cache, no line object made (``scan_route``); a batch holding a line longer
than ``consumer.max_line_bytes`` is read by a ``FileInput`` resumed where the scan stands.
Without it: the ``FileInput`` and one regex search per line. Per batch it sends the other
workers the codes, the lines' lengths and the batch's file offset — a few bytes per line;
every worker (worker 0 too) cuts its own lines out of the mapped file
(:func:`eve_consumer.shard.mine`; compiled: :func:`eve_consumer._route.cut`, which copies
them into one bytes object handed out as a :class:`~sakimori.eve.lines.Lines`, read in place
by the compiled batch loop as a file input's chunk) and decodes only those, with their real
line numbers; the pages read are let go as the read goes on
(:meth:`_View.release`). A batch holding a cut line is sent as lines instead. DNS lines
are worker 0's alone: it decodes its part of a batch before sending it, with the changes
its DNS lines made to the IP → name map (``Context.dns_log``), which every other worker
replays in line order (:func:`feed_with_dns`) — no DNS line is parsed twice; the first
batch goes in :data:`FIRST_PIECES` pieces (:func:`pieces`), so the others start sooner.
A worker waiting for a message folds the beacon handler's pending flow starts meanwhile
(:class:`IdleFold`), work its findings would otherwise do after the last batch.
Firewall LOG files (``--fw-log``) are read first: the splitter places their hosts, every
worker adds the records of its own hosts before the EVE, as one worker does. With
``Workers(..., splitter="process")`` the splitter is a process of its own and worker 0
receives its lines like the others (N + 1 busy processes; measured by the benchmark).

Then:

1. each worker sends worker 0 its beacon **prevalence** counts — destination → internal
   hosts, and the internal hosts seen (:class:`sakimori.distinct.DistinctCount`, whose
   union is exact: sets, or HyperLogLog registers by maximum);
2. worker 0 merges them into its own and sends the union back, so every worker judges
   prevalence over all hosts, as one worker would;
3. each worker computes its findings for its own hosts and sends them, with its counters,
   notes and decode counts — worker 0 computes its own meanwhile
   (:meth:`~eve_consumer.pipeline.Consumer.own_findings`) —; worker 0 correlates all
   findings and writes the report, then reaps the workers (they exit meanwhile).

Findings are per internal host and a worker sees every event that involves one of its
hosts, so hosts.csv and findings.jsonl are those of one worker (findings ordered by
detection, then host). Counted once in stats.json: lines and decode counts (a line shared by
two workers is counted by its primary owner; the firewall LOG lines by worker 0). Handler
counters are summed; an event between internal hosts of two workers is handled by both, so
its handler counters can count twice. Follow mode runs one worker (``--follow --workers N``
is refused).

**A file that shrinks while it is read** (``copytruncate``, an operator emptying it) ends the
run with one line naming the file (:func:`sakimori.eve.file.shrank_error`, as the one-worker
file input at its end) and no report written: touching a mapped page past the new end raises
SIGBUS, which the compiled reads turn into :class:`eve_consumer._route.MapShrank` (a guard
around each mapped read); after each mapped read the file's size is checked again (``fstat``:
bytes past the new end in the last page read as zeros, without a fault); the pure workers
read their batch with ``pread`` (a short read), not through the map. A worker killed by a
signal all the same is named with its signal.
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
import traceback
from array import array
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from typing import Any

from eve_consumer import shard as shard_mod
from eve_consumer.context import GAUGES
from eve_consumer.handlers.beacon import MAX_PAIRS
from eve_consumer.inputs.fwlog import read_fw_log
from eve_consumer.picked import Picked, PickedShrank
from eve_consumer.shard import (
    MAX_WORKERS,
    SECONDARY,
    DnsSkip,
    FlowSkip,
    Router,
    WorkerShard,
    compiled_route,
    mine,
    worker_table,
)
from sakimori import progress
from sakimori.config import Config
from sakimori.errors import InputError, SakimoriError
from sakimori.eve.decode import MAX_EXAMPLES, DecodeStats
from sakimori.eve.file import FileInput, shrank_error
from sakimori.eve.lines import DEFAULT_MAX_BYTES, Batch, Lines

START = "start"
BATCH = "batch"
END = "end"
PREVALENCE = "prevalence"
DONE = "done"
ERROR = "error"
SPLITTERS = ("worker0", "process")
PIPE_BYTES = 1 << 20
# with DNS forwarded worker 0 decodes its part of a batch before sending it: the first batch
# goes in this many pieces, so that the other workers start after a piece, not a batch
FIRST_PIECES = 4
RELEASE_BYTES = 16 << 20
# a read of the mapped file that met a page past its end (the compiled reads' SIGBUS guard)
if compiled_route is not None and not hasattr(compiled_route, "MapShrank"):
    raise ImportError("eve_consumer._route is an older build without the SIGBUS guard "
                      "(MapShrank): rebuild it (make setup)")
MAP_SHRANK: tuple[type[BaseException], ...] = \
    (compiled_route.MapShrank,) if compiled_route is not None else ()


# a worker that waits for a message folds beacon starts about this many at a time (then looks
# again for the message: a batch that arrives meanwhile waits ≈ 2 ms at most)
FOLD_STARTS = 1024


class IdleFold:
    """The beacon handler's pending flow starts folded while this worker waits for a
    message (a batch, the other workers' prevalence): work the evaluation would do at the
    end, after the last batch, when it delays the whole run."""

    def __init__(self, consumer: Any) -> None:
        self.beacon = _beacon(consumer)
        self.todo: list[Any] = []  # pairs not looked at yet in this pass
        self.folded = 0  # starts folded (tests)

    def run(self, conn: Connection) -> None:
        """Fold groups of pairs until a message is waiting on *conn* or one pass over the
        pairs found no more pending starts."""
        beacon = self.beacon
        if beacon is None:
            return
        passes = 0
        while not conn.poll():
            if not self.todo:
                if passes:
                    return
                passes += 1
                self.todo = list(beacon.pairs.values())
            group: list[Any] = []
            starts = 0
            todo = self.todo
            while todo and starts < FOLD_STARTS:
                pair = todo.pop()
                if pair.pending:
                    group.append(pair)
                    starts += len(pair.pending)
            if group:
                beacon.fold(group)
                self.folded += starts


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


def _child(conn: Connection, feed: Connection, inherited: list[Connection], cfg: Config,
           baselines: dict[str, Any] | None, eve: Path, index: int, count: int,
           fw_logs: list[Path], scratch: Path) -> None:
    from eve_consumer.pipeline import Consumer

    _close(inherited)  # others' pipe ends: so that an end of a peer is seen (EOF)
    try:
        # its scratch report and state under the parent's directory: removed by
        # Workers.close however this process ends (killed too)
        with Consumer(cfg, baselines, scratch / "out", scratch / "state",
                      mail=False) as consumer:
            shard = WorkerShard(index)
            consumer.set_shard(shard)
            _start(feed, consumer, shard, fw_logs, count_lines=False)
            _read_routed(feed, consumer, shard, eve, worker_table(index, count))
            conn.send((PREVALENCE, prevalence(consumer)))
            merged = conn.recv()
            beacon = _beacon(consumer)
            if beacon is not None and merged is not None:
                beacon.dest_hosts, beacon.hosts = merged
            findings = consumer.findings()
            conn.send((DONE, {
                "findings": findings, "counters": dict(consumer.ctx.counters),
                "notes": list(consumer.ctx.notes), "decode": consumer.decoder.stats.as_dict(),
                "latest_ts": consumer.ctx.latest_ts, "input": consumer.input_stats,
                "cpu_s": time.process_time(), "timing": consumer.feed_timing()}))
    except BaseException as exc:  # the parent reports it as one line
        conn.send((ERROR, _one_line(f"worker {index}", exc)))
    finally:
        conn.close()


def _one_line(who: str, exc: BaseException) -> str:
    if isinstance(exc, InputError):  # the input's fault, already one line naming the file
        return str(exc)
    last = traceback.extract_tb(exc.__traceback__)[-1:] or [None]
    where = f" ({Path(last[0].filename).name}:{last[0].lineno})" if last[0] else ""
    return f"{who}: {type(exc).__name__}: {exc}{where}"


def _from_splitter(feed: Connection) -> Any:
    try:
        return feed.recv()
    except EOFError:
        raise WorkerError("the consume splitter ended before the end of the file") from None


def _start(feed: Connection, consumer: Any, shard: WorkerShard, fw_logs: list[Path], *,
           count_lines: bool) -> None:
    """Wait for the splitter's START (the firewall log hosts' placement), then add this
    worker's firewall LOG records (the LOG lines counted by worker 0 alone)."""
    msg = _from_splitter(feed)
    if msg[0] == ERROR:
        raise WorkerError(str(msg[1]))
    if msg[0] != START:
        raise WorkerError(f"the splitter sent {msg[0]!r}, expected {START!r}")
    shard.hosts.update(msg[1])
    stats = consumer.decoder.stats
    if not count_lines:
        consumer.decoder.stats = DecodeStats()
    try:
        for path in fw_logs:
            consumer.add_fw_log(path)
    finally:
        consumer.decoder.stats = stats


def _read_routed(feed: Connection, consumer: Any, shard: WorkerShard, eve: Path,
                 table: bytes) -> None:
    """A worker's read: the splitter's batches until END (the final host placement)."""
    source = str(eve)
    idle = IdleFold(consumer)
    in_place = consumer.reads_in_place and shard_mod.USE_COMPILED
    with open(eve, "rb") as fh:
        view = _View(fh)
        try:
            while True:
                idle.run(feed)
                msg = _from_splitter(feed)
                if msg[0] != BATCH:
                    if msg[0] == END:
                        shard.hosts = msg[1]
                        shard.splitter_cpu_s = msg[2]
                        return
                    raise WorkerError(str(msg[1]) if msg[0] == ERROR else
                                      f"the splitter sent {msg[0]!r}")
                _, codes, first, base, lens, lines, dns_log = msg
                if lens is not None and in_place:
                    view.read_in_place(consumer, codes, table, first, base, lens, dns_log,
                                       source)
                    view.release(base)
                    continue
                if lens is None:
                    part = mine(codes, table, first, lines)
                else:
                    part = view.cut(codes, table, first, base, lens, source)
                if dns_log:
                    feed_with_dns(consumer, shard, source, part, dns_log)
                elif part is not None:
                    feed_part(consumer, shard, source, part)
                if lens is not None:
                    view.release(base)
        finally:
            view.close()


class _View:
    """The EVE file memory-mapped (when a batch first needs it), mapped again when the
    splitter read past its end (a file still growing while it is read). The pages of the
    lines already handed on are dropped from the process's resident set as the read goes on
    (:meth:`release`), so a worker's memory does not grow with the file.

    A file that shrank is :func:`~sakimori.eve.file.shrank_error`: found by the compiled
    reads' SIGBUS guard (:data:`MAP_SHRANK`, a page past the new end) or by :meth:`verify`
    after a read (a new end inside the last page read, whose bytes past it read as zeros)."""

    def __init__(self, fh: Any) -> None:
        self.fh = fh
        self.map: Any = b""
        self.released = 0  # the pages before this offset were let go (madvise)

    def size(self) -> int:
        """The file's size now."""
        return os.fstat(self.fh.fileno()).st_size

    def cover(self, end: int, source: str) -> None:
        if end <= len(self.map):
            return
        self._remap()
        if end > len(self.map):
            raise shrank_error(source, len(self.map), end)

    def verify(self, end: int, source: str) -> None:
        """After a read of the map up to byte *end*: the file still holds it (else the bytes
        read past its new end may be zeros)."""
        size = self.size()
        if size < end:
            raise shrank_error(source, size, end)

    def shorten(self, read: int, source: str) -> None:
        """Before the splitter's next read from byte *read*: a file now shorter than the map
        is mapped again at its new size when it still holds *read* (the file input reads on
        to the new end as well), else it is :func:`~sakimori.eve.file.shrank_error` (the
        file input finds it at its next read)."""
        size = self.size()
        if size >= len(self.map):
            return
        if size < read:
            raise shrank_error(source, size, read)
        self._remap()

    def shrank(self, source: str, end: int) -> InputError:
        """The error of a read up to byte *end* that met a page past the file's end (SIGBUS;
        a file that still holds the bytes: another cause, an I/O error say)."""
        size = self.size()
        if size >= end:
            return InputError(source, None, "a read of the memory-mapped file failed (SIGBUS, "
                                            "the file still holds the bytes: an I/O error?): "
                                            "rerun")
        return shrank_error(source, size, end)

    def cut(self, codes: bytes, table: bytes, first: int, base: int, lens: array,
            source: str) -> tuple[Sequence[bytes], Sequence[int], bytes] | None:
        """:func:`~eve_consumer.shard.mine` of one batch of the file (from *base* on, lengths
        *lens*): cut from the map by the compiled router (guarded, then :meth:`verify`) into
        one bytes object, handed out as a raw :class:`~sakimori.eve.lines.Lines` that the
        compiled batch loop reads in place; without it a list, from one ``pread`` of the
        batch's bytes (never through the map: a read of a page past a new end could not be
        caught in Python)."""
        compiled = shard_mod.USE_COMPILED
        end = compiled_route.batch_end(base, lens) if compiled and isinstance(lens, array) \
            and lens.typecode == "I" else base + sum(lens) + len(lens) - 1
        if not compiled:
            if codes.translate(table).count(0) == len(codes):
                return None  # none of the batch is this worker's: nothing to read
            data = os.pread(self.fh.fileno(), end - base, base)
            if len(data) < end - base:
                raise self.shrank(source, end)
            return mine(codes, table, first, None, view=data, base=0, lens=lens)
        self.cover(end, source)
        try:
            part = mine(codes, table, first, None, view=self.map, base=base, lens=lens)
        except MAP_SHRANK:
            raise self.shrank(source, end) from None
        self.verify(end, source)
        return part

    def read_in_place(self, consumer: Any, codes: bytes, table: bytes, first: int, base: int,
                      lens: array, dns_log: list[Any] | None, source: str) -> None:
        """:func:`feed_picked` of this worker's lines of one batch (from *base* on, lengths
        *lens*; the codes made this worker's mask), read in place from the map made to cover
        the batch (:class:`~eve_consumer.picked.Picked`); then the file checked to still hold
        the batch: a read past a new end (the zero-page guard's faults, or the zeros of the
        last page's tail) is :func:`~sakimori.eve.file.shrank_error`."""
        end = compiled_route.batch_end(base, lens)
        self.cover(end, source)
        part = Picked(self.map, base, lens, codes.translate(table), first)
        try:
            feed_picked(consumer, source, part, dns_log)
        except PickedShrank:
            raise self.shrank(source, end) from None
        self.verify(end, source)

    def grew(self) -> bool:
        """Map the file again if it grew since it was mapped (True: it did)."""
        if os.fstat(self.fh.fileno()).st_size <= len(self.map):
            return False
        self._remap()
        return True

    def _remap(self) -> None:
        self.close()
        size = os.fstat(self.fh.fileno()).st_size
        self.map = mmap.mmap(self.fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b""

    def release(self, upto: int) -> None:
        """The lines before byte *upto* are done with: their pages leave the resident set
        (clean pages of the page cache, mapped again on a later read — none comes),
        :data:`RELEASE_BYTES` at a time."""
        end = min(upto, len(self.map)) // mmap.PAGESIZE * mmap.PAGESIZE
        if end - self.released < RELEASE_BYTES or not isinstance(self.map, mmap.mmap):
            return
        with contextlib.suppress(OSError, AttributeError, ValueError):
            self.map.madvise(mmap.MADV_DONTNEED, self.released, end - self.released)
        self.released = end

    def close(self) -> None:
        if isinstance(self.map, mmap.mmap):
            self.map.close()
        self.map = b""


def feed_part(consumer: Any, shard: WorkerShard, source: str,
              part: tuple[Sequence[bytes], Sequence[int], bytes]) -> None:
    """Decode and dispatch a worker's lines of one batch: by the consumer's batch loop, its
    shared lines (flag SECONDARY) with scratch statistics; with the reference loop
    (``Consumer.fast`` off) by :meth:`~sakimori.eve.decode.Decoder.decode_sharded`. The
    lines: a list, or a :class:`~sakimori.eve.lines.Lines` (the compiled cut's, its numbers an
    ``array("q")``), which the compiled loop walks in place with the numbers and flags and
    the others list."""
    lines, numbers, flags = part
    decoder = consumer.decoder
    shared = SECONDARY in flags
    if shared:
        consumer.shared_lines += flags.count(SECONDARY)
        shard.flags(flags)
        decoder.shard = shard
    try:
        consumer.feed(Batch(source, lines, numbers[0]), numbers, flags if shared else None)
    finally:
        decoder.shard = None


def feed_with_dns(consumer: Any, shard: WorkerShard, source: str,
                  part: tuple[Sequence[bytes], Sequence[int], bytes] | None,
                  dns_log: list[tuple[int, Any, Any, Any]]) -> None:
    """:func:`feed_part` with worker 0's changes to the IP → name map in this batch
    (``Context.dns_log``, from DNS lines this worker is not given) replayed in line order:
    each change after this worker's lines up to its line, before the lines after it."""
    lines, numbers, flags = part if part is not None else ([], [], b"")
    i = 0
    k = 0
    while k < len(dns_log):
        at = dns_log[k][0]
        j = bisect_right(numbers, at, i)
        if j > i:
            feed_part(consumer, shard, source, (_piece(lines, i, j), numbers[i:j], flags[i:j]))
            i = j
        end = k + 1
        while end < len(dns_log) and bisect_right(numbers, dns_log[end][0], i) == i:
            end += 1  # no line of this worker between them: replayed together
        consumer.ctx.replay_dns(dns_log[k:end])
        k = end
    if i < len(lines):
        feed_part(consumer, shard, source,
                  (_piece(lines, i, len(lines)), numbers[i:], flags[i:]))


def feed_picked(consumer: Any, source: str, part: Picked,
                dns_log: list[tuple[int, Any, Any, Any]] | None) -> None:
    """Decode and dispatch a worker's lines of one batch read in place (*part*), with worker
    0's changes to the IP → name map (*dns_log*) replayed in line order as
    :func:`feed_with_dns` does: each change after this worker's lines up to its line, before
    the lines after it."""
    if not dns_log:
        if part.mine:  # (none of the batch is this worker's: nothing to read)
            _feed_in_place(consumer, source, part)
        return
    mask, first, n = part.mask, part.first, len(part)
    i = k = 0
    while k < len(dns_log):
        j = min(max(dns_log[k][0] - first + 1, i), n)  # the batch's lines up to the change
        if mask.count(0, i, j) < j - i:
            _feed_in_place(consumer, source, part.span(i, j))
            i = j
        end = k + 1
        while end < len(dns_log):  # no line of this worker between them: replayed together
            j = min(max(dns_log[end][0] - first + 1, i), n)
            if mask.count(0, i, j) < j - i:
                break
            end += 1
        consumer.ctx.replay_dns(dns_log[k:end])
        k = end
    if mask.count(0, i, n) < n - i:
        _feed_in_place(consumer, source, part.span(i, n))


def _feed_in_place(consumer: Any, source: str, part: Picked) -> None:
    consumer.shared_lines += part.shared
    consumer.feed(Batch(source, part, part.first))  # type: ignore[arg-type]


def _piece(lines: Sequence[bytes], i: int, j: int) -> Sequence[bytes]:
    """Lines *i* to *j* of a part: a raw :class:`~sakimori.eve.lines.Lines` (the compiled
    cut's) stays over its one bytes object (``Lines.span``), a list is sliced."""
    return lines.span(i, j) if isinstance(lines, Lines) else lines[i:j]


def _in_line_order(examples: list[str], source: str) -> list[str]:
    """The bad-line examples of all workers as one worker keeps them: the firewall logs'
    (worker 0's, read first) in their order, then the EVE file's by line number — each
    worker kept its first ones, so the first of the union are one worker's — at most
    :data:`~sakimori.eve.decode.MAX_EXAMPLES`."""
    prefix = source + ":"

    def lineno(text: str) -> int:
        number = text[len(prefix):].split(":", 1)[0]
        return int(number) if number.isdigit() else 0

    eve = [e for e in examples if e.startswith(prefix) and lineno(e)]
    other = [e for e in examples if not (e.startswith(prefix) and lineno(e))]
    return (other + sorted(eve, key=lineno))[:MAX_EXAMPLES]


def _widen(conn: Connection) -> None:
    """Let the splitter run up to ≈ 20 batches ahead of a worker (Linux pipe size; best
    effort): a worker that the scheduler leaves waiting does not stop the others."""
    with contextlib.suppress(OSError, AttributeError, ValueError):
        fcntl.fcntl(conn.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)


def _place_fw_hosts(router: Router, fw_logs: list[Path]) -> None:
    """Place the internal hosts of the firewall LOG files (weighted by their records) before
    the EVE is read: every worker adds its own hosts' records first, as one worker does."""
    weights: Counter[bytes] = Counter()
    for path in fw_logs:
        for rec in read_fw_log(path):
            if router.home(rec.src):
                weights[rec.src.encode("utf-8", "replace")] += 1
    router.place(dict(weights))


class SplitReader:
    """The splitter's read of the EVE file: exactly the batches (lines, line numbers) of the
    consumer's :class:`~sakimori.eve.file.FileInput`. With the compiled router the file is
    memory-mapped and each batch's lines are found by :func:`eve_consumer._route.scan` —
    only their lengths, no line object (routing and cutting read the map); a batch holding a
    line longer than ``consumer.max_line_bytes`` (which the file input cuts at its chunk
    ends) is read by a ``FileInput`` resumed where the scan stands, until its state is plain
    again. Without it: the ``FileInput``, every batch as lines."""

    def __init__(self, eve: Path, co: Any, *, scan: bool | None = None,
                 max_bytes: int = DEFAULT_MAX_BYTES, router: Router | None = None) -> None:
        self.eve = eve
        # a compiled router routes each scanned line as it is found (Router.scan_route)
        self.router = router if router is not None and router.compiled else None
        self.max_bytes = max_bytes  # the file input's read size (tests make it small)
        self.max_lines, self.max_line = co.queue_size, co.max_line_bytes
        self.scan = shard_mod.USE_COMPILED if scan is None else scan
        self.inp: FileInput | None = None
        self.fh: Any = None
        self.view: _View | None = None
        self.start = self.read_pos = self.lineno = 0  # the scan's FileInput state
        self.done = False
        if self.scan:
            self.fh = open(eve, "rb")  # noqa: SIM115 - closed by close()
            self.view = _View(self.fh)
            self.view.grew()
        else:
            self.inp = self._file_input()

    def _file_input(self) -> FileInput:
        return FileInput(self.eve, max_bytes=self.max_bytes, max_lines=self.max_lines,
                         max_line_bytes=self.max_line)

    @property
    def map(self) -> Any:
        """The mapped file (b"" without the scan)."""
        return self.view.map if self.view is not None else b""

    @property
    def position(self) -> int:
        """Bytes handed out so far."""
        return self.inp.position if self.inp is not None else self.start

    def read(self) -> tuple[int, int, array | None, list[bytes] | None, bytes | None] | None:
        """The next batch: (its first line number, its file offset, its lines' lengths —
        None when it holds a cut line —, its lines — None when scanned —, its route codes
        when the reader's router gave them), or None at the end of the file."""
        if self.done:
            return None
        if self.inp is not None:
            return self._read_lines()
        assert self.view is not None
        while True:
            if self.read_pos >= len(self.view.map):  # where the file input reads again
                self.view.grew()
            else:
                self.view.shorten(self.read_pos, str(self.eve))
            args = (self.view.map, self.start, self.read_pos, self.max_bytes, self.max_lines,
                    self.max_line)
            try:
                if self.router is not None:
                    status, lens, start, read_pos, codes = self.router.scan_route(*args)
                else:
                    (status, lens, start, read_pos), codes = compiled_route.scan(*args), None
            except MAP_SHRANK:
                raise self.view.shrank(str(self.eve), min(self.read_pos + self.max_bytes,
                                                          len(self.view.map))) from None
            if status != compiled_route.SCAN_LINES:  # the bytes scanned are still the file's
                self.view.verify(read_pos, str(self.eve))
            if status == compiled_route.SCAN_BATCH:
                first, base = self.lineno + 1, self.start
                self.start, self.read_pos = start, read_pos
                self.lineno += len(lens)
                return first, base, lens, None, codes
            if status == compiled_route.SCAN_LINES:
                self.inp = self._file_input()
                self.inp.resume(self.start, self.read_pos, self.lineno)
                return self._read_lines()
            self.done = True  # SCAN_END
            return None

    def _read_lines(self) -> tuple[int, int, array | None, list[bytes] | None, None] | None:
        inp = self.inp
        assert inp is not None
        base = inp.position
        batch = inp.read_batch()
        if self.scan:
            state = inp.state()
            if state is not None or batch is None:  # plain again: back to the scan
                inp.close()
                self.inp = None
                if state is not None:
                    self.start, self.read_pos, self.lineno = state
        if batch is None:
            self.done = True
            return None
        # a plain list (a Lines made into one): the splitter slices it, routes it (the
        # compiled router takes a list) and sends it to the workers
        lines = list(batch.lines)
        lens = array("I", map(len, lines))  # ≤ max_line_bytes + 1 ≤ 2**30 + 1 each
        if max(lens, default=0) > self.max_line:
            return batch.first, base, None, lines, None  # a cut line: sent as lines
        return batch.first, base, lens, lines, None

    def close(self) -> None:
        if self.inp is not None:
            self.inp.close()
        if self.view is not None:
            self.view.close()
        if self.fh is not None:
            self.fh.close()


def _route_view(reader: SplitReader, router: Router, base: int, lens: array) -> bytes:
    """The route codes of a scanned batch read from the map (a file that shrank: one error)."""
    source, end = str(reader.eve), base + sum(lens) + len(lens) - 1
    try:
        codes = router.route_view(reader.map, base, lens)
    except MAP_SHRANK:
        assert reader.view is not None
        raise reader.view.shrank(source, end) from None
    if reader.view is not None:
        reader.view.verify(end, source)
    return codes


def pieces(first: int, base: int, lens: array | None, lines: list[bytes] | None,
           codes: bytes, count: int) -> list[tuple[int, int, array | None, list[bytes] | None,
                                                   bytes]]:
    """One batch (first line number, file offset, lines' lengths, lines, route codes) as
    *count* consecutive batches of about equal lines (one when it holds a cut line: no
    *lens*); each line is followed by one byte, its newline."""
    n = len(codes)
    if lens is None or count <= 1 or n < 2 * count:
        return [(first, base, lens, lines, codes)]
    out = []
    start = 0
    for k in range(1, count + 1):
        end = n * k // count
        part = lens[start:end]
        out.append((first + start, base, part,
                    lines[start:end] if lines is not None else None, codes[start:end]))
        base += sum(part) + len(part)
        start = end
    return out


def split(cfg: Config, eve: Path, router: Router, fw_logs: list[Path],
          send: Callable[[bytes], None],
          own: Callable[[SplitReader, int, int, Any, Any, bytes], Any] | None = None
          ) -> float:
    """The splitter: START (the firewall log hosts), then per batch of the file its route
    codes, first line number, offset and lengths (or lines, for a batch holding a cut
    line; *own*: worker 0's part of the batch, when it splits), END. Returns its CPU
    seconds (without *own*'s).

    With ``router.dns_forwarded`` every DNS line is worker 0's alone: worker 0 decodes its
    part of a batch first and sends the batch with the changes its DNS lines made to the
    IP → name map (*own* returns them: ``Context.dns_log``), which the other workers replay
    in line order (:func:`feed_with_dns`). Otherwise the batch is sent first and *own*
    runs while the others decode it."""
    cpu0 = time.process_time()
    forward = own is not None and router.dns_forwarded
    _place_fw_hosts(router, fw_logs)
    send(ForkingPickler.dumps((START, dict(router.hosts))))
    reader = SplitReader(eve, cfg.consumer, router=router)
    try:
        while (got := reader.read()) is not None:
            first, base, lens, lines, codes = got
            if lines is None:
                if codes is None:
                    codes = _route_view(reader, router, base, lens)
            else:
                codes = router.route(lines)
            sent = None if lens is not None else lines  # with lengths: cut from the map
            if forward:
                count = FIRST_PIECES if first == 1 and lens is not None else 1
                for p_first, p_base, p_lens, p_lines, p_codes in \
                        pieces(first, base, lens, lines, codes, count):
                    t = time.process_time()
                    dns_log = own(reader, p_first, p_base, p_lens, p_lines,  # type: ignore[misc]
                                  p_codes)
                    cpu0 += time.process_time() - t  # the splitter's time alone
                    send(ForkingPickler.dumps((BATCH, p_codes, p_first, p_base, p_lens,
                                               None if p_lens is not None else p_lines,
                                               dns_log or None)))
                continue
            send(ForkingPickler.dumps((BATCH, codes, first, base, lens, sent, None)))
            if own is not None:
                t = time.process_time()
                own(reader, first, base, lens, lines, codes)
                cpu0 += time.process_time() - t  # the splitter's time alone
            elif reader.view is not None:
                reader.view.release(base)
    finally:
        reader.close()
    cpu = time.process_time() - cpu0
    send(ForkingPickler.dumps((END, dict(router.hosts), cpu)))
    return cpu


def _close(conns: list[Connection]) -> None:
    for conn in conns:
        conn.close()


def _splitter(feeds: list[Connection], inherited: list[Connection], cfg: Config, eve: Path,
              count: int, fw_logs: list[Path]) -> None:
    """The splitter as a process of its own (``splitter="process"``)."""
    _close(inherited)
    def send(data: bytes) -> None:
        for conn in feeds:
            conn.send_bytes(data)

    try:
        # no consumer here to ask whether DNS is decoded: DNS answers go to every worker
        split(cfg, eve, Router(count, cfg.is_home, splitter_is_worker0=False), fw_logs, send)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            send(ForkingPickler.dumps((ERROR, _one_line("splitter", exc))))
    finally:
        for conn in feeds:
            conn.close()


class Workers:
    """Workers 1 … count−1, forked at construction; the caller is worker 0. The splitter is
    worker 0 (``splitter="worker0"``, the default) or a process of its own (``"process"``:
    three busy processes for two workers)."""

    def __init__(self, cfg: Config, baselines: dict[str, Any] | None, eve: Path, count: int,
                 fw_logs: list[Path] | None = None, *, splitter: str = "worker0",
                 forward_dns: bool = True) -> None:
        if not 1 <= count <= MAX_WORKERS:
            raise WorkerError(f"--workers: 1 … {MAX_WORKERS} processes, got {count}")
        if splitter not in SPLITTERS:
            raise ValueError(f"splitter {splitter!r}: one of {', '.join(SPLITTERS)}")
        self.count = count
        self.eve = Path(eve)
        self.splitter = splitter
        # splitter = worker 0: DNS lines to worker 0 alone, the IP → name map's changes
        # forwarded (False: DNS answers that may feed the map to every worker; benchmark)
        self.forward_dns = forward_dns
        self.fw_logs = list(fw_logs or [])
        self.conns: list[Connection] = []  # to each worker: prevalence, results
        self.feeds: list[Connection] = []  # to each worker, from worker 0 as the splitter
        self.procs: list[Any] = []
        self.feed: Connection | None = None  # worker 0's, from a splitter process
        self.cpu_s: list[float] = []  # CPU seconds of workers 1 … N−1 (after finish)
        self.splitter_cpu_s = 0.0  # the splitter's share (its process, or within worker 0)
        # the consumer's modules imported once, before the fork: worker 0 imports them anyway
        # and every forked worker shares them instead of importing its own (≈ 0.07 s of CPU
        # each; the CLI forks before it imports the pipeline)
        import eve_consumer.pipeline  # noqa: F401
        # the workers' scratch reports and states, one directory the parent removes in
        # close() — a worker that was killed cannot remove its own
        self.scratch = Path(tempfile.mkdtemp(prefix="sakimori-workers-"))
        ctx = multiprocessing.get_context("fork")
        feeds: list[Connection] = []  # the splitter's ends of the feeds
        if splitter == "process":
            self.feed, theirs = ctx.Pipe(duplex=False)
            feeds.append(theirs)
        for index in range(1, count):
            mine_end, theirs = ctx.Pipe()
            feed, split_end = ctx.Pipe(duplex=False)
            _widen(split_end)
            feeds.append(split_end)
            inherited = [*feeds, *self.conns, *([self.feed] if self.feed else []), mine_end]
            proc = ctx.Process(target=_child, name=f"sakimori-worker{index}", daemon=True,
                               args=(theirs, feed, inherited, cfg, baselines, Path(eve),
                                     index, count, self.fw_logs,
                                     self.scratch / f"worker{index}"))
            proc.start()
            theirs.close()
            feed.close()
            self.conns.append(mine_end)
            self.procs.append(proc)
        if splitter == "process":
            _widen(feeds[0])
            proc = ctx.Process(target=_splitter, name="sakimori-splitter", daemon=True,
                               args=(feeds, [*self.conns, self.feed], cfg, Path(eve), count,
                                     self.fw_logs))
            proc.start()
            for end in feeds:
                end.close()
            self.procs.append(proc)
        else:
            self.feeds = feeds

    def broadcast(self, data: bytes) -> None:
        """Send one pickled message to every worker (a worker that ended: its error)."""
        for conn, feed in zip(self.conns, self.feeds, strict=True):
            try:
                feed.send_bytes(data)
            except OSError:
                self._recv(conn, PREVALENCE)  # its ERROR, or that it ended without one
                raise WorkerError("a consume worker stopped reading") from None

    def _recv(self, conn: Connection, expect: str) -> Any:
        try:
            kind, payload = conn.recv()
        except EOFError:
            index = self.conns.index(conn) if conn in self.conns else -1
            proc = self.procs[index] if 0 <= index < len(self.procs) else None
            raise WorkerError(self.killed(proc, f"worker {index + 1}") or
                              "a consume worker ended without a result") from None
        if kind == ERROR:
            raise WorkerError(str(payload))
        if kind != expect:
            raise WorkerError(f"a consume worker sent {kind!r}, expected {expect!r}")
        return payload

    def killed(self, proc: Any, who: str, wait_s: float = 5.0) -> str | None:
        """The error line of a process (*who*) that ended without a word: killed by a signal
        (SIGBUS: a mapped read past the end of a file that shrank), or None."""
        if proc is None:
            return None
        proc.join(timeout=wait_s)
        code = proc.exitcode
        if code is None or code >= 0:
            return None
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        if -code == signal.SIGBUS:
            return str(shrank_error(str(self.eve), _size(self.eve),
                                    f"{who} killed by SIGBUS"))
        return f"{who} was killed by {name}"

    def finish(self, consumer: Any) -> None:
        """After worker 0 (*consumer*) read its lines: merge prevalence, compute its own
        findings while the other workers compute theirs, collect their findings and counts
        into *consumer*. The workers are reaped by :meth:`close` (after the evaluation:
        they exit meanwhile); on an error here, at once."""
        idle = IdleFold(consumer)
        try:
            for conn in self.conns:
                idle.run(conn)  # the others still read: fold meanwhile
                merge_prevalence(consumer, self._recv(conn, PREVALENCE))
            merged = prevalence(consumer)
            for conn in self.conns:
                conn.send(merged)
            consumer.early_findings = consumer.own_findings()
            examples = list(consumer.decoder.stats.examples)
            for conn in self.conns:
                res = self._recv(conn, DONE)
                self.cpu_s.append(res.get("cpu_s", 0.0))
                consumer.worker_timing.append(res["timing"])
                examples += res["decode"].get("examples", [])
                res["decode"] = {**res["decode"], "examples": []}
                self._add(consumer, res)
            consumer.decoder.stats.examples[:] = _in_line_order(examples, str(self.eve))
        except BaseException:
            self.close()
            raise

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
        for conn in [*self.conns, *self.feeds, *([self.feed] if self.feed else [])]:
            conn.close()
        self.feeds, self.feed = [], None
        for proc in self.procs:
            proc.join(timeout=wait_s)
            if proc.is_alive():
                proc.kill()
                proc.join()
        self.conns, self.procs = [], []
        shutil.rmtree(self.scratch, ignore_errors=True)  # the workers' scratch, once all ended


def splitter_router(count: int, cfg: Config, decoder: Any, *, forward_dns: bool) -> Router:
    """The router worker 0 splits with (also what the benchmarks route with): the skips of
    *decoder*'s prefilter, DNS lines to worker 0 alone with its map's changes forwarded
    (*forward_dns*) or the DNS skip."""
    return Router(count, cfg.is_home, dns_wanted="dns" in decoder.wanted,
                  dns_skip=None if forward_dns else DnsSkip.of(decoder),
                  dns_forwarded=forward_dns, flow_skip=FlowSkip.of(decoder))


def run_sharded(consumer: Any, workers: Workers, eve: Path) -> Any:
    """Worker 0's part of a one-shot run: the firewall logs, its lines of the file (split
    by itself or received from the splitter process), the merge, the evaluation."""
    count = workers.count
    shard = WorkerShard(0)
    consumer.set_shard(shard)
    consumer.input_stats.update(input="file", source=str(eve))
    source, table = str(eve), worker_table(0, count)
    in_place = consumer.reads_in_place and shard_mod.USE_COMPILED
    fraction = None if workers.feed is not None else \
        progress.file_fraction(lambda: position[0], _size(eve))
    position = [0]

    def own(reader: SplitReader, first: int, base: int, lens: Any, lines: Any,
            codes: bytes) -> list[tuple[int, Any, Any, Any]] | None:
        position[0] = reader.position
        if lines is None and in_place:  # read in place from the mapped file, as the others
            assert reader.view is not None
            reader.view.read_in_place(consumer, codes, table, first, base, lens, None,
                                      source)
            reader.view.release(base)
            return _drain_dns_log(consumer)
        if lines is None:  # cut from the mapped file, as the other workers do
            assert reader.view is not None
            part = reader.view.cut(codes, table, first, base, lens, source)
        else:
            part = mine(codes, table, first, lines)
        if part is not None:
            feed_part(consumer, shard, source, part)
        if reader.view is not None:
            reader.view.release(base)
        return _drain_dns_log(consumer)

    with progress.phase(f"reading {Path(eve).name}", fraction,
                        progress.count(lambda: consumer.decoder.stats.lines, "lines")):
        if workers.feed is not None:
            try:
                _start(workers.feed, consumer, shard, workers.fw_logs, count_lines=True)
                _read_routed(workers.feed, consumer, shard, eve, table)
            except WorkerError as exc:  # the splitter killed by a signal: say which
                why = workers.killed(workers.procs[-1], "the splitter")
                if why is None:
                    raise
                raise WorkerError(why) from exc
        else:
            forward = workers.forward_dns and count > 1
            router = splitter_router(count, consumer.cfg, consumer.decoder, forward_dns=forward)
            if forward:  # worker 0 decodes every DNS line and logs the map's changes
                consumer.ctx.dns_log = []
            shard.hosts = router.hosts  # the live placement

            first = [True]

            def send_and_start(data: bytes) -> None:
                workers.broadcast(data)
                if first[0]:  # START: worker 0's firewall LOG records, as the others'
                    first[0] = False
                    for path in workers.fw_logs:
                        consumer.add_fw_log(path)

            try:
                shard.splitter_cpu_s = split(consumer.cfg, eve, router, workers.fw_logs,
                                             send_and_start, own)
            finally:
                consumer.ctx.dns_log = None
    workers.splitter_cpu_s = shard.splitter_cpu_s
    workers.finish(consumer)
    consumer.input_stats["workers"] = count
    try:
        return consumer.evaluate(follow=False)
    finally:
        workers.close()


def _drain_dns_log(consumer: Any) -> list[tuple[int, Any, Any, Any]] | None:
    """Worker 0's changes to the IP → name map in the batch it just read (sent with it), or
    None."""
    log = consumer.ctx.dns_log
    if not log:
        return None
    consumer.ctx.dns_log = []
    return log  # type: ignore[no-any-return]


def _size(path: Path) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0
