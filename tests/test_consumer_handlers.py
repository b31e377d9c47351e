"""Handler details not covered by the office scenario, and the stage registries.

- ``fw_blocked`` from Suricata ``drop`` events: real Suricata in simulated IPS mode
  (``--simulate-ips``) with a sakimori-style drop rule; the same attempts counted once whether
  they arrive as drop, alert or flow events.
- ``fw_blocked`` from iptables/nftables LOG lines (``consume --fw-log``).
- The relevance prefilter/byte fast path changes nothing: the same findings with and without
  it, on real EVE (stratosphereips/StratosphereLinuxIPS test6-malicious, GPL-2.0).
- Unknown handler, input and output names are configuration errors naming the key.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from engines import require_binary
from pcapcraft import http_get, syn_only, write_pcap

from eve_consumer.handlers import build_handlers
from eve_consumer.inputs import get_input
from eve_consumer.inputs.fwlog import read_fw_log
from eve_consumer.outputs import build_outputs
from eve_consumer.pipeline import Consumer
from sakimori.config import load_config
from sakimori.errors import ConfigError
from sakimori.suricata import render_offline_yaml

T0 = 1793577600.0
DROP_RULE = ('drop tcp $HOME_NET any -> $EXTERNAL_NET 445 (msg:"SAKIMORI test block SMB"; '
             "flags:S; classtype:policy-violation; sid:9301599; rev:1; metadata: "
             "sakimori_detection fw_blocked, sakimori_threshold 0, sakimori_source static;)\n")


def _cfg(tmp: Path, extra: str = "") -> Path:
    path = tmp / "cfg.yaml"
    path.write_text("networks:\n  home: [10.1.0.0/16]\ntraffic:\n  fw_blocked_min_failures: 5\n"
                    + extra)
    return path


@pytest.mark.suricata
def test_drop_events_count_each_blocked_attempt_once(tmp_path: Path,
                                                     require_suricata: str) -> None:
    pkts = []
    for i in range(6):  # 6 attempts, each a SYN and 2 retransmissions → 18 drop events
        pkts += syn_only("10.1.20.17", "198.51.100.40", 41000 + i, 445, t0=T0 + 60 * i)
    pkts += http_get("10.1.10.11", "198.51.100.41", "www.example.com", "/", sport=42000,
                     t0=T0)
    pcap = write_pcap(tmp_path / "ips.pcap", pkts)
    cfg = load_config(_cfg(tmp_path))
    rules = tmp_path / "drop.rules"
    rules.write_text(DROP_RULE)
    run = tmp_path / "run"
    run.mkdir()
    conf = run / "suricata.yaml"
    conf.write_text(render_offline_yaml(cfg, run, [rules]))
    proc = subprocess.run([require_binary("suricata"), "-c", str(conf), "-r",
                           str(pcap), "-l", str(run), "-k", "none", "--runmode", "single",
                           "--simulate-ips"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    kinds = [json.loads(x)["event_type"] for x in (run / "eve.json").read_text().splitlines()]
    assert kinds.count("drop") == 18
    with Consumer(cfg, None, tmp_path / "out", tmp_path / "state", mail=False) as consumer:
        rows = consumer.run_once(run / "eve.json")
    assert [(r.host, r.detections) for r in rows] == [("10.1.20.17", ["fw_blocked"])]
    evidence = rows[0].findings[0].evidence
    assert evidence["attempts"] == 6  # drop, alert and flow events of one attempt count once
    assert set(evidence["kinds"]) <= {"dropped", "rule", "unanswered"}
    assert evidence["threshold"] == "5 (config)"


FW_LOG = """\
Nov  2 00:10:01 gw kernel: [1234.5] sakimori-drop IN=eth1 OUT=eth0 SRC=10.1.20.17 \
DST=198.51.100.40 LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=1 DF PROTO=TCP SPT=50001 DPT=445 \
WINDOW=64240 RES=0x00 SYN URGP=0
Nov  2 00:10:02 gw kernel: [1235.5] sakimori-drop IN=eth1 OUT=eth0 SRC=10.1.20.17 \
DST=198.51.100.40 LEN=60 PROTO=TCP SPT=50001 DPT=445 SYN URGP=0
2026-11-02T00:11:00.123456+00:00 gw kernel: sakimori-drop IN=eth1 OUT=eth0 SRC=10.1.20.17 \
DST=198.51.100.41 LEN=60 PROTO=TCP SPT=50002 DPT=3389 SYN
Nov  2 00:12:00 gw kernel: sakimori-drop IN=eth1 OUT=eth0 SRC=10.1.20.17 DST=198.51.100.42 \
PROTO=TCP SPT=50003 DPT=4444 SYN
Nov  2 00:12:30 gw kernel: sakimori-drop IN=eth1 OUT=eth0 SRC=10.1.20.17 DST=203.0.113.9 \
PROTO=TCP SPT=50004 DPT=443 SYN
Nov  2 00:13:00 gw kernel: sakimori-drop IN=eth1 OUT=eth0 SRC=10.1.20.17 DST=198.51.100.43 \
PROTO=UDP SPT=50005 DPT=53
Nov  2 00:13:30 gw kernel: sakimori-drop IN=eth1 OUT=eth0 SRC=10.1.20.17 DST=198.51.100.44 \
PROTO=TCP SPT=50006 DPT=25 SYN
Nov  2 00:14:00 gw kernel: sakimori-drop IN=eth1 OUT=eth0 SRC=10.1.10.11 DST=198.51.100.44 \
PROTO=TCP SPT=50007 DPT=25 SYN
Nov 99 00:15:00 gw kernel: sakimori-drop IN=eth1 SRC=10.1.20.17 DST=198.51.100.45 PROTO=TCP \
SPT=50008 DPT=445
Nov  2 00:15:01 gw kernel: sakimori-drop IN=eth1 SRC=10.1.20.17 DST=198.51.100.45 PROTO=ICMP \
TYPE=8 CODE=0
Nov  2 00:15:02 gw sshd[1]: unrelated line
"""


def test_firewall_log_lines(tmp_path: Path, slips_eve: Path) -> None:
    log = tmp_path / "kern.log"
    log.write_text(FW_LOG)
    records = list(read_fw_log(log))
    assert len(records) == 8  # not: the line with a bad date, ICMP, the unrelated line
    assert records[0].src == "10.1.20.17" and records[0].dport == 445
    assert records[0].key == records[1].key  # a retransmission of the same attempt
    cfg = _cfg(tmp_path, "whitelist:\n  destinations: [203.0.113.0/24]\n")
    proc = subprocess.run([sys.executable, "-m", "sakimori", "consume", "--config", str(cfg),
                           "--eve", str(slips_eve), "--fw-log", str(log), "--out",
                           str(tmp_path / "out"), "--state-dir", str(tmp_path / "s"),
                           "--no-mail"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["input"]["fw_log_records"] == 8
    assert any(e.startswith(f"{log}:9:") for e in stats["decode"]["examples"])
    findings = [json.loads(x) for x in (tmp_path / "out" / "findings.jsonl").read_text()
                .splitlines()]
    fw = [f for f in findings if f["detection"] == "fw_blocked"]
    assert [f["host"] for f in fw] == ["10.1.20.17"]  # 10.1.10.11 made one attempt only
    # 7 lines from .17: one retransmission, one whitelisted destination → 5 attempts
    assert fw[0]["evidence"]["attempts"] == 5 and fw[0]["evidence"]["kinds"] == {"logged": 5}


def test_prefilter_changes_no_finding(tmp_path: Path, slips_eve: Path) -> None:
    cfg_home = tmp_path / "home.yaml"
    cfg_home.write_text("networks:\n  home: [192.168.0.0/16]\nwhitelist:\n  destinations: "
                        "['*.stratosphere.org']\n")
    cfg = load_config(cfg_home)
    results = []
    for fast in (True, False):
        with Consumer(cfg, None, tmp_path / f"o{fast}", tmp_path / f"s{fast}",
                      mail=False) as consumer:
            if not fast:
                consumer.decoder.prefilter = None
            consumer.run_once(slips_eve)
        results.append([json.loads(x) for x in (tmp_path / f"o{fast}" / "findings.jsonl")
                        .read_text().splitlines()])
        stats = json.loads((tmp_path / f"o{fast}" / "stats.json").read_text())
        assert stats["decode"]["lines"] == 5000 and stats["decode"]["bad"] == {}
    assert results[0] == results[1] and results[0]


def test_unknown_stage_names_are_config_errors(tmp_path: Path) -> None:
    cfg = load_config(_cfg(tmp_path))
    consumer = Consumer(cfg, None, tmp_path / "o", tmp_path / "s", mail=False)
    try:
        with pytest.raises(ConfigError, match=r"consumer\.handlers: unknown handler 'becon'"):
            build_handlers(consumer.ctx, ["beacon", "becon"], cfg.source)
    finally:
        consumer.close()
    with pytest.raises(ConfigError, match=r"consumer\.input: unknown input 'kafka'"):
        get_input("kafka", cfg.source)
    with pytest.raises(ConfigError, match=r"consumer\.outputs: unknown output 'web'"):
        build_outputs(cfg, None, ("hosts_csv", "web"))
    assert get_input("follow").name == "follow" and get_input("file").name == "file"
    assert get_input("redis").name == "redis"
