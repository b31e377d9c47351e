"""Mail benchmark: learning speed (mails/s) and Rspamd's cost with the sakimori plugin.

Run: ``.venv/bin/python bench/mail.py [--messages 1000] [--reps 3] [--out DIR]`` (also part of
``make bench``). Everything is measured in this run against a baseline from the same run:

1. ``learn --mail``: ``MailLearner`` over the example past-mail Maildir (``sakimori_demo.mailsim``),
   mails/s (median of ``--reps``).
2. Rspamd: the same ``--messages`` messages (the example test set, cycled) scanned one after the
   other by private Rspamd 3.4 instances (same offline profile), started before timing, every
   process of each pinned to one core (``--cpu``, default the fastest by a speed check):
   ``--instances`` fresh copies each **without** sakimori and with the generated **plugin** and
   maps but no metadata_exporter, and one with the plugin **and the exporter** posting flagged
   mails to the harness's receiver. The instances take turns every ``--chunk`` messages, the
   first one rotating, ``--reps`` passes. An instance's Rspamd CPU is the mean over reps of
   its whole passes — every periodic cost included, the Lua collector's cycles above all; a
   variant's figure is the median over its copies, whose A/A spread is printed (one instance
   per variant differed from an identical one by ±3–6 %: docs/bench.md, fifth round); wall
   times are medians over reps. Each chunk's fastest rep, summed, is printed beside it as a
   lower bound only: it leaves out much of the collector's work, whose bursts fall unevenly
   across chunks — more of it for a larger Lua heap — so it flattered the plugin
   (docs/bench.md, tenth round). The goal (≤ 1.05)
   is on plugin ÷ without — the plugin's own cost. The exporter is shown apart: it formats and
   posts every flagged mail, and two thirds of this test set is flagged (in real mail flow, a
   small fraction). Its posts are sent apart from the task (the reply does not wait for them);
   the bare sink runs in this process, so its work on a post still delays the next scan.
3. The same plugin and exporter posting to the **real consumer receiver**: ``sakimori consume
   --rspamd-listen --no-mail`` in its own process (authentication, classification, the
   outbox); the same again with ``rspamd.export_detached: 0`` (**held**: every reply waits
   for its post, Rspamd's stock exporter — the before of posting apart from the task); and
   the receiver's own answer time: ``--posts`` posts
   of a flagged event captured from the exporter, one new connection each as Rspamd's
   exporter makes them, against the harness's bare sink (a stdlib server that only answers).
4. **Everyday mail**: the same ``without`` and ``plugin`` copies scan ``--messages`` mails of
   the learned past mail (``past/Maildir``, distinct mails, as the gateway saw them: the
   mailbox's trace headers removed, the envelope from them; none is flagged) the same way.
   The test set is two thirds attacks and 42 mails cycled, so the plugin's memo tables hit
   more often there than in real flow; this row shows the cost on ordinary, varied mail (no
   goal: the goal stays on the test set's figure).
Every batch is measured twice: the client's wall time (what an MTA waits) and the CPU seconds
the Rspamd instance's processes used (``/proc``; not inflated when other jobs share the
cores — the figure to trust on a busy machine); the load average is printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import logging
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from email.parser import BytesHeaderParser
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from measure import one_core  # noqa: E402  (bench/, the script's directory)

from generator.mail.learn import MailLearner  # noqa: E402
from generator.render_rspamd import write_rspamd  # noqa: E402
from sakimori.config import load_config  # noqa: E402
from sakimori.listen_secret import authorization, ensure_secret, read_secret  # noqa: E402
from sakimori.mail.checks import run_checks  # noqa: E402
from sakimori.mail.facts import facts_from_message  # noqa: E402
from sakimori.mail.received import parse_received  # noqa: E402
from sakimori.rspamd import RspamdInstance  # noqa: E402
from sakimori_demo.mailsim import generate_corpus  # noqa: E402
from sakimori_demo.smtpsink import free_port  # noqa: E402

GOAL_RATIO = 1.05
GOAL_CHECK_MS = 5.0  # passive checks per mail, one core (was a test's wall-clock limit)


def _settle(sink, quiet_s: float = 0.3, limit_s: float = 5.0) -> None:
    """Wait until the sink's count of posts stops growing (the exporter's posts are sent apart
    from the scans: the last few may still be on their way when the last reply came back)."""
    if sink is None:
        return
    deadline = time.monotonic() + limit_s
    seen = -1
    while time.monotonic() < deadline and len(sink.events) != seen:
        seen = len(sink.events)
        time.sleep(quiet_s)


def _learn(cfg, maildir: Path, reps: int) -> tuple[float, int, dict]:
    rates, doc = [], {}
    count = 0
    for _ in range(reps):
        learner = MailLearner(cfg)
        t0 = time.perf_counter()
        learner.add_path(maildir)
        elapsed = time.perf_counter() - t0
        doc = learner.document()
        count = int(doc["mail"]["messages"]) + int(doc["mail"].get("broken", 0))
        rates.append(count / elapsed)
    return statistics.median(rates), count, doc


def _checks_ms(cfg, doc: dict, batch: list[tuple[bytes, dict]], reps: int) -> float:
    """Python's passive checks (parse + ``run_checks``) per mail, ms (median of reps)."""
    base = doc.get("mail") or {}
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for message, env in batch:
            facts = facts_from_message(message, ip=env["ip"], hostname=env["hostname"],
                                       helo=env["helo"], user=env["user"],
                                       envelope_from=env["mail_from"], rcpt=env["rcpt"])
            run_checks(facts, cfg, base)
        times.append((time.perf_counter() - t0) / len(batch) * 1000)
    return statistics.median(times)


def _scan_time(inst: RspamdInstance, batch: list[tuple[bytes, dict]]) -> float:
    t0 = time.perf_counter()
    for message, env in batch:
        inst.scan(message, **env)
    return time.perf_counter() - t0


def _post_times(url: str, body: bytes, auth: str | None, n: int, gap: float = 0.02) -> list[float]:
    """Seconds per POST of *body* to *url*, a new connection each (as the exporter does),
    *gap* seconds apart (flagged mail is spaced in real flow: this times the answer, not a
    flood; the bare sink runs in this process, the consumer in its own)."""
    host_port = url.split("/")[2]
    host, port = host_port.rsplit(":", 1)
    path = "/" + url.split("/", 3)[3]
    headers = {"Content-Type": "application/json", "Connection": "close"}
    if auth:
        headers["Authorization"] = auth
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        conn.close()
        out.append(time.perf_counter() - t0)
        if resp.status != 200:
            raise SystemExit(f"bench/mail.py: {url} answered HTTP {resp.status}")
        time.sleep(gap)
    return out


def _batch(testset: dict, n: int) -> list[tuple[bytes, dict]]:
    root = Path(testset["dir"])
    cases = testset["cases"]
    out = []
    for i in range(n):
        case = cases[i % len(cases)]
        env = {"ip": case.get("ip"), "mail_from": case.get("envelope_from"),
               "rcpt": case.get("rcpt") or (), "helo": case.get("helo"),
               "hostname": case.get("hostname"), "user": case.get("user")}
        out.append(((root / case["file"]).read_bytes(), env))
    return out


def _everyday_batch(maildir: Path, n: int) -> list[tuple[bytes, dict]]:
    """*n* mails of the learned past mail (``past/Maildir``: everyday flow, mostly external
    business mail, some internal) as the gateway's Rspamd saw them: the mailbox's own trace
    headers (``Return-Path``, ``Delivered-To``, the store's LMTP ``Received``) removed, the
    envelope taken from them and from our MX's ``Received`` (``parse_received``: connecting
    IP, HELO, verified name; an authenticated protocol: the sender's user). Mails without
    that shape (the broken ones) are left out."""
    out: list[tuple[bytes, dict]] = []
    files = sorted(p for sub in ("cur", "new") for p in (maildir / sub).iterdir())
    for path in files:
        data = path.read_bytes()
        head, sep, body = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        if not (sep and lines[0].startswith(b"Return-Path: <")
                and lines[1].startswith(b"Delivered-To: ")):
            continue
        envelope = lines[0][len(b"Return-Path: <"):-1].decode()
        rcpt = lines[1][len(b"Delivered-To: "):].decode()
        rest = b"\r\n".join(lines[2:])
        store, _, rest = rest.partition(b"\r\nReceived: ")  # the LMTP hop, three lines
        if b"with LMTP" not in store:
            continue
        rest = b"Received: " + rest
        hop = parse_received(str(BytesHeaderParser().parsebytes(rest)["Received"]))
        if not hop.ip:
            continue
        env = {"ip": hop.ip, "mail_from": envelope, "rcpt": [rcpt], "helo": hop.helo,
               "hostname": hop.verified or None,
               "user": envelope.partition("@")[0] if hop.authenticated else None}
        out.append((rest + sep + body, env))
    if not out:
        raise SystemExit(f"bench/mail.py: no mail of the expected shape in {maildir}")
    return [out[i % len(out)] for i in range(n)]


def _interleaved(insts: dict, order: list[tuple[str, int]], batch: list, reps: int,
                 chunk: int) -> tuple[dict, dict, dict]:
    """Scan *batch* *reps* times on every instance of *order*, taking turns every *chunk*
    messages (the first one rotating): (client wall s per rep, Rspamd CPU s per rep, Rspamd
    CPU s per chunk and rep) per instance."""
    cpus: dict[tuple[str, int], list[float]] = {key: [] for key in order}
    per_chunk: dict[tuple[str, int], dict[int, list[float]]] = {key: {} for key in order}
    times: dict[tuple[str, int], list[float]] = {key: [] for key in order}
    for rep in range(reps):  # take turns chunk by chunk: load drift hits all alike
        for key in order:
            times[key].append(0.0)
            cpus[key].append(0.0)
        for k in range(0, len(batch), chunk):
            shift = (rep + k) % len(order)
            for name, i in order[shift:] + order[:shift]:
                wall, used = _timed(insts[name][i], batch[k:k + chunk])
                times[(name, i)][-1] += wall
                cpus[(name, i)][-1] += used
                per_chunk[(name, i)].setdefault(k, []).append(used)
    return times, cpus, per_chunk


def _fastest_chunks(per_chunk: dict) -> dict:
    """A lower bound of one instance's Rspamd CPU: each chunk's fastest rep, summed over the
    chunks. Not the figure: the Lua collector's work comes in bursts that fall unevenly across
    the chunks of a rep, so the fastest reps leave much of it out — more the larger the Lua
    heap (a plugin keeping 40,000 tables alive came out 11 % *below* Rspamd without it;
    docs/bench.md, tenth round)."""
    return {key: sum(min(v) for v in chunks.values()) for key, chunks in per_chunk.items()}


def _mean_passes(cpus: dict) -> dict:
    """One instance's Rspamd CPU: the mean over reps of its whole passes (every periodic cost
    — collector cycles, timers — in, as a site pays it; other jobs' contention hits every
    instance alike, the turns interleaved chunk by chunk)."""
    return {key: statistics.fmean(v) for key, v in cpus.items()}


def _start_consumer(cfg_file: Path, tmp: Path) -> tuple[subprocess.Popen, str]:
    """``sakimori consume --rspamd-listen`` (mail off) on a free port, as a site runs it: its
    own process, so the receiver never shares this client's interpreter."""
    port = free_port()
    text = cfg_file.read_text(encoding="utf-8")
    cfg_file.write_text(text.replace("listen: 127.0.0.1:11339", f"listen: 127.0.0.1:{port}"),
                        encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sakimori", "consume", "--config", str(cfg_file),
         "--rspamd-listen", "--no-mail", "--state-dir", str(tmp / "state"),
         "--out", str(tmp / "out")], cwd=REPO, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()  # "receiving Rspamd events on URL" once it listens
    if "receiving Rspamd events on" not in line:
        proc.kill()
        raise SystemExit(f"bench/mail.py: consume --rspamd-listen did not start: {line.strip()}")
    return proc, f"http://127.0.0.1:{port}/rspamd/events"


def _instances(cfg, doc, tmp: Path, receiver_url: str):
    """(build dirs, RspamdInstance kwargs) of the four instances, rendered into *tmp*."""
    build = tmp / "build"
    write_rspamd(cfg, doc, build, ensure_secret(cfg))
    plugin_only = tmp / "plugin-only"
    shutil.copytree(build, plugin_only)
    (plugin_only / "rspamd" / "local.d" / "metadata_exporter.conf").unlink()
    held = tmp / "held"  # every reply waits for its post (export_detached 0: Rspamd's stock)
    write_rspamd(dataclasses.replace(cfg, rspamd=dataclasses.replace(cfg.rspamd,
                                                                     export_detached=0)),
                 doc, held, ensure_secret(cfg))
    return {"without": (None, {}), "plugin": (plugin_only, {}), "exporter": (build, {}),
            "receiver": (build, {"export_to": receiver_url}),
            "held": (held, {"export_to": receiver_url})}


def _instance_tasks(pid: int) -> list[Path]:
    """``/proc/P/task/T`` of Rspamd process *pid* and its children (the workers), all
    threads."""
    tasks: list[Path] = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # the process ended meanwhile
        if int(stat.parent.name) == pid or ppid == pid:
            tasks.extend((stat.parent / "task").glob("*"))
    return tasks


def _rspamd_cpu(pid: int | None) -> float:
    """CPU seconds used so far by Rspamd process *pid* and its children (the workers that
    scan), all threads, from ``/proc/*/task/*/schedstat`` (nanoseconds; ``/proc/*/stat``
    counts 10 ms ticks): not inflated by waiting when other jobs share the cores."""
    if pid is None:
        return 0.0
    total = 0
    for task in _instance_tasks(pid):
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            continue  # the thread ended meanwhile
    return total / 1e9


def pin_instance(inst: RspamdInstance, cpu: int) -> None:
    """Pin every process and thread of *inst* (main, controller, scanner) to core *cpu*: an
    unpinned worker settles on either vCPU, and the two vCPUs of this VM differ in speed by
    several per cent (bench/run.py's speed check), which made identical instances differ."""
    assert inst.pid is not None
    for task in _instance_tasks(inst.pid):
        try:
            os.sched_setaffinity(int(task.name), {cpu})
        except (OSError, ValueError):
            continue  # the thread ended meanwhile


def _timed(inst: RspamdInstance, batch: list) -> tuple[float, float]:
    """(client wall s, Rspamd CPU s) of scanning *batch* on *inst*."""
    c0, t0 = _rspamd_cpu(inst.pid), time.perf_counter()
    _scan_time(inst, batch)
    return time.perf_counter() - t0, _rspamd_cpu(inst.pid) - c0


def _print(med: dict, cpu: dict, n: int, flagged: int, posts: dict, load: tuple) -> None:
    rows = [(f"Rspamd, {n} messages with the plugin", "plugin", True),
            (f"  … plus the exporter to the bare sink ({flagged} posts)", "exporter", False),
            ("  … plus the exporter to the consumer's receiver", "receiver", False),
            ("  … the same, every reply waiting for its post (stock)", "held", False)]
    for unit, values in (("wall s", med), ("Rspamd CPU s", cpu)):
        base = f"without: {values['without']:.3f} s"
        for label, name, goal in rows:
            r = values[name] / values["without"] if values["without"] else float("nan")
            verdict = (f"≤ {GOAL_RATIO} {'PASS' if r <= GOAL_RATIO else 'MISS'}" if goal
                       else "-")
            print(f"{f'{label} ({unit})':<62} {values[name]:>8.3f} {base:>24} {r:>7.3f}  "
                  f"{verdict}")
    print("per message (client wall, sequential): " + ", ".join(
        f"{name} {1000 * med[name] / n:.2f} ms" for name in med))
    for name, values in posts.items():
        ms = sorted(1000 * v for v in values)
        print(f"one POST of a flagged event to the {name}: median {statistics.median(ms):.2f} ms, "
              f"p90 {ms[int(0.9 * (len(ms) - 1))]:.2f} ms ({len(ms)} posts 20 ms apart, new "
              "connection each)")
    print(f"load average at start {load[0]}, at end {load[1]}")


def _print_instances(mean: dict[tuple[str, int], float],
                     fastest: dict[tuple[str, int], float], cpu: int | None) -> None:
    """Each instance's Rspamd CPU and the A/A spread among copies of one variant:
    (max − min) ÷ median; a ratio is only as good as this spread. *mean* is the figure
    above (the mean over reps of whole passes), *fastest* each chunk's fastest rep, summed
    (a lower bound that leaves out the collector's cycles: not the figure)."""
    where = f"pinned to CPU {cpu}" if cpu is not None else "unpinned"
    for title, values in (("mean over reps of whole passes (the figure above)", mean),
                          ("each chunk's fastest rep, summed: a lower bound without the "
                           "Lua collector's cycles, not the figure", fastest)):
        print(f"Rspamd CPU s per instance ({where}; {title}):")
        names = list(dict.fromkeys(name for name, _ in values))
        for name in names:
            vals = [v for (n, _), v in values.items() if n == name]
            spread = (max(vals) - min(vals)) / statistics.median(vals)
            aa = f"  A/A spread {100 * spread:.1f} %" if len(vals) > 1 else ""
            ratio = statistics.median(vals) / statistics.median(
                [v for (n, _), v in values.items() if n == "without"])
            print(f"  {name:<9} {ratio:.3f} × without  " + " ".join(f"{v:.3f}" for v in vals)
                  + aa)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=1000,
                    help="messages per pass (the Lua collector's work comes in bursts, a "
                    "cycle every 20-30 mails: a short pass holds too few for a stable mean)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--posts", type=int, default=300, help="direct posts per receiver")
    ap.add_argument("--chunk", type=int, default=50,
                    help="messages per turn: the instances take turns every CHUNK messages")
    ap.add_argument("--instances", type=int, default=3,
                    help="fresh Rspamd instances each for 'without' and 'plugin' (their medians "
                    "are the figures; the spread among copies is the A/A noise)")
    ap.add_argument("--warmup", type=int, default=50, help="messages each instance scans first")
    ap.add_argument("--cpu", type=int, default=None,
                    help="core every Rspamd instance is pinned to (default: the fastest by a "
                    "speed check, as bench/run.py; -1: unpinned)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "mail")
    args = ap.parse_args()
    if args.instances < 1 or args.reps < 1:
        ap.error("--instances and --reps must be at least 1")
    cpu: int | None = one_core()[0] if args.cpu is None else (None if args.cpu < 0
                                                              else args.cpu)
    logging.basicConfig(level=logging.ERROR)  # the corpus' 4 broken mails are expected
    load_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    corpus = generate_corpus(args.out / "corpus")
    batch = _batch(corpus["testset"], args.messages)
    everyday = _everyday_batch(Path(corpus["past"]["maildir"]), args.messages)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        cfg_file = tmp / "sakimori.yaml"  # the secret file goes next to it, not into examples/
        shutil.copyfile(REPO / "examples" / "sakimori.yaml", cfg_file)
        cfg = load_config(cfg_file, env={})
        rate, count, doc = _learn(cfg, Path(corpus["past"]["maildir"]), args.reps)
        check_ms = _checks_ms(cfg, doc, batch, args.reps)
        ensure_secret(cfg)  # as `sakimori generate` creates it, next to the copied config
        consumer, receiver_url = _start_consumer(cfg_file, tmp)
        specs = _instances(cfg, doc, tmp, receiver_url)
        copies = {name: args.instances if name in ("without", "plugin") else 1
                  for name in specs}
        insts = {name: [RspamdInstance(build, **kw) for _ in range(copies[name])]
                 for name, (build, kw) in specs.items()}
        # one turn list: every instance, copies of a variant spread apart
        order = [(name, i) for i in range(args.instances) for name in insts
                 if i < len(insts[name])]
        try:
            for name, i in order:
                inst = insts[name][i].start()
                if cpu is not None:
                    pin_instance(inst, cpu)
                _scan_time(inst, batch[:args.warmup])  # warm-up: hyperscan, memo tables
            times, cpus, per_chunk = _interleaved(insts, order, batch, args.reps, args.chunk)
            # the same plugin on everyday mail: the without and plugin copies only
            pair = [key for key in order if key[0] in ("without", "plugin")]
            everyday_flagged = sum(
                any(s.startswith("SAKIMORI_") and s != "SAKIMORI_CHECK"
                    for s in insts["plugin"][0].scan(m, **env).get("symbols") or {})
                for m, env in everyday)  # and a warm-up of every copy below
            for name, i in pair:
                _scan_time(insts[name][i], everyday[:args.warmup])
            ev_times, ev_cpus, _ev_chunks = _interleaved(insts, pair, everyday, args.reps,
                                                         args.chunk)
            sink = insts["exporter"][0].sink
            _settle(sink)
            flagged = len(sink.events) if sink is not None else 0
            event = orjson.dumps(sink.events[-1]) if sink is not None and sink.events else b"{}"
            auth = authorization(read_secret(cfg))
            posts = {"bare sink": _post_times(sink.url, event, None, args.posts),
                     "consumer's receiver": _post_times(receiver_url, event, auth, args.posts)}
        finally:
            for group in insts.values():
                for inst in group:
                    inst.stop()
            consumer.send_signal(signal.SIGTERM)
            _out, err = consumer.communicate(timeout=120)
    summary = [ln for ln in err.splitlines() if "mail warnings:" in ln]
    # one instance's Rspamd CPU: the mean of its whole passes (_mean_passes); the chunks'
    # fastest reps summed only as a lower bound printed below (_fastest_chunks)
    per_cpu = _mean_passes(cpus)
    ev_cpu = _mean_passes(ev_cpus)
    ev = {name: (statistics.median(ev_cpu[(name, i)] for i in range(args.instances)),
                 statistics.median(statistics.median(ev_times[(name, i)])
                                   for i in range(args.instances)))
          for name in ("without", "plugin")}
    per_cpu_fastest = _fastest_chunks(per_chunk)
    per_wall = {key: statistics.median(v) for key, v in times.items()}
    med = {name: statistics.median(per_wall[(name, i)] for i in range(len(group)))
           for name, group in insts.items()}
    cpu_med = {name: statistics.median(per_cpu[(name, i)] for i in range(len(group)))
               for name, group in insts.items()}
    print(f"{'figure':<62} {'value':>8} {'baseline (same run)':>24} {'ratio':>7}  goal")
    print(f"{'learn --mail: mails/s (Maildir, median)':<62} {rate:>8,.0f} "
          f"{f'{count} mails':>24} {'':>7}  -")
    print(f"{'Python passive checks: ms per mail (median)':<62} {check_ms:>8.3f} "
          f"{f'{args.messages} messages':>24} {'':>7}  ≤ {GOAL_CHECK_MS:g} "
          f"{'PASS' if check_ms <= GOAL_CHECK_MS else 'MISS'}")
    _print(med, cpu_med, args.messages, flagged, posts,
           (load_start, " ".join(f"{x:.2f}" for x in os.getloadavg())))
    for unit, k in (("Rspamd CPU s", 0), ("wall s", 1)):
        label = (f"everyday mail: {args.messages} of the learned past mail with the plugin "
                 f"({everyday_flagged} flagged) ({unit})")
        base = f"without: {ev['without'][k]:.3f} s"
        print(f"{label:<62} {ev['plugin'][k]:>8.3f} {base:>24} "
              f"{ev['plugin'][k] / ev['without'][k]:>7.3f}  -")
    _print_instances(per_cpu, per_cpu_fastest, cpu)
    print(f"consumer: {summary[-1].strip() if summary else 'no summary line'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
