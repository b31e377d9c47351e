"""eve_consumer.handlers.beacon_series and the beacon handler end to end.

- A pair's series fed in chunks (hour by hour, late chunks too) holds the same sorted starts as
  one batch, and so the same verdict; memory stays bounded;
  the verdict is computed again only when beats arrived; state survives a round trip.
- Real Suricata on a crafted capture: a host reaching a live C2 on a jittered timer is a
  beacon; a host whose connection attempts to a dead C2 go unanswered on the same timer (SYN
  and its retransmissions 1 s and 3 s later) is not — it is ``fw_blocked`` — and the beacon
  finding's evidence carries the period, jitter, beats, sub-scores and intervals. Check-ins
  that reuse one kept-alive HTTP connection (one flow event) are a beacon too.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from pcapcraft import http_get, syn_only, write_pcap

from eve_consumer.handlers.beacon_score import score_beacon
from eve_consumer.handlers.beacon_series import MAX_STARTS, PairSeries, prevalence_cutoff
from eve_consumer.pipeline import Consumer
from sakimori.config import load_config
from sakimori.suricata import read_pcaps

T0 = 1793577600.0


def test_chunks_in_order_equal_the_batch() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        t = np.sort(rng.random(rng.integers(1, 400)) * 20_000)
        t = np.sort(np.concatenate([t, t[rng.random(t.size) < 0.2] + 0.4]))
        series = PairSeries()
        for chunk in np.array_split(t, rng.integers(1, 8)):
            series.add(chunk, np.ones(chunk.size, dtype=int))
        assert np.array_equal(series.starts, t[-MAX_STARTS:])
        assert series.verdict(5) == score_beacon(t[-MAX_STARTS:], 5, np.ones(t.size)[-256:])


def test_a_late_chunk_is_sorted_into_the_tail() -> None:
    series = PairSeries()
    series.add([0.0, 60.0, 120.0], [1, 1, 1])
    series.add([60.5, 180.0], [1, 1])  # 60.5 arrives late: merged with 60.0 when scored
    assert list(series.starts) == [0.0, 60.0, 60.5, 120.0, 180.0]


def test_memory_is_bounded_and_verdicts_are_cached() -> None:
    series = PairSeries()
    for hour in range(48):  # a 10 s timer for two days: 17,280 beats offered
        t = T0 + hour * 3600 + 10.0 * np.arange(360)
        series.add(t, np.full(t.size, 300))
    assert len(series) == MAX_STARTS and series.sizes.size <= 256
    first = series.verdict(8)
    assert first is not None and first.score > 0.99
    assert series.verdict(8) is first  # nothing new: not scored again
    series.add([float(series.starts[-1]) + 10.0], [300])
    assert series.verdict(8) is not first


def test_state_round_trip() -> None:
    series = PairSeries()
    series.add(T0 + 60.0 * np.arange(30), np.full(30, 200))
    back = PairSeries.from_state(series.to_state())
    assert np.array_equal(back.starts, series.starts)
    assert back.verdict(8) == series.verdict(8)


def test_prevalence_cutoff() -> None:
    assert prevalence_cutoff(4, 0.25) == 3  # never fewer than 3 hosts
    assert prevalence_cutoff(100, 0.25) == 25


@pytest.mark.suricata
def test_unanswered_retries_on_a_timer_are_not_a_beacon(tmp_path: Path,
                                                        require_suricata: str) -> None:
    rng = random.Random(5)
    pkts, t, port = [], T0, 41000
    while t < T0 + 3 * 3600:
        port += 1
        pkts += http_get("10.1.20.11", "198.51.100.20", "c2.bad-example.net", "/s",
                         sport=port, t0=t)
        pkts += syn_only("10.1.20.12", "198.51.100.21", port, 443, t0=t + 5)
        t += 120 * (1 - 0.5 * rng.random())
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text("networks:\n  home: [10.1.0.0/16]\ntraffic:\n"
                        "  fw_blocked_min_failures: 5\n")
    cfg = load_config(cfg_path)
    eve = read_pcaps(cfg, [write_pcap(tmp_path / "c2.pcap", pkts)], tmp_path / "run", [])
    with Consumer(cfg, None, tmp_path / "out", tmp_path / "state", mail=False) as consumer:
        rows = {r.host: r for r in consumer.run_once(eve)}
    assert rows["10.1.20.11"].detections == ["beacon"]
    assert rows["10.1.20.12"].detections == ["fw_blocked"]
    pair = rows["10.1.20.11"].findings[0].evidence["pairs"][0]
    assert pair["destination"] == "c2.bad-example.net"
    assert 60 <= pair["period_s"] <= 120 and pair["beats"] >= 80
    assert {"z", "jitter", "sub_z_shape", "sub_z_local"} <= set(pair)
    assert len(pair["intervals_s"]) == min(200, pair["beats"] - 1)


@pytest.mark.suricata
def test_check_ins_on_one_kept_alive_http_connection_are_a_beacon(
        tmp_path: Path, require_suricata: str) -> None:
    from pcapcraft import http_request, http_response, tcp_session

    exchange = [("c", http_request("c2.keepalive-example.net", "/poll")),
                ("s", http_response())]
    # one connection, a request every ~120 s for 2 h (4 packets 30 s apart per exchange)
    pkts = tcp_session("10.1.20.11", "198.51.100.20", 41000, 80, exchange * 60, t0=T0, gap=30)
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text("networks:\n  home: [10.1.0.0/16]\n")
    cfg = load_config(cfg_path)
    eve = read_pcaps(cfg, [write_pcap(tmp_path / "ka.pcap", pkts)], tmp_path / "run", [])
    with Consumer(cfg, None, tmp_path / "out", tmp_path / "state", mail=False) as consumer:
        rows = consumer.run_once(eve)
        requests = consumer.ctx.counters["beacon_keepalive_requests"]
    assert requests == 59  # every transaction but the first, which is the flow's start
    # (the 2-hour connection is also a long session)
    assert [r.host for r in rows] == ["10.1.20.11"] and "beacon" in rows[0].detections
    beacon = next(f for f in rows[0].findings if f.detection == "beacon")
    pair = beacon.evidence["pairs"][0]
    assert pair["destination"] == "c2.keepalive-example.net"
    assert pair["period_s"] == pytest.approx(120, abs=1) and pair["beats"] == 60
