"""``findings_jsonl``: OUT_DIR/findings.jsonl, one JSON object per finding (for a SIEM).

Each line: ``host, detection, score`` (the host's score), ``severity``, ``confidence``,
``first_seen``/``last_seen`` (ISO 8601 UTC), ``destinations``, ``flow_ids``, ``summary``,
``evidence``, ``classes`` (the Table 1 classes this finding stands for) and ``host_classes``
(the host's, as in hosts.csv). One-shot runs rewrite the file. Follow mode appends: a finding
is written when it is new, and again when it changed, at most once per ``REEMIT_S`` (one
hour) — the state store remembers what was written.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import orjson

from eve_consumer.classes import ClassMap
from eve_consumer.correlate import finding_classes
from eve_consumer.outputs import Output, Report, atomic_write

REEMIT_S = 3600.0


def _digest(d: dict[str, Any]) -> str:
    core = {k: d[k] for k in ("confidence", "last_seen", "destinations", "summary")}
    return hashlib.sha256(orjson.dumps(core, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


class FindingsJsonl(Output):
    name = "findings_jsonl"
    FILENAME = "findings.jsonl"
    def class_map(self) -> ClassMap:
        """The consumer's class map (given at construction), else ``classes.map_file`` read
        once."""
        if self.classes is None:
            self.classes = ClassMap.load(self.cfg.classes.map_file)
        return self.classes

    def write(self, report: Report) -> None:
        records = []
        for row in report.rows:
            for f in row.findings:
                d = f.as_dict()
                d.update(score=row.score, severity=row.severity,
                         classes=finding_classes(f, self.class_map()),
                         host_classes=list(row.classes))
                del d["first_seen_epoch"], d["last_seen_epoch"]
                records.append(d)
        path = report.out_dir / self.FILENAME
        if not report.follow or self.store is None:
            atomic_write(path, b"".join(orjson.dumps(r) + b"\n" for r in records))
            return
        emitted = self.store.emitted()
        now, fresh = time.time(), []
        for r in records:
            when, digest = emitted.get((r["host"], r["detection"]), (None, None))
            new_digest = _digest(r)
            if when is None or (digest != new_digest and now - when >= REEMIT_S):
                r["update"] = when is not None
                fresh.append((r, new_digest))
        if not fresh:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab") as fh:
            fh.write(b"".join(orjson.dumps(r) + b"\n" for r, _ in fresh))
        self.store.mark_emitted((r["host"], r["detection"], g) for r, g in fresh)
