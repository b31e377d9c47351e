"""Flow-level traffic generator with ground truth for the beacon benchmark.

No packets: each flow is (pair, start time, bytes to server, answered). A *pair* is one internal
host × one destination key, as the consumer keys them. The mix, per seed:

Malicious (label 1), in three *families*:
- **slow** beacons — sleep log-uniform in [10 s, 1 h]; jitter J from :data:`JITTER_LEVELS`, either
  *one-sided* (Cobalt Strike: sleep uniform in [S(1−J), S]) or *symmetric* (uniform in
  S(1 ± J)); 0–30 % of beats dropped; 20 % change their sleep once (a second mode); 25 % run in
  office hours only (08:00–19:00, the host switched off at night); 10 % of beats open a second
  connection within 0.5 s; request sizes ±0–20 % noise with 5 % larger "tasking" replies;
  timestamps with microseconds. 5 % of beacon pairs also have failed retries (C2 down for an
  hour: unanswered flows retried after 1, 3, 7 s).
- **fast** loops — reconnect loops with a sleep log-uniform in [1 s, 10 s], running 10 min to
  2 h from a random time of the day (same jitter levels and kinds, 0–30 % missing);
- **short** captures — a slow beacon seen for only 5–10 check-ins (sleep 5 min – 1 h), as in a
  sandbox run or a capture of an hour or two.

Benign (label 0):
- **human** — browsing sessions: diurnal (office hours, lunch dip), each session a burst of
  connections seconds apart (exponential or, for half the pairs, lognormal think times —
  more regular than random), sessions Poisson within the day, sizes lognormal;
- **poisson** — random arrivals at a rate from one a day to one every 5 minutes; sizes lognormal, or
  near-constant for 30 % of them (telemetry-like: size cannot carry the decision);
- **burst** — browsing bursts: 1–3 a day per pair, each 8–25 connections within a minute or
  two at random gaps of a few seconds (uniform ±70 % or lognormal σ 0.5: regular-looking);
- **popular_periodic** — update/heartbeat services on a timer, each on 30 % of the hosts
  (jittered, some with constant sizes), a **fleet** agent checking in every ~2 min on a third
  of the hosts (> 256 hosts), and a **fast_service** (media segments / a polling dashboard /
  a keep-alive, every 2–10 s in sessions of 10–60 min) on another third: all must be
  silenced through *prevalence*, counted as the consumer counts it;
- **rare_poller** — one host polling an unpopular server on a timer (5–60 s): benign and not
  separable by timing; measured apart (the whitelist's job), outside the false-positive budget;
- **failed_retries** — unanswered connection attempts (blocked destination) retried in bursts
  (1 s, 3 s, 7 s back-off) all day: failed connections are not beacons.

Everything is drawn from ``numpy.random.default_rng(seed)``: the same seed gives the same data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

DAY_S = 86_400.0
JITTER_LEVELS = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9)
JITTER_KINDS = ("one_sided", "symmetric")
OFFICE = (8 * 3600.0, 19 * 3600.0)


@dataclass
class Mix:
    """How many pairs of each kind one seed produces (defaults: ~1.5M flows, ~12k pairs)."""

    hosts: int = 2000
    beacons: int = 360
    fast_beacons: int = 120
    short_beacons: int = 120
    human: int = 4660
    bursts: int = 1200
    poisson: int = 2800
    popular_periodic: int = 1800
    fleet_fraction: float = 1 / 3
    rare_pollers: int = 30
    failed_retries: int = 380
    popular_services: int = 3
    span_s: float = DAY_S


@dataclass
class Dataset:
    """Flows sorted by time, and one row of truth per pair."""

    pair: np.ndarray        # int32, pair index of each flow
    ts: np.ndarray          # float64, flow start (epoch seconds, microseconds)
    size: np.ndarray        # int32, bytes to server
    answered: np.ndarray    # bool, did the server answer
    host: np.ndarray        # int32 per pair, internal host index
    dest: list[str]         # per pair, destination key (SNI/Host or ip:port)
    kind: list[str]         # per pair
    label: np.ndarray       # int8 per pair: 1 beacon, 0 benign
    family: list[str]       # per pair: beacons' slow/fast/short, benign pairs' kind
    jitter: np.ndarray      # float per pair (beacons; NaN otherwise)
    jitter_kind: list[str]  # per pair ('' for benign)
    sleep_s: np.ndarray     # float per pair (beacons; NaN otherwise)
    start: float = 1_760_000_000.0  # window start (a Monday 00:00 UTC is not needed)
    span_s: float = DAY_S
    info: dict[str, int] = field(default_factory=dict)

    @property
    def n_pairs(self) -> int:
        return len(self.dest)


class _Builder:
    def __init__(self, rng: np.random.Generator, span: float) -> None:
        self.rng = rng
        self.span = span
        self.pairs: list[tuple[int, str, str, str, int, float, str, float]] = []
        self.chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, host: int, dest: str, kind: str, label: int, times: np.ndarray,
            sizes: np.ndarray, answered: np.ndarray | None = None, jitter: float = np.nan,
            jkind: str = "", sleep: float = np.nan, family: str = "") -> None:
        keep = (times >= 0) & (times < self.span)
        times, sizes = times[keep], sizes[keep]
        ans = np.ones(times.size, bool) if answered is None else answered[keep]
        idx = len(self.pairs)
        self.pairs.append((host, dest, kind, family or kind, label, jitter, jkind, sleep))
        self.chunks.append((np.full(times.size, idx, np.int32), times,
                            np.maximum(40, sizes).astype(np.int32), ans))


def _office_mask(t: np.ndarray) -> np.ndarray:
    tod = np.mod(t, DAY_S)
    return (tod >= OFFICE[0]) & (tod < OFFICE[1])


def _beacon_times(rng: np.random.Generator, span: float, sleep: float, jitter: float,
                  jkind: str, change: bool) -> np.ndarray:
    n = int(span / (sleep * (1 - jitter / 2 if jkind == "one_sided" else 1.0))) + 8
    if jkind == "one_sided":
        gaps = sleep * (1 - jitter * rng.random(n))
    else:
        gaps = sleep * (1 + jitter * (2 * rng.random(n) - 1))
    if change:  # the operator changes the sleep once, somewhere in the middle
        cut = rng.integers(n // 4, max(n // 4 + 1, 3 * n // 4))
        gaps[cut:] *= rng.choice([0.25, 0.5, 2.0, 4.0])
    return rng.random() * sleep + np.cumsum(gaps)


def _beacon_sizes(rng: np.random.Generator, n: int) -> np.ndarray:
    """Request sizes of a check-in: ±0–20 % noise around a base, 5 % larger tasking replies."""
    base = np.exp(rng.uniform(np.log(200), np.log(2000)))
    sizes = base * (1 + rng.uniform(0.0, 0.2) * (2 * rng.random(n) - 1))
    sizes[rng.random(n) < 0.05] *= rng.uniform(3, 30)
    return sizes


def _beacon(b: _Builder, host: int, dest: str, jitter: float, jkind: str) -> None:
    rng = b.rng
    sleep = float(np.exp(rng.uniform(np.log(10.0), np.log(3600.0))))
    t = _beacon_times(rng, b.span, sleep, jitter, jkind, rng.random() < 0.2)
    t = t[rng.random(t.size) >= rng.uniform(0.0, 0.3)]          # missing beats
    if rng.random() < 0.25:
        t = t[_office_mask(t)]                                   # switched off at night
    second = t[rng.random(t.size) < 0.1] + rng.random() * 0.5    # a second connection
    times = np.concatenate([t, second])
    sizes = _beacon_sizes(rng, times.size)
    answered = np.ones(times.size, bool)
    if rng.random() < 0.05:  # C2 down for an hour: unanswered retries
        down = rng.uniform(0, b.span - 3600)
        tries = t[(t >= down) & (t < down + 3600)]
        retry = np.concatenate([tries + d for d in (1.0, 3.0, 7.0)])
        times = np.concatenate([times, retry])
        sizes = np.concatenate([sizes, np.full(retry.size, 60.0)])
        answered = np.concatenate([answered, np.zeros(retry.size, bool)])
        answered[np.isin(times, tries)] = False
    b.add(host, dest, "beacon", 1, times, sizes, answered, jitter, jkind, sleep, "slow")


def _fast_beacon(b: _Builder, host: int, dest: str, jitter: float, jkind: str) -> None:
    """A reconnect loop: sleep log-uniform 1–10 s, running 10 min – 2 h from a random time,
    0–30 % of beats missing, 10 % with a second connection within 10 % of the sleep."""
    rng = b.rng
    sleep = float(np.exp(rng.uniform(0.0, np.log(10.0))))
    dur = float(np.exp(rng.uniform(np.log(600.0), np.log(7200.0))))
    t = _beacon_times(rng, dur, sleep, jitter, jkind, False)
    t = t[t < dur] + rng.random() * (b.span - dur)
    t = t[rng.random(t.size) >= rng.uniform(0.0, 0.3)]
    second = t[rng.random(t.size) < 0.1] + rng.random() * 0.1 * sleep
    times = np.concatenate([t, second])
    b.add(host, dest, "beacon", 1, times, _beacon_sizes(rng, times.size), None, jitter, jkind,
          sleep, "fast")


def _short_beacon(b: _Builder, host: int, dest: str, jitter: float, jkind: str) -> None:
    """A short capture of a slow beacon: 5–10 check-ins, sleep log-uniform 5 min – 1 h."""
    rng = b.rng
    k = int(rng.integers(5, 11))
    sleep = float(np.exp(rng.uniform(np.log(300.0), np.log(3600.0))))
    u = (-rng.random(k - 1)) if jkind == "one_sided" else (2 * rng.random(k - 1) - 1)
    t = np.concatenate([[0.0], np.cumsum(sleep * (1 + jitter * u))])
    t += rng.random() * (b.span - t[-1])
    second = t[rng.random(t.size) < 0.1] + rng.random() * 0.5
    times = np.concatenate([t, second])
    b.add(host, dest, "beacon", 1, times, _beacon_sizes(rng, times.size), None, jitter, jkind,
          sleep, "short")


def _diurnal_times(rng: np.random.Generator, span: float, per_day: float) -> np.ndarray:
    """About *per_day* session starts a day, in office hours with a lunch dip (thinning)."""
    n = rng.poisson(per_day * span / DAY_S / 0.41)
    t = np.sort(rng.random(n) * span)
    tod = np.mod(t, DAY_S) / 3600.0
    weight = np.where((tod >= 8.5) & (tod < 18.5), 1.0, 0.03)
    weight = np.where((tod >= 12) & (tod < 13), 0.4, weight)
    return t[rng.random(n) < weight]


def _human(b: _Builder, host: int, dest: str) -> None:
    rng = b.rng
    starts = _diurnal_times(rng, b.span, float(np.exp(rng.uniform(0.0, np.log(25.0)))))
    chunks = []
    think = rng.uniform(0.5, 20.0)
    lognormal = rng.random() < 0.5  # think times: exponential, or lognormal (σ 0.7–1.2)
    sigma = rng.uniform(0.7, 1.2)
    for s in starts:
        k = 1 + rng.geometric(0.15)
        gaps = (np.exp(rng.normal(np.log(think), sigma, k)) if lognormal
                else rng.exponential(think, k))
        chunks.append(s + np.cumsum(gaps))
    times = np.concatenate(chunks) if chunks else np.empty(0)
    sizes = np.exp(rng.normal(np.log(800), 1.0, times.size))
    b.add(host, dest, "human", 0, times, sizes)


def _bursts(b: _Builder, host: int, dest: str) -> None:
    """Browsing bursts: 1–3 a day, each 8–25 connections within a minute or two at random
    gaps of a few seconds (uniform ±70 % or lognormal σ 0.5 — more regular than random)."""
    rng = b.rng
    chunks = []
    for _ in range(int(rng.integers(1, 4))):
        k = int(rng.integers(8, 26))
        mean = rng.uniform(2.0, 6.0)
        gaps = (mean * rng.uniform(0.3, 1.7, k) if rng.random() < 0.5
                else np.exp(rng.normal(np.log(mean), 0.5, k)))
        chunks.append(rng.random() * (b.span - 300) + np.cumsum(gaps))
    times = np.concatenate(chunks)
    b.add(host, dest, "burst", 0, times, np.exp(rng.normal(np.log(800), 1.0, times.size)))


def _fast_service(b: _Builder, host: int, dest: str, sleep: float) -> None:
    """A fast periodic benign service (media segments, a polling dashboard, a keep-alive):
    1–2 sessions of 10–60 min in office hours, on a timer ±10 %."""
    rng = b.rng
    chunks = []
    for _ in range(int(rng.integers(1, 3))):
        dur = rng.uniform(600.0, 3600.0)
        t = _beacon_times(rng, dur, sleep, 0.1, "symmetric", False)
        chunks.append(t[t < dur] + rng.uniform(OFFICE[0], OFFICE[1] - dur))
    t = np.concatenate(chunks)
    b.add(host, dest, "fast_service", 0, t, rng.uniform(300, 600) * np.ones(t.size))


def _rare_poller(b: _Builder, host: int, dest: str) -> None:
    """One host polling an unpopular server on a timer (5–60 s, ±10 %, 20 min – 8 h): benign,
    and not separable by timing (measured apart, not in the false-positive budget)."""
    rng = b.rng
    sleep = float(np.exp(rng.uniform(np.log(5.0), np.log(60.0))))
    dur = float(np.exp(rng.uniform(np.log(1200.0), np.log(28_800.0))))
    t = _beacon_times(rng, dur, sleep, 0.1, "symmetric", False)
    t = t[t < dur] + rng.random() * (b.span - dur)
    b.add(host, dest, "rare_poller", 0, t, rng.uniform(300, 600) * np.ones(t.size))


def _poisson(b: _Builder, host: int, dest: str) -> None:
    rng = b.rng
    rate = float(np.exp(rng.uniform(np.log(1 / DAY_S), np.log(1 / 300.0))))
    n = max(4, rng.poisson(rate * b.span))
    times = np.sort(rng.random(n) * b.span)
    if rng.random() < 0.3:
        sizes = rng.uniform(300, 1500) * (1 + 0.03 * rng.standard_normal(n))
    else:
        sizes = np.exp(rng.normal(np.log(900), 1.0, n))
    b.add(host, dest, "poisson", 0, times, sizes)


def _popular(b: _Builder, host: int, dest: str, sleep: float, jitter: float, size: float) -> None:
    rng = b.rng
    t = _beacon_times(rng, b.span, sleep, jitter, "symmetric", False)
    t = t[rng.random(t.size) >= 0.05]
    if rng.random() < 0.5:
        t = t[_office_mask(t)]
    sizes = size * (1 + 0.02 * rng.standard_normal(t.size))
    b.add(host, dest, "popular_periodic", 0, t, sizes)


def _failed(b: _Builder, host: int, dest: str) -> None:
    rng = b.rng
    n = rng.integers(10, 120)
    first = np.sort(rng.random(n) * b.span)
    times = np.concatenate([first, first + 1.0, first + 3.0, first + 7.0])
    answered = np.zeros(times.size, bool)
    b.add(host, dest, "failed_retries", 0, times, np.full(times.size, 60.0), answered)


def generate(seed: int, mix: Mix | None = None) -> Dataset:
    """One day (``mix.span_s``) of flows for ``mix`` pairs, deterministic in *seed*."""
    mix = mix or Mix()
    rng = np.random.default_rng(seed)
    b = _Builder(rng, mix.span_s)
    hosts = rng.permutation(mix.hosts)
    infected = 0
    for make, count in ((_beacon, mix.beacons), (_fast_beacon, mix.fast_beacons),
                        (_short_beacon, mix.short_beacons)):
        for i in range(count):
            jitter = JITTER_LEVELS[i % len(JITTER_LEVELS)]
            jkind = JITTER_KINDS[(i // len(JITTER_LEVELS)) % 2]
            make(b, int(hosts[infected % mix.hosts]), f"c2-{seed}-{infected}.example.net",
                 jitter, jkind)
            infected += 1
    for _ in range(mix.human):
        _human(b, int(rng.integers(mix.hosts)), f"site-{rng.zipf(1.3) % 5000}.example.com")
    for _ in range(mix.bursts):
        _bursts(b, int(rng.integers(mix.hosts)), f"site-{rng.zipf(1.3) % 5000}.example.com")
    fleet = max(1, round(mix.fleet_fraction * mix.hosts))
    for h in rng.choice(mix.hosts, size=fleet, replace=False):  # a fleet agent, ~2 min
        _popular(b, int(h), "agent.saas.example.com", 120.0, 0.1, 400.0)
    fast_sleep = float(rng.uniform(2.0, 10.0))
    for h in rng.choice(mix.hosts, size=fleet, replace=False):  # media / dashboard / keep-alive
        _fast_service(b, int(h), "live.media.example.com", fast_sleep)
    for i in range(mix.rare_pollers):
        _rare_poller(b, int(rng.integers(mix.hosts)), f"dash-{seed}-{i}.example.org")
    for i in range(mix.poisson):
        _poisson(b, int(rng.integers(mix.hosts)), f"api-{seed}-{i}.example.org")
    services = [(f"update-{j}.example.com", float(rng.choice([300.0, 900.0, 1800.0, 3600.0])),
                 float(rng.choice([0.0, 0.1, 0.3])), float(rng.uniform(200, 900)))
                for j in range(mix.popular_services)]
    per_service = mix.popular_periodic // max(1, mix.popular_services)
    for name, sleep, jitter, size in services:  # each on ≥ 30 % of the hosts by default
        for h in rng.choice(mix.hosts, size=min(per_service, mix.hosts), replace=False):
            _popular(b, int(h), name, sleep, jitter, size)
    for i in range(mix.failed_retries):
        _failed(b, int(rng.integers(mix.hosts)), f"198.51.100.{i % 250}:443")
    return _assemble(b, mix)


def _assemble(b: _Builder, mix: Mix) -> Dataset:
    pair = np.concatenate([c[0] for c in b.chunks])
    ts = np.concatenate([c[1] for c in b.chunks])
    size = np.concatenate([c[2] for c in b.chunks])
    answered = np.concatenate([c[3] for c in b.chunks])
    order = np.argsort(ts, kind="stable")
    start = 1_760_054_400.0  # 2025-10-10 00:00:00 UTC
    host, dest, kind, family, label, jit, jkind, sleep = zip(*b.pairs, strict=True)
    return Dataset(pair=pair[order], ts=ts[order] + start, size=size[order],
                   answered=answered[order], host=np.asarray(host, np.int32), dest=list(dest),
                   kind=list(kind), family=list(family), label=np.asarray(label, np.int8),
                   jitter=np.asarray(jit, float), jitter_kind=list(jkind),
                   sleep_s=np.asarray(sleep, float), start=start, span_s=mix.span_s,
                   info={"flows": int(ts.size), "pairs": len(b.pairs)})
