"""The splitter's read of ``consume --workers N`` alone, in CPU seconds (docs/bench.md, "Issue 15
figure 2b — splitter").

In this one process pinned to one CPU, the splitter's reader (``SplitReader``) scans the
memory-mapped EVE and routes every batch as worker 0 does in ``--workers 2`` (DNS forwarded to
worker 0, the flow skip of the config's prefilter): ``scan_route`` per batch, no worker, no
pipe. ``--scan-only`` scans without routing (what routing adds is the difference). Prints one
JSON object: the lines, the best CPU µs per line of ``--reps`` passes (a new router each), a
digest of the codes and of the host placement (so two builds can be shown to route alike),
the loads and the load average::

    python bench/split_part.py --config DIR/sakimori.yaml --eve DIR/big-eve.json [--cpu 1]
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from measure import part_parser, pinned_config

from eve_consumer.pipeline import Consumer
from eve_consumer.workers import SplitReader, splitter_router


def main(argv: list[str] | None = None) -> int:
    p = part_parser(__doc__)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--scan-only", action="store_true", help="scan without routing")
    args = p.parse_args(argv)
    cfg = pinned_config(args)
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        dec = Consumer(cfg, None, Path(tmp) / "out", Path(tmp) / "state", mail=False).decoder
        best = float("inf")
        for _ in range(args.reps):
            router = splitter_router(args.workers, cfg, dec, forward_dns=args.workers > 1)
            reader = SplitReader(args.eve, cfg.consumer,
                                 router=None if args.scan_only else router)
            codes, lines = hashlib.sha256(), 0
            t0 = time.process_time()
            while (got := reader.read()) is not None:
                if got[2] is None:
                    raise SystemExit("split_part: a batch holds a cut line (not measured)")
                codes.update(got[4] or b"")
                lines += len(got[2])
            best = min(best, time.process_time() - t0)
            reader.close()
        placed = repr(sorted(router.hosts.items())).encode()
        out = {"lines": lines, "us_per_line": round(best / max(lines, 1) * 1e6, 4),
               "codes": codes.hexdigest()[:16], "hosts": hashlib.sha256(placed).hexdigest()[:16],
               "load": [round(x, 2) for x in router.load], "loadavg": os.getloadavg()}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
