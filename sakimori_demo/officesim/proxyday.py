"""A simulated office day as web-proxy access logs, with ground truth (no packets).

Two proxies of one organisation: the head office's Squid (native ``access.log``, user names
from proxy authentication, elapsed times, ``HIER_DIRECT/<ip>`` peers) and a branch office's
Apache ``mod_proxy`` (combined format, whole seconds, local time ``+0900``, no durations).
Both ask for credentials (407) before a client's request and browsers answer at once.

Benign users browse the catalogue's sites (:mod:`sakimori_demo.officesim.catalogue`; HTTP pages as
``GET`` of absolute URLs, HTTPS as ``CONNECT host:443`` tunnels), fetch CDN assets and
analytics beacons, are now and then refused by the proxy's category filter, and every PC
polls a certificate-status service (periodic, but on every PC: prevalent). Infected clients
browse too, and do one thing more (``INFECTED``): a beacon over plain HTTP, a beacon over
``CONNECT``, long-URL exfiltration, repeated refusals, never-answered 407s, an SSH tunnel
through ``CONNECT``, a tunnel held for hours, Tor through ``CONNECT`` to a relay, a tor2web
gateway. ``generate_proxy_day`` also writes the clean day before (the baseline for ``learn``),
the Tor relay list and ``proxy-truth.json`` (every client with its expected detections).

``python -m sakimori_demo.officesim.proxyday --out DIR [--seed N]``. Same seed → same files.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from sakimori_demo.officesim import catalogue, http
from sakimori_demo.officesim.outputs import relay_list, write_relay_list
from sakimori_demo.officesim.params import (
    LUNCH_START_UTC,
    OFFICE_END_UTC,
    OFFICE_START_UTC,
    parse_time,
    rng_for,
)

DAY_START = "2026-11-02T00:00:00Z"
JST = timezone(timedelta(hours=9))
BLOCKED = ("games.asobi-portal-x.jp", "www.casino-lucky-777.com", "torrent.dl-share-free.net")
OCSP = ("ocsp.trustca-services.net", "104.18.20.226")
RELAY_IP = "185.220.101.47"
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36"


@dataclass
class Req:
    """One logged request."""

    t: float  # start
    client: str
    method: str
    url: str  # absolute URL, or host:port for CONNECT
    status: int
    action: str  # Squid result code (Apache logs only the status)
    size: int
    elapsed: float  # seconds
    user: str | None
    peer: str | None


class Log:
    """The requests of one proxy, with the credentials handshake browsers do."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.reqs: list[Req] = []

    def add(self, t: float, client: str, user: str | None, method: str, url: str,
            status: int = 200, size: int = 0, elapsed: float = 0.1, peer: str | None = None,
            action: str | None = None, challenge: float = 0.25) -> None:
        rng = self.rng
        if user and rng.random() < challenge:  # 407 first, then the same with credentials
            self.reqs.append(Req(t, client, method, url, 407, "TCP_DENIED", 3900, 0.0, None,
                                 None))
            t += rng.uniform(0.005, 0.4)
        if action is None:
            action = ("TCP_TUNNEL" if method == "CONNECT" else
                      rng.choice(("TCP_MISS", "TCP_MISS", "TCP_REFRESH_UNMODIFIED", "TCP_HIT")))
        self.reqs.append(Req(t, client, method, url, status, action, size or
                             rng.randint(300, 60_000), elapsed, user, peer))


def _office(day: float, rng: random.Random) -> tuple[float, float]:
    return (day + OFFICE_START_UTC + rng.uniform(-1800, 1800),
            day + OFFICE_END_UTC + rng.uniform(-1800, 5400))


def _browse(log: Log, rng: random.Random, client: str, user: str, day: float) -> None:
    """Page views in office hours: pages, CDN assets, analytics, refusals, long videos."""
    weights = catalogue.host_weights(rng)
    a, b = _office(day, rng)
    lunch = (day + LUNCH_START_UTC, day + LUNCH_START_UTC + 3600)
    t = a + rng.expovariate(1 / 300)
    while t < b:
        if lunch[0] <= t < lunch[1]:
            t = lunch[1] + rng.uniform(0, 600)
            continue
        site = rng.choices(catalogue.SITES, weights)[0]
        _page(log, rng, client, user, site, t)
        if rng.random() < 0.01:
            name = rng.choice(BLOCKED)
            log.add(t + 2, client, user, "GET", f"http://{name}/", 403, 3900, 0.0, None,
                    "TCP_DENIED", challenge=0.0)
        t += rng.lognormvariate(4.6, 1.0)  # think time, median ~100 s


def _page(log: Log, rng: random.Random, client: str, user: str, site: catalogue.Site,
          t: float) -> None:
    path = http.page_path(rng, site.kind)
    if site.https:
        long_view = site.kind == "video" and rng.random() < 0.3
        elapsed = rng.uniform(1200, 2700) if long_view else rng.lognormvariate(3.5, 1.0)
        log.add(t, client, user, "CONNECT", f"{site.name}:443", elapsed=elapsed,
                peer=site.ip)
    else:
        log.add(t, client, user, "GET", f"http://{site.name}{path}",
                elapsed=rng.uniform(0.05, 0.8), peer=site.ip)
    if site.cdn and rng.random() < 0.7:
        cdn_ip = catalogue.CDNS[site.cdn]
        for _ in range(rng.randint(1, 3)):
            asset, _ctype = http.asset_path(rng)
            if site.https:
                log.add(t + rng.uniform(0.2, 2), client, user, "CONNECT", f"{site.cdn}:443",
                        elapsed=rng.uniform(1, 40), peer=cdn_ip)
                break
            log.add(t + rng.uniform(0.2, 2), client, user, "GET", f"http://{site.cdn}{asset}",
                    elapsed=rng.uniform(0.02, 0.5), peer=cdn_ip)
    if not site.https and rng.random() < 0.25:
        name, ip = catalogue.TRACKER
        page_url = f"http://{site.name}{path}"
        log.add(t + rng.uniform(0.5, 3), client, user, "GET",
                f"http://{name}{http.tracking_path(rng, page_url)}", 204, 35,
                rng.uniform(0.02, 0.2), ip)


def _ocsp(log: Log, rng: random.Random, client: str, user: str, day: float) -> None:
    """Every PC checks certificate status every ~10 minutes while on: periodic, prevalent."""
    a, b = _office(day, rng)
    t = a
    while t < b:
        log.add(t, client, user, "GET", f"http://{OCSP[0]}/status/{http.hexid(rng, 40)}",
                size=rng.randint(1400, 1600), elapsed=rng.uniform(0.05, 0.2), peer=OCSP[1],
                challenge=0.05)
        t += 600 * rng.uniform(0.9, 1.1)


# --- infected behaviours: (log, rng, client, user, day) -> None ---------------------------
def _beacon_http(log: Log, rng: random.Random, c: str, u: str, day: float) -> None:
    t, bot = day + rng.uniform(0, 300), http.hexid(rng, 8)
    while t < day + 86400:
        log.add(t, c, u, "GET", f"http://telemetry.appcheck-cloud.net/api/v1/ping?id={bot}",
                size=rng.randint(200, 260), elapsed=rng.uniform(0.1, 0.4), peer="45.77.13.201",
                challenge=0.0)
        t += 300 * rng.uniform(0.85, 1.15)


def _beacon_connect(log: Log, rng: random.Random, c: str, u: str, day: float) -> None:
    a, b = _office(day, rng)
    t = a
    while t < b:
        log.add(t, c, u, "CONNECT", "sync.cloudfile-relay.com:443", elapsed=rng.uniform(1, 3),
                peer="139.59.77.14", challenge=0.0)
        t += 90 * rng.uniform(0.8, 1.2)


def _exfil(log: Log, rng: random.Random, c: str, u: str, day: float) -> None:
    a, b = _office(day, rng)
    for t in sorted(rng.uniform(a, b) for _ in range(40)):
        blob = base64.urlsafe_b64encode(rng.randbytes(rng.randint(400, 1100))).decode()
        log.add(t, c, u, "GET", f"http://cdn-img.photostore-share.net/i.gif?d={blob.rstrip('=')}",
                size=43, elapsed=rng.uniform(0.1, 0.5), peer="188.166.41.90", challenge=0.0)


def _denied(log: Log, rng: random.Random, c: str, u: str, day: float) -> None:
    a, b = _office(day, rng)
    for t in sorted(rng.uniform(a, b) for _ in range(rng.randint(30, 60))):
        log.add(t, c, u, "GET", "http://update.badhost-dl.ru/payload.bin", 403, 3900, 0.0, None,
                "TCP_DENIED", challenge=0.0)


def _no_credentials(log: Log, rng: random.Random, c: str, u: str, day: float) -> None:
    """Malware that cannot answer the proxy's 407: every attempt refused, never retried."""
    a, b = _office(day, rng)
    for t in sorted(rng.uniform(a, b) for _ in range(rng.randint(30, 60))):
        log.reqs.append(Req(t, c, "GET", f"http://cmd.hidden-node.net/c?{http.hexid(rng, 6)}",
                            407, "TCP_DENIED", 3900, 0.0, None, None))


def _ssh_tunnel(log: Log, rng: random.Random, c: str, u: str, day: float) -> None:
    a, b = _office(day, rng)
    for t in (a + 3600, b - 7200):
        log.add(t, c, u, "CONNECT", "198.51.100.77:22", elapsed=rng.uniform(600, 1500),
                peer="198.51.100.77", challenge=0.0)


def _long_tunnel(log: Log, rng: random.Random, c: str, u: str, day: float) -> None:
    log.add(day + 1800, c, u, "CONNECT", "relay.remote-desk-cloud.net:443",
            elapsed=6 * 3600 + rng.uniform(0, 900), peer="167.99.12.40", challenge=0.0)


def _tor(log: Log, rng: random.Random, c: str, u: str, day: float) -> None:
    a, b = _office(day, rng)
    for t in sorted(rng.uniform(a, b) for _ in range(3)):
        log.add(t, c, u, "CONNECT", f"{RELAY_IP}:443", elapsed=rng.uniform(300, 1500),
                peer=RELAY_IP, challenge=0.0)


def _tor2web(log: Log, rng: random.Random, c: str, u: str, day: float) -> None:
    onion = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(16))
    a, b = _office(day, rng)
    for t in sorted(rng.uniform(a, b) for _ in range(5)):
        log.add(t, c, u, "GET", f"http://{onion}.onion.ws/index.php", elapsed=1.0,
                peer="104.21.9.18", challenge=0.0)


# name -> (proxy, expected detections, behaviour)
Behaviour = Callable[[Log, random.Random, str, str, float], None]
INFECTED: dict[str, tuple[str, tuple[str, ...], Behaviour]] = {
    "beacon_http": ("squid", ("beacon",), _beacon_http),
    "beacon_connect": ("apache", ("beacon",), _beacon_connect),
    "long_url_exfil": ("squid", ("long_url",), _exfil),
    "denied": ("squid", ("fw_blocked",), _denied),
    "no_credentials": ("apache", ("fw_blocked",), _no_credentials),
    "ssh_over_connect": ("squid", ("non_http_on_http_port",), _ssh_tunnel),
    "long_tunnel": ("squid", ("long_session",), _long_tunnel),
    "tor_relay": ("squid", ("anonymizer",), _tor),
    "tor2web": ("apache", ("anonymizer",), _tor2web),
}


@dataclass(frozen=True)
class ProxyDayParams:
    seed: int = 2026
    squid_clients: int = 24
    apache_clients: int = 12
    day: str = DAY_START  # UTC midnight of the simulated day; the baseline is the day before


def _clients(params: ProxyDayParams) -> list[tuple[str, str, str]]:
    """(proxy, client IP, user name) of every PC."""
    out = [("squid", f"10.1.20.{11 + i}", f"user{i + 1:02d}")
           for i in range(params.squid_clients)]
    out += [("apache", f"10.2.30.{11 + i}", f"branch{i + 1:02d}")
            for i in range(params.apache_clients)]
    return out


def simulate(params: ProxyDayParams, day: float, infected: bool) -> tuple[Log, Log, dict]:
    """The two proxies' requests of one day and the truth about every client."""
    logs = {"squid": Log(rng_for(params.seed, "squid", day)),
            "apache": Log(rng_for(params.seed, "apache", day))}
    clients = _clients(params)
    sick: dict[str, str] = {}
    if infected:
        for name, (proxy, _labels, _fn) in INFECTED.items():
            pool = [c for p, c, _ in clients if p == proxy and c not in sick.values()]
            sick[name] = rng_for(params.seed, "infected", name).choice(pool)
    truth: dict[str, dict] = {}
    for proxy, client, user in clients:
        rng = rng_for(params.seed, "client", client, day)
        _browse(logs[proxy], rng, client, user, day)
        _ocsp(logs[proxy], rng, client, user, day)
        truth[client] = {"proxy": proxy, "user": user, "labels": [], "behaviour": "browsing"}
    for name, client in sick.items():
        proxy, labels, fn = INFECTED[name]
        user = truth[client]["user"]
        fn(logs[proxy], rng_for(params.seed, "behaviour", name, day), client, user, day)
        truth[client].update(labels=list(labels), behaviour=name)
    return logs["squid"], logs["apache"], truth


def squid_line(r: Req) -> str:
    end = r.t + r.elapsed
    hier = f"HIER_DIRECT/{r.peer}" if r.peer else "HIER_NONE/-"
    ctype = "-" if r.method == "CONNECT" or r.status == 204 else "text/html"
    return (f"{end:.3f} {int(r.elapsed * 1000):6d} {r.client} {r.action}/{r.status} {r.size} "
            f"{r.method} {r.url} {r.user or '-'} {hier} {ctype}")


def apache_line(r: Req) -> str:
    when = datetime.fromtimestamp(int(r.t), tz=UTC).astimezone(JST)
    return (f'{r.client} - {r.user or "-"} [{when.strftime("%d/%b/%Y:%H:%M:%S %z")}] '
            f'"{r.method} {r.url} HTTP/1.1" {r.status} {r.size} "-" "{UA}"')


def write_log(path: Path, log: Log, line: Callable[[Req], str]) -> int:
    """Lines in logging order (Squid: when the request ended; Apache: when it started)."""
    key = (lambda r: r.t + r.elapsed) if line is squid_line else (lambda r: r.t)
    rows = sorted(log.reqs, key=lambda r: (key(r), r.client, r.url))
    path.write_text("".join(line(r) + "\n" for r in rows), encoding="ascii")
    return len(rows)


def generate_proxy_day(out_dir: Path, params: ProxyDayParams | None = None) -> dict:
    """Write the day's and the baseline day's logs, the relay list and the ground truth."""
    params = params or ProxyDayParams()
    out_dir.mkdir(parents=True, exist_ok=True)
    day = parse_time(params.day)
    counts = {}
    for prefix, when, infected in (("", day, True), ("baseline-", day - 86400, False)):
        squid, apache, truth = simulate(params, when, infected)
        counts[f"{prefix}squid-access.log"] = write_log(out_dir / f"{prefix}squid-access.log",
                                                        squid, squid_line)
        counts[f"{prefix}apache-access.log"] = write_log(
            out_dir / f"{prefix}apache-access.log", apache, apache_line)
        if infected:
            day_truth = truth
    write_relay_list(out_dir / "tor-relays.txt", relay_list(params.seed, RELAY_IP, set()))
    gt = {"seed": params.seed, "day": params.day, "lines": counts, "clients": day_truth,
          "infected": {c: t["labels"] for c, t in day_truth.items() if t["labels"]}}
    (out_dir / "proxy-truth.json").write_text(json.dumps(gt, indent=1, sort_keys=True) + "\n",
                                              encoding="utf-8")
    return gt


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sakimori_demo.officesim.proxyday",
                                description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=2026)
    args = p.parse_args(argv)
    gt = generate_proxy_day(args.out, ProxyDayParams(seed=args.seed))
    print(json.dumps(gt["lines"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
