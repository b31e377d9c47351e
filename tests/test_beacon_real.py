"""A real reconnect-loop C2 through the real CLI: ``sakimori learn`` then ``analyze``.

The public ANY.RUN capture of Quasar RAT (ground truth in shared/data/real/README.md: 77 short
TLS connections every 3.3–3.8 s from the infected host to its C2) must yield ``beacon`` for
the infected host with the loop's period, and nothing for the sandbox gateway. The network
is given only as the home range; the baselines are learned from the capture itself, as a
new user would.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from engines import require_path
from realdata import real_data_dir

REPO = Path(__file__).resolve().parent.parent
QUASAR = real_data_dir() / "anyrun_quasarrat_09ffabf7.pcap"


def _sakimori(*argv: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sakimori", *map(str, argv)],
                          capture_output=True, text=True, check=False, timeout=300)


@pytest.mark.suricata
def test_quasar_reconnect_loop_is_a_beacon_and_the_gateway_quiet(
        tmp_path: Path, require_suricata: str) -> None:
    require_path(QUASAR, "real capture (shared/data/real)")
    cfg = tmp_path / "sakimori.yaml"
    cfg.write_text("networks:\n  home: [192.168.100.0/24]\n")
    learned = _sakimori("learn", "--config", cfg, "--pcap", QUASAR, "--out", tmp_path / "b.json")
    assert learned.returncode == 0, learned.stderr
    out = tmp_path / "out"
    proc = _sakimori("analyze", "--config", cfg, "--baselines", tmp_path / "b.json", "--pcap",
                     QUASAR, "--out", out, "--no-mail")
    assert proc.returncode == 0, proc.stderr
    with (out / "hosts.csv").open(newline="", encoding="utf-8") as fh:
        rows = {r["host"]: r for r in csv.DictReader(fh)}
    assert "192.168.100.2" not in rows
    assert "beacon" in rows["192.168.100.7"]["detections"].split(";")
    assert "86.136.67.231:1337" in rows["192.168.100.7"]["destinations"]
    assert "every ~3." in rows["192.168.100.7"]["evidence"]
