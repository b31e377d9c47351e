"""Benign shapes that real networks showed and the first simulator lacked (issue 10).

- **Browsing bursts**: 8–25 new connections to one site within about a minute at random gaps
  (a gallery, an infinite-scroll page) — regular-looking at a glance, never a rhythm.
- **A fast periodic service**: an operations dashboard many PCs keep open, polling every
  ~5 s over new TLS connections (resumed sessions) for a few minutes — periodic, but common
  (prevalence).
- **An explicit proxy**: some PCs send their web traffic to the internal proxy 10.1.0.8:8080
  (``CONNECT host:443`` with TLS inside; absolute-form ``GET http://…`` for plain HTTP); the
  proxy resolves the name and opens the upstream connection. Both legs are in the capture.
"""

from __future__ import annotations

import random

from sakimori_demo.officesim import http, tls
from sakimori_demo.officesim.catalogue import DASHBOARD, SITES
from sakimori_demo.officesim.flows import CLIENT, SERVER, ProxyEntry, TcpConn
from sakimori_demo.officesim.http import Fetch
from sakimori_demo.officesim.params import DAY, PROXY_IP, PROXY_PORT, iso, office_periods
from sakimori_demo.officesim.web import World, http_session, https_session

CONNECT_OK = b"HTTP/1.1 200 Connection established\r\n\r\n"


def is_burst_user(index: int) -> bool:
    """A third of the benign PCs show one browsing burst per office day."""
    return index % 3 == 1


def is_dashboard_user(index: int) -> bool:
    """Three in five benign PCs keep the operations dashboard open now and then."""
    return index % 5 in (0, 2, 3)


def is_proxied(index: int) -> bool:
    """One in ten benign PCs is configured with the explicit proxy."""
    return index % 10 == 6


def browsing_burst(w: World, ip: str, ua: str, cum_weights: tuple[float, ...]) -> dict:
    """Per office day: 8–25 new connections to one site within 40–90 s at random gaps."""
    bursts = []
    for a, b in office_periods(w.t0, w.t_last):
        rng = w.rng("burst", ip, a // DAY)
        if b - a < 600:
            continue
        site = rng.choices(SITES, cum_weights=cum_weights)[0]
        n = rng.randint(8, 25)
        span = rng.uniform(40, 90)
        cuts = sorted(rng.random() for _ in range(n - 1))
        t0 = rng.uniform(a, b - 300)
        t = lookup(w, rng, ip, site.name, site.ip, t0)
        for offset in (0.0, *cuts):
            fetch = Fetch(f"/gallery/{rng.randint(10**5, 10**6)}.jpg", "image/jpeg",
                          http.body_size(rng, "image/jpeg"))
            session(w, rng, site.https, ip, site.name, site.ip, [fetch], t + offset * span, ua,
                    f"{'https' if site.https else 'http'}://{site.name}/gallery/")
        bursts.append({"name": site.name, "connections": n, "start": iso(t0),
                       "span_s": round(span, 1)})
    return {"kind": "browsing_burst", "bursts": bursts}


def dashboard(w: World, ip: str, ua: str) -> dict:
    """Per office day one 3–5 minute session of the dashboard: a poll every 5 s (±0.3 s),
    each a new TLS connection resuming the first one's session."""
    name, dest = DASHBOARD
    sessions = []
    for a, b in office_periods(w.t0, w.t_last):
        rng = w.rng("dashboard", ip, a // DAY)
        if b - a < 900:
            continue
        session_id = rng.randbytes(32)
        t = start = rng.uniform(a, b - 600)
        end, polls = start + rng.uniform(180, 300), 0
        while t < end:
            t1 = lookup(w, rng, ip, name, dest, t, ttl=300)
            conn = TcpConn(w.cap, rng, ip, dest, 443, t1).handshake()
            size = len(http.request(name, "/api/v1/panels/refresh", ua, "POST")) + \
                rng.randint(180, 260)
            if polls:
                tls.resumed_handshake(conn, name, session_id, size)
            else:
                tls.handshake(conn, name, tls.site_chain(w.seed, name))
                conn.send(CLIENT, tls.app_data(w.cap, rng, size))
            conn.send(SERVER, tls.app_data(w.cap, rng, rng.randint(800, 2500)))
            conn.close(CLIENT, delay=rng.uniform(0.01, 0.08))
            w.cap.proxy.append(ProxyEntry(conn.t, int((conn.t - t1) * 1000) + 1, ip,
                                          "TCP_TUNNEL/200", conn.bytes[SERVER], "CONNECT",
                                          f"{name}:443", f"HIER_DIRECT/{dest}", "-"))
            polls += 1
            t += 5.0 + rng.uniform(-0.3, 0.3)
        sessions.append({"start": iso(start), "polls": polls})
    return {"kind": "dashboard", "name": name, "dest_ip": dest, "dest_port": 443,
            "poll_s": 5.0, "sessions": sessions}


# --- the explicit proxy --------------------------------------------------------------------

def lookup(w: World, rng: random.Random, client: str, name: str, ip: str, t: float,
           ttl: int = 900) -> float:
    """DNS as the client's traffic needs it: a proxied PC leaves resolving to the proxy."""
    return w.dns.lookup(rng, PROXY_IP if client in w.proxied else client, name, ip, t, ttl)


def session(w: World, rng: random.Random, https: bool, client: str, host: str, ip: str,
            fetches: list[Fetch], t: float, ua: str, referer: str) -> float:
    """One web connection of a PC, direct or through the proxy; returns when it is done."""
    if client in w.proxied:
        return (proxied_https if https else proxied_http)(w, rng, client, host, ip, fetches,
                                                          t, ua, referer)
    if https:
        return https_session(w, rng, client, host, ip, fetches, t, ua)
    return http_session(w, rng, client, host, ip, fetches, t, ua, referer=referer)


def _proxy_rtt(rng: random.Random) -> float:
    return rng.uniform(0.0002, 0.001)


def _tls_fetches(conn: TcpConn, w: World, host: str, fetches: list[Fetch], ua: str) -> None:
    tls.handshake(conn, host, tls.site_chain(w.seed, host))
    for i, fetch in enumerate(fetches):
        req = len(http.request(host, fetch.path, ua, fetch.method))
        resp = len(http.response(fetch.status, fetch.ctype, b"")) + (
            fetch.size if fetch.status == 200 else 0)
        tls.exchange(conn, req, resp, None if i == 0 else conn.rng.uniform(0.002, 0.3))


def proxied_https(w: World, rng: random.Random, client: str, host: str, ip: str,
                  fetches: list[Fetch], t: float, ua: str, referer: str = "") -> float:
    """``CONNECT host:443`` to the proxy, then TLS inside the tunnel; the proxy's upstream
    TLS connection to the site carries the same exchange."""
    tunnel = TcpConn(w.cap, rng, client, PROXY_IP, PROXY_PORT, t, rtt=_proxy_rtt(rng))
    tunnel.handshake()
    tunnel.send(CLIENT, (f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n"
                         f"User-Agent: {ua}\r\nProxy-Connection: keep-alive\r\n\r\n").encode())
    t_up = lookup(w, rng, PROXY_IP, host, ip, tunnel.t + 0.0002)
    upstream = TcpConn(w.cap, rng, PROXY_IP, ip, 443, t_up).handshake()
    tunnel.send(SERVER, CONNECT_OK, delay=upstream.t - tunnel.t + 0.0003)
    upstream.t = tunnel.t + 0.0005  # the two legs run side by side from here
    _tls_fetches(tunnel, w, host, fetches, ua)
    _tls_fetches(upstream, w, host, fetches, ua)
    done = max(tunnel.t, upstream.t)
    close = rng.uniform(0.3, 15.0)
    tunnel.close(CLIENT, delay=max(0.0, done - tunnel.t) + close)
    upstream.close(CLIENT, delay=max(0.0, tunnel.t - upstream.t) + 0.001)
    w.cap.proxy.append(ProxyEntry(tunnel.t, int((tunnel.t - t) * 1000) + 1, client,
                                  "TCP_TUNNEL/200", tunnel.bytes[SERVER], "CONNECT",
                                  f"{host}:443", f"HIER_DIRECT/{ip}", "-"))
    return done


def proxied_http(w: World, rng: random.Random, client: str, host: str, ip: str,
                 fetches: list[Fetch], t: float, ua: str, referer: str = "") -> float:
    """Absolute-form requests to the proxy; the proxy fetches each from the site."""
    leg = TcpConn(w.cap, rng, client, PROXY_IP, PROXY_PORT, t, rtt=_proxy_rtt(rng)).handshake()
    t_up = lookup(w, rng, PROXY_IP, host, ip, leg.t + 0.0002)
    upstream = TcpConn(w.cap, rng, PROXY_IP, ip, 80, t_up).handshake()
    for i, fetch in enumerate(fetches):
        gap = None if i == 0 else rng.uniform(0.002, 0.3)
        leg.send(CLIENT, http.request(host, f"http://{host}{fetch.path}", ua, fetch.method,
                                      referer=referer), gap)
        t_req = leg.t
        upstream.t = max(upstream.t, leg.t)
        upstream.send(CLIENT, http.request(host, fetch.path, ua, fetch.method,
                                           referer=referer), 0.0003)
        body = http.body(w.cap, rng, fetch.ctype, fetch.size) if fetch.status == 200 else b""
        resp = http.response(fetch.status, fetch.ctype, body)
        upstream.send(SERVER, resp)
        leg.send(SERVER, resp, delay=upstream.t - leg.t + 0.0003)
        w.cap.proxy.append(ProxyEntry(leg.t, int((leg.t - t_req) * 1000) + 1, client,
                                      f"TCP_MISS/{fetch.status:03d}", len(resp), fetch.method,
                                      f"http://{host}{fetch.path}", f"HIER_DIRECT/{ip}",
                                      fetch.ctype.split(";")[0] if body else "-"))
    done = leg.t
    leg.close(CLIENT, delay=rng.uniform(0.3, 15.0))
    upstream.close(CLIENT, delay=rng.uniform(0.001, 0.01))
    return done


def proxy_record(clients: list[str]) -> dict:
    """Ground truth of the proxy host."""
    return {"kind": "explicit_proxy", "listen": f"{PROXY_IP}:{PROXY_PORT}",
            "clients": clients, "tunnels": "CONNECT host:443, TLS inside",
            "plain_http": "absolute-form requests"}
