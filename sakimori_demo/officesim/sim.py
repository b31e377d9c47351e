"""Orchestration: run every host's behaviour into a capture and write all output files.

``generate(out_dir, params)`` writes ``office.pcap`` (the incident capture), ``baseline.pcap``
(a clean day before it), ``squid-access.log`` (the baseline day's web requests),
``tor-relays.txt`` and ``ground_truth.json``, and returns the ground truth.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from sakimori_demo.officesim import benign, catalogue, infected, shapes
from sakimori_demo.officesim.flows import POOL_SIZE, Capture, Resolver
from sakimori_demo.officesim.outputs import relay_list, write_relay_list, write_squid_log
from sakimori_demo.officesim.params import (
    HOME_NET,
    PROXY_IP,
    WHITELIST,
    SimParams,
    benign_ips,
    iso,
    rng_for,
)
from sakimori_demo.officesim.web import World
from sakimori_demo.officesim.wire import write_pcap

SCHEMA_VERSION = 1
DEFAULT_PARAMS = SimParams()
INFECTED_IPS = [f"10.1.20.{i}" for i in range(11, 21)]


def _infected_plan(w: World) -> dict[str, tuple[list[str], Callable[[str], list[dict]]]]:
    def light_browsing(ip: str) -> list[dict]:
        stats = benign.BrowseStats()
        benign.workday(w, benign.make_profile(w.seed, ip, 0), stats, intensity=0.35)
        return [stats.as_behaviour()]

    def slow(ip: str) -> list[dict]:
        beat = infected.http_beacon(w, ip, infected.SLOW_BEACON, 900, 0.3, missing=0.15,
                                    path_fmt="/widget/v1/update?uid={bot}&v=3")
        return [beat, *light_browsing(ip)]

    return {
        "10.1.20.11": (["beacon"], lambda ip: [infected.http_beacon(
            w, ip, infected.HTTP_BEACON, 60, 0.2)]),
        "10.1.20.12": (["beacon"], lambda ip: [infected.https_beacon(w, ip)]),
        "10.1.20.13": (["beacon"], slow),
        "10.1.20.14": (["long_url"], lambda ip: [infected.long_url_exfil(w, ip)]),
        "10.1.20.15": (["non_http_on_http_port"], lambda ip: [infected.non_http_port80(w, ip)]),
        "10.1.20.16": (["long_session"], lambda ip: [infected.long_session(w, ip)]),
        "10.1.20.17": (["fw_blocked"], lambda ip: [infected.fw_blocked(w, ip)]),
        "10.1.20.18": (["anonymizer"], lambda ip: [infected.tor_client(w, ip)]),
        "10.1.20.19": (["beacon"], lambda ip: [infected.rat_loop(w, ip)]),
        "10.1.20.20": (["non_http_on_http_port"], lambda ip: [infected.raw_port443(w, ip)]),
    }


def simulate(params: SimParams, stream: str, t0: float, t1: float,
             with_infected: bool) -> tuple[World, dict[str, dict]]:
    """Run all hosts into one capture; return it and the per-host ground truth."""
    pool = rng_for(params.seed, stream, "pool").randbytes(POOL_SIZE)
    cap = Capture(seed=params.seed, t0=t0, t1=t1, pool=pool)
    ips = benign_ips(params.benign_hosts)
    proxied = [ip for i, ip in enumerate(ips) if shapes.is_proxied(i)]
    w = World(seed=params.seed, stream=stream, cap=cap, dns=Resolver(cap), scale=params.scale,
              proxied=frozenset(proxied))
    hosts: dict[str, dict] = {}
    for index, ip in enumerate(ips):
        prof = benign.make_profile(params.seed, ip, index)
        hosts[ip] = {"role": "benign", "expected_detections": [],
                     "behaviours": benign.benign_host(w, prof, index)}
    if proxied:
        hosts[PROXY_IP] = {"role": "benign", "expected_detections": [],
                           "behaviours": [shapes.proxy_record(proxied)]}
    if with_infected:
        for ip, (detections, run) in _infected_plan(w).items():
            behaviours = run(ip)
            behaviours += [benign.ntp(w, ip), benign.update_check(w, ip)]
            hosts[ip] = {"role": "infected", "expected_detections": detections,
                         "behaviours": behaviours}
    return w, hosts


def _write_capture(path: Path, w: World) -> dict:
    w.cap.packets.sort()
    count = write_pcap(path, w.cap.packets)
    first = w.cap.packets[0][0] / 1e6 if w.cap.packets else w.cap.t0
    last = w.cap.packets[-1][0] / 1e6 if w.cap.packets else w.cap.t0
    return {"packets": count, "flows": w.cap.flows, "dns_queries": w.dns.queries,
            "bytes": path.stat().st_size, "window": [iso(w.cap.t0), iso(w.cap.t1)],
            "first_packet": iso(first), "last_packet": iso(last)}


def generate(out_dir: Path, params: SimParams = DEFAULT_PARAMS) -> dict:
    """Write the office capture, baseline, proxy log, relay list and ground truth to ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    office, hosts = simulate(params, "office", params.start_epoch, params.end_epoch,
                             params.infected)
    office_counts = _write_capture(out_dir / "office.pcap", office)
    del office
    b0, b1 = params.baseline_window
    base, _ = simulate(params, "baseline", b0, b1, with_infected=False)
    base_counts = _write_capture(out_dir / "baseline.pcap", base)
    base_counts["proxy_log_lines"] = write_squid_log(out_dir / "squid-access.log", base.cap.proxy)
    del base
    avoid = set(catalogue.all_names().values())
    relays = relay_list(params.seed, infected.TOR_RELAY[0], avoid)
    write_relay_list(out_dir / "tor-relays.txt", relays)
    gt = {
        "schema_version": SCHEMA_VERSION,
        "params": asdict(params),
        "start": iso(params.start_epoch),
        "end": iso(params.end_epoch),
        "baseline": {"start": iso(b0), "end": iso(b1)},
        "home_net": [HOME_NET],
        "whitelist": list(WHITELIST),
        "hosts": hosts,
        "tor_relay_ip": infected.TOR_RELAY[0] if params.infected else None,
        "tor_relays": len(relays),
        "counts": {"office.pcap": office_counts, "baseline.pcap": base_counts},
    }
    (out_dir / "ground_truth.json").write_text(json.dumps(gt, indent=2) + "\n", encoding="utf-8")
    return gt
