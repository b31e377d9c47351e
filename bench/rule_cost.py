"""Cost of the generated Suricata rules in instructions of Suricata's packet worker thread.

Run: ``.venv/bin/python bench/rule_cost.py [--out DIR] [--sessions N]`` (needs valgrind; not
part of ``make bench``: each variant runs Suricata under callgrind, about a minute). A crafted
capture (tests/pcapcraft.py) of N TLS sessions on 443 (60 application records each) and N/2
HTTP sessions on 80 is read by Suricata exactly as :func:`sakimori.suricata.read_pcaps` does,
with no rules, with the generated rules (default table), and with the generated rules where
1201/1202 are rewritten as per-packet rules (``flow:established,to_server`` and flowbit checks,
as before the port table). Wall time on a shared machine is too noisy for a few percent;
callgrind with ``--separate-threads=yes`` counts the worker thread alone (the thread running
``StreamTcpPacket``), deterministic to about ±0.05 %. See docs/rules.md, "Cost".
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent / "tests"))
sys.path.insert(0, str(BENCH_DIR.parent))

from pcapcraft import (  # noqa: E402
    T0,
    client_hello,
    http_get,
    make_certificate,
    server_flight,
    tcp_session,
    write_pcap,
)

from generator.render_suricata import write_suricata  # noqa: E402
from sakimori.config import Config, load_config  # noqa: E402
from sakimori.suricata import find_binary, render_offline_yaml  # noqa: E402

CONFIG = "networks:\n  home: [10.1.0.0/16]\nwhitelist:\n  destinations: [ntp.nict.jp]\n"
PER_PACKET = {  # 1201/1202 as per-packet rules, for comparison
    "app-layer-protocol:failed; prefilter; flowbits:set":
        "flow:established,to_server; app-layer-protocol:failed; "
        "flowbits:isnotset,sakimori.tunnel; flowbits:isnotset,sakimori.non_http; flowbits:set",
    "app-layer-protocol:!http; prefilter; app-layer-protocol:!tls; "
    "app-layer-protocol:!failed; flowbits:set":
        "flow:established,to_server; app-layer-protocol:!http; app-layer-protocol:!tls; "
        "app-layer-protocol:!failed; flowbits:isnotset,sakimori.tunnel; "
        "flowbits:isnotset,sakimori.non_http; flowbits:set",
}


def _record(size: int) -> bytes:
    return bytes([0x17, 3, 3, size >> 8, size & 255]) + bytes(i % 251 for i in range(size))


def capture(path: Path, sessions: int) -> Path:
    pkts = []
    hello = [("c", client_hello("www.example.com")),
             ("s", server_flight(make_certificate("www.example.com", "R3")))]
    for i in range(sessions):
        pay = hello + [("c", _record(200)), ("s", _record(1300))] * 30
        pkts += tcp_session(f"10.1.{i // 100}.{i % 100 + 10}", f"198.51.100.{i % 50 + 1}",
                            30000 + i, 443, pay, t0=T0 + i)
    for i in range(sessions // 2):
        pkts += http_get(f"10.1.5.{i % 200 + 10}", f"203.0.113.{i % 50 + 1}",
                         "www.example.com", "/x", sport=20000 + i, t0=T0 + i, requests=5)
    return write_pcap(path, pkts)


def worker_instructions(cfg: Config, pcap: Path, rules: list[Path], run: Path) -> int:
    """Instructions of the thread that ran StreamTcpPacket (the packet worker)."""
    run.mkdir(parents=True, exist_ok=True)
    conf = run / "suricata.yaml"
    conf.write_text(render_offline_yaml(cfg, run, rules), encoding="utf-8")
    out = run / "cg.out"
    subprocess.run(["valgrind", "--tool=callgrind", "--separate-threads=yes",
                    f"--callgrind-out-file={out}", find_binary(cfg), "-c", str(conf), "-r",
                    str(pcap), "-l", str(run), "-k", "none", "--runmode", "single"],
                   capture_output=True, check=True, timeout=3600)
    for part in sorted(run.glob("cg.out-*")):
        text = part.read_text(encoding="utf-8", errors="replace")
        total = re.search(r"^(?:totals|summary): (\d+)", text, re.M)
        if total and "StreamTcpPacket" in text:
            return int(total.group(1))
    raise RuntimeError(f"no worker thread in {run}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="work directory (default: temp)")
    ap.add_argument("--sessions", type=int, default=200, help="TLS sessions (default 200)")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind not installed", file=sys.stderr)
        return 2
    out = args.out or Path(tempfile.mkdtemp(prefix="sakimori-rulecost-"))
    (out / "sakimori.yaml").parent.mkdir(parents=True, exist_ok=True)
    (out / "sakimori.yaml").write_text(CONFIG, encoding="utf-8")
    cfg = load_config(out / "sakimori.yaml", env={})
    generated = write_suricata(cfg, None, out / "build", package=False)[1]
    text = generated.read_text(encoding="utf-8")
    for new, old in PER_PACKET.items():
        text = text.replace(new, old)
    per_packet = out / "per-packet.rules"
    per_packet.write_text(text, encoding="utf-8")
    pcap = capture(out / "load.pcap", args.sessions)
    variants = {"no rules": [], "generated rules": [generated],
                "generated, 1201/1202 per packet": [per_packet]}
    base = None
    print(f"{'rule set':<34} {'worker instructions':>20} {'vs none':>8}")
    for i, (name, rules) in enumerate(variants.items()):
        n = worker_instructions(cfg, pcap, rules, out / f"run{i}")
        base = base or n
        print(f"{name:<34} {n:>20,} {n / base:>8.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
