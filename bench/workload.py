"""The benchmark's workload: simulated captures, configuration, rules and the large EVE file.

Everything comes from the project's own code: the office simulator
(:mod:`sakimori_demo.officesim`), real Suricata (:func:`sakimori.suricata.read_pcaps`) and the rule
generator (:func:`generator.render_suricata.write_suricata`). The large EVE file is real
Suricata output repeated: copy *k* has every ``timestamp`` / ``flow.start`` / ``flow.end``
moved by *k* × (days the capture spans) and ``flow_id`` + *k*·2⁵¹ (Suricata's own ids fit
in 51 bits), so the consumer sees distinct flows on later days and every line stays valid EVE.
"""

from __future__ import annotations

import math
import re
import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from sakimori_demo.officesim import SimParams, generate

EXAMPLE_CONFIG = Path(__file__).resolve().parents[1] / "examples" / "sakimori.yaml"
FLOW_ID_STEP = 1 << 51
_TS = re.compile(rb'("(?:timestamp|start|end)":")(\d{4}-\d\d-\d\d)T')
_FLOW_ID = re.compile(rb'"flow_id":(\d+)')


def simulate(data_dir: Path, params: SimParams) -> dict[str, Any]:
    """Fresh simulated captures (office.pcap, baseline.pcap, ...) in *data_dir*."""
    shutil.rmtree(data_dir, ignore_errors=True)
    return generate(data_dir, params)


def write_config(out: Path, data_dir: Path) -> Path:
    """The example configuration with this run's relay list and state directory."""
    doc = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8")) or {}
    doc.setdefault("anonymizer", {})["tor_relays"] = [str(data_dir / "tor-relays.txt")]
    doc.setdefault("consumer", {})["state_dir"] = str(out / "state")
    doc.setdefault("alerts", {})["enabled"] = False
    path = out / "sakimori.yaml"
    path.write_text("# Benchmark configuration derived from examples/sakimori.yaml by "
                    "bench/run.py.\n" + yaml.safe_dump(doc, sort_keys=False), "utf-8")
    return path


def count_lines(path: Path) -> int:
    n = 0
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            n += block.count(b"\n")
    return n


def day_span(data: bytes) -> int:
    """How many calendar days the top-level timestamps of *data* cover (at least 1)."""
    days = {m.group(2) for m in _TS.finditer(data)}
    if not days:
        return 1
    first, last = date.fromisoformat(min(days).decode()), date.fromisoformat(max(days).decode())
    return (last - first).days + 1


def shifted_copy(data: bytes, days: int, flow_id_add: int) -> bytes:
    """*data* (EVE lines) with dates moved by *days* and flow ids moved by *flow_id_add*."""
    if days == 0 and flow_id_add == 0:
        return data
    moved: dict[bytes, bytes] = {}

    def new_date(m: re.Match[bytes]) -> bytes:
        old = m.group(2)
        new = moved.get(old)
        if new is None:
            new = moved[old] = (date.fromisoformat(old.decode()) + timedelta(days=days)) \
                .isoformat().encode()
        return m.group(1) + new + b"T"

    data = _TS.sub(new_date, data)
    return _FLOW_ID.sub(lambda m: b'"flow_id":%d' % (int(m.group(1)) + flow_id_add), data)


@dataclass
class BigEve:
    """The repeated EVE file and how it was made."""

    path: Path
    copies: int
    events: int
    size: int
    shift_days: int


def build_big_eve(base: Path, dest: Path, min_events: int) -> BigEve:
    """Repeat *base* into *dest* until it holds at least *min_events* lines."""
    data = base.read_bytes()
    if data and not data.endswith(b"\n"):
        data += b"\n"
    per_copy = data.count(b"\n")
    if per_copy == 0:
        raise ValueError(f"{base}: no events to repeat")
    copies = max(1, math.ceil(min_events / per_copy))
    span = day_span(data)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with dest.open("wb") as fh:
        for k in range(copies):
            fh.write(shifted_copy(data, k * span, k * FLOW_ID_STEP))
    return BigEve(dest, copies, copies * per_copy, dest.stat().st_size, span)
