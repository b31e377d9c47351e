"""The crafted office capture every detection is proven on (scapy via tests/pcapcraft.py).

3.5 hours: one infected host per behaviour and six benign hosts doing human browsing, Poisson
polling, a 300 s chat heartbeat to a non-whitelisted SaaS (must be suppressed by prevalence),
NTP to a whitelisted CIDR, update checks to a whitelisted name, a periodic SNI-less TLS
connection whitelisted only through a DNS answer, a short video call and a few failed
connections; plus its config, baselines and a small "third-party" rule file (ET-style trojan /
web-attack / misc rules). :func:`build_scenario` writes them; :data:`EXPECTED` is each infected
host's detection; :func:`split_by_host` cuts the capture in two as two sensors would see it.
Used by tests/test_consumer_scenario.py, test_cmd_analyze_consume.py, test_redis_scaleout.py,
test_deploy.py and bench/scaleout.py."""

from __future__ import annotations

import json
import random
from pathlib import Path

from pcapcraft import (
    client_hello,
    http_get,
    make_certificate,
    server_flight,
    syn_only,
    syn_rst,
    tcp_session,
    tls_session,
    write_pcap,
)
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw
from scapy.utils import rdpcap, wrpcap

T0 = 1793577600.0  # 2026-11-02T00:00:00Z
HOURS = 3.5
END = T0 + HOURS * 3600
RESOLVER = "10.1.0.53"
BENIGN = [f"10.1.10.{i}" for i in range(11, 17)]
TOR_RELAY = "198.51.100.66"
EXPECTED = {
    "10.1.20.11": {"beacon"},                 # HTTP, 60 s, 20 % jitter
    "10.1.20.12": {"beacon"},                 # TLS, 300 s, ±50 % jitter
    "10.1.20.13": {"beacon"},                 # HTTP, 900 s, 30 % jitter, 15 % missing
    "10.1.20.14": {"long_url"},
    "10.1.20.15": {"non_http_on_http_port"},  # TLS and raw TCP on port 80
    "10.1.20.16": {"long_session"},           # open for 2 h at capture end
    "10.1.20.17": {"fw_blocked"},             # unanswered SYNs and refusals
    "10.1.20.18": {"anonymizer"},             # Tor relay, Tor certificate pattern
    "10.1.20.19": {"malware_signature"},      # ET-style trojan rule + static no-Host rule
    "10.1.20.20": {"web_attack"},             # internal web server attacked from outside
}


CONFIG = """\
networks:
  home: [10.1.0.0/16]
whitelist:
  destinations: ["*.windowsupdate.com", "ntp.nict.jp", 203.0.113.0/24]
alerts:
  smtp: 127.0.0.1:1
  admins: [soc@example.co.jp]
anonymizer:
  tor_relays: [relays.txt]
"""


BASELINES = {"schema_version": 1, "generated_at": "2026-11-01T00:00:00Z", "provenance": {},
             "mail": {}, "traffic": {"url_length": {"threshold": 300, "method": "median+k*MAD",
                                                    "n": 5000}}}


THIRD_PARTY_RULES = "\n".join([
    'alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"ET MALWARE Test Trojan CnC Checkin"; '
    'flow:established,to_server; http.uri; content:"/gate.php?bot="; startswith; '
    'classtype:trojan-activity; sid:2999001; rev:1;)',
    'alert http $EXTERNAL_NET any -> $HOME_NET any (msg:"ET WEB_SERVER Possible SQL Injection '
    'UNION SELECT"; flow:established,to_server; http.uri; content:"UNION"; nocase; '
    'content:"SELECT"; nocase; distance:0; classtype:web-application-attack; sid:2999002; '
    'rev:1;)',
    'alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"ET INFO Test Misc Activity"; '
    'flow:established,to_server; http.uri; content:"/robots.txt"; classtype:misc-activity; '
    'sid:2999003; rev:1;)',
]) + "\n"


class _Ports:
    def __init__(self) -> None:
        self.n = 20000

    def __call__(self) -> int:
        self.n += 1
        return self.n


def _udp(src: str, dst: str, sport: int, dport: int, t: float, payload: Packet | bytes
         ) -> Packet:
    pkt = Ether() / IP(src=src, dst=dst) / UDP(sport=sport, dport=dport) / payload
    pkt.time = t
    return pkt


def dns_answer(client: str, name: str, ip: str, t: float, sport: int) -> list[Packet]:
    """A DNS A query to the internal resolver and its answer."""
    q = DNS(id=sport & 0xFFFF, rd=1, qd=DNSQR(qname=name))
    a = DNS(id=sport & 0xFFFF, qr=1, rd=1, ra=1, qd=DNSQR(qname=name),
            an=DNSRR(rrname=name, type="A", ttl=300, rdata=ip))
    return [_udp(client, RESOLVER, sport, 53, t, q), _udp(RESOLVER, client, 53, sport, t + 0.01, a)]


def long_tcp_session(client: str, server: str, sport: int, dport: int, t0: float,
                     duration: float, every: float, sni: str | None = None) -> list[Packet]:
    """A handshake, then a small exchange every *every* seconds for *duration*; never closed.
    With *sni* the session is TLS (ClientHello, server flight, application-data records), as
    on 443/8443 where anything else is non_http_on_http_port."""
    hello = [("c", client_hello(sni)), ("s", server_flight(make_certificate(sni, "R3")))] \
        if sni else []
    pkts = tcp_session(client, server, sport, dport, hello, t0=t0, close=False)
    ping, pong = (b"\x17\x03\x03\x00\x04PING", b"\x17\x03\x03\x00\x04PONG") if sni \
        else (b"PING", b"PONG")
    c_seq = 1001 + sum(len(d) for side, d in hello if side == "c")
    s_seq = 5001 + sum(len(d) for side, d in hello if side == "s")
    t = t0 + every
    while t < t0 + duration:
        for src, dst, sp, dp, seq, ack, data in (
                (client, server, sport, dport, c_seq, s_seq, ping),
                (server, client, dport, sport, s_seq, c_seq + len(ping), pong)):
            pkt = Ether() / IP(src=src, dst=dst) / TCP(sport=sp, dport=dp, flags="PA", seq=seq,
                                                       ack=ack, window=65535) / Raw(data)
            pkt.time = t if data == ping else t + 0.02
            pkts.append(pkt)
        c_seq, s_seq = c_seq + len(ping), s_seq + len(pong)
        ack = Ether() / IP(src=client, dst=server) / TCP(sport=sport, dport=dport, flags="A",
                                                         seq=c_seq, ack=s_seq, window=65535)
        ack.time = t + 0.04
        pkts.append(ack)
        t += every
    return pkts


def _timer(rng: random.Random, period: float, jitter: float, symmetric: bool,
           missing: float = 0.0, start: float = T0 + 30) -> list[float]:
    times, t = [], start + rng.uniform(0, period)
    while t < END - 60:
        if rng.random() >= missing:
            times.append(t)
        u = rng.uniform(-1, 1) if symmetric else -rng.random()
        t += period * (1 + jitter * u)
    return times


def _human(rng: random.Random, sessions_mean_gap: float = 1500.0) -> list[float]:
    """Bursts of 2–6 page views seconds to a minute apart, bursts ~25 min apart."""
    times, t = [], T0 + rng.uniform(0, 900)
    while t < END - 600:
        for _ in range(rng.randint(2, 6)):
            times.append(t)
            t += rng.lognormvariate(3.0, 0.8)
        t += rng.expovariate(1 / sessions_mean_gap)
    return times


def _infected(p: _Ports, rng: random.Random) -> list[Packet]:
    pk: list[Packet] = []
    for t in _timer(rng, 60, 0.2, symmetric=False):
        pk += http_get("10.1.20.11", "198.51.100.20", "c2.bad-example.net",
                       "/api/v2/status?id=4f2a", sport=p(), t0=t)
    for t in _timer(rng, 300, 0.5, symmetric=True):
        pk += tls_session("10.1.20.12", "198.51.100.21", "telemetry-sync.org", sport=p(), t0=t)
    for t in _timer(rng, 900, 0.3, symmetric=False, missing=0.15, start=T0):
        pk += http_get("10.1.20.13", "198.51.100.22", "weather-gadget-api.com",
                       "/v1/forecast", sport=p(), t0=t)
    for t in sorted(rng.uniform(T0 + 600, END - 600) for _ in range(5)):
        pk += http_get("10.1.20.14", "198.51.100.30", "img-cache-service.com",
                       "/search?q=" + "QUJD" * 200, sport=p(), t0=t)
    pk += tls_session("10.1.20.15", "198.51.100.31", "static-content-delivery.net", sport=p(),
                      dport=80, t0=T0 + 1200)
    pk += tcp_session("10.1.20.15", "198.51.100.32", p(), 80,
                      [("c", bytes(range(256)) * 2), ("s", b"\xa7\x41\x00\x20" * 64)] * 3,
                      t0=T0 + 5000)
    pk += long_tcp_session("10.1.20.16", "198.51.100.77", p(), 8443, END - 7200, 7190, 120,
                           sni="sync.remote-desk.example")
    for i in range(8):
        pk += syn_only("10.1.20.17", "198.51.100.40", p(), 445, t0=T0 + 3000 + 40 * i)
    for i in range(6):
        pk += syn_rst("10.1.20.17", "198.51.100.41", p(), 3389, t0=T0 + 6000 + 25 * i)
    pk += tls_session("10.1.20.18", TOR_RELAY, "www.abcdefgh2345.com", "www.qwertyuiop.net",
                      "www.zxcvbnmasd.com", sport=p(), dport=9001, t0=T0 + 4000)
    pk += http_get("10.1.20.19", "198.51.100.50", "update-check.bad-example.net",
                   "/gate.php?bot=77", sport=p(), t0=T0 + 2500)
    pk += http_get("10.1.20.19", "198.51.100.50", None, "/load", sport=p(), t0=T0 + 2600)
    pk += http_get("203.0.113.200", "10.1.20.20", "intranet-web.example.co.jp",
                   "/item?id=1%20UNION%20SELECT%20password", sport=p(), t0=T0 + 3500)
    return pk


def _benign_host(ip: str, i: int, p: _Ports, rng: random.Random) -> list[Packet]:
    pk: list[Packet] = []
    for t in _timer(rng, 300, 0.002, symmetric=True):  # chat heartbeat, every host
        pk += tls_session(ip, "198.51.100.200", "presence.teamchat-saas.com", sport=p(), t0=t)
    for t in _timer(rng, 1024, 0.001, symmetric=True):  # NTP, whitelisted CIDR
        port = p()
        pk += [_udp(ip, "203.0.113.123", port, 123, t, b"\x1b" + b"\0" * 47),
               _udp("203.0.113.123", ip, 123, port, t + 0.01, b"\x1c" + b"\0" * 47)]
    for t in _timer(rng, 600, 0.01, symmetric=True):  # update check, whitelisted name
        pk += http_get(ip, "198.51.100.100", "fe2.update.windowsupdate.com",
                       "/v11/3/windowsupdate/redir/muv4wuredir.cab", sport=p(), t0=t)
    for t in _human(rng):  # human browsing to the host's own favourite site
        pk += http_get(ip, f"198.51.100.{110 + i}", f"favourite-{i}.example.com",
                       f"/page/{rng.randint(1, 999)}", sport=p(), t0=t)
    pk += syn_only(ip, "198.51.100.120", p(), 443, t0=T0 + 1800 + 60 * i)
    pk += syn_rst(ip, "198.51.100.121", p(), 80, t0=T0 + 2400 + 60 * i)
    if i == 0:  # SNI-less TLS every 300 s, whitelisted only by the DNS answer
        pk += dns_answer(ip, "dl.delivery.windowsupdate.com", "198.51.100.150", T0 + 5, p())
        for t in _timer(rng, 300, 0.01, symmetric=True):
            pk += tls_session(ip, "198.51.100.150", None, sport=p(), t0=t)
    if i == 1:  # Poisson polling, mean 300 s
        t = T0 + rng.expovariate(1 / 300)
        while t < END - 60:
            pk += http_get(ip, "198.51.100.130", "feeds.news-portal.example", "/rss",
                           sport=p(), t0=t)
            t += rng.expovariate(1 / 300)
    if i == 2:  # a 25-minute video call (long, but far below the threshold)
        pk += long_tcp_session(ip, "198.51.100.140", p(), 443, T0 + 3600, 1500, 20,
                               sni="meet.video-call.example")
    if i == 3:  # fetches robots.txt: a third-party misc rule fires (ignored alert)
        pk += http_get(ip, "198.51.100.141", "www.example.org", "/robots.txt", sport=p(),
                       t0=T0 + 700)
    return pk


def build_scenario(directory: Path) -> tuple[Path, Path, Path, Path]:
    """Write (config, baselines, pcap, third-party rules) into *directory*."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(20261102)
    ports = _Ports()
    packets = _infected(ports, rng)
    for i, ip in enumerate(BENIGN):
        packets += _benign_host(ip, i, ports, rng)
    (directory / "relays.txt").write_text(f"# test relays\n{TOR_RELAY}\n", encoding="utf-8")
    cfg = directory / "sakimori.yaml"
    cfg.write_text(CONFIG, encoding="utf-8")
    baselines = directory / "baselines.json"
    baselines.write_text(json.dumps(BASELINES), encoding="utf-8")
    extra = directory / "third-party.rules"
    extra.write_text(THIRD_PARTY_RULES, encoding="utf-8")
    return cfg, baselines, write_pcap(directory / "office.pcap", packets), extra


HALF_A = {*list(EXPECTED)[:5], *BENIGN[:2]}  # two chat-heartbeat hosts only


def split_by_host(pcap: Path, out_a: Path, out_b: Path) -> None:
    """Packets go with the internal host they belong to (the resolver is nobody's)."""
    a, b = [], []
    for pkt in rdpcap(str(pcap)):
        ip = pkt[IP]
        owner = next((x for x in (ip.src, ip.dst) if x.startswith("10.1.") and x != RESOLVER),
                     None)
        (a if owner in HALF_A else b).append(pkt)
    wrpcap(str(out_a), a)
    wrpcap(str(out_b), b)
