"""``analyze --proxy-log`` against a simulated day of proxy logs with ground truth.

The day (:mod:`sakimori_demo.officesim.proxyday`) has a Squid (native, authenticated users,
elapsed times) and an Apache combined log, benign users with credential handshakes (407 then
the request), category refusals, long video tunnels and a prevalent periodic check, and nine
infected clients. The baselines are learned (``learn --proxy-log``) from the clean day before.
Every infected client must be reported with exactly its labels and no benign client at all —
on several seeds (other users, sites, URLs, timings), not only the one the others use.
"""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest

from sakimori.cli import main
from sakimori.config import load_config
from sakimori.web import killchain
from sakimori_demo.officesim.proxyday import ProxyDayParams, generate_proxy_day

CONFIG = """\
networks:
  home: [10.0.0.0/8]
alerts:
  admins: []
anonymizer:
  tor_relays: [tor-relays.txt]
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    d = tmp_path_factory.mktemp("proxyday")
    gt = generate_proxy_day(d)
    (d / "sakimori.yaml").write_text(CONFIG)
    return d, gt


def _hosts(path: Path) -> dict[str, set[str]]:
    with path.open(newline="") as fh:
        return {r["host"]: set(r["detections"].split(";")) for r in csv.DictReader(fh)}


@pytest.mark.parametrize("seed", [2026, 1, 4, 7])
def test_analyze_proxy_logs_matches_ground_truth(seed: int, day: tuple[Path, dict],
                                                 tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    d, gt = day
    if seed != 2026:
        d = tmp_path / "day"
        gt = generate_proxy_day(d, ProxyDayParams(seed=seed))
        (d / "sakimori.yaml").write_text(CONFIG)
    code, _, err = run(capsys, "learn", "--config", d / "sakimori.yaml", "--proxy-log",
                       d / "baseline-squid-access.log", d / "baseline-apache-access.log",
                       "--out", tmp_path / "baselines.json")
    assert code == 0, err
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "analyze", "--config", d / "sakimori.yaml", "--baselines",
                            tmp_path / "baselines.json", "--proxy-log",
                            d / "squid-access.log", d / "apache-access.log",
                            "--out", out, "--no-mail")
    assert code == 0, err
    assert stdout.strip() == str(out / "hosts.csv")
    assert not (out / "eve.json").exists()  # no capture, no Suricata
    expected = {ip: set(labels) for ip, labels in gt["infected"].items()}
    assert len(expected) == 9 and {"squid", "apache"} == {
        gt["clients"][ip]["proxy"] for ip in expected}
    assert _hosts(out / "hosts.csv") == expected
    stats = json.loads((out / "stats.json").read_text())
    total = sum(v for k, v in gt["lines"].items() if not k.startswith("baseline"))
    assert stats["decode"]["lines"] == total and stats["decode"]["bad"] == {}
    # the credentials handshakes of benign users were recognised, not counted as refusals
    assert stats["counters"]["proxy_auth_challenges_answered"] > 100
    assert "beacon_suppressed_prevalent" in stats["counters"]  # the periodic OCSP check


def test_findings_carry_the_proxy_user(day: tuple[Path, dict], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    d, gt = day
    out = tmp_path / "out"
    code, _, err = run(capsys, "analyze", "--config", d / "sakimori.yaml", "--proxy-log",
                       d / "squid-access.log", d / "apache-access.log", "--out", out,
                       "--no-mail")
    assert code == 0, err
    findings = [json.loads(x) for x in (out / "findings.jsonl").read_text().splitlines()]
    seen = {f["host"]: f["evidence"].get("proxy_users") for f in findings}
    for ip in gt["infected"]:
        assert seen[ip] == [gt["clients"][ip]["user"]], ip


def test_bad_lines_are_counted_with_file_and_line(day: tuple[Path, dict], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    d, _ = day
    log = tmp_path / "mixed.log"
    lines = (d / "squid-access.log").read_text().splitlines()[:50]
    lines[9] = "this is not a proxy log line"
    lines[19] = lines[19][:30]  # truncated
    log.write_text("\n".join(lines) + "\n")
    code, _, err = run(capsys, "analyze", "--config", d / "sakimori.yaml", "--proxy-log", log,
                       "--out", tmp_path / "out", "--no-mail")
    assert code == 0, err
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert sum(stats["decode"]["bad"].values()) == 2
    assert stats["decode"]["examples"][0].startswith(f"{log}:10: proxy log:")
    assert stats["decode"]["examples"][1].startswith(f"{log}:20: ")
    assert f"{log}:10" in err


def test_analyze_needs_pcap_or_proxy_log(day: tuple[Path, dict], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    d, _ = day
    code, _, err = run(capsys, "analyze", "--config", d / "sakimori.yaml", "--out", tmp_path)
    assert code == 2 and "--pcap or --proxy-log" in err
    code, _, err = run(capsys, "analyze", "--config", d / "sakimori.yaml", "--proxy-log",
                       tmp_path / "missing.log", "--out", tmp_path)
    assert code == 2 and "missing.log" in err


def test_kill_chain_maps_users_of_both_log_formats(day: tuple[Path, dict]) -> None:
    d, gt = day
    cfg = load_config(d / "sakimori.yaml")
    learned = killchain.learn_from_proxy_logs(
        cfg, (d / "squid-access.log", d / "apache-access.log"))
    for ip, client in gt["clients"].items():
        assert learned[client["user"]] == ip


def test_gzipped_log_and_consume_give_the_same_report(day: tuple[Path, dict], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    d, _ = day
    code, _, err = run(capsys, "analyze", "--config", d / "sakimori.yaml", "--proxy-log",
                       d / "squid-access.log", "--out", tmp_path / "plain", "--no-mail")
    assert code == 0, err
    gz = tmp_path / "squid-access.log.gz"
    gz.write_bytes(gzip.compress((d / "squid-access.log").read_bytes()))
    code, _, err = run(capsys, "consume", "--config", d / "sakimori.yaml", "--proxy-log", gz,
                       "--out", tmp_path / "gz", "--state-dir", tmp_path / "state",
                       "--no-mail")
    assert code == 0, err
    plain = (tmp_path / "plain" / "hosts.csv").read_text()
    assert plain.count("\n") > 5
    assert (tmp_path / "gz" / "hosts.csv").read_text() == plain
    code, _, err = run(capsys, "consume", "--config", d / "sakimori.yaml", "--proxy-log", gz,
                       "--follow", "--state-dir", tmp_path / "state")
    assert code == 2 and "compressed" in err


def test_kill_chain_knows_domain_and_kerberos_user_names(tmp_path: Path) -> None:
    (tmp_path / "cfg.yaml").write_text(CONFIG + "mail:\n  internal_domains: [example.co.jp]\n")
    (tmp_path / "tor-relays.txt").write_text("192.0.2.1\n")
    log = tmp_path / "access.log"
    log.write_text(
        "1700000000.000 100 10.1.1.5 TCP_MISS/200 10 GET http://a.example/ EXAMPLE%5CTanaka "
        "HIER_DIRECT/198.51.100.1 -\n"
        "1700000001.000 100 10.1.1.6 TCP_MISS/200 10 GET http://a.example/ "
        "suzuki@EXAMPLE.CO.JP HIER_DIRECT/198.51.100.1 -\n"
        "1700000002.000 100 10.1.1.7 TCP_MISS/200 10 GET http://a.example/ bad%0Auser "
        "HIER_DIRECT/198.51.100.1 -\n")
    cfg = load_config(tmp_path / "cfg.yaml")
    learned = killchain.learn_from_proxy_logs(cfg, (log,))
    assert killchain.hosts_of(cfg, "tanaka@example.co.jp", learned) == [("10.1.1.5", "proxy log")]
    assert killchain.hosts_of(cfg, "Suzuki@example.co.jp", learned) == [("10.1.1.6", "proxy log")]
    assert "10.1.1.7" not in learned.values()  # a user name with a newline is not a name
