"""One worker's read of ``consume --workers N`` alone, in CPU seconds (docs/bench.md, "Issue 15
figure 2b — workers read lazy lines").

The file is routed first (untimed) as the splitter = worker 0 routes it (DNS forwarded to
worker 0); then, in this one process pinned to one CPU, each worker's part of every batch is
read as the workers read it — in place from the memory-mapped file (``_View.read_in_place``,
when the compiled loop is built), or with ``--cut`` (and without it) cut from the map
(``_View.cut``) and fed (``feed_part``) — by a consumer of its own: the per-line work of a
worker without the pipes, the other processes or the report. Prints one JSON object: per
worker, CPU seconds and µs per line of the file for the cut alone (``--phases both``) and for
the read (decode and handlers, the cut included); robust to a shared machine (CPU time of one
pinned process), so before/after can be compared on a busy one::

    python bench/worker_part.py --config DIR/sakimori.yaml --eve DIR/big-eve.json [--cpu 1]
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from measure import part_parser, pinned_config

from eve_consumer.pipeline import Consumer
from eve_consumer.shard import WorkerShard, worker_table
from eve_consumer.workers import SplitReader, _View, feed_part, splitter_router


def main(argv: list[str] | None = None) -> int:
    p = part_parser(__doc__)
    p.add_argument("--phases", choices=("both", "read", "none"), default="both",
                   help="cut alone then cut + read (both), cut + read only, or neither (the "
                        "set-up alone: subtracted from an instruction count)")
    p.add_argument("--cut", action="store_true",
                   help="read: cut each batch's lines, then feed them (the path without the "
                        "in-place read), instead of reading them in place")
    args = p.parse_args(argv)
    cfg = pinned_config(args)
    count, source = args.workers, str(args.eve)
    out: dict[str, Any] = {"loop": None}
    with tempfile.TemporaryDirectory() as tmp:
        consumers = [Consumer(cfg, None, Path(tmp) / f"out{k}", Path(tmp) / f"state{k}",
                              mail=False) for k in range(count)]
        dec = consumers[0].decoder
        router = splitter_router(count, cfg, dec, forward_dns=count > 1)
        reader = SplitReader(args.eve, cfg.consumer, router=router)
        batches = []
        lines = 0
        while (got := reader.read()) is not None:
            first, base, lens, got_lines, codes = got
            if codes is None:
                codes = router.route(got_lines) if got_lines is not None else \
                    router.route_view(reader.map, base, lens)
            if lens is None:
                raise SystemExit("worker_part: a batch holds a cut line (not measured)")
            batches.append((first, base, lens, codes))
            lines += len(lens)
        reader.close()
        out["lines"] = lines
        with args.eve.open("rb") as fh:
            for k in range(count if args.phases != "none" else 0):
                consumer, shard, table = consumers[k], WorkerShard(k), worker_table(k, count)
                consumer.set_shard(shard)
                cut_s = 0.0
                if args.phases == "both":
                    view = _View(fh)
                    t0 = time.process_time()
                    for first, base, lens, codes in batches:
                        view.cut(codes, table, first, base, lens, source)
                    cut_s = time.process_time() - t0
                    view.close()
                view = _View(fh)
                in_place = consumer.reads_in_place and not args.cut
                t0 = time.process_time()
                for first, base, lens, codes in batches:
                    if in_place:  # as the workers read: in place from the map
                        view.read_in_place(consumer, codes, table, first, base, lens, None,
                                           source)
                        continue
                    part = view.cut(codes, table, first, base, lens, source)
                    if part is not None:
                        feed_part(consumer, shard, source, part)
                read_s = time.process_time() - t0
                view.close()
                out[f"worker{k}"] = {
                    "cut_s": round(cut_s, 4), "cut_us_per_line": round(cut_s * 1e6 / lines, 3),
                    "read_s": round(read_s, 4), "in_place": in_place,
                    "read_us_per_line": round(read_s * 1e6 / lines, 3),
                    "lines_decoded": consumer.decoder.stats.lines,
                    "shared_lines": consumer.shared_lines}
                out["loop"] = consumer.feed_loop
        for c in consumers:
            c.close()
    json.dump(out, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
