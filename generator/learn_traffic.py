"""Learn traffic baselines from Suricata EVE and web-proxy logs, incrementally.

:class:`TrafficLearner` starts from an existing baselines document (or an empty one), folds
new inputs into the mergeable summaries of :mod:`generator.traffic_summary`, and writes the
document back with every threshold recomputed (:mod:`generator.thresholds`). EVE is read with
the shared decoder (:mod:`sakimori.eve.decode`), so learning and the consumer read EVE alike.

What each EVE event contributes (internal = ``cfg.is_home``; outbound = internal source,
external destination):

- ``http``: URL length (outbound), destination name (Host).
- ``tls``: destination name (SNI).
- ``flow`` (TCP): internal host activity; outbound attempts and failures per host-day;
  durations of established outbound sessions; the app-layer protocol per server port
  (internal clients, answered sessions); destination IP when no name was seen for the flow
  (established TCP sessions and answered UDP flows only: scans and refusals are not
  "talking to" a destination).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from generator import thresholds
from generator.traffic_summary import TrafficSummary, from_iso, iso
from sakimori.baselines import SCHEMA_VERSION, empty_document
from sakimori.config import Config
from sakimori.errors import InputError
from sakimori.eve.decode import Decoder, Event, flow_times
from sakimori.eve.file import read_events
from sakimori.proxylog import ProxyLogStats, ProxyRecord, read_proxy_log

log = logging.getLogger(__name__)

EVE_TYPES = frozenset({"flow", "http", "tls"})
ESTABLISHED = frozenset({"established", "closed"})


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def now_iso() -> str:
    """Wall-clock time of this learn (``SOURCE_DATE_EPOCH`` pins it for reproducible runs)."""
    pinned = os.environ.get("SOURCE_DATE_EPOCH")
    ts = float(pinned) if pinned and pinned.isdigit() else datetime.now(UTC).timestamp()
    return iso(ts)


class _Span:
    def __init__(self) -> None:
        self.first: float | None = None
        self.last: float | None = None

    def see(self, start: float, end: float | None = None) -> None:
        end = start if end is None else end
        self.first = start if self.first is None else min(self.first, start)
        self.last = end if self.last is None else max(self.last, end)


class TrafficLearner:
    """Fold inputs into a baselines document."""

    def __init__(self, cfg: Config, doc: dict[str, Any] | None = None,
                 source: str = "<new>") -> None:
        self.cfg = cfg
        self.lines_read = 0  # lines of the input being read (for a progress line)
        # is_home parses the address each call: cache it, EVE repeats the same few hosts.
        self.is_home = functools.lru_cache(maxsize=65536)(cfg.is_home)
        self.doc = doc if doc is not None else empty_document()
        try:
            self.summary = TrafficSummary.from_traffic(self.doc.get("traffic") or {})
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(source, None, f"baselines traffic section unusable: {exc}") \
                from exc
        prov = self.doc.get("provenance") or {}
        self.inputs: list[dict[str, Any]] = list(prov.get("inputs") or [])
        self._known = {i.get("sha256") for i in self.inputs if isinstance(i, dict)}
        self.skipped: list[str] = []

    # --- inputs ------------------------------------------------------------------------

    def is_known(self, path: Path) -> bool:
        """True when a file with the same content was already learned into this document."""
        return path.is_file() and file_sha256(path) in self._known

    def _already_learned(self, path: Path, digest: str) -> bool:
        if digest in self._known:
            log.warning("%s: already learned (same sha256), skipped", path)
            self.skipped.append(str(path))
            return True
        self._known.add(digest)
        return False

    def add_eve(self, path: Path, kind: str = "eve", label: Path | None = None) -> dict | None:
        """Learn one EVE file (*label* names the capture it came from, for ``--pcap``)."""
        named = label or path
        digest = file_sha256(label or path) if (label or path).is_file() else ""
        if digest and self._already_learned(named, digest):
            return None
        decoder = Decoder(wanted=EVE_TYPES)
        span = _Span()
        seen_names: set[int] = set()
        for ev in read_events(path, decoder):
            self._eve_event(ev, span, seen_names)
            self.lines_read = decoder.stats.lines
        st = decoder.stats
        entry = {"path": str(named), "kind": kind, "sha256": digest,
                 "records": sum(st.decoded.values()), "lines": st.lines, "bad": st.bad_total,
                 "bad_examples": list(st.examples),
                 "first": iso(span.first) if span.first is not None else None,
                 "last": iso(span.last) if span.last is not None else None}
        self.inputs.append(entry)
        return entry

    def add_proxy_log(self, path: Path) -> dict | None:
        """Learn one proxy access log (Squid native or Apache combined)."""
        if not path.is_file():
            raise InputError(str(path), None, "proxy log not found")
        digest = file_sha256(path)
        if self._already_learned(path, digest):
            return None
        stats = ProxyLogStats()
        span = _Span()
        for rec in read_proxy_log(path, stats):
            self._proxy_record(rec, span)
            self.lines_read = stats.lines
        entry = {"path": str(path), "kind": "proxy-log", "sha256": digest,
                 "records": stats.records, "lines": stats.lines, "bad": stats.malformed,
                 "ignored": stats.ignored, "bad_examples": list(stats.examples),
                 "first": iso(span.first) if span.first is not None else None,
                 "last": iso(span.last) if span.last is not None else None}
        self.inputs.append(entry)
        return entry

    # --- per record ----------------------------------------------------------------------

    def _outbound(self, ev: Event) -> bool:
        return self.is_home(ev.src_ip) and not self.is_home(ev.dest_ip)

    def _eve_event(self, ev: Event, span: _Span, seen_names: set[int]) -> None:
        if ev.kind == "flow":
            self._flow(ev, span, seen_names)
            return
        span.see(ev.ts)
        if not self._outbound(ev):
            return
        if ev.kind == "http":
            url = ev.data.get("url")
            if isinstance(url, str) and url:
                self.summary.url_lengths.add(len(url))
            name = ev.data.get("hostname")
        else:
            name = ev.data.get("sni")
        if isinstance(name, str) and name.strip():
            self.summary.see_destination(name.strip().lower().rstrip("."), ev.src_ip)
            seen_names.add(ev.flow_id)

    def _flow(self, ev: Event, span: _Span, seen_names: set[int]) -> None:
        times = flow_times(ev)
        if times is None:
            return
        start, end = times
        span.see(start, end)
        if not self.is_home(ev.src_ip):
            return
        s = self.summary
        s.see_host(ev.src_ip, start, end)
        flow = ev.data.get("flow") or {}
        state = flow.get("state")
        answered = (flow.get("pkts_toclient") or 0) > 0
        is_tcp = ev.proto == "TCP"
        established = is_tcp and state in ESTABLISHED and answered
        if established:
            s.see_port(ev.dest_port, str(ev.data.get("app_proto") or "null"))
        if self.is_home(ev.dest_ip):
            return
        if is_tcp:
            tcp = ev.data.get("tcp") if isinstance(ev.data.get("tcp"), dict) else None
            if state == "new" and (tcp is None or tcp.get("syn")):
                refused = bool(tcp and tcp.get("rst"))
                s.see_attempt(ev.src_ip, start, failed=(not answered) or refused)
            elif established:
                s.see_attempt(ev.src_ip, start, failed=False)
                s.durations.add(end - start)
        if ev.flow_id in seen_names:
            seen_names.discard(ev.flow_id)
        elif established or (answered and not is_tcp):
            s.see_destination(ev.dest_ip, ev.src_ip)

    def _proxy_record(self, rec: ProxyRecord, span: _Span) -> None:
        span.see(rec.ts)
        if rec.url_length is not None:
            self.summary.url_lengths.add(rec.url_length)
        if not self.is_home(rec.client):
            return
        self.summary.see_host(rec.client, rec.ts)
        if rec.host and not self.is_home(rec.host):
            self.summary.see_destination(rec.host, rec.client)

    # --- output --------------------------------------------------------------------------

    def document(self) -> dict[str, Any]:
        """The updated baselines document (thresholds recomputed from merged summaries)."""
        s, k = self.summary, self.cfg.traffic
        traffic = dict(self.doc.get("traffic") or {})
        traffic.update(s.to_traffic())
        traffic["url_length"] = thresholds.url_length(s.url_lengths, k.url_length_k)
        traffic["session_duration"] = thresholds.session_duration(s.durations,
                                                                  k.long_session_k)
        traffic["fw_failures"] = thresholds.fw_failures(s.fw_per_host_day())
        doc = dict(self.doc)
        doc["schema_version"] = SCHEMA_VERSION
        doc["generated_at"] = now_iso()
        doc["traffic"] = traffic
        doc.setdefault("mail", {})
        doc["provenance"] = self._provenance()
        return doc

    def _provenance(self) -> dict[str, Any]:
        firsts = [i["first"] for i in self.inputs if isinstance(i, dict) and i.get("first")]
        lasts = [i["last"] for i in self.inputs if isinstance(i, dict) and i.get("last")]
        return {
            "inputs": self.inputs,
            "records": sum(int(i.get("records") or 0) for i in self.inputs
                           if isinstance(i, dict)),
            "first_seen": iso(min(from_iso(t) for t in firsts)) if firsts else None,
            "last_seen": iso(max(from_iso(t) for t in lasts)) if lasts else None,
        }
