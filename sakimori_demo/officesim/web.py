"""HTTP and HTTPS connections carrying a list of fetches, logged as a Squid proxy would.

:class:`World` bundles what every behaviour needs: the capture, the resolver, the seed and the
stream label (``office`` or ``baseline``) from which per-behaviour RNGs are derived.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sakimori_demo.officesim import http, tls
from sakimori_demo.officesim.flows import CLIENT, SERVER, Capture, ProxyEntry, Resolver, TcpConn
from sakimori_demo.officesim.http import Fetch
from sakimori_demo.officesim.params import rng_for

GUARD_S = 120.0  # no new connection this close to the end of a capture


@dataclass
class World:
    """Shared state of one capture being generated."""

    seed: int
    stream: str
    cap: Capture
    dns: Resolver
    scale: float = 1.0
    proxied: frozenset[str] = frozenset()  # PCs browsing through the explicit proxy

    def rng(self, *labels: object) -> random.Random:
        """A reproducible RNG for one behaviour of this capture."""
        return rng_for(self.seed, self.stream, *labels)

    @property
    def t0(self) -> float:
        """Capture start (epoch seconds)."""
        return self.cap.t0

    @property
    def t_last(self) -> float:
        """Latest time a new connection may start."""
        return self.cap.t1 - GUARD_S


def http_session(w: World, rng: random.Random, client: str, host: str, ip: str,
                 fetches: list[Fetch], t: float, ua: str, port: int = 80,
                 server_closes: bool = False, referer: str | None = None) -> float:
    """One keep-alive HTTP connection; returns when the last response arrived."""
    conn = TcpConn(w.cap, rng, client, ip, port, t).handshake()
    authority = host if port == 80 else f"{host}:{port}"
    for i, fetch in enumerate(fetches):
        last = i == len(fetches) - 1
        req = http.request(host, fetch.path, ua, fetch.method, referer=referer)
        conn.send(CLIENT, req, None if i == 0 else rng.uniform(0.002, 0.3))
        t_req = conn.t
        body = http.body(w.cap, rng, fetch.ctype, fetch.size) if fetch.status == 200 else b""
        resp = http.response(fetch.status, fetch.ctype, body, close=server_closes and last)
        conn.send(SERVER, resp)
        w.cap.proxy.append(ProxyEntry(conn.t, int((conn.t - t_req) * 1000) + 1, client,
                                      f"TCP_MISS/{fetch.status:03d}", len(resp), fetch.method,
                                      f"http://{authority}{fetch.path}", f"HIER_DIRECT/{ip}",
                                      fetch.ctype.split(";")[0] if body else "-"))
    done = conn.t
    if server_closes:
        conn.close(SERVER, delay=rng.uniform(0.0001, 0.002))
    else:
        conn.close(CLIENT, delay=rng.uniform(0.3, 15.0))
    return done


def https_session(w: World, rng: random.Random, client: str, host: str, ip: str,
                  fetches: list[Fetch], t: float, ua: str, port: int = 443,
                  profile: str = "browser", chain: tuple[bytes, ...] | None = None,
                  close_delay: float | None = None) -> float:
    """One TLS connection carrying HTTP/1.1 fetches; logged as a CONNECT tunnel."""
    conn = TcpConn(w.cap, rng, client, ip, port, t).handshake()
    tls.handshake(conn, host, chain or tls.site_chain(w.seed, host), profile)
    for i, fetch in enumerate(fetches):
        req = len(http.request(host, fetch.path, ua, fetch.method))
        resp = len(http.response(fetch.status, fetch.ctype, b"")) + (
            fetch.size if fetch.status == 200 else 0)
        tls.exchange(conn, req, resp, None if i == 0 else rng.uniform(0.002, 0.3))
    done = conn.t
    conn.close(CLIENT, delay=rng.uniform(0.3, 15.0) if close_delay is None else close_delay)
    w.cap.proxy.append(ProxyEntry(conn.t, int((conn.t - t) * 1000) + 1, client, "TCP_TUNNEL/200",
                                  conn.bytes[SERVER], "CONNECT", f"{host}:{port}",
                                  f"HIER_DIRECT/{ip}", "-"))
    return done


def log_failure(w: World, t: float, client: str, host: str, port: int, elapsed: float) -> None:
    """A connection the proxy could not make (Squid answers 503 with its error page)."""
    url = f"{host}:{port}" if port == 443 else f"http://{host}/"
    w.cap.proxy.append(ProxyEntry(t + elapsed, int(elapsed * 1000), client, "TCP_MISS/503",
                                  3980, "CONNECT" if port == 443 else "GET", url,
                                  "HIER_NONE/-", "text/html"))
