"""TLS 1.2 handshake records and deterministic X.509 certificates (Ed25519, fixed dates).

The handshake is real enough for Suricata's parser and JA3/JA4: ClientHello with SNI and a
client profile (browser, malware, tor), ServerHello, Certificate chain, ServerKeyExchange,
ServerHelloDone, ClientKeyExchange/ChangeCipherSpec/Finished and application-data records.
Key material is random bytes: nothing here is decryptable, nothing needs to be.
"""

from __future__ import annotations

import hashlib
import random
import struct
from datetime import UTC, datetime
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from sakimori_demo.officesim.flows import CLIENT, SERVER, Capture, TcpConn

CA_SUBJECT = "SimTrust Issuing CA 2026"
CA_ORG = "SimTrust Certification Ltd"
_NOT_BEFORE = datetime(2026, 6, 1, tzinfo=UTC)
_NOT_AFTER = datetime(2027, 6, 30, 23, 59, 59, tzinfo=UTC)
_CIPHERS = {
    "browser": [0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC013, 0xC014, 0x009C,
                0x009D, 0x002F, 0x0035],
    "malware": [0xC02C, 0xC02B, 0xC030, 0xC02F, 0x009F, 0x009E, 0xC024, 0xC023, 0xC028,
                0xC027, 0xC00A, 0xC009, 0xC014, 0xC013, 0x009D, 0x009C, 0x003D, 0x003C,
                0x0035, 0x002F, 0x000A],
    "tor": [0xC02B, 0xC02F, 0xCCA9, 0xCCA8, 0xC02C, 0xC030, 0xC00A, 0xC009, 0xC013, 0xC014,
            0x0033, 0x0039, 0x002F, 0x0035, 0x000A],
}
_SIG_ALGS = bytes.fromhex("0403080404010503080505010806060102010807")


def _key(seed: int, label: str) -> Ed25519PrivateKey:
    raw = hashlib.sha256(f"sakimori-officesim|{seed}|{label}".encode()).digest()
    return Ed25519PrivateKey.from_private_bytes(raw)


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _serial(seed: int, label: str) -> int:
    return int.from_bytes(hashlib.sha256(f"serial|{seed}|{label}".encode()).digest()[:12], "big")


@lru_cache(maxsize=8)
def ca_cert(seed: int) -> bytes:
    """DER of the fake issuing CA (self-signed)."""
    key = _key(seed, "ca")
    name = _name(CA_SUBJECT, CA_ORG)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(_serial(seed, "ca"))
            .not_valid_before(datetime(2025, 1, 1, tzinfo=UTC))
            .not_valid_after(datetime(2035, 1, 1, tzinfo=UTC))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, None))
    return cert.public_bytes(Encoding.DER)


@lru_cache(maxsize=1024)
def site_chain(seed: int, name: str) -> tuple[bytes, ...]:
    """Leaf (CN = SAN = ``name``, issued by the fake CA) followed by the CA certificate."""
    leaf = (x509.CertificateBuilder().subject_name(_name(name))
            .issuer_name(_name(CA_SUBJECT, CA_ORG))
            .public_key(_key(seed, f"site|{name}").public_key())
            .serial_number(_serial(seed, name))
            .not_valid_before(_NOT_BEFORE).not_valid_after(_NOT_AFTER)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(_key(seed, "ca"), None))
    return leaf.public_bytes(Encoding.DER), ca_cert(seed)


@lru_cache(maxsize=64)
def tor_link_cert(seed: int, subject_cn: str, issuer_cn: str) -> tuple[bytes, ...]:
    """A Tor-style link certificate: ``CN=www.<random>.net`` issued by ``CN=www.<random>.com``."""
    cert = (x509.CertificateBuilder().subject_name(_name(subject_cn))
            .issuer_name(_name(issuer_cn))
            .public_key(_key(seed, f"tor-link|{subject_cn}").public_key())
            .serial_number(_serial(seed, subject_cn) >> 40)
            .not_valid_before(datetime(2026, 10, 20, tzinfo=UTC))
            .not_valid_after(datetime(2027, 10, 20, tzinfo=UTC))
            .sign(_key(seed, f"tor-id|{issuer_cn}"), None))
    return (cert.public_bytes(Encoding.DER),)


def record(ctype: int, body: bytes, version: int = 0x0303) -> bytes:
    """One TLS record."""
    return struct.pack("!BHH", ctype, version, len(body)) + body


def _handshake(msg_type: int, body: bytes) -> bytes:
    return bytes((msg_type,)) + len(body).to_bytes(3, "big") + body


def _ext(ext_type: int, body: bytes) -> bytes:
    return struct.pack("!HH", ext_type, len(body)) + body


def _vec16(body: bytes) -> bytes:
    return struct.pack("!H", len(body)) + body


def client_hello(rng: random.Random, sni: str | None, profile: str = "browser",
                 alpn: str | None = "http/1.1", session_id: bytes | None = None) -> bytes:
    """A TLS 1.2 ClientHello record (record version 1.0, as browsers send it)."""
    exts = []
    if sni:
        host = sni.encode()
        exts.append(_ext(0, _vec16(b"\x00" + _vec16(host))))
    if profile != "malware":
        exts += [_ext(0x17, b""), _ext(0xFF01, b"\x00")]
    exts += [_ext(10, _vec16(bytes.fromhex("001d00170018"))), _ext(11, b"\x01\x00")]
    if profile == "browser":
        exts.append(_ext(35, b""))
        exts.append(_ext(5, bytes.fromhex("0100000000")))
    if alpn:
        exts.append(_ext(16, _vec16(bytes((len(alpn),)) + alpn.encode())))
    exts.append(_ext(13, _vec16(_SIG_ALGS)))
    ciphers = b"".join(struct.pack("!H", c) for c in _CIPHERS[profile])
    if session_id is None:
        session_id = rng.randbytes(32) if profile == "browser" else b""
    body = (b"\x03\x03" + rng.randbytes(32) + bytes((len(session_id),)) + session_id
            + _vec16(ciphers) + b"\x01\x00" + _vec16(b"".join(exts)))
    return record(22, _handshake(1, body), 0x0301)


def server_flight(rng: random.Random, chain: tuple[bytes, ...], alpn: str | None) -> bytes:
    """ServerHello, Certificate, ServerKeyExchange (x25519, ed25519) and ServerHelloDone."""
    exts = _ext(0xFF01, b"\x00") + _ext(11, b"\x01\x00") + _ext(0x17, b"")
    if alpn:
        exts += _ext(16, _vec16(bytes((len(alpn),)) + alpn.encode()))
    hello = (b"\x03\x03" + rng.randbytes(32) + b"\x20" + rng.randbytes(32) + b"\xc0\x2b\x00"
             + _vec16(exts))
    certs = b"".join(len(c).to_bytes(3, "big") + c for c in chain)
    ske = b"\x03\x00\x1d\x20" + rng.randbytes(32) + b"\x08\x07" + _vec16(rng.randbytes(64))
    return (record(22, _handshake(2, hello))
            + record(22, _handshake(11, len(certs).to_bytes(3, "big") + certs))
            + record(22, _handshake(12, ske)) + record(22, _handshake(14, b"")))


def client_finish(rng: random.Random) -> bytes:
    """ClientKeyExchange, ChangeCipherSpec and the encrypted Finished."""
    return (record(22, _handshake(16, b"\x20" + rng.randbytes(32))) + record(20, b"\x01")
            + record(22, rng.randbytes(40)))


def server_finish(rng: random.Random) -> bytes:
    """ChangeCipherSpec and the encrypted Finished."""
    return record(20, b"\x01") + record(22, rng.randbytes(40))


def app_data(cap: Capture, rng: random.Random, size: int) -> bytes:
    """Application-data records carrying ``size`` plaintext bytes (AES-GCM framing)."""
    out = []
    while size > 0:
        chunk = min(size, 16384)
        out.append(record(23, cap.random_bytes(rng, chunk + 24)))
        size -= chunk
    return b"".join(out)


def handshake(conn: TcpConn, sni: str | None, chain: tuple[bytes, ...],
              profile: str = "browser", alpn: str | None = "http/1.1") -> None:
    """Run a full TLS 1.2 handshake on an established connection."""
    rng = conn.rng
    conn.send(CLIENT, client_hello(rng, sni, profile, alpn))
    conn.send(SERVER, server_flight(rng, chain, alpn), ack=False)
    conn.send(CLIENT, client_finish(rng))
    conn.send(SERVER, server_finish(rng))


def resumed_handshake(conn: TcpConn, sni: str, session_id: bytes, request: int,
                      alpn: str | None = "http/1.1") -> None:
    """Abbreviated handshake resuming ``session_id``; the client's first request rides along
    with its Finished. The caller sends the server's answer."""
    rng = conn.rng
    conn.send(CLIENT, client_hello(rng, sni, "browser", alpn, session_id))
    exts = _ext(0xFF01, b"\x00") + _ext(0x17, b"")
    if alpn:
        exts += _ext(16, _vec16(bytes((len(alpn),)) + alpn.encode()))
    hello = (b"\x03\x03" + rng.randbytes(32) + bytes((len(session_id),)) + session_id
             + b"\xc0\x2b\x00" + _vec16(exts))
    conn.send(SERVER, record(22, _handshake(2, hello)) + server_finish(rng))
    conn.send(CLIENT, record(20, b"\x01") + record(22, rng.randbytes(40))
              + app_data(conn.cap, rng, request))


def exchange(conn: TcpConn, request: int, response: int, delay: float | None = None) -> None:
    """One encrypted request/response pair of the given plaintext sizes."""
    conn.send(CLIENT, app_data(conn.cap, conn.rng, request), delay)
    conn.send(SERVER, app_data(conn.cap, conn.rng, response))
