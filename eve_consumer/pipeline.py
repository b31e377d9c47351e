"""The consumer: input → decode → dispatch/handlers → correlate → store → outputs.

:meth:`Consumer.run_once` reads one EVE file to its end and writes the reports (``consume``
without ``--follow``, ``analyze``). :meth:`Consumer.follow` tails a file as a service: after
each evaluation (every ``interval_s`` while new lines arrive, and on stop) it commits the
checkpoint, every handler's snapshot and the findings in one store transaction, then writes
the reports and sends the mails. A restart restores the snapshots and resumes at the
checkpoint, so nothing is lost or counted twice. :meth:`Consumer.follow_redis` does the same
over Suricata's redis output (:mod:`eve_consumer.redis_loop`, acknowledging in Redis only after
the commit). With ``consumer.shared`` the beacon prevalence counters are shared through Redis
and every evaluation is published for ``sakimori report`` (:mod:`eve_consumer.shared`).

Web-proxy logs (``analyze``/``consume --proxy-log``) go through
:class:`~eve_consumer.inputs.proxylog.ProxyDecoder` instead of the EVE decoder: each request
becomes the ``http``/``flow``/``proxy`` events the same handlers read (:meth:`add_proxy_log`
once, :meth:`follow` with ``proxy=True`` as a service, with its own checkpoint).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eve_consumer import fastfeed
from eve_consumer.context import Context
from eve_consumer.correlate import HostReport, correlate
from eve_consumer.dispatch import Dispatcher
from eve_consumer.fastfeed import batch_loop
from eve_consumer.handlers import build_handlers
from eve_consumer.handlers.fw_blocked import FwBlockedHandler
from eve_consumer.inputs.eve_follow import FollowInput
from eve_consumer.inputs.fwlog import read_fw_log
from eve_consumer.inputs.proxylog import ProxyDecoder
from eve_consumer.mailwarn import attach as attach_mail_warnings
from eve_consumer.model import Finding
from eve_consumer.outputs import Report, build_outputs
from eve_consumer.prefilter import PREFILTER_KINDS, make_prefilter
from eve_consumer.saved import ConsumerState, shaped
from eve_consumer.shared import attach as attach_shared
from eve_consumer.store import StateStore
from sakimori import progress
from sakimori.config import Config
from sakimori.errors import InputError
from sakimori.eve.decode import Decoder
from sakimori.eve.file import FileInput
from sakimori.eve.lines import Batch

CONSUMER_KINDS = frozenset({"flow", "http", "tls", "dns", "alert", "drop", "smtp"})
MAIL_RETRY_S = 60.0
_CONSUMER_STATE = "_consumer"
MAX_FAILURE_LOGS = 20  # log lines per process for lines a handler failed on (all counted)
# bytes read from an EVE file at a time (run_once/read; the file input's default is 4 MiB):
# a smaller chunk keeps the input's buffer and a batch of lines in cache and touches less
# fresh memory — ≈ 1,150 minor page faults instead of ≈ 5,200 on the bench's office EVE
# (24 MB), a few ms of a one-shot run; batches stay ≤ consumer.queue_size lines
READ_CHUNK_BYTES = 512 << 10
log = logging.getLogger("sakimori.consumer")


class Consumer:
    """One configured consumer; use as a context manager (closes the store)."""

    def __init__(self, cfg: Config, baselines: dict[str, Any] | None, out_dir: Path,
                 state_dir: Path, *, mail: bool = True,
                 handler_names: list[str] | None = None,
                 output_names: tuple[str, ...] | None = None) -> None:
        self.cfg = cfg
        self.out_dir = Path(out_dir)
        self.ctx = Context(cfg, baselines)
        shared_output = attach_shared(cfg, self.ctx, state_dir)  # consumer.shared: before handlers
        if handler_names is None and cfg.consumer.handlers is not None:
            handler_names = list(cfg.consumer.handlers)
        if output_names is None:
            output_names = cfg.consumer.outputs
        self.handlers = build_handlers(self.ctx, handler_names, cfg.source)
        self.dispatcher = Dispatcher(self.ctx, self.handlers)
        wl = self.ctx.whitelist
        kinds = CONSUMER_KINDS if (wl.exact or wl.subdomain_of or wl.apex_and_subdomains) \
            else CONSUMER_KINDS - {"dns"}  # DNS answers only serve the name whitelist
        self.decoder = Decoder(wanted=kinds, max_line_bytes=cfg.consumer.max_line_bytes)
        self.decoder.typed_data = self.dispatcher.typed_flows  # no dict per typed flow (feed)
        self.decoder.prefilter = make_prefilter(self.ctx, {h.name for h in self.handlers})
        self.decoder.prefilter_kinds = PREFILTER_KINDS
        self.store = StateStore(state_dir)
        self.outputs = build_outputs(cfg, self.store, output_names, mail, self.ctx.classes)
        if shared_output is not None:  # first: its state goes into stats.json too
            self.outputs.insert(0, shared_output)
        self.mail_warnings = attach_mail_warnings(self, baselines, mail)  # spoofed mail
        self.input_stats: dict[str, Any] = {}
        self.input_counters: dict[str, int] = {}  # follow input's, summed across restarts
        self.busy_s = 0.0
        self.shard: Any = None  # consume --workers: this worker's ShardFilter
        self.fast = True  # False: the per-line reference loop in feed() (tests compare)
        # the batch loop: compiled (eve_consumer._fastfeed) when built, else the pure-Python
        # one; tests set compiled = False (or fastfeed.USE_COMPILED before workers fork) to
        # run the pure loop (see feed_loop)
        self.compiled = fastfeed.USE_COMPILED
        if self.compiled:  # the compiled loop's module loaded now (start-up), not by the
            fastfeed.compiled_loop()  # first batch (a one-shot run's timed section)
        self.loops: Counter[str] = Counter()  # batches fed by each loop (stats.json timing)
        self.shared_lines = 0  # consume --workers: lines decoded with scratch stats
        self.worker_timing: list[dict[str, Any]] = []  # workers 1 … N−1: their feed_timing()
        self.extra_findings: list[Finding] = []  # the other workers' (eve_consumer.workers)
        self.extra_gauges: Counter[str] = Counter()  # ... and their gauges (context.GAUGES)
        # worker 0's own findings, computed while the other workers compute theirs (used once)
        self.early_findings: list[Finding] | None = None
        self.last_rows: list[HostReport] = []
        self.last_stats: dict[str, Any] = {}
        self._proxy: ProxyDecoder | None = None

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.mail_warnings.close()
        self.store.close()

    # --- feeding -----------------------------------------------------------------------------
    def feed(self, batch: Batch, numbers: Sequence[int] | None = None,
             flags: bytes | None = None) -> None:
        """Decode and dispatch one batch of lines: by the batch loop
        (:func:`eve_consumer.fastfeed.feed_batch`), or with ``fast`` off by the reference
        loop, one ``decode`` (``decode_sharded`` while ``decoder.shard`` is set) and
        ``dispatch`` per line.
        *numbers*: the lines' numbers when they do not follow each other from
        ``batch.first`` (a worker's share of a batch); *flags*: its lines' PRIMARY/SECONDARY
        flags (the batch loop decodes a SECONDARY line with scratch statistics)."""
        t0 = time.perf_counter()
        decoder = self.decoder
        decoder.source = batch.source
        # a typed flow's data is the FlowRecord only if every flow handler reads one
        decoder.typed_data = self.dispatcher.typed_flows
        if self.fast and (decoder.shard is None or flags is not None) \
                and not decoder.reference and not decoder.keep_raw:
            feed_batch, name = batch_loop(self.compiled)
            feed_batch(decoder, self.dispatcher, batch.lines, batch.first,
                       lambda lineno, exc: self._line_failed(batch.source, lineno, exc),
                       numbers, flags)
            self.loops[name] += 1
            self.busy_s += time.perf_counter() - t0
            return
        self.loops["per-line"] += 1
        decode = decoder.decode if decoder.shard is None else decoder.decode_sharded
        dispatch = self.dispatcher.dispatch
        lines = enumerate(batch.lines, batch.first) if numbers is None \
            else zip(numbers, batch.lines, strict=True)
        lineno = batch.first
        while True:
            try:  # outside the loop: free while nothing raises
                for lineno, line in lines:
                    ev = decode(line, lineno)
                    if ev is not None:
                        dispatch(ev)
                break
            except Exception as exc:
                self._line_failed(batch.source, lineno, exc)
        self.busy_s += time.perf_counter() - t0

    @property
    def reads_in_place(self) -> bool:
        """Does :meth:`feed` take a worker's :class:`~eve_consumer.picked.Picked` batch (the
        compiled batch loop, on the fast path)? Else a worker cuts its lines."""
        decoder = self.decoder
        return self.fast and not decoder.reference and not decoder.keep_raw \
            and batch_loop(self.compiled)[1] == "compiled"

    @property
    def feed_loop(self) -> str:
        """Which loop :meth:`feed` runs: ``compiled`` (eve_consumer._fastfeed), ``python``
        (eve_consumer.fastfeed, the fallback) or ``per-line`` (``fast`` off, the reference);
        written to stats.json (``timing.loop``)."""
        if not self.fast:
            return "per-line"
        return batch_loop(self.compiled)[1]

    def feed_timing(self) -> dict[str, Any]:
        """This consumer's part of stats.json ``timing.workers`` (``consume --workers``): the
        batches each loop fed, the shared lines it decoded for another worker and its time
        in :meth:`feed`."""
        return {"batches": dict(sorted(self.loops.items())), "shared_lines": self.shared_lines,
                "busy_s": round(self.busy_s, 3)}

    def _line_failed(self, source: str, lineno: int, exc: Exception) -> None:
        """A line that passed decode but made a handler raise: skipped, counted, logged."""
        counters = self.ctx.counters
        counters["lines_failed_in_handler"] += 1
        where = f"{source}:{lineno}: {type(exc).__name__}"
        if counters["lines_failed_in_handler"] <= MAX_FAILURE_LOGS:
            log.error("%s: %s (line skipped)", where, str(exc)[:200])
        examples = self.ctx.notes
        examples.append(f"line failed in a handler, skipped: {where}")

    def proxy_decoder(self) -> ProxyDecoder:
        """The proxy-log decoder (made on first use: loads ``anonymizer.tor_relays``)."""
        if self._proxy is None:
            relays = None
            if self.cfg.anonymizer.tor_relays:
                from sakimori.tor import load_relays
                relays = load_relays(self.cfg.anonymizer.tor_relays)
            self._proxy = ProxyDecoder(self.ctx, self.decoder.stats, relays)
        return self._proxy

    def feed_proxy(self, batch: Batch) -> None:
        """Decode and dispatch one batch of proxy-log lines."""
        t0 = time.perf_counter()
        proxy = self.proxy_decoder()
        proxy.source = batch.source
        decode, dispatch = proxy.decode, self.dispatcher.dispatch
        lines = enumerate(batch.lines, batch.first)
        lineno = batch.first
        while True:
            try:  # as feed(): a line that makes a handler raise is skipped and counted
                for lineno, line in lines:
                    for ev in decode(line, lineno):
                        dispatch(ev)
                break
            except Exception as exc:
                self._line_failed(batch.source, lineno, exc)
        self.busy_s += time.perf_counter() - t0

    def add_proxy_log(self, path: str | Path) -> None:
        """Read one proxy access log (``.gz`` too) to its end."""
        from sakimori.proxylog import open_log

        name = str(path)
        try:
            fh = open_log(Path(path))
        except OSError as exc:
            raise InputError(name, None, f"cannot read proxy log: {exc.strerror or exc}") \
                from exc
        before = self.decoder.stats.lines
        plain = not name.endswith(".gz")  # a .gz position is not comparable to its size
        with fh, progress.phase(
                f"reading {Path(path).name}",
                progress.file_fraction(fh.buffer.tell, _size(path)) if plain else None,
                progress.count(lambda: self.decoder.stats.lines - before, "lines")):
            batch = Batch(name, [], 1)
            try:
                for line in fh:
                    batch.lines.append(line)
                    if len(batch.lines) >= self.cfg.consumer.queue_size:
                        self.feed_proxy(batch)
                        batch = Batch(name, [], batch.first + len(batch.lines))
            except (OSError, EOFError) as exc:  # e.g. a truncated .gz
                raise InputError(name, batch.first + len(batch.lines),
                                 f"cannot read proxy log: {exc}") from exc
            self.feed_proxy(batch)
        logs = self.input_stats.setdefault("proxy_logs", [])
        logs.append({"path": name, "lines": self.decoder.stats.lines - before})

    def set_shard(self, shard: Any) -> None:
        """Make this consumer one of ``consume --workers`` (:mod:`eve_consumer.workers`):
        it reports only the hosts *shard* ``owns`` (and counts only their LOG lines)."""
        self.shard = shard

    def add_fw_log(self, path: str | Path) -> int:
        """Count the blocked attempts logged in an iptables/nftables LOG file (with
        workers: those of this worker's hosts)."""
        fw = next((h for h in self.handlers if isinstance(h, FwBlockedHandler)), None)
        mine = self.shard.owns if self.shard is not None else None
        n = 0
        for rec in read_fw_log(path, self.decoder.stats):
            n += 1
            if mine is not None and not mine(rec.src):
                continue
            if fw is not None and self.ctx.home(rec.src):
                fw.add(rec.src, rec.ts, rec.dst, rec.dport, rec.key, "logged")
        self.input_stats["fw_log_records"] = self.input_stats.get("fw_log_records", 0) + n
        return n

    # --- one-shot ----------------------------------------------------------------------------
    def run_once(self, eve: str | Path | None, proxy_logs: tuple[Path, ...] | list[Path] = ()
                 ) -> list[HostReport]:
        """Read *eve* (if any) and the proxy logs to their end, evaluate, write every output."""
        self.read(eve, proxy_logs)
        return self.evaluate(follow=False)

    def read(self, eve: str | Path | None, proxy_logs: tuple[Path, ...] | list[Path] = ()
             ) -> None:
        """Read *eve* (if any) and the proxy logs to their end (decode, dispatch, handlers),
        without evaluating."""
        if eve is not None:
            co = self.cfg.consumer
            inp = FileInput(eve, max_bytes=READ_CHUNK_BYTES, max_lines=co.queue_size,
                            max_line_bytes=co.max_line_bytes)
            self.input_stats.update(input="file", source=str(eve))
            with progress.phase(f"reading {Path(eve).name}",
                                progress.file_fraction(lambda: inp.position, _size(eve)),
                                progress.count(lambda: self.decoder.stats.lines, "lines")):
                while (batch := inp.read_batch()) is not None:
                    self.feed(batch)
        else:
            self.input_stats.update(input="proxy-log")
        for log in proxy_logs:
            self.add_proxy_log(log)

    # --- evaluation ------------------------------------------------------------------------
    def own_findings(self) -> list[Finding]:
        """The handlers' findings (gauges reset first: they say what this evaluation found);
        a ``--workers`` worker's: those of its own hosts."""
        self.ctx.reset_gauges()
        out: list[Finding] = []
        for h in self.handlers:
            try:
                out += h.findings()
            except Exception as exc:
                self.ctx.counters["handler_findings_failed"] += 1
                log.error("handler %s: findings failed: %s: %s", h.name, type(exc).__name__,
                          str(exc)[:200])
        if self.shard is not None:
            out = [f for f in out if self.shard.owns(f.host)]
        return out

    def findings(self) -> list[Finding]:
        # worker 0 of ``--workers`` computed its own while the others computed theirs
        out, self.early_findings = (self.early_findings if self.early_findings is not None
                                    else self.own_findings()), None
        if self.shard is not None:  # workers: each reports its own hosts, merged in order
            out = out + self.extra_findings
            self.ctx.counters.update(self.extra_gauges)  # the other workers' evaluation
            out.sort(key=lambda f: (f.detection, f.host))
        return out

    def evaluate(self, follow: bool, checkpoints: dict[str, Any] | None = None
                 ) -> list[HostReport]:
        """Findings → rows; commit state (follow mode: with snapshots); write outputs."""
        t0 = time.perf_counter()
        if follow and self.ctx.latest_ts:
            for h in self.handlers:
                h.prune(self.ctx.latest_ts)
        if self._proxy is not None:
            dispatch = self.dispatcher.dispatch
            for ev in self._proxy.flush(final=not follow):
                dispatch(ev)
        findings = self.findings()
        if self._proxy is not None:
            self._proxy.annotate(findings)
        rows = correlate(findings, self.ctx.home, self.ctx.classes)
        states = None
        if follow:
            states = {h.name: h.snapshot() for h in self.handlers}
            states[_CONSUMER_STATE] = self._own_state()
        if self.ctx.shared is not None:
            self.ctx.shared.flush()  # shared adds reach Redis before the state says so
        self.store.commit(checkpoints=checkpoints, handler_states=states, findings=findings)
        self.busy_s += time.perf_counter() - t0
        self.mail_warnings.drain()
        report = Report(self.out_dir, rows, findings, self.stats(rows, findings), follow)
        for out in self.outputs:
            out.write(report)
        self.last_rows, self.last_stats = rows, report.stats
        return rows

    def stats(self, rows: list[HostReport], findings: list[Finding]) -> dict[str, Any]:
        th = self.ctx.thresholds
        lines = self.decoder.stats.lines
        return {
            "input": dict(self.input_stats),
            "decode": self.decoder.stats.as_dict(),
            "counters": dict(sorted(self.ctx.counters.items())),
            "notes": list(self.ctx.notes),
            "handlers": [h.name for h in self.handlers],
            "thresholds": {"url_length": th.url_length.explain(),
                           "long_session_s": th.long_session_s.explain(),
                           "fw_failures": th.fw_failures.explain(),
                           "beacon_score": self.cfg.traffic.beacon_threshold,
                           "beacon_min_connections": self.cfg.traffic.beacon_min_connections},
            "mail_warnings": self.mail_warnings.stats(),
            "hosts_reported": len(rows),
            "findings": len(findings),
            "timing": {"busy_s": round(self.busy_s, 3), "loop": self.feed_loop,
                       "lines_per_s": round(lines / self.busy_s) if self.busy_s else None,
                       "batches": dict(sorted(self.loops.items())),
                       **({"workers": [self.feed_timing(), *self.worker_timing]}
                          if self.worker_timing else {})},
        }

    def summary(self) -> str:
        """One line for stderr: what was read, what was bad, what was found, mail."""
        text = f"{self.decoder.stats.summary()}; {len(self.last_rows)} host(s) reported"
        mail = self.last_stats.get("mail", {})
        if mail.get("skipped"):
            text += f"; mail skipped ({mail['skipped']})"
        elif mail:
            text += f"; mail: {mail.get('sent', 0)} sent, {mail.get('failed', 0)} failed"
        return text

    # --- follow mode -----------------------------------------------------------------------
    def _own_state(self) -> dict[str, Any]:
        own = {"latest_ts": self.ctx.latest_ts, "counters": dict(self.ctx.counters),
                "flow_names": {str(k): v for k, v in self.ctx.flow_names.items()},
                "dns_names": self.ctx.dns_names, "decode": self.decoder.stats.as_dict(),
                "input_counters": self.input_counters}
        if self._proxy is not None:
            own["proxy"] = self._proxy.snapshot()
        return own

    def restore(self) -> None:
        """Load every handler's snapshot (and the joins and counters) from the store."""
        states = self.store.handler_states()
        for h in self.handlers:
            if h.name in states:
                with self.store.reading(f"the saved state of handler {h.name!r}"):
                    h.restore(states[h.name])
        own = states.get(_CONSUMER_STATE)
        if own:
            with self.store.reading("the consumer's saved counters and joins"):
                self._restore_own(own)

    def _restore_own(self, own: dict[str, Any]) -> None:
        """The consumer's own part of the saved state (:meth:`_own_state`)."""
        own = dict(shaped(own, ConsumerState, "consumer state"))
        self.ctx.latest_ts = float(own.get("latest_ts", 0.0))
        self.ctx.counters.update(own.get("counters", {}))
        self.ctx.flow_names.update({int(k): v for k, v in own.get("flow_names", {}).items()})
        self.ctx.dns_names.update(own.get("dns_names", {}))
        self.decoder.stats.restore(own.get("decode", {}))
        self.input_counters = dict(own.get("input_counters", {}))
        if own.get("proxy"):
            self.proxy_decoder().restore(own["proxy"])

    def follow(self, eve: str | Path, stop: threading.Event, *, poll_s: float = 0.5,
               interval_s: float = 5.0, rotate_grace: float = 1.0, proxy: bool = False) -> None:
        """Tail *eve* until *stop* is set; evaluate and commit regularly and on stop.
        With *proxy* the file is a web-proxy access log (own checkpoint key)."""
        path = Path(eve).resolve()
        key = f"{'proxy' if proxy else 'follow'}:{path}"
        feed = self.feed
        if proxy:
            feed = self.feed_proxy
            self.proxy_decoder()
        self.restore()
        if not proxy:
            log.info("following %s; EVE batch loop: %s", path, self.feed_loop)
        co = self.cfg.consumer
        inp = FollowInput(path, self.store.checkpoint(key), rotate_grace=rotate_grace,
                          max_lines=co.queue_size, max_line_bytes=co.max_line_bytes,
                          rotated_pattern=co.rotated_pattern)
        inp.stats.update(self.input_counters)  # rotations etc. of earlier runs
        self.input_stats.update(input="follow-proxy-log" if proxy else "follow",
                                source=str(path))
        dirty, last_eval = True, 0.0
        try:
            while True:
                stopping = stop.is_set()
                batch = inp.read_batch()
                if batch.lines:
                    feed(batch)
                    dirty = True
                now = time.monotonic()
                retry = self._mail_pending() and now - last_eval >= MAIL_RETRY_S
                if (dirty and now - last_eval >= interval_s) or retry or \
                        (stopping and dirty and not batch.lines):
                    self.input_counters = dict(inp.stats)
                    self.input_stats.update(self.input_counters)
                    cp = inp.checkpoint()
                    self.evaluate(follow=True, checkpoints={key: cp} if cp else None)
                    dirty, last_eval = False, now
                if stopping and not batch.lines and not dirty:
                    return
                if not batch.lines:
                    stop.wait(poll_s)
        finally:
            inp.close()

    def follow_redis(self, inp: Any, stop: threading.Event, *, drain: bool = False,
                     interval_s: float = 5.0) -> None:
        """Read a :class:`~eve_consumer.inputs.redis_list.RedisListInput` until *stop* (or,
        with *drain*, until its keys are empty); see :mod:`eve_consumer.redis_loop`."""
        from eve_consumer.redis_loop import run_redis

        self.restore()
        run_redis(self, inp, stop, drain=drain, interval_s=interval_s)

    def _mail_pending(self) -> bool:
        mail = self.last_stats.get("mail", {})
        return bool(mail.get("failed") or mail.get("deferred"))


def _size(path: str | Path) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0
