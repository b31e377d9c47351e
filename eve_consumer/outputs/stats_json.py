"""``stats_json``: OUT_DIR/stats.json — lines read, events used, bad lines with file:line
examples, ignored event types and alerts, every skip/drop/eviction counter, throughput."""

from __future__ import annotations

import orjson

from eve_consumer.outputs import Output, Report, atomic_write


class StatsJson(Output):
    name = "stats_json"
    FILENAME = "stats.json"

    def write(self, report: Report) -> None:
        data = orjson.dumps(report.stats, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
                            | orjson.OPT_NON_STR_KEYS)
        atomic_write(report.out_dir / self.FILENAME, data + b"\n")
