"""Simulation parameters, the fixed network plan and deterministic RNG/time helpers.

Everything random in the simulator comes from :func:`rng_for`, which derives an independent
``random.Random`` from ``params.seed`` and a tuple of labels, so one behaviour's stream never
shifts another's. No wall-clock time is read anywhere.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, datetime

# --- network plan (the example sakimori.yaml is written from these) -------------------------
HOME_NET = "10.1.0.0/16"
GATEWAY_IP = "10.1.0.1"
DNS_IP = "10.1.0.53"
PROXY_IP = "10.1.0.8"  # explicit web proxy some PCs are configured to use
PROXY_PORT = 8080
BENIGN_BASE = (10, 1, 10, 11)  # 10.1.10.11 ... one per benign host
MAX_BENIGN_HOSTS = 244
NTP_NAME = "ntp.nict.jp"
NTP_IP = "203.0.113.123"
WHITELIST = ["*.windowsupdate.com", "ntp.nict.jp", "203.0.113.0/24"]
DETECTIONS = (
    "beacon",
    "long_url",
    "non_http_on_http_port",
    "long_session",
    "fw_blocked",
    "anonymizer",
)

DAY = 86400.0
OFFICE_START_UTC = 0.0  # 09:00 JST
OFFICE_END_UTC = 9 * 3600.0  # 18:00 JST
LUNCH_START_UTC = 3 * 3600.0  # 12:00 JST


@dataclass(frozen=True)
class SimParams:
    """Knobs of one simulation run; the same params always give byte-identical output."""

    seed: int = 2026
    hours: float = 26.0
    benign_hosts: int = 30
    start: str = "2026-11-02T00:00:00Z"
    scale: float = 1.0
    infected: bool = True
    baseline_hours: float | None = None  # None: min(hours, 24)

    def __post_init__(self) -> None:
        if not 0 < self.hours <= 24 * 14:
            raise ValueError(f"hours must be in (0, 336], got {self.hours}")
        if not 0 <= self.benign_hosts <= MAX_BENIGN_HOSTS:
            raise ValueError(f"benign_hosts must be in [0, {MAX_BENIGN_HOSTS}]")
        if not 0 < self.scale <= 100:
            raise ValueError(f"scale must be in (0, 100], got {self.scale}")
        if self.baseline_hours is not None and not 0 < self.baseline_hours <= 24:
            raise ValueError("baseline_hours must be in (0, 24]")
        parse_time(self.start)

    @property
    def start_epoch(self) -> float:
        """Capture start as seconds since the epoch (UTC)."""
        return parse_time(self.start)

    @property
    def end_epoch(self) -> float:
        """Capture end as seconds since the epoch (UTC)."""
        return self.start_epoch + self.hours * 3600.0

    @property
    def baseline_window(self) -> tuple[float, float]:
        """The baseline capture: the day before ``start``, ``baseline_hours`` long."""
        hours = self.baseline_hours if self.baseline_hours is not None else min(self.hours, 24.0)
        t0 = self.start_epoch - DAY
        return t0, t0 + hours * 3600.0


def parse_time(text: str) -> float:
    """Parse an ISO 8601 UTC time (``...Z`` or with an offset) into epoch seconds."""
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"bad start time {text!r}: {exc}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def iso(t: float) -> str:
    """Epoch seconds → ISO 8601 UTC with milliseconds and a ``Z`` suffix."""
    dt = datetime.fromtimestamp(round(t, 3), tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def derive_seed(seed: int, *labels: object) -> int:
    """A 64-bit seed derived from the run seed and a label path."""
    text = repr((int(seed), *labels)).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big")


def rng_for(seed: int, *labels: object) -> random.Random:
    """An independent, reproducible random stream for one label path."""
    return random.Random(derive_seed(seed, *labels))


def benign_ips(count: int) -> list[str]:
    """Addresses of the benign hosts, 10.1.10.11 upwards."""
    a, b, c, d = BENIGN_BASE
    return [f"{a}.{b}.{c}.{d + i}" for i in range(count)]


def days_in(t0: float, t1: float) -> list[float]:
    """Epoch seconds of every UTC midnight whose day overlaps [t0, t1)."""
    first = (t0 // DAY) * DAY
    out = []
    day = first
    while day < t1:
        out.append(day)
        day += DAY
    return out


def office_periods(t0: float, t1: float) -> list[tuple[float, float]]:
    """Office-hour intervals (JST 09:00–18:00) clipped to [t0, t1)."""
    periods = []
    for day in days_in(t0, t1):
        a, b = max(t0, day + OFFICE_START_UTC), min(t1, day + OFFICE_END_UTC)
        if b > a:
            periods.append((a, b))
    return periods
