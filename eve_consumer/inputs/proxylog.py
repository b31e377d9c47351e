"""Web-proxy access logs as consumer input: each request becomes the events the handlers read.

Lines are parsed by :func:`sakimori.proxylog.parse_line` (Squid native, Apache
common/combined — the same parser ``learn`` uses); a bad line is counted in the consumer's
:class:`~sakimori.eve.decode.DecodeStats` as ``file:line`` and skipped. A line with a request
becomes synthetic events, so the detections stay in the handlers:

- **answered request** → an ``http`` event (Host, request target as ``url``: the
  ``long_url`` handler, the flow → name join) and a ``flow`` event from the client to the
  destination (the ``beacon`` handler keys it by host name, the ``long_session`` handler
  reads its ``age`` when the log has a duration: Squid's elapsed ms; Apache has none);
- **proxy facts** a capture would show differently → one ``proxy`` event carrying them:
  ``denied`` (``TCP_DENIED``, 407, or a 403 the proxy itself gave: ``fw_blocked``),
  ``tunnel`` (an allowed ``CONNECT`` to a port outside the port → expected-protocol table,
  ``traffic.port_protocols``: ``non_http_on_http_port``) and ``anonymizer`` (a Tor relay
  address from ``anonymizer.tor_relays``, an ``.onion`` name, a tor2web gateway:
  ``<onion address>.onion.<gateway>`` or a ``tor2web*`` name).

A 407 is the proxy asking for credentials; browsers then repeat the request with them. So a
407 counts as a refusal only when the same client does not reach the same host within
``AUTH_RETRY_S`` (held back until then; :meth:`ProxyDecoder.flush`). Squid logs the retry
when it *ends* — a tunnel opened with the credentials may be logged much later — so in follow
mode a 407 is judged once the log has moved on ``AUTH_HOLD_S``; a one-shot run judges them
all at the end.

The destination address is Squid's ``HIER_DIRECT/<ip>`` peer when logged, else the host
itself (an IP literal or a name). Times: Squid logs a request when it ends, so the start is
the logged time minus the elapsed time. Every event gets a stable ``flow_id`` from the line's
text, so re-reading a line (follow mode, at-least-once) counts it once.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from eve_consumer.context import Context
from eve_consumer.model import Finding
from sakimori.eve.decode import DecodeStats, Event
from sakimori.proxylog import ProxyRecord, parse_line, request_target

AUTH_RETRY_S = 30.0
AUTH_HOLD_S = 3600.0  # follow mode: how long (log time) a 407 waits for its answered retry
MAX_PENDING = 100_000
MAX_CLIENTS = 100_000
MAX_PAIR_USERS = 200_000
USERS_PER_CLIENT = 10
KIND = "proxy"
_ONION = re.compile(r"[a-z2-7]{16}|[a-z2-7]{56}")  # v2 / v3 onion service addresses


def _flow_id(line: str) -> int:
    return int.from_bytes(hashlib.blake2b(line.encode(), digest_size=8).digest(), "big") \
        >> 1 or 1


def is_denied(rec: ProxyRecord) -> bool:
    """Refused by the proxy: Squid ``TCP_DENIED``, any 407, or a 403 the proxy gave itself
    (Squid ``NONE``/no result code; Apache, which does not say, counts too)."""
    action = rec.action or ""
    if "DENIED" in action or rec.status == 407:
        return True
    return rec.status == 403 and (not action or action.startswith(("NONE", "TAG_NONE")))


def anonymizer_reason(host: str | None, addresses: Iterable[str],
                      is_relay: Callable[[str], bool] | None) -> str | None:
    """Why a destination is an anonymiser, or None: Tor relay address, onion name, tor2web."""
    if host:
        labels = host.rstrip(".").split(".")
        if labels[-1] == "onion":
            return "onion address"
        onion_label = any(lab == "onion" and _ONION.fullmatch(labels[i - 1])
                          for i, lab in enumerate(labels[1:-1], 1))
        if onion_label or any(lab.startswith("tor2web") for lab in labels):
            return "tor2web gateway"  # <onion address>.onion.<gateway>, tor2web.*
    if is_relay is not None and any(is_relay(a) for a in addresses):
        return "Tor relay"
    return None


def relay_check(relays: Any) -> Callable[[str], bool]:
    """``text -> is it an address of *relays*`` (a RelaySet), answers remembered (bounded):
    logs repeat the same destinations."""
    known: dict[str, bool] = {}

    def check(text: str) -> bool:
        hit = known.get(text)
        if hit is None:
            try:
                addr = ipaddress.ip_address(text)
                hit = addr in relays.ipv4 or addr in relays.ipv6
            except ValueError:
                hit = False
            if len(known) >= MAX_CLIENTS:
                known.clear()
            known[text] = hit
        return hit

    return check


class ProxyDecoder:
    """Turns proxy-log lines into events; keeps 407s held back and the users per client."""

    def __init__(self, ctx: Context, stats: DecodeStats, relays: Any = None) -> None:
        self.ctx = ctx
        self.stats = stats
        self.is_relay = relay_check(relays) if relays is not None else None
        self.source = "<proxy-log>"
        self.pending: dict[str, list[list[Any]]] = {}  # "client host" -> held-back 407s
        self.n_pending = 0
        self.users: dict[str, dict[str, int]] = {}  # client -> user -> requests
        self.pair_users: dict[str, list[str]] = {}  # "client host" -> users (shared PCs)
        self.latest = 0.0

    # --- lines ---------------------------------------------------------------------------
    def decode(self, raw: bytes | str, lineno: int) -> list[Event]:
        """The events of one line ([] for comments, request-less and bad lines: counted)."""
        st = self.stats
        st.lines += 1
        line = (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw).strip()
        if not line or line.startswith("#"):
            st.ignored["proxy (blank or comment)"] += 1
            return []
        try:
            rec = parse_line(line)
        except ValueError as exc:  # "<fixed reason>: <the offending value>"
            reason, _, detail = str(exc).partition(": ")
            st.reject(f"{self.source}:{lineno}", f"proxy log: {reason}", detail)
            return []
        if rec is None or rec.host is None:
            st.ignored["proxy (no request or no host)"] += 1
            return []
        if rec.client.startswith("::ffff:") and "." in rec.client:  # IPv4-mapped (dual stack)
            rec = replace(rec, client=rec.client[7:])
        st.decoded[KIND] += 1
        self.latest = max(self.latest, rec.ts)
        if rec.user:
            self._see_user(rec.client, rec.user, rec.host)
        return self._events(rec, _flow_id(line))

    def _see_user(self, client: str, user: str, host: str) -> None:
        key = f"{client} {host}"
        pair = self.pair_users.get(key)
        if pair is None and len(self.pair_users) < MAX_PAIR_USERS:
            pair = self.pair_users[key] = []
        if pair is not None and user not in pair and len(pair) < USERS_PER_CLIENT:
            pair.append(user)
        users = self.users.get(client)
        if users is None:
            if len(self.users) >= MAX_CLIENTS:
                self.ctx.counters["proxy_users_clients_dropped"] += 1
                return
            users = self.users[client] = {}
        if user in users or len(users) < USERS_PER_CLIENT:
            users[user] = users.get(user, 0) + 1

    def _events(self, rec: ProxyRecord, flow_id: int) -> list[Event]:
        host, port = rec.host or "", rec.port or 0
        dest = rec.peer or host
        elapsed = rec.elapsed_ms
        start = rec.ts - elapsed / 1000.0 if elapsed else rec.ts
        facts: dict[str, Any] = {"host": host, "method": rec.method, "status": rec.status,
                                 "action": rec.action, "user": rec.user}
        out: list[Event] = []
        if is_denied(rec):
            if rec.status == 407:
                self._hold(rec, flow_id, dest, start)
                return []
            facts["denied"] = f"{rec.action or 'HTTP'}/{rec.status}"
        else:
            self._answered(rec.client, host, start)
            out += self._request(rec, flow_id, dest, start)
            if rec.method == "CONNECT" and port not in self.ctx.port_table \
                    and rec.status is not None and 200 <= rec.status < 300:
                facts["tunnel"] = port
        why = anonymizer_reason(host, (dest, host), self.is_relay)
        if why:
            facts["anonymizer"] = why
        if "denied" in facts or "tunnel" in facts or "anonymizer" in facts:
            out.append(Event(KIND, start, flow_id, rec.client, 0, dest, port, "TCP", facts))
        return out

    def _request(self, rec: ProxyRecord, flow_id: int, dest: str, start: float
                 ) -> list[Event]:
        """The ``http`` event (name join, URL) and the ``flow`` event of an answered request."""
        http: dict[str, Any] = {"hostname": rec.host, "http_method": rec.method,
                                "status": rec.status, "proxy": True}
        if rec.method != "CONNECT":
            http["url"] = request_target(rec.url)
        # Squid could not reach the server (5xx of its own, no peer): like an unanswered flow,
        # kept out of beacon timing
        unreached = rec.action is not None and rec.peer is None and rec.status in (502, 503, 504)
        flow: dict[str, Any] = {"start": start, "pkts_toserver": 1,
                                "pkts_toclient": 0 if unreached else 1, "bytes_toserver": 0}
        if rec.elapsed_ms is not None:
            flow["age"] = int(rec.elapsed_ms // 1000)
        port = rec.port or 0
        rec_flow: dict[str, Any] = {"event_type": "flow", "src_ip": rec.client,
                                    "dest_ip": dest, "dest_port": port, "proto": "TCP",
                                    "app_proto": "http", "flow": flow, "proxy": True}
        if rec.method == "CONNECT":  # HTTP to the proxy, then what the tunnel carries
            expected = self.ctx.port_table.get(port, ())
            rec_flow.update(app_proto_orig="http",
                            app_proto="tls" if "tls" in expected else "http")
        return [Event("http", start, flow_id, rec.client, 0, dest, port, "TCP", http,
                      record={"tx_id": 0, "http": http}),
                Event("flow", start, flow_id, rec.client, 0, dest, port, "TCP", rec_flow,
                      record=rec_flow)]

    # --- 407: credentials asked for ----------------------------------------------------------
    def _hold(self, rec: ProxyRecord, flow_id: int, dest: str, start: float) -> None:
        if self.n_pending >= MAX_PENDING:
            self.ctx.counters["proxy_auth_pending_dropped"] += 1
            return
        key = f"{rec.client} {rec.host}"
        self.pending.setdefault(key, []).append(
            [start, flow_id, dest, rec.port or 0, rec.method, rec.action, rec.user])
        self.n_pending += 1

    def _answered(self, client: str, host: str, start: float) -> None:
        held = self.pending.get(f"{client} {host}")
        if not held:
            return
        keep = [h for h in held if not 0 <= start - h[0] <= AUTH_RETRY_S]
        self.ctx.counters["proxy_auth_challenges_answered"] += len(held) - len(keep)
        self.n_pending -= len(held) - len(keep)
        if keep:
            self.pending[f"{client} {host}"] = keep
        else:
            del self.pending[f"{client} {host}"]

    def flush(self, final: bool) -> list[Event]:
        """The held-back 407s nobody answered in time (all of them when *final*) as
        refusals."""
        out: list[Event] = []
        cutoff = self.latest - AUTH_HOLD_S
        for key in list(self.pending):
            client, host = key.split(" ", 1)
            keep = []
            for start, flow_id, dest, port, method, action, user in self.pending[key]:
                if not final and start >= cutoff:
                    keep.append([start, flow_id, dest, port, method, action, user])
                    continue
                facts = {"host": host, "method": method, "status": 407, "action": action,
                         "user": user, "denied": f"{action or 'HTTP'}/407"}
                why = anonymizer_reason(host, (dest, host), self.is_relay)
                if why:
                    facts["anonymizer"] = why
                out.append(Event(KIND, start, flow_id, client, 0, dest, port, "TCP", facts))
            self.n_pending -= len(self.pending[key]) - len(keep)
            if keep:
                self.pending[key] = keep
            else:
                del self.pending[key]
        return out

    # --- reporting and state ---------------------------------------------------------------
    def annotate(self, findings: list[Finding]) -> None:
        """Add the proxy user names behind each finding: those whose requests went to the
        finding's destinations (on a PC several people use, the one who beacons), else
        every user seen on the client (most requests first)."""
        for f in findings:
            named: list[str] = []
            for dest in f.destinations:
                host = _host_of(dest)
                for user in self.pair_users.get(f"{f.host} {host}", ()):
                    if user not in named:
                        named.append(user)
            users = self.users.get(f.host)
            if named:
                f.evidence["proxy_users"] = named[:USERS_PER_CLIENT]
            elif users:
                f.evidence["proxy_users"] = [u for u, _ in sorted(
                    users.items(), key=lambda kv: (-kv[1], kv[0]))]

    def snapshot(self) -> dict[str, Any]:
        return {"pending": self.pending, "users": self.users, "pair_users": self.pair_users,
                "latest": self.latest}

    def restore(self, state: dict[str, Any]) -> None:
        self.pending = {k: [list(h) for h in v] for k, v in state.get("pending", {}).items()}
        self.n_pending = sum(len(v) for v in self.pending.values())
        self.users = {c: dict(u) for c, u in state.get("users", {}).items()}
        self.pair_users = {k: list(u) for k, u in state.get("pair_users", {}).items()}
        self.latest = float(state.get("latest", 0.0))


def _host_of(destination: str) -> str:
    """The host of a finding's destination label: ``name (ip:port)``, ``host:port``, ``name``."""
    head = destination.split(" (", 1)[0]
    name, sep, port = head.rpartition(":")
    return name.strip("[]") if sep and port.isdigit() and name else head
