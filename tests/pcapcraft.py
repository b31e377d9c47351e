"""Tiny, correct pcaps for tests: TCP sessions with real handshakes, HTTP, TLS with certificates.

Suricata only builds app-layer state (HTTP transactions, TLS events, ``flow.age``) from TCP
streams with a proper three-way handshake and consistent seq/ack numbers, so every helper here
produces complete sessions. Packets carry explicit timestamps (``pkt.time``) so durations and
gaps are under the test's control.

API (all return ``list[Packet]`` except :func:`write_pcap` and :func:`make_certificate`)::

    tcp_session(client, server, sport, dport, payloads=[("c", b"..."), ("s", b"...")],
                t0=1_700_000_000.0, gap=0.01, close=True)
    syn_only(client, server, sport, dport, t0)            # unanswered SYN (firewall drop)
    syn_rst(client, server, sport, dport, t0)             # refused connection
    http_get(client, server, host, path, sport=40000, dport=80, t0=..., status=200,
             body=b"ok", requests=1)
    http_request(host, path) / http_response(status, body)   # raw bytes for tcp_session
    tls_session(client, server, sni, cert_subject_cn, cert_issuer_cn, sport, dport, t0)
    write_pcap(path, packets)                             # sorted by time
"""

from __future__ import annotations

import datetime as _dt
import struct
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw
from scapy.utils import wrpcap

T0 = 1_700_000_000.0
MSS = 1400


def _ip(src: str, dst: str) -> Packet:
    # Ethernet framing keeps one link type when IPv4 and IPv6 share a pcap.
    l3 = IPv6(src=src, dst=dst) if ":" in src else IP(src=src, dst=dst)
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / l3


def _stamp(pkt: Packet, t: float) -> Packet:
    pkt.time = t
    return pkt


def _segments(data: bytes) -> list[bytes]:
    return [data[i:i + MSS] for i in range(0, len(data), MSS)] or [b""]


def tcp_session(client: str, server: str, sport: int, dport: int,
                payloads: Sequence[tuple[str, bytes]] = (), t0: float = T0,
                gap: float = 0.01, close: bool = True) -> list[Packet]:
    """A complete TCP session: handshake, each payload (``"c"`` = client→server, ``"s"`` =
    server→client) acknowledged by the peer, then FIN/ACK teardown when *close*.

    Consecutive packets are *gap* seconds apart, so the session lasts about
    ``gap * len(packets)`` seconds.
    """
    c_seq, s_seq = 1000, 5000
    pkts: list[Packet] = []
    t = t0

    def emit(src: str, dst: str, sp: int, dp: int, flags: str, seq: int, ack: int,
             data: bytes = b"") -> None:
        nonlocal t
        layer = _ip(src, dst) / TCP(sport=sp, dport=dp, flags=flags, seq=seq, ack=ack,
                                    window=65535)
        if data:
            layer = layer / Raw(load=data)
        pkts.append(_stamp(layer, t))
        t += gap

    emit(client, server, sport, dport, "S", c_seq, 0)
    emit(server, client, dport, sport, "SA", s_seq, c_seq + 1)
    c_seq += 1
    s_seq += 1
    emit(client, server, sport, dport, "A", c_seq, s_seq)
    for direction, data in payloads:
        for seg in _segments(data):
            if direction == "c":
                emit(client, server, sport, dport, "PA", c_seq, s_seq, seg)
                c_seq += len(seg)
                emit(server, client, dport, sport, "A", s_seq, c_seq)
            else:
                emit(server, client, dport, sport, "PA", s_seq, c_seq, seg)
                s_seq += len(seg)
                emit(client, server, sport, dport, "A", c_seq, s_seq)
    if close:
        emit(client, server, sport, dport, "FA", c_seq, s_seq)
        emit(server, client, dport, sport, "FA", s_seq, c_seq + 1)
        emit(client, server, sport, dport, "A", c_seq + 1, s_seq + 1)
    return pkts


def syn_only(client: str, server: str, sport: int, dport: int, t0: float = T0,
             retries: int = 2) -> list[Packet]:
    """An unanswered connection attempt (SYN plus *retries* retransmissions)."""
    return [_stamp(_ip(client, server) / TCP(sport=sport, dport=dport, flags="S", seq=1000),
                   t0 + i) for i in range(retries + 1)]


def syn_rst(client: str, server: str, sport: int, dport: int, t0: float = T0) -> list[Packet]:
    """A refused connection: SYN answered by RST/ACK."""
    return [
        _stamp(_ip(client, server) / TCP(sport=sport, dport=dport, flags="S", seq=1000), t0),
        _stamp(_ip(server, client) / TCP(sport=dport, dport=sport, flags="RA", seq=0,
                                         ack=1001), t0 + 0.001),
    ]


def http_request(host: str | None, path: str = "/", method: str = "GET",
                 version: str = "HTTP/1.1", user_agent: str = "pcapcraft/1.0") -> bytes:
    """Request bytes; ``host=None`` sends no Host header."""
    head = f"{method} {path} {version}\r\n"
    if host is not None:
        head += f"Host: {host}\r\n"
    return (head + f"User-Agent: {user_agent}\r\nAccept: */*\r\n\r\n").encode()


def http_response(status: int = 200, body: bytes = b"ok",
                  content_type: str = "text/plain") -> bytes:
    return (f"HTTP/1.1 {status} OK\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def http_get(client: str, server: str, host: str | None, path: str = "/", sport: int = 40000,
             dport: int = 80, t0: float = T0, status: int = 200, gap: float = 0.01,
             body: bytes = b"ok", requests: int = 1) -> list[Packet]:
    """*requests* HTTP/1.1 GETs (keep-alive, one TCP session) and their responses."""
    exchange = [("c", http_request(host, path)), ("s", http_response(status, body))]
    return tcp_session(client, server, sport, dport, exchange * requests, t0=t0, gap=gap)


# --- TLS -------------------------------------------------------------------------------------

@lru_cache(maxsize=64)
def make_certificate(subject_cn: str, issuer_cn: str) -> bytes:
    """A DER X.509 certificate with the given subject and issuer CN.

    Ed25519 with a key derived from the names: signatures are deterministic, so the same
    arguments always give the same bytes (reproducible pcaps). Not verifiable — Suricata only
    parses it.
    """
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.x509.oid import NameOID

    seed = hashlib.sha256(f"{subject_cn}|{issuer_cn}".encode()).digest()
    key = Ed25519PrivateKey.from_private_bytes(seed)
    start = _dt.datetime(2023, 1, 1, tzinfo=_dt.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn)]))
            .public_key(key.public_key())
            .serial_number(0x5A4B1)
            .not_valid_before(start)
            .not_valid_after(start + _dt.timedelta(days=3650))
            .sign(key, None))
    return cert.public_bytes(serialization.Encoding.DER)


def _filler(n: int) -> bytes:
    """Deterministic opaque bytes (encrypted-looking payload without randomness)."""
    return bytes((i * 37 + 11) % 256 for i in range(n))


def _u24(n: int) -> bytes:
    return struct.pack(">I", n)[1:]


def _handshake(msg_type: int, body: bytes) -> bytes:
    return bytes([msg_type]) + _u24(len(body)) + body


def _record(content_type: int, body: bytes, version: int = 0x0303) -> bytes:
    return struct.pack(">BHH", content_type, version, len(body)) + body


def _ext(ext_type: int, body: bytes) -> bytes:
    return struct.pack(">HH", ext_type, len(body)) + body


def client_hello(sni: str | None, padding: int = 0) -> bytes:
    """A TLS 1.2 ClientHello record, with a server_name extension when *sni* is given and a
    padding extension of *padding* bytes when > 0 (large hellos span several segments, as
    browsers' post-quantum key shares do)."""
    exts = b""
    if sni:
        name = sni.encode()
        entry = b"\x00" + struct.pack(">H", len(name)) + name
        exts += _ext(0x0000, struct.pack(">H", len(entry)) + entry)
    exts += _ext(0x000A, b"\x00\x04\x00\x17\x00\x18")  # supported_groups
    exts += _ext(0x000B, b"\x01\x00")  # ec_point_formats
    exts += _ext(0x000D, b"\x00\x04\x04\x03\x08\x04")  # signature_algorithms
    if padding > 0:
        exts += _ext(0x0015, bytes(padding))  # padding (RFC 7685)
    suites = b"\xc0\x2b\xc0\x2f\x00\x9c"
    body = (b"\x03\x03" + bytes(range(32)) + b"\x00" + struct.pack(">H", len(suites)) + suites
            + b"\x01\x00" + struct.pack(">H", len(exts)) + exts)
    return _record(0x16, _handshake(1, body), version=0x0301)


def server_flight(cert_der: bytes) -> bytes:
    """ServerHello + Certificate + ServerHelloDone (TLS 1.2), one record each."""
    hello = b"\x03\x03" + bytes(range(32, 64)) + b"\x00" + b"\xc0\x2f" + b"\x00"
    certs = _u24(len(cert_der)) + cert_der
    return (_record(0x16, _handshake(2, hello))
            + _record(0x16, _handshake(11, _u24(len(certs)) + certs))
            + _record(0x16, _handshake(14, b"")))


def tls_session(client: str, server: str, sni: str | None, cert_subject_cn: str = "example.com",
                cert_issuer_cn: str = "Example CA", sport: int = 41000, dport: int = 443,
                t0: float = T0, gap: float = 0.01, app_data: int = 2) -> list[Packet]:
    """A TLS 1.2 session up to the server's certificate, then *app_data* opaque
    application-data records in each direction. Suricata logs a ``tls`` event for it."""
    payloads: list[tuple[str, bytes]] = [
        ("c", client_hello(sni)),
        ("s", server_flight(make_certificate(cert_subject_cn, cert_issuer_cn))),
        # ClientKeyExchange + ChangeCipherSpec + Finished (opaque)
        ("c", _record(0x16, _handshake(16, b"\x41" + _filler(65)))
         + _record(0x14, b"\x01") + _record(0x16, _filler(40))),
        ("s", _record(0x14, b"\x01") + _record(0x16, _filler(40))),
    ]
    for _ in range(app_data):
        payloads.append(("c", _record(0x17, _filler(64))))
        payloads.append(("s", _record(0x17, _filler(256))))
    return tcp_session(client, server, sport, dport, payloads, t0=t0, gap=gap)


def write_pcap(path: str | Path, packets: Iterable[Packet]) -> Path:
    """Write *packets* (sorted by timestamp, stable) to a pcap file; return its path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    ordered = sorted(packets, key=lambda p: float(p.time))
    wrpcap(str(out), ordered)
    return out
