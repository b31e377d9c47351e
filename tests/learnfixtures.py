"""EVE input for the traffic-learning tests: one office day of flow/http/tls events, written as
EVE JSON lines (shared by test_generator_learn.py and test_cmd_learn_generate.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DAY = datetime(2026, 11, 2, tzinfo=UTC).timestamp()


def _ts(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")


def flow(src: str, dst: str, dport: int, start: float, dur: float, *, state: str = "closed",
         toclient: int = 5, app: str | None = "http", rst: bool = False, fid: int = 0,
         proto: str = "TCP") -> dict[str, Any]:
    return {"timestamp": _ts(start + dur), "flow_id": fid, "event_type": "flow",
            "src_ip": src, "src_port": 40000, "dest_ip": dst, "dest_port": dport,
            "proto": proto, "app_proto": app,
            "flow": {"pkts_toserver": 3, "pkts_toclient": toclient, "bytes_toserver": 300,
                     "bytes_toclient": 900, "start": _ts(start), "end": _ts(start + dur),
                     "age": int(dur), "state": state, "reason": "timeout", "alerted": False},
            "tcp": {"syn": True, "rst": rst, "state": "syn_sent" if toclient == 0 else state}}


def http(src: str, dst: str, host: str, url: str, t: float, fid: int) -> dict[str, Any]:
    return {"timestamp": _ts(t), "flow_id": fid, "event_type": "http", "src_ip": src,
            "src_port": 40000, "dest_ip": dst, "dest_port": 80, "proto": "TCP",
            "http": {"hostname": host, "url": url, "http_method": "GET", "status": 200}}


def tls(src: str, dst: str, sni: str, t: float, fid: int) -> dict[str, Any]:
    return {"timestamp": _ts(t), "flow_id": fid, "event_type": "tls", "src_ip": src,
            "src_port": 40000, "dest_ip": dst, "dest_port": 443, "proto": "TCP",
            "tls": {"sni": sni, "version": "TLS 1.2"}}


def write_eve(path: Path, events: list[dict[str, Any]], extra: str = "") -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events) + extra)
    return path


def office_day(day: float, hosts: int = 10, seed: int = 0) -> list[dict[str, Any]]:
    """One day: every host browses (HTTP + TLS, named), holds a few long sessions and has a
    couple of failed attempts; host .19 fails a lot."""
    events: list[dict[str, Any]] = []
    fid = int(day) * 1000 + seed * 100_000
    for h in range(10, 10 + hosts):
        src = f"10.1.10.{h}"
        for i in range(6):
            fid += 1
            t = day + 3600 * (h % 8) + 60 * i
            events.append(http(src, "198.51.100.7", "www.example.com", "/p/" + "x" * (i * 7),
                               t, fid))
            events.append(flow(src, "198.51.100.7", 80, t, 2.0 + i, fid=fid))
            fid += 1
            events.append(tls(src, "198.51.100.8", "Mail.Example.NET.", t, fid))
            events.append(flow(src, "198.51.100.8", 443, t, 120.0 * (i + 1), app="tls",
                               fid=fid))
        for j in range(2 if h != 19 else 30):
            fid += 1
            events.append(flow(src, "192.0.2.66", 8443, day + 7200 + j, 3, state="new",
                               toclient=0, app=None, fid=fid))
        fid += 1
        events.append(flow(src, "192.0.2.67", 25, day + 9000, 0.01, state="new", toclient=1,
                           app=None, rst=True, fid=fid))
        fid += 1
        events.append(flow(src, "10.1.1.1", 445, day + 50, 1, app="smb", fid=fid))
    events.append(flow("198.51.100.99", "10.1.10.10", 22, day, 1, app="ssh", fid=fid + 1))
    return events
