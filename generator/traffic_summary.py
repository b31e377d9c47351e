"""The mergeable state behind the learned traffic baselines, and its JSON form.

Everything here merges exactly (counts add, sets unite, first/last take min/max), so
``learn A`` then ``learn B`` on the same output file yields the same summaries as
``learn A+B``. Thresholds are never merged: they are recomputed from these summaries
(see :mod:`generator.thresholds`). Layout inside ``baselines["traffic"]``: see docs/baselines.md.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from generator.stats import LogHistogram
from sakimori.distinct import EXACT_MAX, DistinctCount

URL_BINS_PER_OCTAVE = 32
DURATION_BINS_PER_OCTAVE = 32
FW_RETENTION_DAYS = 90  # per-host-day failure counts older than this (vs newest day) dropped
MAX_SERVER_PORT = 49151  # server ports in the IANA dynamic range (P2P, RPC) are not kept


def iso(ts: float) -> str:
    """Epoch seconds → ISO 8601 UTC with a ``Z`` (second resolution)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def day_of(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def _ip_key(text: str) -> tuple[int, int, str]:
    try:
        addr = ipaddress.ip_address(text)
        return (addr.version, int(addr), text)
    except ValueError:
        return (9, 0, text)


@dataclass
class HostSeen:
    flows: int = 0
    first: float | None = None
    last: float | None = None

    def see(self, start: float, end: float | None = None, count: int = 1) -> None:
        self.flows += count
        end = start if end is None else end
        self.first = start if self.first is None else min(self.first, start)
        self.last = end if self.last is None else max(self.last, end)


@dataclass
class TrafficSummary:
    """All mergeable traffic summaries of one baselines document."""

    url_lengths: LogHistogram = field(
        default_factory=lambda: LogHistogram(URL_BINS_PER_OCTAVE))
    durations: LogHistogram = field(
        default_factory=lambda: LogHistogram(DURATION_BINS_PER_OCTAVE))
    # host -> day -> [outbound TCP attempts, failed attempts]
    fw: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    ports: dict[int, dict[str, int]] = field(default_factory=dict)
    # destination key -> distinct internal hosts (exact to EXACT_MAX, then a HyperLogLog)
    destinations: dict[str, DistinctCount] = field(default_factory=dict)
    hosts: dict[str, HostSeen] = field(default_factory=dict)

    # --- recording ---------------------------------------------------------------------

    def see_host(self, ip: str, start: float, end: float | None = None) -> None:
        self.hosts.setdefault(ip, HostSeen()).see(start, end)

    def see_destination(self, key: str, host: str) -> None:
        hosts = self.destinations.get(key)
        if hosts is None:
            hosts = self.destinations[key] = DistinctCount()
        hosts.add(host)

    def see_port(self, port: int, app_proto: str) -> None:
        if 0 < port <= MAX_SERVER_PORT:
            counts = self.ports.setdefault(port, {})
            counts[app_proto] = counts.get(app_proto, 0) + 1

    def see_attempt(self, host: str, ts: float, failed: bool) -> None:
        cell = self.fw.setdefault(host, {}).setdefault(day_of(ts), [0, 0])
        cell[0] += 1
        cell[1] += int(failed)

    def prune(self) -> None:
        """Apply the documented caps (merge-consistent: applied to merged data too)."""
        days = [d for per in self.fw.values() for d in per]
        if days:
            newest = datetime.strptime(max(days), "%Y-%m-%d")
            oldest = (newest - timedelta(days=FW_RETENTION_DAYS - 1)).strftime("%Y-%m-%d")
            for host in list(self.fw):
                kept = {d: c for d, c in self.fw[host].items() if d >= oldest}
                if kept:
                    self.fw[host] = kept
                else:
                    del self.fw[host]

    # --- JSON ---------------------------------------------------------------------------

    def to_traffic(self) -> dict[str, Any]:
        """The summary parts of ``baselines["traffic"]`` (thresholds are added elsewhere)."""
        self.prune()
        return {
            "port_protocols": {str(p): dict(sorted(self.ports[p].items()))
                               for p in sorted(self.ports)},
            "destinations": {k: _hosts_state(v) for k, v in sorted(self.destinations.items())},
            "destinations_exact_max": EXACT_MAX,
            "n_internal_hosts": len(self.hosts),
            "internal_hosts": {
                ip: {"flows": h.flows, "first": iso(h.first) if h.first is not None else None,
                     "last": iso(h.last) if h.last is not None else None}
                for ip, h in sorted(self.hosts.items(), key=lambda kv: _ip_key(kv[0]))},
        }

    def fw_per_host_day(self) -> dict[str, dict[str, dict[str, int]]]:
        return {h: {d: {"attempts": c[0], "failed": c[1]} for d, c in sorted(days.items())}
                for h, days in sorted(self.fw.items(), key=lambda kv: _ip_key(kv[0]))}

    @classmethod
    def from_traffic(cls, traffic: dict[str, Any]) -> TrafficSummary:
        """Rebuild from a document's ``traffic`` section; ValueError names the bad part."""
        s = cls()
        url = traffic.get("url_length") or {}
        if "histogram" in url:
            s.url_lengths = LogHistogram.from_dict(url["histogram"], URL_BINS_PER_OCTAVE)
        dur = traffic.get("session_duration") or {}
        if "histogram" in dur:
            s.durations = LogHistogram.from_dict(dur["histogram"], DURATION_BINS_PER_OCTAVE)
        per = (traffic.get("fw_failures") or {}).get("per_host_day") or {}
        for host, days in _mapping(per, "fw_failures.per_host_day").items():
            for day, cell in _mapping(days, f"fw_failures.per_host_day.{host}").items():
                s.fw.setdefault(host, {})[day] = [int(cell["attempts"]), int(cell["failed"])]
        for port, counts in _mapping(traffic.get("port_protocols") or {},
                                     "port_protocols").items():
            s.ports[int(port)] = {str(k): int(v) for k, v in
                                  _mapping(counts, f"port_protocols.{port}").items()}
        for key, hosts in _mapping(traffic.get("destinations") or {}, "destinations").items():
            s.destinations[key] = DistinctCount.from_state(hosts, f"destinations.{key}")
        for ip, seen in _mapping(traffic.get("internal_hosts") or {},
                                 "internal_hosts").items():
            first, last = seen.get("first"), seen.get("last")
            s.hosts[ip] = HostSeen(int(seen.get("flows", 0)),
                                   from_iso(first) if first else None,
                                   from_iso(last) if last else None)
        return s


def _hosts_state(hosts: DistinctCount) -> list[str] | dict[str, Any]:
    """A destination's hosts as JSON: the list (in address order) while exact, else the sketch."""
    state = hosts.to_state()
    return sorted(state, key=_ip_key) if isinstance(state, list) else state


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be an object")
    return value
