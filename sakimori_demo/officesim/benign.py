"""Benign office behaviour: human browsing, periodic services, video calls and rare failures.

A :class:`Profile` (user agent, favourite sites, activity level, evening habit) is derived
from the seed and the host only, so the baseline day and the incident day show the same
people; the day's schedule comes from the capture's own stream.
"""

from __future__ import annotations

import itertools
import math
import random
import struct
from dataclasses import dataclass, field

from sakimori_demo.officesim import catalogue, http, shapes, tls
from sakimori_demo.officesim.catalogue import MEET, NTP, PRESENCE, SITES, UPDATE, Site
from sakimori_demo.officesim.flows import (
    CLIENT,
    SERVER,
    ProxyEntry,
    TcpConn,
    syn_refused,
    syn_unanswered,
    udp_exchange,
)
from sakimori_demo.officesim.http import Fetch
from sakimori_demo.officesim.params import (
    DAY,
    LUNCH_START_UTC,
    OFFICE_END_UTC,
    OFFICE_START_UTC,
    PROXY_IP,
    PROXY_PORT,
    iso,
    office_periods,
    rng_for,
)
from sakimori_demo.officesim.web import World, http_session, log_failure

NTP_EPOCH = 2208988800
UPDATE_UA = "Windows-Update-Agent/10.0.10011.16384 Client-Protocol/2.50"


@dataclass(frozen=True)
class Profile:
    """Stable traits of one office user and their PC."""

    ip: str
    ua: str
    cum_weights: tuple[float, ...]
    intensity: float
    evening: bool
    video_prob: float


def make_profile(seed: int, ip: str, index: int) -> Profile:
    """The user behind ``ip`` (same for the baseline and the incident capture)."""
    rng = rng_for(seed, "profile", ip)
    weights = catalogue.host_weights(rng)
    return Profile(ip=ip, ua=rng.choice(http.USER_AGENTS),
                   cum_weights=tuple(itertools.accumulate(weights)),
                   intensity=rng.lognormvariate(0.0, 0.45),
                   evening=index % 5 == 2 or rng.random() < 0.1,
                   video_prob=rng.choice([0.0, 0.2, 0.4, 0.6]))


@dataclass
class BrowseStats:
    """What one host's browsing produced."""

    pages: int = 0
    requests: int = 0
    times: list[float] = field(default_factory=list)

    def as_behaviour(self) -> dict:
        """Ground-truth record."""
        out: dict = {"kind": "browsing", "pages": self.pages, "requests": self.requests}
        if self.times:
            out.update(first=iso(min(self.times)), last=iso(max(self.times)))
        return out


def visit_page(w: World, rng: random.Random, prof: Profile, site: Site, t: float,
               stats: BrowseStats) -> float:
    """One page view: DNS, the document (+ XHRs), CDN assets, maybe a tracking beacon."""
    stats.times.append(t)
    t = shapes.lookup(w, rng, prof.ip, site.name, site.ip, t)
    path = http.page_path(rng, site.kind)
    page_url = f"{'https' if site.https else 'http'}://{site.name}{path}"
    fetches = [Fetch(path, "text/html; charset=utf-8", http.body_size(rng, "text/html"))]
    for _ in range(rng.choice([0, 0, 0, 1, 2])):
        fetches.append(Fetch(f"/api/{rng.choice(['v1', 'v2'])}/{rng.choice(['items', 'feed'])}"
                             f"?ts={rng.randint(10**9, 10**10)}", "application/json",
                             http.body_size(rng, "application/json")))
    done = shapes.session(w, rng, site.https, prof.ip, site.name, site.ip, fetches, t,
                           prof.ua, page_url)
    stats.requests += len(fetches)
    if site.cdn and rng.random() < 0.7:
        cdn_ip = catalogue.CDNS[site.cdn]
        t2 = shapes.lookup(w, rng, prof.ip, site.cdn, cdn_ip, done + rng.uniform(0.01, 0.15))
        assets = []
        for _ in range(rng.randint(1, 3)):
            apath, ctype = http.asset_path(rng)
            assets.append(Fetch(apath, ctype, http.body_size(rng, ctype)))
        done = max(done, shapes.session(w, rng, site.https, prof.ip, site.cdn, cdn_ip, assets,
                                         t2, prof.ua, page_url))
        stats.requests += len(assets)
    if rng.random() < 0.25:
        name, ip = catalogue.TRACKER
        t3 = shapes.lookup(w, rng, prof.ip, name, ip, done + rng.uniform(0.05, 1.0))
        beacon = [Fetch(http.tracking_path(rng, page_url), "image/gif", 0, status=204)]
        shapes.session(w, rng, site.https, prof.ip, name, ip, beacon, t3, prof.ua, page_url)
        stats.requests += 1
    stats.pages += 1
    return done


def browse(w: World, rng: random.Random, prof: Profile, a: float, b: float, intensity: float,
           stats: BrowseStats, lunch: tuple[float, float] | None = None) -> None:
    """Bursty sessions of page views with log-normal think times between [a, b)."""
    b = min(b, w.t_last)
    t = a + rng.expovariate(intensity / 600.0)
    while t < b:
        if lunch and lunch[0] <= t < lunch[1]:
            t = lunch[1] + rng.uniform(0, 300)
            continue
        for _ in range(1 + int(rng.expovariate(1 / 3.0))):
            if t >= b:
                break
            site = rng.choices(SITES, cum_weights=prof.cum_weights)[0]
            done = visit_page(w, rng, prof, site, t, stats)
            t = done + min(600.0, max(2.0, rng.lognormvariate(3.0, 1.0)))
        t += rng.expovariate(intensity / 3600.0)


def workday(w: World, prof: Profile, stats: BrowseStats, intensity: float = 1.0) -> None:
    """Office-hours browsing (with a lunch break) on every day of the capture.

    ``w.scale`` > 1 adds parallel browsing streams (think: more tabs, busier users) so the
    volume grows linearly; < 1 thins the single stream out."""
    streams = max(1, math.ceil(w.scale - 1e-9))
    level = prof.intensity * intensity * w.scale / streams
    for a, b in office_periods(w.t0, w.cap.t1):
        day = (a // DAY) * DAY
        for k in range(streams):
            rng = w.rng("browse", prof.ip, day, k) if k else w.rng("browse", prof.ip, day)
            start = max(a, day + rng.uniform(0, 2400))
            end = min(b, day + 9 * 3600 - rng.uniform(0, 1800))
            lunch0 = day + LUNCH_START_UTC + rng.uniform(0, 900)
            lunch = (lunch0, lunch0 + rng.uniform(2700, 3600))
            browse(w, rng, prof, start, end, level, stats, lunch)
            if prof.evening:
                ev = day + 10 * 3600 + rng.uniform(0, 3 * 3600)
                if w.t0 <= ev:
                    browse(w, rng, prof, ev, ev + rng.uniform(600, 2400), 2.0 * level, stats)


def heartbeat(w: World, ip: str, ua: str) -> dict:
    """Chat-client presence check every 300 s over a new TLS connection, all day long.

    The first connection does a full handshake; later ones resume the TLS session (as the
    real client does), which keeps the default capture within its packet budget."""
    rng = w.rng("heartbeat", ip)
    name, dest = PRESENCE
    session_id = rng.randbytes(32)
    t, times = w.t0 + rng.uniform(0, 300), []
    while t < w.t_last:
        t1 = w.dns.lookup(rng, ip, name, dest, t, ttl=3600)
        conn = TcpConn(w.cap, rng, ip, dest, 443, t1).handshake()
        size = len(http.request(name, "/v1/presence/heartbeat", ua, "POST")) + rng.randint(90, 140)
        if times:
            tls.resumed_handshake(conn, name, session_id, size)
        else:
            tls.handshake(conn, name, tls.site_chain(w.seed, name))
            conn.send(CLIENT, tls.app_data(w.cap, rng, size))
        conn.send(SERVER, tls.app_data(w.cap, rng, rng.randint(150, 190)))
        conn.close(CLIENT, delay=rng.uniform(0.01, 0.08))
        w.cap.proxy.append(ProxyEntry(conn.t, int((conn.t - t1) * 1000) + 1, ip,
                                      "TCP_TUNNEL/200", conn.bytes[SERVER], "CONNECT",
                                      f"{name}:443", f"HIER_DIRECT/{dest}", "-"))
        times.append(t)
        t += 300.0 + rng.uniform(-0.4, 0.6)
    return _periodic("heartbeat", name, dest, 443, 300, times)


def _periodic(kind: str, name: str, dest: str, port: int, sleep: float, times: list[float]) -> dict:
    out: dict = {"kind": kind, "name": name, "dest_ip": dest, "dest_port": port,
                 "sleep_s": sleep, "connections": len(times)}
    if times:
        out.update(first=iso(times[0]), last=iso(times[-1]))
    return out


def _ntp_packet(mode_byte: int, stratum: int, ref: bytes, times: tuple[float, ...]) -> bytes:
    def fmt(t: float) -> bytes:
        if not t:
            return b"\0" * 8
        sec = t + NTP_EPOCH
        return struct.pack("!II", int(sec), int((sec % 1) * 2**32))
    head = struct.pack("!BBbbII4s", mode_byte, stratum, 10, -20 if stratum else -23, 0, 0x40, ref)
    return head + b"".join(fmt(x) for x in times)


def ntp(w: World, ip: str) -> dict:
    """w32time: an NTP v3 query to ntp.nict.jp every 1024 s (±small)."""
    rng = w.rng("ntp", ip)
    t, times = w.t0 + rng.uniform(0, 1024), []
    while t < w.t_last:
        rtt = rng.uniform(0.004, 0.012)
        req = _ntp_packet(0x1B, 0, b"\0\0\0\0", (0.0, 0.0, 0.0, t))
        resp = _ntp_packet(0x1C, 1, b"NICT", (t - 16, t, t + rtt / 2, t + rtt / 2 + 2e-5))
        udp_exchange(w.cap, ip, NTP[1], 123, 123, t, req, resp, rtt)
        times.append(t)
        t += 1024.0 + rng.uniform(-1.5, 1.5)
    return _periodic("ntp", NTP[0], NTP[1], 123, 1024, times)


def update_check(w: World, ip: str) -> dict:
    """Hourly Windows Update HTTP check (whitelisted destination)."""
    rng = w.rng("update", ip)
    name, dest = UPDATE
    t, times = w.t0 + rng.uniform(0, 3600), []
    while t < w.t_last:
        times.append(t)
        t1 = w.dns.lookup(rng, ip, name, dest, t, ttl=600)
        stamp = iso(t)[2:16].replace("-", "").replace("T", "").replace(":", "")
        path = f"/v11/3/legacy/windowsupdate/redir/muv4wuredir.cab?{stamp}"
        fetch = (Fetch(path, "application/vnd.ms-cab-compressed", rng.randint(5000, 6500))
                 if rng.random() < 0.2 else Fetch(path, "-", 0, status=304))
        http_session(w, rng, ip, name, dest, [fetch], t1, UPDATE_UA, server_closes=True)
        t += 3600.0 + rng.uniform(-30, 30)
    return _periodic("update_check", name, dest, 80, 3600, times)


def video_calls(w: World, prof: Profile) -> dict:
    """20–55 min TLS sessions to meet.teamchat-saas.com, packets every 10–30 s, FIN close."""
    calls = []
    name, dest = MEET
    for a, b in office_periods(w.t0, w.t_last):
        rng = w.rng("video", prof.ip, a // DAY)
        if rng.random() >= prof.video_prob or b - a < 1800:
            continue
        t = rng.uniform(a, max(a, b - 3600))
        end = min(t + rng.uniform(1200, 3300), w.t_last)
        t = w.dns.lookup(rng, prof.ip, name, dest, t)
        conn = TcpConn(w.cap, rng, prof.ip, dest, 443, t).handshake()
        tls.handshake(conn, name, tls.site_chain(w.seed, name), alpn=None)
        while conn.t < end - 30:
            tls.exchange(conn, rng.randint(200, 1200), rng.randint(300, 1400),
                         rng.uniform(10, 30))
        conn.close(CLIENT)
        calls.append({"start": iso(t), "end": iso(conn.t), "duration_s": round(conn.t - t)})
    return {"kind": "video_call", "name": name, "dest_ip": dest, "dest_port": 443,
            "sessions": calls}


def failures(w: World, prof: Profile) -> dict:
    """0–2 unanswered SYNs and 0–1 refused connections per office day to random sites
    (pro rata for office periods cut by the capture window)."""
    unanswered = refused = 0
    if prof.ip in w.proxied:  # its failures are the proxy's 503 pages, not SYNs of its own
        return {"kind": "failures", "unanswered_syn": 0, "refused": 0}
    for a, b in office_periods(w.t0, w.t_last):
        rng = w.rng("fail", prof.ip, a // DAY)
        share = (b - a) / (OFFICE_END_UTC - OFFICE_START_UTC)  # partial days: fewer
        for kind in ["u"] * rng.choice([0, 0, 1, 1, 2]) + ["r"] * rng.choice([0, 0, 1]):
            if rng.random() >= share:
                continue
            site = rng.choices(SITES, cum_weights=prof.cum_weights)[0]
            t = w.dns.lookup(rng, prof.ip, site.name, site.ip, rng.uniform(a, b))
            port = 443 if site.https else 80
            if kind == "u":
                syn_unanswered(w.cap, rng, prof.ip, site.ip, port, t)
                log_failure(w, t, prof.ip, site.name, port, 21.0)
                unanswered += 1
            else:
                syn_refused(w.cap, rng, prof.ip, site.ip, port, t)
                log_failure(w, t, prof.ip, site.name, port, 0.05)
                refused += 1
    return {"kind": "failures", "unanswered_syn": unanswered, "refused": refused}


def benign_host(w: World, prof: Profile, index: int) -> list[dict]:
    """Everything one benign PC does during the capture; returns its ground-truth behaviours."""
    stats = BrowseStats()
    workday(w, prof, stats)
    browsing = stats.as_behaviour()
    if prof.ip in w.proxied:
        browsing["via_proxy"] = f"{PROXY_IP}:{PROXY_PORT}"
    out = [browsing, heartbeat(w, prof.ip, prof.ua), ntp(w, prof.ip),
           update_check(w, prof.ip), video_calls(w, prof), failures(w, prof)]
    if shapes.is_burst_user(index):
        out.append(shapes.browsing_burst(w, prof.ip, prof.ua, prof.cum_weights))
    if shapes.is_dashboard_user(index):
        out.append(shapes.dashboard(w, prof.ip, prof.ua))
    return out
