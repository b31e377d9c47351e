"""Admin-screen benchmark: the pages at 100,000 hosts (issue 11, item 6).

Run: ``.venv/bin/python bench/web.py [--hosts 100000] [--reps 5] [--out DIR]`` (also part of
``make bench``; ``--quick``: 10,000 hosts). Everything is made and measured in this run:

1. A report of ``--hosts`` hosts (1–3 findings each, beacon findings with 150 intervals),
   written by the consumer's own outputs (``tests/webfixtures.py`` ``write_many``: hosts.csv
   and findings.jsonl; at 100,000 hosts findings.jsonl is ≈ 85 MB, past the old 64 MiB cap).
2. ``sakimori serve``'s WSGI app (``create_app``) on a free loopback port, served by waitress
   with 4 threads as ``sakimori serve`` does, a logged-in user, timed over HTTP:
   - the index build (first request after the report appeared);
   - the hosts index (page 1, a middle page), a host page, the triage page and a triage
     class page (issue 13, item 6), the CSV download — medians of ``--reps``; HTML sizes;
   - a login while 8 clients load host pages in a loop, against a login on an idle server.
3. Baselines from the same run: the un-indexed reader (``sakimori.web.data.load``, what every
   page did before the index: parse hosts.csv and findings.jsonl in full — without rendering),
   and the CSV rendered by the consumer's ``render_csv`` from that reader.

Goals (issue 11): hosts index < 1 s, host page < 0.5 s at 100,000 hosts; the triage pages
are held to the hosts index's goal.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import logging
import os
import re
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent), str(HERE.parent / "tests")]

import waitress  # noqa: E402
import webfixtures as wf  # noqa: E402
from table import Figure, at_most, ratio, render  # noqa: E402

from eve_consumer.outputs.hosts_csv import render_csv  # noqa: E402
from sakimori.config import load_config  # noqa: E402
from sakimori.web import auth, data  # noqa: E402
from sakimori.web.app import create_app  # noqa: E402

PASSWORD = "bench password 1"
GOAL_INDEX_S = 1.0
GOAL_HOST_S = 0.5


class Browser:
    """A logged-in HTTP client of the served screen (one connection per request)."""

    def __init__(self, port: int) -> None:
        self.port, self.cookie = port, ""

    def get(self, path: str, body: str = "", method: str = "GET") -> tuple[int, bytes, float]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        headers = {"Host": f"127.0.0.1:{self.port}"}
        if self.cookie:
            headers["Cookie"] = self.cookie
        if body:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        t0 = time.perf_counter()
        conn.request(method, path, body=body or None, headers=headers)
        resp = conn.getresponse()
        data_ = resp.read()
        elapsed = time.perf_counter() - t0
        for name, value in resp.getheaders():
            if name.lower() == "set-cookie" and value.startswith("sakimori_session="):
                self.cookie = value.split(";", 1)[0]
        conn.close()
        return resp.status, data_, elapsed

    def login(self) -> float:
        self.cookie = ""
        page = self.get("/login")[1].decode()
        tok = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        form = urlencode({"username": "bench", "password": PASSWORD, "csrf_token": tok})
        status, _, elapsed = self.get("/login", form, "POST")
        assert status == 302, status
        return elapsed


def _median(fn, reps: int) -> float:
    return statistics.median(fn() for _ in range(reps))


def _serve(cfg) -> tuple[object, int, threading.Thread]:
    app = create_app(cfg, listen_host="127.0.0.1")
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4,
                                    clear_untrusted_proxy_headers=True)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    return server, server.effective_port, thread


def _under_load(port: int, host: str, seconds: float) -> tuple[float, int]:
    """A login's time while 8 clients load host pages; (login s, pages served meanwhile)."""
    stop, served = threading.Event(), [0]

    def loop() -> None:
        b = Browser(port)
        b.login()
        while not stop.is_set():
            b.get(f"/hosts/{host}")
            served[0] += 1

    workers = [threading.Thread(target=loop, daemon=True) for _ in range(8)]
    for w in workers:
        w.start()
    time.sleep(seconds)
    took = Browser(port).login()
    stop.set()
    for w in workers:
        w.join(60)
    return took, served[0]


def _refreshes(b: Browser, reports: Path) -> tuple[float, float]:
    """Page times right after the report changed as a follow-mode consumer changes it: a new
    hosts.csv (atomic rename) where every 20th row has a later last_seen and a score one
    higher (the index re-reads the file and rewrites the changed rows), then 1,000 findings
    appended again (read incrementally; the same records, so nothing else changes)."""
    csv_path = reports / "hosts.csv"
    with csv_path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows[::20]:
        r["last_seen"], r["score"] = "2026-11-30T00:00:00Z", str(min(100, int(r["score"]) + 1))
    tmp = reports / ".hosts.csv.tmp"
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, csv_path)
    rewrite_s = b.get("/")[2]
    findings = reports / "findings.jsonl"
    with findings.open("rb") as fh:
        lines = [fh.readline() for _ in range(1000)]
    with findings.open("ab") as fh:
        fh.write(b"".join(lines))
    host = wf.many_findings(1)[0].host
    append_s = b.get(f"/hosts/{host}")[2]
    return rewrite_s, append_s


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--hosts", type=int, default=100_000)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="10,000 hosts, 3 reps")
    p.add_argument("--out", type=Path, default=HERE / "out" / "web")
    args = p.parse_args(argv)
    if args.quick:
        args.hosts, args.reps = 10_000, 3
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # 8 clients > 4 threads
    shutil.rmtree(args.out, ignore_errors=True)
    print(f"bench/web: writing a {args.hosts:,}-host report …", file=sys.stderr)
    reports = wf.write_many(args.out / "report", args.hosts)
    cfg = load_config(wf.write_config(args.out, report_dirs=[reports]), env={})
    auth.add_user(cfg.web.users_file, "bench", PASSWORD)
    server, port, thread = _serve(cfg)
    try:
        figures = _measure(args, cfg, reports, port)
    finally:
        server.close()
        thread.join(10)
    size = (reports / "findings.jsonl").stat().st_size
    print(render(figures, [f"# admin screen, {args.hosts:,} hosts, findings.jsonl "
                           f"{size / 1e6:.1f} MB, medians of {args.reps}"]))
    return 0


def _measure(args, cfg, reports: Path, port: int) -> list[Figure]:
    b = Browser(port)
    idle_login = b.login()
    status, _, build = b.get("/")
    assert status == 200
    print("bench/web: index built; timing pages …", file=sys.stderr)
    index_s = _median(lambda: b.get("/")[2], args.reps)
    html = len(b.get("/")[1])
    middle = max(1, args.hosts // cfg.web.page_size // 2)
    middle_s = _median(lambda: b.get(f"/?page={middle}")[2], args.reps)
    status, page, _ = b.get("/triage")
    assert status == 200 and b'id="look-first"' in page, status
    triage_s = _median(lambda: b.get("/triage")[2], args.reps)
    triage_html = len(page)
    status, _, _ = b.get("/triage/backdoor")
    assert status == 200, status
    class_s = _median(lambda: b.get("/triage/backdoor")[2], args.reps)
    host = wf.many_findings(1)[0].host
    status, page, _ = b.get(f"/hosts/{host}")
    assert status == 200 and b"Evidence timeline" in page, status
    host_s = _median(lambda: b.get(f"/hosts/{host}")[2], args.reps)
    rewrite_s, append_s = _refreshes(b, reports)
    csv_status, csv_body, csv_s = b.get("/report.csv")
    assert csv_status == 200 and csv_body.count(b"\n") == args.hosts + 1
    loaded_login, pages = _under_load(port, host, 3.0)
    print("bench/web: un-indexed baseline …", file=sys.stderr)
    t0 = time.perf_counter()
    direct = data.load([reports])
    direct_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    direct_csv = render_csv(direct.hosts)
    direct_csv_s = time.perf_counter() - t0 + direct_s
    assert direct_csv == csv_body, "the CSV download differs from the un-indexed rendering"
    un = "un-indexed read"
    return [
        Figure("build", "index build (first request after the report appeared)", build, "s",
               un, direct_s, ratio(build, direct_s)),
        Figure("index", "hosts index, page 1", index_s, "s", un, direct_s,
               ratio(index_s, direct_s), f"< {GOAL_INDEX_S} s",
               at_most(GOAL_INDEX_S)(index_s)),
        Figure("index_mid", f"hosts index, page {middle}", middle_s, "s", un, direct_s,
               ratio(middle_s, direct_s), f"< {GOAL_INDEX_S} s",
               at_most(GOAL_INDEX_S)(middle_s)),
        Figure("rewrite", "hosts index after a new hosts.csv (5% of rows changed)", rewrite_s,
               "s",
               un, direct_s, ratio(rewrite_s, direct_s)),
        Figure("append", "host page after 1,000 findings were appended", append_s, "s",
               un, direct_s, ratio(append_s, direct_s)),
        Figure("index_html", "hosts index page 1, HTML", html / 1e3, "kB"),
        Figure("triage", "triage page (classes x days, look first, top per class)", triage_s,
               "s", un, direct_s, ratio(triage_s, direct_s), f"< {GOAL_INDEX_S} s",
               at_most(GOAL_INDEX_S)(triage_s)),
        Figure("triage_class", "triage class page (backdoor, page 1)", class_s, "s", un,
               direct_s, ratio(class_s, direct_s), f"< {GOAL_INDEX_S} s",
               at_most(GOAL_INDEX_S)(class_s)),
        Figure("triage_html", "triage page, HTML", triage_html / 1e3, "kB"),
        Figure("host", "host page", host_s, "s", un, direct_s, ratio(host_s, direct_s),
               f"< {GOAL_HOST_S} s", at_most(GOAL_HOST_S)(host_s)),
        Figure("csv", f"CSV download ({len(csv_body) / 1e6:.1f} MB, all hosts)", csv_s, "s",
               "un-indexed read + render_csv", direct_csv_s, ratio(csv_s, direct_csv_s)),
        Figure("login_load", f"login while 8 clients load host pages ({pages} served)",
               loaded_login, "s", "idle login", idle_login, ratio(loaded_login, idle_login)),
    ]


if __name__ == "__main__":
    sys.exit(main())
