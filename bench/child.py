"""Child process of the benchmark: one measured task in a fresh interpreter.

``bench/run.py`` starts ``python bench/child.py MODE ...`` so that imports and interpreter
start-up are outside the timed section, and so that the child's peak RSS (``os.wait4`` in the
parent, ``VmHWM`` here) is the consumer's own. The result is one JSON object written to
``--result``. Modes:

- ``consume`` — the whole consumer as ``consume``/``analyze`` run it
  (:meth:`eve_consumer.pipeline.Consumer.run_once`: input, decode, handlers, correlation,
  outputs; mail off); timed from construction to ``close()`` (after an untimed construction
  that loads the handlers' modules), ``run_s`` is ``run_once`` alone;
- ``decode``  — the same consumer with every handler's ``handle``/``on_alert`` a no-op: input,
  decode with the same prefilter, routing, shared joins — the decoding share of its time;
- ``parse``   — the same input and ``orjson.loads`` on every line: the JSON-parser floor;
- ``consume-workers`` — ``consume --workers N`` (:mod:`eve_consumer.workers`), not pinned,
  the splitter worker 0 or its own process (``--splitter``): ``run_s`` from the fork of the
  workers to ``close()``, ``workers_cpu_s`` the CPU seconds of every other process
  (``run_cpu_s`` is worker 0's), ``worker_cpu_s`` those of workers 1…N−1 each (their own
  count), ``splitter_cpu_s`` the splitter's (its process, or its share of worker 0's);
- ``learn``   — :class:`generator.learn_traffic.TrafficLearner` over an EVE file (and a proxy
  log), writing the baselines document.

``--cpu N`` pins the process to one core (``os.sched_setaffinity``) before any work;
``--profile FILE`` runs the timed section under cProfile and dumps the stats to FILE.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import resource
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from eve_consumer.pipeline import Consumer
from sakimori.baselines import empty_document, load_document, save_document
from sakimori.config import Config, load_config
from sakimori.eve.file import FileInput


def vm_hwm_kb() -> int:
    """Peak resident set size of this process in KiB (``VmHWM``; ru_maxrss as a fallback)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _lines(eve: Path) -> Iterator[Sequence[bytes]]:
    """The raw lines of *eve*, batch by batch, read by the consumer's own file input
    (``Batch.lines`` holds bytes — a ``Lines``, made into bytes objects as they are read —,
    or ``(bytes, lineno)`` pairs in older versions)."""
    inp = FileInput(eve)
    while (batch := inp.read_batch()) is not None:
        lines = batch.lines
        if lines and type(lines[0]) is tuple:
            lines = [item[0] for item in lines]
        yield lines


def _fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    return path


def run_consume(cfg: Config, args: argparse.Namespace, timed: Callable) -> dict[str, Any]:
    doc = load_document(args.baselines)
    # A first, untimed construction imports what the handlers import (numpy, ...): module
    # loading is start-up, paid once per process, and stays outside the timed section.
    Consumer(cfg, doc, _fresh(args.out.with_name("warm")),
             _fresh(args.out.with_name("warm-state")), mail=False).close()
    t0 = time.perf_counter()
    consumer = Consumer(cfg, doc, _fresh(args.out), _fresh(args.out.with_name("state")),
                        mail=False)
    t1 = time.perf_counter()
    rows = timed(consumer.run_once, args.eve)
    t2 = time.perf_counter()
    consumer.close()
    t3 = time.perf_counter()
    st = consumer.decoder.stats
    return {"setup_s": t1 - t0, "run_s": t2 - t1, "total_s": t3 - t0, "lines": st.lines,
            "parsed": sum(st.decoded.values()), "ignored": sum(st.ignored.values()),
            "bad": st.bad_total, "hosts": len(rows), "decode_stats": st.as_dict()}


def run_consume_workers(cfg: Config, args: argparse.Namespace, timed: Callable
                        ) -> dict[str, Any]:
    """``consume --workers N`` as the CLI runs it: workers 1…N−1 forked first, this process
    is worker 0. Timed from the fork to ``close()``; CPU seconds of all the processes."""
    from eve_consumer.workers import Workers, run_sharded

    doc = load_document(args.baselines)
    Consumer(cfg, doc, _fresh(args.out.with_name("warm")),
             _fresh(args.out.with_name("warm-state")), mail=False).close()
    kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    workers = Workers(cfg, doc, args.eve, args.workers, splitter=args.splitter)
    consumer = Consumer(cfg, doc, _fresh(args.out), _fresh(args.out.with_name("state")),
                        mail=False)
    try:
        rows = timed(run_sharded, consumer, workers, args.eve)
    finally:
        consumer.close()
        workers.close()
    t1 = time.perf_counter()
    kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    kids_cpu = (kids1.ru_utime - kids0.ru_utime) + (kids1.ru_stime - kids0.ru_stime)
    st = consumer.decoder.stats
    return {"run_s": t1 - t0, "total_s": t1 - t0, "workers": args.workers,
            "workers_cpu_s": kids_cpu, "splitter": args.splitter,
            "worker_cpu_s": workers.cpu_s, "splitter_cpu_s": workers.splitter_cpu_s,
            "lines": st.lines,
            "parsed": sum(st.decoded.values()), "ignored": sum(st.ignored.values()),
            "bad": st.bad_total, "hosts": len(rows), "decode_stats": st.as_dict()}


def _noop(*args: Any) -> None:
    return None


def run_decode(cfg: Config, args: argparse.Namespace, timed: Callable) -> dict[str, Any]:
    """The consumer's feed loop with every handler a no-op: input, decode (with the relevance
    prefilter and its byte fast path), routing and the dispatcher's shared joins — no handler
    work, no correlation, no outputs."""
    consumer = Consumer(cfg, load_document(args.baselines), _fresh(args.out),
                        _fresh(args.out.with_name("state")), mail=False)
    for handler in consumer.handlers:  # every handler entry point becomes a no-op ...
        handler.handle = _noop  # type: ignore[method-assign]
        handler.on_alert = _noop  # type: ignore[method-assign]
    # ... and the dispatcher is rebuilt so that its routes hold the no-ops
    consumer.dispatcher = type(consumer.dispatcher)(consumer.ctx, consumer.handlers)

    def loop() -> None:
        inp = FileInput(args.eve)
        while (batch := inp.read_batch()) is not None:
            consumer.feed(batch)

    t0 = time.perf_counter()
    timed(loop)
    t1 = time.perf_counter()
    consumer.close()
    st = consumer.decoder.stats
    return {"run_s": t1 - t0, "lines": st.lines, "parsed": sum(st.decoded.values()),
            "ignored": sum(st.ignored.values()), "bad": st.bad_total}


def run_parse(cfg: Config, args: argparse.Namespace, timed: Callable) -> dict[str, Any]:
    def loop() -> int:
        loads = orjson.loads
        n = 0
        for lines in _lines(args.eve):
            for line in lines:
                loads(line)
            n += len(lines)
        return n

    t0 = time.perf_counter()
    n = timed(loop)
    return {"run_s": time.perf_counter() - t0, "lines": n}


def run_learn(cfg: Config, args: argparse.Namespace, timed: Callable) -> dict[str, Any]:
    from generator.learn_traffic import TrafficLearner  # the learn verb's own code

    target = args.out_file or args.out / "baselines.json"
    learner = TrafficLearner(cfg, empty_document(), source=str(target))
    t0 = time.perf_counter()
    entry = timed(learner.add_eve, args.eve) or {}
    t1 = time.perf_counter()
    proxy = learner.add_proxy_log(args.proxy_log) if args.proxy_log else None
    t2 = time.perf_counter()
    save_document(learner.document(), target)
    return {"run_s": t1 - t0, "records": entry.get("records", 0),
            "lines": entry.get("lines", 0), "proxy_s": t2 - t1,
            "proxy_records": (proxy or {}).get("records", 0)}


MODES: dict[str, Callable[[Config, argparse.Namespace, Callable], dict[str, Any]]] = {
    "consume": run_consume, "decode": run_decode, "parse": run_parse, "learn": run_learn,
    "consume-workers": run_consume_workers}


class Timed:
    """Calls the timed section (under cProfile when *profile* is set) and keeps the CPU
    seconds it took (``time.process_time``: unlike wall time, not inflated when another
    process shares the core)."""

    def __init__(self, profile: Path | None) -> None:
        self.profile = profile
        self.cpu_s = 0.0

    def __call__(self, fn: Callable, *a: Any) -> Any:
        prof = cProfile.Profile() if self.profile is not None else None
        c0 = time.process_time()
        try:
            return fn(*a) if prof is None else prof.runcall(fn, *a)
        finally:
            self.cpu_s += time.process_time() - c0
            if prof is not None:
                prof.dump_stats(str(self.profile))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=sorted(MODES))
    p.add_argument("--config", required=True, type=Path)
    p.add_argument("--eve", required=True, type=Path)
    p.add_argument("--baselines", type=Path)
    p.add_argument("--proxy-log", type=Path)
    p.add_argument("--out", required=True, type=Path, help="report directory")
    p.add_argument("--out-file", type=Path, help="learn: where to write the baselines")
    p.add_argument("--result", required=True, type=Path)
    p.add_argument("--cpu", type=int)
    p.add_argument("--workers", type=int, default=2, help="consume-workers: processes (2)")
    p.add_argument("--splitter", choices=("worker0", "process"), default="worker0",
                   help="consume-workers: who reads and routes the lines (worker0)")
    p.add_argument("--profile", type=Path)
    args = p.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    cfg = load_config(args.config)
    timed = Timed(args.profile)
    result = MODES[args.mode](cfg, args, timed)
    result.update(run_cpu_s=timed.cpu_s, mode=args.mode, cpu=args.cpu, vm_hwm_kb=vm_hwm_kb(),
                  affinity=sorted(os.sched_getaffinity(0)))
    args.result.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
