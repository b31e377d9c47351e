"""``sakimori learn`` and ``sakimori generate`` through the real command line (in-process
``sakimori.cli.main``): inputs, incremental learning, exit codes and one-line errors,
deterministic output, config overrides visible in the rules, and learn --pcap with Suricata.

The real-data smoke test uses ``slips-test6-malicious.eve.json`` — real Suricata EVE from
stratosphereips/StratosphereLinuxIPS (dataset/test6-malicious.suricata.json, GPL-2.0),
bundled in /work/shared/data (see tests/conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from learnfixtures import DAY, office_day, write_eve
from pcapcraft import T0, http_get, syn_only, tcp_session, write_pcap

from sakimori.cli import main

CONFIG = """\
networks:
  home: [10.1.0.0/16]
whitelist:
  destinations: ["*.windowsupdate.com", ntp.nict.jp, 203.0.113.0/24]
anonymizer:
  tor_relays: [relays.txt]
"""
SQUID = ("1793577600.{i:03d} 12 10.1.10.{h} TCP_MISS/200 512 GET "
         "http://www.example.com/{path} - HIER_DIRECT/192.0.2.10 text/html\n")


def sakimori(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    (tmp_path / "relays.txt").write_text("192.0.2.77\n")
    path = tmp_path / "sakimori.yaml"
    path.write_text(CONFIG)
    return path


def _traffic(path: Path) -> dict:
    return json.loads(path.read_text())["traffic"]


def test_learn_real_eve_then_generate(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                      slips_eve: Path) -> None:
    path = tmp_path / "home.yaml"
    path.write_text("networks:\n  home: [192.168.1.0/24]\n")
    out = tmp_path / "baselines.json"
    code, stdout, _ = sakimori(capsys, "learn", "--config", path, "--eve", slips_eve,
                               "--out", out)
    assert code == 0 and f"wrote {out}" in stdout
    doc = json.loads(out.read_text())
    assert doc["schema_version"] == 1 and doc["provenance"]["inputs"][0]["records"] > 3000
    code, stdout, _ = sakimori(capsys, "generate", "--config", path, "--baselines", out,
                               "--out", tmp_path / "build", "--no-validate")
    assert code == 0 and (tmp_path / "build" / "suricata" / "sakimori.rules").is_file()


def test_incremental_learn_equals_batch(capsys: pytest.CaptureFixture[str], cfg: Path,
                                        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    a = write_eve(tmp_path / "a.json", office_day(DAY, seed=1))
    b = write_eve(tmp_path / "b.json", office_day(DAY + 86400, hosts=12, seed=2))
    inc, batch = tmp_path / "inc.json", tmp_path / "batch.json"
    assert sakimori(capsys, "learn", "--config", cfg, "--eve", a, "--out", inc)[0] == 0
    assert sakimori(capsys, "learn", "--config", cfg, "--eve", b, "--out", inc)[0] == 0
    assert sakimori(capsys, "learn", "--config", cfg, "--eve", a, b, "--out", batch)[0] == 0
    assert _traffic(inc) == _traffic(batch)
    assert len(json.loads(inc.read_text())["provenance"]["inputs"]) == 2
    # learning a again changes nothing (same content is recognised)
    code, _, _ = sakimori(capsys, "learn", "--config", cfg, "--eve", a, "--out", inc)
    assert code == 0 and "already learned" in caplog.text and _traffic(inc) == _traffic(batch)


def test_proxy_log_with_garbage_lines(capsys: pytest.CaptureFixture[str], cfg: Path,
                                      tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    log = tmp_path / "access.log"
    lines = [SQUID.format(i=i, h=10 + i % 5, path="q" * (i % 40)) for i in range(60)]
    lines.insert(3, "this is not a log line\n")
    lines.insert(10, "1793577600.5 1 10.1.10.9 TCP_MISS/200 5 GET http://[bad/ - DIRECT/- -\n")
    log.write_text("".join(lines))
    out = tmp_path / "b.json"
    code, stdout, _ = sakimori(capsys, "learn", "--config", cfg, "--proxy-log", log,
                               "--out", out)
    assert code == 0
    assert "60 records, 2 bad" in stdout
    assert f"{log}:4: neither Squid native" in caplog.text  # warning (stderr in a shell)
    entry = json.loads(out.read_text())["provenance"]["inputs"][0]
    assert entry["kind"] == "proxy-log" and entry["bad"] == 2
    assert entry["bad_examples"][1].startswith(f"{log}:11: ")
    traffic = _traffic(out)
    assert traffic["url_length"]["n"] == 60 and traffic["n_internal_hosts"] == 5
    assert traffic["destinations"]["www.example.com"] == [f"10.1.10.{h}" for h in range(10, 15)]


@pytest.mark.parametrize(("argv", "message"), [
    ([], "nothing to learn from"),
])
def test_learn_usage_errors(capsys: pytest.CaptureFixture[str], cfg: Path, tmp_path: Path,
                            argv: list[str], message: str) -> None:
    out = tmp_path / "b.json"
    code, _, err = sakimori(capsys, "learn", "--config", cfg, *argv, "--out", out)
    assert code == 2 and not out.exists()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"sakimori learn: {message}")


def test_learn_missing_input_is_one_line(capsys: pytest.CaptureFixture[str], cfg: Path,
                                         tmp_path: Path) -> None:
    code, _, err = sakimori(capsys, "learn", "--config", cfg, "--eve", tmp_path / "no.json",
                            "--out", tmp_path / "b.json")
    assert code == 1 and err.strip() == f"sakimori learn: {tmp_path / 'no.json'}: " \
                                        "EVE file not found"


@pytest.mark.parametrize(("content", "problem"), [
    ("{not json", "baselines are not valid JSON"),
    ('{"schema_version": 99}', "schema_version 99 not supported"),
    ("[]", "baselines must be a JSON object"),
])
def test_bad_baselines_name_the_file(capsys: pytest.CaptureFixture[str], cfg: Path,
                                     tmp_path: Path, content: str, problem: str) -> None:
    bad = tmp_path / "baselines.json"
    bad.write_text(content)
    for verb in (["generate", "--baselines", bad, "--out", tmp_path / "b"],
                 ["learn", "--eve", write_eve(tmp_path / "e.json", []), "--out", bad]):
        code, _, err = sakimori(capsys, verb[0], "--config", cfg, *verb[1:])
        lines = err.strip().splitlines()
        assert code == 1 and len(lines) == 1, err
        assert str(bad) in lines[0] and problem in lines[0]


def test_generate_is_deterministic_and_override_wins(capsys: pytest.CaptureFixture[str],
                                                     cfg: Path, tmp_path: Path) -> None:
    eve = write_eve(tmp_path / "a.json", office_day(DAY))
    bl = tmp_path / "bl.json"
    assert sakimori(capsys, "learn", "--config", cfg, "--eve", eve, "--out", bl)[0] == 0
    learned = json.loads(bl.read_text())["traffic"]["url_length"]["threshold"]
    builds = []
    for name in ("one", "two"):
        code, stdout, _ = sakimori(capsys, "generate", "--config", cfg, "--baselines", bl,
                                   "--out", tmp_path / name)
        assert code == 0
        assert "valid (suricata -T)" in stdout or "not validated (suricata missing)" in stdout
        builds.append(tmp_path / name / "suricata")
    for f in ("sakimori.rules", "static.rules", "sakimori-rules.tar.gz", "tor-relays-ipv4.lst"):
        assert (builds[0] / f).read_bytes() == (builds[1] / f).read_bytes(), f
    rules = (builds[0] / "sakimori.rules").read_text()
    assert f"urilen:>{learned},raw;" in rules
    assert f"sakimori_threshold {learned}, sakimori_source learned" in rules
    over = tmp_path / "over.yaml"
    over.write_text(CONFIG + "traffic:\n  url_length_threshold: 1234\n")
    assert sakimori(capsys, "generate", "--config", over, "--baselines", bl, "--out",
                    tmp_path / "over", "--no-validate")[0] == 0
    rules = (tmp_path / "over" / "suricata" / "sakimori.rules").read_text()
    assert "urilen:>1234,raw;" in rules
    assert "sakimori_threshold 1234, sakimori_source config" in rules


def test_generate_missing_relay_list_is_one_line(capsys: pytest.CaptureFixture[str],
                                                 cfg: Path, tmp_path: Path) -> None:
    (tmp_path / "relays.txt").unlink()
    code, _, err = sakimori(capsys, "generate", "--config", cfg, "--out", tmp_path / "b")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "relays.txt: cannot read Tor relay list" in err


@pytest.mark.suricata
def test_learn_pcap_runs_suricata(capsys: pytest.CaptureFixture[str], cfg: Path,
                                  tmp_path: Path, require_suricata: str) -> None:
    pkts = []
    for i in range(40):
        pkts += http_get("10.1.10.5", "198.51.100.7", "www.example.com", "/p" + "x" * i,
                         sport=30000 + i, t0=T0 + i)
    pkts += tcp_session("10.1.10.6", "198.51.100.9", 31000, 443,
                        [("c", b"a"), ("s", b"b")] * 10, t0=T0, gap=9)
    pkts += syn_only("10.1.10.7", "192.0.2.1", 32000, 8443, t0=T0)
    pcap = write_pcap(tmp_path / "day.pcap", pkts)
    out, state = tmp_path / "b.json", tmp_path / "state"
    code, stdout, _ = sakimori(capsys, "learn", "--config", cfg, "--pcap", pcap, "--out", out,
                               "--state-dir", state)
    assert code == 0 and f"learned pcap {pcap}" in stdout
    assert list(state.glob("learn/pcap-000/eve.json"))
    doc = json.loads(out.read_text())
    t = doc["traffic"]
    assert t["url_length"]["n"] == 40 and t["url_length"]["threshold"] >= 200
    assert t["session_duration"]["histogram"]["counts"]  # the 180 s session
    assert t["port_protocols"]["80"] == {"http": 40}
    assert t["fw_failures"]["per_host_day"]["10.1.10.7"]
    assert next(iter(t["fw_failures"]["per_host_day"]["10.1.10.7"].values()))["failed"] == 1
    assert doc["provenance"]["inputs"][0]["kind"] == "pcap"
    assert doc["provenance"]["inputs"][0]["path"] == str(pcap)
