"""The infected hosts, each showing exactly one backdoor behaviour (ground truth).

Every function returns the ground-truth behaviour record. Counts of irregular behaviours scale
with the capture length (with a floor, so a 3-hour test capture still shows each one).
"""

from __future__ import annotations

import base64
import random

from sakimori_demo.officesim import http, tls
from sakimori_demo.officesim.flows import CLIENT, SERVER, TcpConn, syn_refused, syn_unanswered
from sakimori_demo.officesim.http import Fetch
from sakimori_demo.officesim.params import iso, office_periods
from sakimori_demo.officesim.web import World, http_session, https_session

MALWARE_UA = "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0)"
HTTP_BEACON = ("cdn-update-check.net", "91.215.85.142")
HTTPS_BEACON = ("telemetry-sync.org", "185.174.101.36")
SLOW_BEACON = ("weather-gadget-api.com", "45.142.212.61")
EXFIL = ("img-cache-service.com", "194.87.45.201")
TLS_ON_80 = ("static-content-delivery.net", "146.185.239.44")
RAW_ON_80 = ("sync.dataflow-node.com", "80.66.88.205")
LONG_SESSION = ("remote-sync-gateway.net", "198.51.100.77", 8443)
BLOCKED = [("cfg.fastcheck-gateway.com", "193.142.146.35", 443),
           ("dl.fastcheck-gateway.com", "45.155.205.99", 8080),
           (None, "109.107.182.40", 4444)]
TOR_RELAY = ("176.58.115.27", 9001)
RAT_LOOP = ("winupd-svc.dynu-host.net", "185.225.17.203")  # dynamic-DNS name, as Quasar's
RAW_ON_443 = ("cloud-sync-relay.net", "91.243.44.130")


def _count(w: World, per_day: float, floor: int) -> int:
    return max(floor, round(per_day * (w.cap.t1 - w.t0) / 86400.0))


def _irregular_times(w: World, rng: random.Random, n: int) -> list[float]:
    """``n`` human-like, non-periodic times: mostly in office hours, clustered."""
    periods = office_periods(w.t0, w.t_last) or [(w.t0, w.t_last)]
    total = sum(b - a for a, b in periods)
    times: list[float] = []
    while len(times) < n:
        x = rng.uniform(0, total)
        for a, b in periods:
            if x < b - a:
                base = a + x
                break
            x -= b - a
        for _ in range(min(n - len(times), rng.choice([1, 1, 2, 3]))):
            times.append(min(w.t_last - 1, base + rng.expovariate(1 / 90.0)))
    return sorted(times)


def _beacon_record(name: str, ip: str, port: int, sleep: float, jitter: float, mode: str,
                   missing: float, times: list[float]) -> dict:
    return {"kind": "beacon", "dest_ip": ip, "dest_port": port, "name": name, "sleep_s": sleep,
            "jitter": jitter, "jitter_mode": mode, "missing": missing,
            "connections": len(times), "first": iso(times[0]) if times else None,
            "last": iso(times[-1]) if times else None}


def _next_sleep(rng: random.Random, sleep: float, jitter: float, mode: str) -> float:
    if mode == "uniform":  # Cobalt Strike style: [S(1-J), S]
        return sleep * (1 - jitter * rng.random())
    return sleep * (1 + jitter * rng.uniform(-1, 1))  # symmetric


def http_beacon(w: World, ip: str, dest: tuple[str, str], sleep: float, jitter: float,
                missing: float = 0.0, path_fmt: str = "/api/v2/status?id={bot}") -> dict:
    """Plain-HTTP C2 polling: one short GET per beat, the server closes."""
    rng = w.rng("beacon", ip)
    name, dest_ip = dest
    bot = http.hexid(rng, 8)
    t, times = w.t0 + rng.uniform(0, sleep), []
    while t < w.t_last:
        if rng.random() >= missing:
            times.append(t)
            t1 = w.dns.lookup(rng, ip, name, dest_ip, t, ttl=300)
            size = 38 if rng.random() < 0.97 else rng.randint(200, 900)
            fetch = Fetch(path_fmt.format(bot=bot, n=len(times)), "application/json", size)
            http_session(w, rng, ip, name, dest_ip, [fetch], t1, MALWARE_UA, server_closes=True)
        t += _next_sleep(rng, sleep, jitter, "uniform")
    return _beacon_record(name, dest_ip, 80, sleep, jitter, "uniform", missing, times)


def https_beacon(w: World, ip: str) -> dict:
    """TLS C2 polling every 300 s with 50 % symmetric jitter."""
    rng = w.rng("beacon", ip)
    name, dest_ip = HTTPS_BEACON
    sleep, jitter = 300, 0.5
    t, times = w.t0 + rng.uniform(0, sleep), []
    while t < w.t_last:
        times.append(t)
        t1 = w.dns.lookup(rng, ip, name, dest_ip, t, ttl=300)
        fetch = Fetch("/v1/sync", "application/octet-stream", rng.randint(60, 80), method="POST")
        https_session(w, rng, ip, name, dest_ip, [fetch], t1, MALWARE_UA, profile="malware",
                      close_delay=0.01)
        t += _next_sleep(rng, sleep, jitter, "symmetric")
    return _beacon_record(name, dest_ip, 443, sleep, jitter, "symmetric", 0.0, times)


def long_url_exfil(w: World, ip: str) -> dict:
    """~40 GETs a day at irregular times carrying 600–1800 chars of base64url data."""
    rng = w.rng("exfil", ip)
    name, dest_ip = EXFIL
    times = _irregular_times(w, rng, _count(w, 40, 8))
    lengths = []
    for t in times:
        t1 = w.dns.lookup(rng, ip, name, dest_ip, t, ttl=300)
        target = rng.randint(604, 1796)
        sid = rng.randint(100000, 999999)
        raw = w.cap.random_bytes(rng, (target - len(f"/search?q=&sid={sid}")) * 3 // 4)
        blob = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        path = f"/search?q={blob}&sid={sid}"
        lengths.append(len(path))
        fetch = Fetch(path, "image/gif", 43)
        http_session(w, rng, ip, name, dest_ip, [fetch], t1, http.USER_AGENTS[0])
    return {"kind": "long_url", "dest_ip": dest_ip, "dest_port": 80, "name": name,
            "requests": len(times), "url_length_min": min(lengths), "url_length_max": max(lengths),
            "first": iso(times[0]), "last": iso(times[-1])}


def _raw_session(w: World, rng: random.Random, ip: str, dest_ip: str, t: float,
                 port: int = 80) -> None:
    conn = TcpConn(w.cap, rng, ip, dest_ip, port, t).handshake()
    for _ in range(rng.randint(2, 6)):
        for side, size in ((CLIENT, rng.randint(24, 600)), (SERVER, rng.randint(24, 3000))):
            data = bytearray(w.cap.random_bytes(rng, size))
            data[0:4] = bytes((0xA7, rng.randint(0x40, 0xFF), 0x00, rng.randint(0x10, 0x7F)))
            conn.send(side, bytes(data), None if side == SERVER else rng.uniform(0.5, 20))
    conn.close(CLIENT)


def non_http_port80(w: World, ip: str) -> dict:
    """TLS sessions and raw binary sessions to TCP port 80."""
    rng = w.rng("port80", ip)
    n_tls, n_raw = _count(w, 6, 3), _count(w, 6, 3)
    times = _irregular_times(w, rng, n_tls + n_raw)
    kinds = ["tls"] * n_tls + ["raw"] * n_raw
    rng.shuffle(kinds)
    for t, kind in zip(times, kinds, strict=True):
        if kind == "tls":
            name, dest_ip = TLS_ON_80
            t1 = w.dns.lookup(rng, ip, name, dest_ip, t)
            fetches = [Fetch("/gate", "application/octet-stream", rng.randint(200, 4000))
                       for _ in range(rng.randint(1, 3))]
            https_session(w, rng, ip, name, dest_ip, fetches, t1, MALWARE_UA, port=80,
                          profile="malware")
        else:
            name, dest_ip = RAW_ON_80
            _raw_session(w, rng, ip, dest_ip, w.dns.lookup(rng, ip, name, dest_ip, t))
    return {"kind": "non_http_on_http_port", "dest_port": 80,
            "tls": {"name": TLS_ON_80[0], "dest_ip": TLS_ON_80[1], "sessions": n_tls},
            "raw": {"name": RAW_ON_80[0], "dest_ip": RAW_ON_80[1], "sessions": n_raw},
            "first": iso(times[0]), "last": iso(times[-1])}


def long_session(w: World, ip: str) -> dict:
    """One TLS session opened ~3 h before the end and still open when the capture ends."""
    rng = w.rng("long", ip)
    name, dest_ip, port = LONG_SESSION
    end = w.cap.t1
    t = max(w.t0 + 30, end - min(3 * 3600 + rng.uniform(-300, 300), 0.8 * (end - w.t0)))
    t = w.dns.lookup(rng, ip, name, dest_ip, t)
    conn = TcpConn(w.cap, rng, ip, dest_ip, port, t).handshake()
    tls.handshake(conn, name, tls.site_chain(w.seed, name), profile="malware", alpn=None)
    last_stop = end - rng.uniform(20, 240)
    while True:
        step = rng.uniform(60, 180)
        if conn.t + step > last_stop:
            break
        tls.exchange(conn, rng.randint(20, 90), rng.randint(20, 120), step)
    return {"kind": "long_session", "dest_ip": dest_ip, "dest_port": port, "name": name,
            "start": iso(t), "last_packet": iso(conn.t), "open_at_end": True,
            "age_at_end_s": round(end - t)}


def _burst_times(w: World, rng: random.Random, n: int) -> list[float]:
    """``n`` attempt times in irregular bursts (a few tries seconds apart, then silence)."""
    times: list[float] = []
    while len(times) < n:
        t = rng.uniform(w.t0 + 60, w.t_last - 300)
        for _ in range(min(n - len(times), rng.randint(2, 5))):
            times.append(t)
            t += rng.uniform(4, 40)
    return sorted(times)


def fw_blocked(w: World, ip: str) -> dict:
    """≥30 attempts in irregular bursts: unanswered SYNs (+2 retransmits) and RST refusals."""
    rng = w.rng("blocked", ip)
    times = _burst_times(w, rng, _count(w, 40, 30))
    unanswered = refused = 0
    for i, t in enumerate(times):
        name, dest_ip, port = BLOCKED[i % len(BLOCKED)] if rng.random() < 0.7 else \
            rng.choice(BLOCKED)
        if name:
            t = w.dns.lookup(rng, ip, name, dest_ip, t, ttl=60)
        if dest_ip == BLOCKED[0][1] or (dest_ip == BLOCKED[2][1] and rng.random() < 0.5):
            syn_unanswered(w.cap, rng, ip, dest_ip, port, t)
            unanswered += 1
        else:
            syn_refused(w.cap, rng, ip, dest_ip, port, t)
            refused += 1
    return {"kind": "fw_blocked", "attempts": len(times), "unanswered_syn": unanswered,
            "refused": refused, "first": iso(times[0]), "last": iso(times[-1]),
            "dest": [{"name": a, "dest_ip": b, "dest_port": c} for a, b, c in BLOCKED]}


def tor_client(w: World, ip: str) -> dict:
    """TLS sessions to a Tor relay on 9001 with Tor's random-name certificate pattern."""
    rng = w.rng("tor", ip)
    relay, port = TOR_RELAY
    subject = f"www.{http.random_name(rng, 8, 20)}.net"
    issuer = f"www.{http.random_name(rng, 8, 20)}.com"
    chain = tls.tor_link_cert(w.seed, subject, issuer)
    sessions, snis = [], []
    for t in _irregular_times(w, rng, _count(w, 5, 2)):
        t = max(t, sessions[-1][1] + rng.uniform(60, 900)) if sessions else t
        if t > w.t_last - 600:
            break
        sni = f"www.{http.random_name(rng, 8, 20)}.com"
        conn = TcpConn(w.cap, rng, ip, relay, port, t).handshake()
        tls.handshake(conn, sni, chain, profile="tor", alpn=None)
        end = min(t + rng.uniform(480, 2400), w.t_last)
        while conn.t < end:
            for side in (CLIENT, SERVER):
                cells = rng.randint(1, 3) if side == CLIENT else rng.randint(1, 8)
                gap = min(120.0, rng.lognormvariate(2.0, 1.2)) if side == CLIENT else None
                conn.send(side, b"".join(tls.app_data(w.cap, rng, 514) for _ in range(cells)),
                          gap)
        conn.close(CLIENT)
        sessions.append((t, conn.t))
        snis.append(sni)
    return {"kind": "anonymizer", "dest_ip": relay, "dest_port": port,
            "cert_subject": f"CN={subject}", "cert_issuer": f"CN={issuer}", "sni": snis,
            "sessions": [{"start": iso(a), "end": iso(b), "duration_s": round(b - a)}
                         for a, b in sessions]}


def raw_port443(w: World, ip: str) -> dict:
    """Raw binary sessions (neither TLS nor HTTP: a custom framing) to TCP port 443."""
    rng = w.rng("port443", ip)
    name, dest_ip = RAW_ON_443
    times = _irregular_times(w, rng, _count(w, 6, 3))
    for t in times:
        _raw_session(w, rng, ip, dest_ip, w.dns.lookup(rng, ip, name, dest_ip, t), port=443)
    return {"kind": "non_http_on_http_port", "dest_port": 443, "name": name,
            "dest_ip": dest_ip, "raw_sessions": len(times), "first": iso(times[0]),
            "last": iso(times[-1])}


def rat_loop(w: World, ip: str) -> dict:
    """A RAT's reconnect loop (Quasar style): a short TLS connection every ~3.5 s (±15 %)
    for 3–7 minutes, then silence for 1.5–3.5 hours, repeated."""
    rng = w.rng("ratloop", ip)
    name, dest_ip = RAT_LOOP
    chain = tls.site_chain(w.seed, name)
    t, times, episodes = w.t0 + rng.uniform(60, 900), [], 0
    while t < w.t_last:
        episodes += 1
        end = min(t + rng.uniform(180, 420), w.t_last)
        while t < end:
            times.append(t)
            t1 = w.dns.lookup(rng, ip, name, dest_ip, t, ttl=60)
            conn = TcpConn(w.cap, rng, ip, dest_ip, 443, t1).handshake()
            tls.handshake(conn, name, chain, profile="malware", alpn=None)
            tls.exchange(conn, rng.randint(30, 60), rng.randint(30, 60))
            conn.close(CLIENT, delay=rng.uniform(0.01, 0.05))
            t += 3.5 * (1 + 0.15 * rng.uniform(-1, 1))
        t += rng.uniform(5400, 12600)
    record = _beacon_record(name, dest_ip, 443, 3.5, 0.15, "symmetric", 0.0, times)
    record.update(style="reconnect_loop", episodes=episodes)
    return record
