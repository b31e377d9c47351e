"""Firewall LOG lines (iptables ``-j LOG`` / nftables ``log``) as blocked-attempt records.

Only lines carrying ``SRC=``, ``DST=`` and ``DPT=`` are used (lines of port-less protocols
such as ICMP are passed over); every such line is one blocked packet (log only what the
firewall drops or rejects). Retransmissions of one attempt share
(SRC, SPT, DST, DPT, PROTO) and count once (the key). Time of a line:

- an ISO 8601 prefix (rsyslog high-precision, journalctl ``-o short-iso``), or
- a classic syslog prefix ``Nov  2 10:00:01`` — no year and no zone there: the year of the
  file's modification time is assumed, and the time is taken as UTC.

Unparsable lines are counted and reported as ``file:line`` like bad EVE lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sakimori.errors import InputError
from sakimori.eve.decode import DecodeStats
from sakimori.eve.evetime import MAX_TS, MIN_TS

_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}


@dataclass(frozen=True)
class FwRecord:
    """One logged blocked packet."""

    ts: float
    src: str
    dst: str
    dport: int
    proto: str
    key: str


def _fields(line: str) -> dict[str, str]:
    out = {}
    for token in line.split():
        name, eq, value = token.partition("=")
        if eq and name.isupper():
            out[name] = value
    return out


def _timestamp(line: str, year: int) -> float | None:
    head = line.split(" ", 1)[0]
    if len(head) >= 19 and head[4] == "-" and head[10] == "T":
        try:
            parsed = datetime.fromisoformat(head.replace("Z", "+00:00"))
        except ValueError:
            return None
        ts = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
        return ts if MIN_TS <= ts < MAX_TS else None  # decode's range: later stages hold it
    parts = line.split(None, 3)
    if len(parts) >= 3 and parts[0] in _MONTHS:
        try:
            hh, mm, ss = (int(x) for x in parts[2].split(":"))
            return datetime(year, _MONTHS[parts[0]], int(parts[1]), hh, mm, ss,
                            tzinfo=UTC).timestamp()
        except ValueError:
            return None
    return None


def read_fw_log(path: str | Path, stats: DecodeStats | None = None) -> Iterator[FwRecord]:
    """Yield the blocked packets logged in *path*; bad lines go to *stats*."""
    name = str(path)
    try:
        year = datetime.fromtimestamp(Path(path).stat().st_mtime, tz=UTC).year
        fh = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise InputError(name, None, f"cannot read firewall log: {exc.strerror or exc}") \
            from exc
    with fh:
        for lineno, line in enumerate(fh, 1):
            if "SRC=" not in line or "DST=" not in line:
                continue
            f = _fields(line)
            proto = f.get("PROTO", "?")
            if "DPT" not in f and proto not in ("TCP", "UDP", "SCTP"):
                continue  # ICMP and friends: no port, not a connection attempt we count
            ts = _timestamp(line, year)
            dport = f.get("DPT", "")
            if ts is None or not dport.isdigit() or "SRC" not in f or "DST" not in f:
                if stats is not None:
                    stats.reject(f"{name}:{lineno}", "firewall LOG line without a time, "
                                                     "SRC=, DST= or DPT=")
                continue
            key = f"fw:{f['SRC']}:{f.get('SPT', '?')}:{f['DST']}:{dport}:{proto}"
            yield FwRecord(ts, f["SRC"], f["DST"], int(dport), proto, key)
