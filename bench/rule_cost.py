"""Cost of sakimori's Suricata rules in instructions (callgrind), deterministic.

Run: ``.venv/bin/python bench/rule_cost.py [--pcap FILE --config YAML [--baselines JSON]]
[--compare NAME=DIR ...] [--jobs 2] [--out DIR]`` (needs valgrind; not part of ``make bench``:
each variant runs Suricata under callgrind, one to several minutes). Without ``--pcap`` a
crafted capture (tests/pcapcraft.py) of ``--sessions`` TLS sessions on 443 (60 application
records each) and half as many HTTP sessions on 80 is used, with a one-name whitelist.

Suricata reads the capture exactly as :func:`sakimori.suricata.read_pcaps` does, with no
rules, with the rules ``generate`` writes (``static.rules`` + ``sakimori.rules``, the set
``bench/run.py`` times), and with the rule files of each ``--compare`` directory (e.g. the
``BUILD_DIR/suricata`` of an older commit). Wall time on a shared machine is too noisy for a
few percent; callgrind with ``--separate-threads=yes`` counts each thread, deterministic to
about ±0.05 %. The figure is the sum of every thread but the **flow manager**, whose timeout
scans spin in proportion to wall time (under valgrind: billions of instructions): the packet
worker, the flow recycler and the main thread (start-up: loading the rules). The threads are
also printed apart, because detection moves work between them: with any rule loaded, flows
ending at shutdown get their final detection — and their EVE ``flow`` record — in the worker
instead of the recycler (on the office capture ≈ 470 M instructions move), so the worker
thread alone overstates what rules cost. See docs/rules.md, "Cost".
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
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
from sakimori.baselines import load_document  # noqa: E402
from sakimori.config import Config, load_config  # noqa: E402
from sakimori.suricata import find_binary, render_offline_yaml  # noqa: E402

CONFIG = "networks:\n  home: [10.1.0.0/16]\nwhitelist:\n  destinations: [ntp.nict.jp]\n"
# A function only this thread runs (first match wins; the rest is the main thread).
THREADS = (("worker", "StreamTcpPacket"), ("flow manager", "DefragTimeoutHash"),
           ("recycler", "OutputFlowLog"))


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


def _thread_kind(text: str) -> str:
    for kind, marker in THREADS:
        if re.search(rf"^c?fn=\(\d+\) {marker}$", text, re.M):
            return kind
    return "main"


def thread_instructions(cfg: Config, pcap: Path, rules: list[Path], run: Path) -> dict[str, int]:
    """Instructions per thread kind (worker, recycler, flow manager, main) of one run."""
    run.mkdir(parents=True, exist_ok=True)
    conf = run / "suricata.yaml"
    conf.write_text(render_offline_yaml(cfg, run, rules), encoding="utf-8")
    out = run / "cg.out"
    subprocess.run(["valgrind", "--tool=callgrind", "--separate-threads=yes",
                    f"--callgrind-out-file={out}", find_binary(cfg), "-c", str(conf), "-r",
                    str(pcap), "-l", str(run), "-k", "none", "--runmode", "single"],
                   capture_output=True, check=True, timeout=7200)
    counts: dict[str, int] = {}
    for part in sorted(run.glob("cg.out-*")):
        text = part.read_text(encoding="utf-8", errors="replace")
        total = re.search(r"^(?:totals|summary): (\d+)", text, re.M)
        if total:
            kind = _thread_kind(text)
            counts[kind] = counts.get(kind, 0) + int(total.group(1))
    if "worker" not in counts:
        raise RuntimeError(f"no worker thread in {run}")
    return counts


def _figure(counts: dict[str, int]) -> int:
    return sum(n for kind, n in counts.items() if kind != "flow manager")


def _variants(args: argparse.Namespace, cfg: Config, out: Path) -> dict[str, list[Path]]:
    doc = load_document(args.baselines) if args.baselines else None
    variants: dict[str, list[Path]] = {"no rules": [],
                                       "static + generated": write_suricata(
                                           cfg, doc, out / "build", package=False)}
    for spec in args.compare:
        name, _, folder = spec.partition("=")
        files = [Path(folder) / "static.rules", Path(folder) / "sakimori.rules"]
        missing = [str(f) for f in files if not f.is_file()]
        if not name or missing:
            raise SystemExit(f"bench/rule_cost.py: --compare {spec}: expected NAME=DIR with "
                             f"static.rules and sakimori.rules (missing: {', '.join(missing)})")
        variants[name] = files
    return variants


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="work directory (default: temp)")
    ap.add_argument("--sessions", type=int, default=200, help="crafted TLS sessions (200)")
    ap.add_argument("--pcap", type=Path, help="capture to read instead of the crafted one")
    ap.add_argument("--config", type=Path, help="sakimori.yaml (default: a one-name whitelist)")
    ap.add_argument("--baselines", type=Path, help="baselines.json for the generated rules")
    ap.add_argument("--compare", action="append", default=[], metavar="NAME=DIR",
                    help="also measure DIR/static.rules + DIR/sakimori.rules (repeatable)")
    ap.add_argument("--jobs", type=int, default=2, help="callgrind runs at once (2)")
    ap.add_argument("--json", type=Path, help="also write the counts as JSON")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind not installed", file=sys.stderr)
        return 2
    out = (args.out or Path(tempfile.mkdtemp(prefix="sakimori-rulecost-"))).resolve()
    out.mkdir(parents=True, exist_ok=True)
    cfg_path = args.config
    if cfg_path is None:
        cfg_path = out / "sakimori.yaml"
        cfg_path.write_text(CONFIG, encoding="utf-8")
    cfg = load_config(cfg_path, env={})
    variants = _variants(args, cfg, out)
    pcap = args.pcap or capture(out / "load.pcap", args.sessions)
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        runs = dict(zip(variants, pool.map(
            lambda item: thread_instructions(cfg, pcap, item[1], out / f"run{item[0]}"),
            enumerate(variants.values())), strict=True))
    base = _figure(runs["no rules"])
    print(f"capture: {pcap}")
    print(f"{'rule set':<26} {'all but flow manager':>21} {'vs none':>8} {'worker':>15} "
          f"{'recycler':>13} {'main':>13}")
    for name, counts in runs.items():
        n = _figure(counts)
        print(f"{name:<26} {n:>21,} {n / base:>8.3f} {counts.get('worker', 0):>15,} "
              f"{counts.get('recycler', 0):>13,} {counts.get('main', 0):>13,}")
    if args.json:
        args.json.write_text(json.dumps({"capture": str(pcap), "runs": runs}, indent=1),
                             encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
