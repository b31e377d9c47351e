"""Passive mode on hostile EVE: values of the wrong type anywhere in an ``smtp`` event, huge
Received lists, CR/LF and bidi characters in every string — the consumer never raises, the
bad lines are counted, and a flagged mail still becomes exactly one recorded warning."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

from eve_consumer.pipeline import Consumer
from sakimori.config import load_config
from sakimori.eve.lines import Batch

CONFIG = """\
networks: {home: [10.0.0.0/8], mail_relays: [192.0.2.10/32]}
mail: {internal_domains: [example.co.jp]}
alerts: {smtp: "127.0.0.1:9", admins: [soc@example.co.jp]}
"""
EVENT: dict[str, Any] = {
    "timestamp": "2026-11-25T01:00:00.000000+0000", "flow_id": 7, "event_type": "smtp",
    "src_ip": "8.8.4.4", "src_port": 40000, "dest_ip": "10.0.0.25", "dest_port": 25,
    "proto": "TCP", "tx_id": 0,
    "smtp": {"helo": "x", "mail_from": "<a@evil.example>", "rcpt_to": ["<b@example.co.jp>"]},
    "email": {"status": "PARSE_DONE", "from": "CEO <ceo@example.co.jp>",
              "to": ["b@example.co.jp"], "subject": "wire transfer", "reply_to": "x@y.example",
              "message_id": "<fuzz-0@evil.example>", "date": "Tue, 25 Nov 2026 10:00:00 +0900",
              "received": ["from a (b [45.0.0.1]) by c; Tue, 25 Nov 2026 09:00:00 +0900"]},
}
ODD = [None, 0, -1, 1.5, True, "", "\r\nBcc: x@y\u202e", [], [None, 3], {}, {"a": [1]},
       "x" * 70_000, ["from ([[[" * 500] * 300]


def _mutants(rnd: random.Random, n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        ev = copy.deepcopy(EVENT)
        ev["email"]["message_id"] = f"<fuzz-{i}@evil.example>"
        for _ in range(rnd.randint(1, 4)):
            section = rnd.choice(["smtp", "email", None])
            target = ev if section is None else ev[section]
            if isinstance(target, dict) and target:
                key = rnd.choice(sorted(target))
                if key not in ("event_type", "timestamp"):
                    target[key] = rnd.choice(ODD)
        out.append(ev)
    return out


def test_hostile_smtp_events_never_crash_the_consumer(tmp_path: Path) -> None:
    cfg_path = tmp_path / "sakimori.yaml"
    cfg_path.write_text(CONFIG, encoding="utf-8")
    cfg = load_config(cfg_path, env={})
    lines = [json.dumps(ev).encode() for ev in _mutants(random.Random(3), 300)]
    lines += [json.dumps(EVENT).encode()] * 3  # one clean spoof, delivered three times
    with Consumer(cfg, None, tmp_path / "out", tmp_path / "state", mail=False) as consumer:
        consumer.feed(Batch(lines=lines, first=1, source="fuzz.json"))
        consumer.evaluate(follow=False)
        counters = consumer.ctx.counters
        assert counters["mail_smtp_judged"] + counters["mail_smtp_without_email"] + \
            consumer.decoder.stats.bad_total == len(lines)
    records = [json.loads(x) for x in (tmp_path / "out" / "mail_warnings.jsonl").read_text()
               .splitlines()]
    assert len({r["key"] for r in records}) == len(records)
    clean = [r for r in records if r["key"] == "mid:fuzz-0@evil.example"]
    assert len(clean) == 1 and clean[0]["mailed"] is False
    for rec in records:
        assert all("\r" not in v and "\u202e" not in v for v in rec.values() if isinstance(v, str))
