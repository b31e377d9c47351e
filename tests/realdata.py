"""Real captures with ground truth: where they are, what they must give, and one honest run.

The captures live in ``../shared/data/real/`` beside the checkout (``$SAKIMORI_SHARED_DATA/real``
when that variable names another ``shared/data``); their ground truth, taken from that
directory's README, is ``tests/real_truth.yaml`` — the only copy, read here by both
``tests/test_real_captures.py`` and ``bench/real.py``.

:func:`run_capture` runs the real CLI as a user would, in one of two modes:

- ``first-day``: ``sakimori analyze`` without ``--baselines``. Nothing has been learned (every
  threshold is its documented fallback); nothing of the capture can leak into what judges it.
- ``learned-on-capture``: ``sakimori learn --pcap`` on the capture itself, then ``analyze`` with
  those baselines. These captures have no clean earlier day to learn from, and a backdoor that
  is already running while sakimori learns is the ordinary case for a long-lived implant: the
  learned baselines then contain the attack, and the labels must survive that.

Both use a minimal config (only ``networks.home``; every other key its default) and
``--no-mail``. hosts.csv is read by column name.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
TRUTH = Path(__file__).resolve().parent / "real_truth.yaml"
ENV_SHARED_DATA = "SAKIMORI_SHARED_DATA"
MODES = ("first-day", "learned-on-capture")


def shared_data_dir() -> Path:
    """``$SAKIMORI_SHARED_DATA`` when set, else ``<repo>/../shared/data``."""
    env = os.environ.get(ENV_SHARED_DATA)
    return Path(env) if env else REPO.parent / "shared" / "data"


def real_data_dir() -> Path:
    return shared_data_dir() / "real"


@dataclass(frozen=True)
class HostTruth:
    """One host of a capture: the exact set of labels its traffic supports (empty: no row)."""

    host: str
    role: str
    labels: frozenset[str]


@dataclass(frozen=True)
class Capture:
    """One capture file of the data dir, its home network and its hosts' truth."""

    file: str
    what: str
    home: tuple[str, ...]
    hosts: tuple[HostTruth, ...]


def data_problem(captures: list[Capture], where: Path) -> str | None:
    """Why the captures of *captures* cannot be read from *where* (None when they can)."""
    hint = f"(set {ENV_SHARED_DATA} to the shared/data directory)"
    if not where.is_dir():
        return f"real captures: directory {where} not found {hint}"
    missing = [c.file for c in captures if not (where / c.file).is_file()]
    if missing:
        return f"real captures not found in {where}: {', '.join(missing)} {hint}"
    return None


def untruthed(captures: list[Capture], where: Path) -> list[str]:
    """Captures in *where* that the truth does not describe (reported, never judged)."""
    known = {c.file for c in captures}
    return sorted(p.name for p in where.iterdir()
                  if p.suffix in {".pcap", ".pcapng"} and p.name not in known)


def _labels(value: object) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError("labels must be a list of strings")
    return frozenset(value)


def load_truth(path: Path = TRUTH) -> list[Capture]:
    """The ground-truth table; a malformed entry is a one-line error naming it."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or not isinstance(doc.get("captures"), list):
        raise ValueError(f"{path}: 'captures' must be a list")
    captures = []
    for i, c in enumerate(doc["captures"]):
        try:
            hosts = tuple(HostTruth(str(h["host"]), str(h["role"]), _labels(h["labels"]))
                          for h in c["hosts"])
            captures.append(Capture(str(c["file"]), str(c["what"]),
                                    tuple(str(n) for n in c["home"]), hosts))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path}: captures[{i}]: missing or bad field {exc}") from exc
    return captures


@dataclass
class Outcome:
    """What sakimori reported for one capture in one mode, and how long it took."""

    capture: Capture
    mode: str
    hosts: dict[str, frozenset[str]]
    learn_s: float
    analyze_s: float
    out: Path

    @property
    def seconds(self) -> float:
        return self.learn_s + self.analyze_s


def read_hosts(path: Path) -> dict[str, frozenset[str]]:
    """hosts.csv → {host: set of detections}, by column name."""
    with path.open(newline="", encoding="utf-8") as fh:
        return {row["host"]: frozenset(d for d in row["detections"].split(";") if d)
                for row in csv.DictReader(fh)}


def _sakimori(*argv: object) -> float:
    """Run the CLI; its wall time, or RuntimeError carrying its stderr."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "sakimori", *map(str, argv)],
                          capture_output=True, text=True, check=False, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"sakimori {argv[0]} exited {proc.returncode}: "
                           f"{proc.stderr.strip()[-2000:]}")
    return time.perf_counter() - t0


def write_config(capture: Capture, path: Path) -> Path:
    """The minimal config a user starts from: the capture's home network, defaults elsewhere."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"networks": {"home": list(capture.home)}}),
                    encoding="utf-8")
    return path


def run_capture(capture: Capture, mode: str, data_dir: Path, work: Path) -> Outcome:
    """learn (``learned-on-capture`` only) → analyze with real Suricata; the reported hosts."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r} (one of {', '.join(MODES)})")
    pcap = data_dir / capture.file
    work.mkdir(parents=True, exist_ok=True)
    cfg = write_config(capture, work / "sakimori.yaml")
    out = work / "report"
    baselines: list[object] = []
    learn_s = 0.0
    if mode == "learned-on-capture":
        learn_s = _sakimori("learn", "--config", cfg, "--pcap", pcap,
                            "--out", work / "baselines.json")
        baselines = ["--baselines", work / "baselines.json"]
    analyze_s = _sakimori("analyze", "--config", cfg, *baselines, "--pcap", pcap,
                          "--out", out, "--no-mail")
    return Outcome(capture, mode, read_hosts(out / "hosts.csv"), learn_s, analyze_s, out)


@dataclass(frozen=True)
class Verdict:
    """One line of the comparison: a listed host, or the hosts the truth does not list."""

    host: str
    expected: frozenset[str]
    got: frozenset[str]

    @property
    def passed(self) -> bool:
        return self.expected == self.got


def judge(outcome: Outcome) -> list[Verdict]:
    """Every listed host (exact label set) and one line for unlisted hosts (must be none)."""
    listed = {h.host for h in outcome.capture.hosts}
    verdicts = [Verdict(h.host, h.labels, outcome.hosts.get(h.host, frozenset()))
                for h in outcome.capture.hosts]
    others = sorted(set(outcome.hosts) - listed)
    verdicts.append(Verdict("(any other host)", frozenset(),
                            frozenset(f"{h}:{'+'.join(sorted(outcome.hosts[h]))}"
                                      for h in others)))
    return verdicts
