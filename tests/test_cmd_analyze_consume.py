"""The ``analyze`` and ``consume`` verbs through the real CLI (subprocess), exit codes included.

- ``analyze`` renders the generated rules, runs real Suricata over the crafted office capture
  of tests/test_consumer_scenario.py, runs the consumer, mails a loopback SMTP server, prints
  the hosts.csv path last; ``consume`` over the EVE it wrote gives the same report.
- Bad EVE lines (truncated, garbage, ``null`` fields) mixed into a real Suricata EVE
  (stratosphereips/StratosphereLinuxIPS dataset/test6-malicious.suricata.json, GPL-2.0) are
  skipped, counted, reported with file:line; the report equals the clean run's.
- A missing Suricata binary is a one-line error, exit 1; a bad config names the key, exit 2.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from mailsink import Sink
from scenario import EXPECTED, build_scenario


def sakimori(*argv: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sakimori", *map(str, argv)],
                          capture_output=True, text=True, check=False, timeout=timeout)


def _report(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return {r["host"]: r for r in csv.DictReader(fh)}


@pytest.mark.suricata
@pytest.mark.slow
def test_analyze_then_consume(tmp_path: Path, require_suricata: str, free_port: int) -> None:
    cfg, baselines, pcap, _ = build_scenario(tmp_path / "data")
    text = cfg.read_text().replace("127.0.0.1:1", f"127.0.0.1:{free_port}")
    cfg.write_text(text)
    out = tmp_path / "out"
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port)
    controller.start()
    try:
        proc = sakimori("analyze", "--config", cfg, "--baselines", baselines, "--pcap", pcap,
                        "--out", out)
        again = sakimori("analyze", "--config", cfg, "--baselines", baselines, "--pcap", pcap,
                         "--out", out)
    finally:
        controller.stop()
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == str(out / "hosts.csv")
    assert "sakimori analyze:" in proc.stderr and " 0 bad" in proc.stderr
    for name in ("eve.json", "hosts.csv", "findings.jsonl", "stats.json", "state/state.sqlite",
                 "build/suricata/sakimori.rules"):
        assert (out / name).is_file(), name
    report = _report(out / "hosts.csv")
    # no third-party rules here: the web attack on 10.1.20.20 has no rule to fire
    expected = {h: d for h, d in EXPECTED.items() if h != "10.1.20.20"}
    assert {h: set(r["detections"].split(";")) for h, r in report.items()} == expected
    assert len(sink.messages) == len(expected)  # one per host, and none on the second run
    assert again.returncode == 0, again.stderr

    consumed = tmp_path / "consumed"
    proc = sakimori("consume", "--config", cfg, "--baselines", baselines, "--eve",
                    out / "eve.json", "--out", consumed, "--state-dir", tmp_path / "cs",
                    "--no-mail")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == str(consumed / "hosts.csv")
    assert _report(consumed / "hosts.csv") == report


BAD_LINES = [
    b'{"timestamp":"2021-06-06T15:59:46.457984+0200","flow_id":1,"event_type":"flow","src_',
    b"\xde\xad\xbe\xef garbage \x00",
    b"null",
    b'{"timestamp":null,"flow_id":2,"event_type":"flow","src_ip":"192.168.1.129",'
    b'"dest_ip":"1.2.3.4","flow":{}}',
    b'{"timestamp":"2021-06-06T15:59:46.457984+0200","flow_id":3,"event_type":"http",'
    b'"src_ip":null,"dest_ip":"1.2.3.4","http":{}}',
    b'{"timestamp":"2021-06-06T15:59:46.457984+0200","flow_id":4,"event_type":"alert",'
    b'"src_ip":"192.168.1.129","dest_ip":"1.2.3.4","alert":null}',
]


def test_bad_lines_are_skipped_counted_and_reported(tmp_path: Path, slips_eve: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("networks:\n  home: [192.168.0.0/16]\nalerts:\n  admins: []\n")
    lines = slips_eve.read_bytes().splitlines(keepends=True)
    dirty = tmp_path / "dirty.eve.json"
    injected = []
    with dirty.open("wb") as fh:
        n = 0
        for i, line in enumerate(lines):
            fh.write(line)
            n += 1
            if i % 700 == 350:
                fh.write(BAD_LINES[len(injected) % len(BAD_LINES)] + b"\n")
                n += 1
                injected.append(n)
    clean = sakimori("consume", "--config", cfg, "--eve", slips_eve, "--out", tmp_path / "c",
                     "--state-dir", tmp_path / "cs")
    proc = sakimori("consume", "--config", cfg, "--eve", dirty, "--out", tmp_path / "d",
                    "--state-dir", tmp_path / "ds")
    assert clean.returncode == 0 and proc.returncode == 0, proc.stderr
    summary = proc.stderr.strip().splitlines()
    assert len(summary) == 1
    assert f"{len(injected)} bad" in summary[0]
    assert f"{dirty}:{injected[0]}: not valid JSON" in summary[0]
    stats = json.loads((tmp_path / "d" / "stats.json").read_text())
    assert sum(stats["decode"]["bad"].values()) == len(injected)
    assert stats["decode"]["lines"] == len(lines) + len(injected)
    assert [e.split(": ")[0] for e in stats["decode"]["examples"]] == \
        [f"{dirty}:{n}" for n in injected[:5]]
    assert {"field 'timestamp' missing or not a string", "not a JSON object",
            "field 'src_ip'/'dest_ip' missing or not a string",
            "field 'alert' missing or not an object"} <= set(stats["decode"]["bad"])
    assert (tmp_path / "d" / "hosts.csv").read_text() == \
        (tmp_path / "c" / "hosts.csv").read_text()
    assert "192.168.1.129" in (tmp_path / "d" / "hosts.csv").read_text()


def test_consume_without_baselines_uses_fallbacks(tmp_path: Path, slips_eve: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("networks:\n  home: [192.168.0.0/16]\n")
    proc = sakimori("consume", "--config", cfg, "--eve", slips_eve, "--out", tmp_path / "o",
                    "--state-dir", tmp_path / "s", "--no-mail")
    assert proc.returncode == 0, proc.stderr
    th = json.loads((tmp_path / "o" / "stats.json").read_text())["thresholds"]
    assert th["url_length"] == "512 (fallback)" and th["long_session_s"] == "3600 (fallback)"


def test_missing_suricata_binary_is_one_line_exit_1(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("suricata:\n  binary: no-such-suricata-binary\n")
    (tmp_path / "b.json").write_text('{"schema_version": 1}')
    (tmp_path / "x.pcap").write_bytes(b"")
    proc = sakimori("analyze", "--config", cfg, "--baselines", tmp_path / "b.json", "--pcap",
                    tmp_path / "x.pcap", "--out", tmp_path / "out")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no-such-suricata-binary: not found" in lines[0]


@pytest.mark.parametrize("verb", ["analyze", "consume"])
def test_bad_config_names_the_key_exit_2(tmp_path: Path, verb: str) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("traffic:\n  beacon_threshold: 7\n")
    args = (["--baselines", tmp_path / "b.json", "--pcap", tmp_path / "x.pcap"]
            if verb == "analyze" else ["--eve", tmp_path / "eve.json"])
    proc = sakimori(verb, "--config", cfg, *args, "--out", tmp_path / "out")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "traffic.beacon_threshold" in lines[0]


def test_missing_eve_file_is_one_line_exit_1(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("{}\n")
    proc = sakimori("consume", "--config", cfg, "--eve", tmp_path / "none.json", "--out",
                    tmp_path / "o", "--state-dir", tmp_path / "s")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "none.json: cannot read EVE file" in lines[0]
