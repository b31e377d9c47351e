"""Capture buffer and stateful TCP/UDP/DNS session builders producing consistent packets.

A :class:`TcpConn` tracks both sides' sequence numbers so every segment carries the right
seq/ack: three-way handshake, MSS segmentation, stretch ACKs, FIN/ACK close or RST. The
sensor is modelled next to the clients: a server's answer is seen one RTT after the request.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass, field

from sakimori_demo.officesim.params import DNS_IP
from sakimori_demo.officesim.wire import (
    TCP_ACK,
    TCP_FIN,
    TCP_PSH,
    TCP_RST,
    TCP_SYN,
    ip_bytes,
    tcp_frame,
    udp_frame,
)

CLIENT, SERVER = 0, 1
MSS = 1460
_SYN_OPTS_CLIENT = bytes.fromhex("020405b4010303080101" "0402")  # MSS, WS=8, SACK_PERM
_SYN_OPTS_SERVER = bytes.fromhex("020405b40101040201030307")  # MSS, SACK_PERM, WS=7
_SERVER_TTLS = (46, 48, 50, 52, 54, 56, 57, 116, 118, 243)
POOL_SIZE = 1 << 18


@dataclass
class ProxyEntry:
    """One request as a Squid native access.log would record it."""

    t_end: float
    elapsed_ms: int
    client: str
    status: str  # e.g. "TCP_MISS/200"
    size: int
    method: str
    url: str
    peer: str  # e.g. "HIER_DIRECT/93.184.1.2"
    ctype: str


@dataclass
class Capture:
    """Packets of one pcap plus counters; packets outside [t0, t1) are dropped."""

    seed: int
    t0: float
    t1: float
    pool: bytes
    packets: list[tuple[int, int, bytes]] = field(default_factory=list)
    flows: int = 0
    proxy: list[ProxyEntry] = field(default_factory=list)
    _ports: dict[str, int] = field(default_factory=dict)
    _ident: dict[str, int] = field(default_factory=dict)

    def emit(self, t: float, frame: bytes) -> None:
        """Record one frame at epoch time ``t``."""
        if self.t0 <= t < self.t1:
            self.packets.append((round(t * 1e6), len(self.packets), frame))

    def ephemeral_port(self, ip: str) -> int:
        """Next client port of a host (Windows-style 49152–65535, wrapping)."""
        port = self._ports.get(ip)
        if port is None:
            port = 49152 + int.from_bytes(ip.encode(), "big") % 9000
        port = 49152 if port >= 65535 else port + 1
        self._ports[ip] = port
        return port

    def ident(self, ip: str) -> int:
        """Next IPv4 identification value of a host (one global counter per host)."""
        value = (self._ident.get(ip, int.from_bytes(ip.encode(), "big") * 7919) + 1) & 0xFFFF
        self._ident[ip] = value
        return value

    def random_bytes(self, rng: random.Random, size: int) -> bytes:
        """``size`` random-looking bytes cut from the seeded pool (cheap, deterministic)."""
        if size <= 0:
            return b""
        out = []
        while size > 0:
            take = min(size, POOL_SIZE // 2)
            off = rng.randrange(POOL_SIZE - take + 1)
            out.append(self.pool[off:off + take])
            size -= take
        return b"".join(out)


class TcpConn:
    """One TCP connection between an internal client and a server, built packet by packet."""

    def __init__(self, cap: Capture, rng: random.Random, client: str, server: str, dport: int,
                 t: float, rtt: float | None = None) -> None:
        self.cap, self.rng, self.t = cap, rng, t
        self.ips = (client, server)
        self.ports = (cap.ephemeral_port(client), dport)
        self.seq = [rng.getrandbits(32), rng.getrandbits(32)]
        self.rtt = rtt if rtt is not None else min(0.4, rng.lognormvariate(-3.3, 0.6))
        self.ttl = (128, rng.choice(_SERVER_TTLS))
        self.window = (1026, 502)
        self._srv_ident = rng.getrandbits(16)
        self.bytes = [0, 0]
        cap.flows += 1

    def _emit(self, side: int, flags: int, payload: bytes = b"", options: bytes = b"",
              window: int | None = None) -> None:
        src, dst = self.ips[side], self.ips[1 - side]
        ack = self.seq[1 - side] if flags & TCP_ACK else 0
        if side == CLIENT:
            ident = self.cap.ident(src)
        else:
            self._srv_ident = (self._srv_ident + 1) & 0xFFFF
            ident = self._srv_ident
        frame = tcp_frame(src, dst, self.ports[side], self.ports[1 - side], self.seq[side], ack,
                          flags, self.window[side] if window is None else window, payload,
                          options, ident, self.ttl[side])
        self.cap.emit(self.t, frame)
        self.seq[side] += len(payload) + (1 if flags & (TCP_SYN | TCP_FIN) else 0)
        self.bytes[side] += len(payload)

    def gap(self, side: int) -> float:
        """Typical delay before ``side`` sends after the other side's last packet."""
        if side == SERVER:
            return self.rtt + self.rng.uniform(0.0005, 0.02)
        return self.rng.uniform(0.0001, 0.003)

    def handshake(self) -> TcpConn:
        """SYN, SYN/ACK, ACK."""
        self._emit(CLIENT, TCP_SYN, options=_SYN_OPTS_CLIENT, window=64240)
        self.t += self.rtt
        self._emit(SERVER, TCP_SYN | TCP_ACK, options=_SYN_OPTS_SERVER, window=65535)
        self.t += self.rng.uniform(0.0001, 0.0008)
        self._emit(CLIENT, TCP_ACK)
        return self

    def send(self, side: int, data: bytes, delay: float | None = None,
             ack: bool | None = None) -> TcpConn:
        """Send one application message from ``side``, segmented at the MSS."""
        self.t += self.gap(side) if delay is None else delay
        chunks = [data[i:i + MSS] for i in range(0, len(data), MSS)] or [b""]
        for i, chunk in enumerate(chunks):
            if i:
                self.t += self.rng.uniform(0.00005, 0.0004)
            last = i == len(chunks) - 1
            self._emit(side, TCP_ACK | (TCP_PSH if last else 0), chunk)
            if not last and i % 4 == 3:
                self.t += 0.00003
                self._emit(1 - side, TCP_ACK)
        if ack or (ack is None and len(chunks) >= 2):
            self.t += self.rng.uniform(0.0001, 0.02)
            self._emit(1 - side, TCP_ACK)
        return self

    def close(self, side: int = CLIENT, delay: float | None = None) -> None:
        """Orderly close started by ``side``: FIN/ACK, FIN/ACK, ACK."""
        self.t += self.rng.uniform(0.001, 0.2) if delay is None else delay
        self._emit(side, TCP_FIN | TCP_ACK)
        self.t += self.gap(1 - side)
        self._emit(1 - side, TCP_FIN | TCP_ACK)
        self.t += self.gap(side)
        self._emit(side, TCP_ACK)

    def reset(self, side: int = CLIENT, delay: float = 0.001) -> None:
        """Abort with RST/ACK from ``side``."""
        self.t += delay
        self._emit(side, TCP_RST | TCP_ACK)


def syn_unanswered(cap: Capture, rng: random.Random, client: str, server: str, dport: int,
                   t: float, retries: tuple[float, ...] = (1.0, 3.0)) -> None:
    """A SYN and its retransmissions (same port and ISN) that nobody answers."""
    sport, isn = cap.ephemeral_port(client), rng.getrandbits(32)
    cap.flows += 1
    for offset in (0.0, *retries):
        cap.emit(t + offset, tcp_frame(client, server, sport, dport, isn, 0, TCP_SYN, 64240,
                                       options=_SYN_OPTS_CLIENT, ident=cap.ident(client)))


def syn_refused(cap: Capture, rng: random.Random, client: str, server: str, dport: int,
                t: float) -> None:
    """A SYN answered by RST/ACK (port closed or firewall reject)."""
    sport, isn = cap.ephemeral_port(client), rng.getrandbits(32)
    cap.flows += 1
    cap.emit(t, tcp_frame(client, server, sport, dport, isn, 0, TCP_SYN, 64240,
                          options=_SYN_OPTS_CLIENT, ident=cap.ident(client)))
    rtt = min(0.3, rng.lognormvariate(-3.5, 0.5))
    cap.emit(t + rtt, tcp_frame(server, client, dport, sport, 0, isn + 1, TCP_RST | TCP_ACK, 0,
                                ttl=rng.choice(_SERVER_TTLS)))


def udp_exchange(cap: Capture, client: str, server: str, sport: int, dport: int, t: float,
                 request: bytes, response: bytes | None, rtt: float) -> None:
    """A request datagram and (optionally) its answer, counted as one flow."""
    cap.flows += 1
    cap.emit(t, udp_frame(client, server, sport, dport, request, cap.ident(client)))
    if response is not None:
        cap.emit(t + rtt, udp_frame(server, client, dport, sport, response,
                                    cap.ident(server), ttl=64 if server == DNS_IP else 52))


def _qname(name: str) -> bytes:
    return b"".join(bytes((len(p),)) + p.encode() for p in name.split(".")) + b"\0"


def dns_query(txid: int, name: str) -> bytes:
    """A standard recursive A query."""
    return struct.pack("!HHHHHH", txid, 0x0100, 1, 0, 0, 0) + _qname(name) + b"\x00\x01\x00\x01"


def dns_answer(txid: int, name: str, ip: str, ttl: int) -> bytes:
    """The resolver's answer: one A record for ``name``."""
    head = struct.pack("!HHHHHH", txid, 0x8180, 1, 1, 0, 0) + _qname(name) + b"\x00\x01\x00\x01"
    return head + struct.pack("!HHHIH", 0xC00C, 1, 1, ttl, 4) + ip_bytes(ip)


class Resolver:
    """The internal resolver 10.1.0.53 with a per-client cache honouring the TTL."""

    def __init__(self, cap: Capture) -> None:
        self.cap = cap
        self._cache: dict[tuple[str, str], float] = {}
        self.queries = 0

    def lookup(self, rng: random.Random, client: str, name: str, ip: str, t: float,
               ttl: int = 900) -> float:
        """Resolve ``name`` → ``ip`` for ``client`` unless cached; return the time after."""
        key = (client, name)
        if self._cache.get(key, -1.0) > t:
            return t
        rtt = rng.uniform(0.0004, 0.002) if rng.random() < 0.7 else rng.uniform(0.01, 0.06)
        txid = rng.getrandbits(16)
        udp_exchange(self.cap, client, DNS_IP, rng.randint(49152, 65535), 53, t,
                     dns_query(txid, name), dns_answer(txid, name, ip, ttl), rtt)
        self._cache[key] = t + ttl
        self.queries += 1
        return t + rtt + rng.uniform(0.0001, 0.001)
