"""Proxy-log input of the consumer: line → events, the 407 handshake, follow mode.

Unit level: :class:`~eve_consumer.inputs.proxylog.ProxyDecoder` on hand-written Squid/Apache
lines (log text is what a proxy writes; no Suricata is involved in this input). Service level:
``Consumer.follow(proxy=True)`` over the simulated Squid log appended in pieces across a
restart gives exactly the one-shot result, and the ``consume --proxy-log --follow`` CLI picks
up appended lines and stops on SIGTERM.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from eve_consumer.context import Context
from eve_consumer.inputs.proxylog import ProxyDecoder, anonymizer_reason, relay_check
from eve_consumer.pipeline import Consumer
from sakimori.config import load_config
from sakimori.eve.decode import DecodeStats
from sakimori.proxylog import parse_line
from sakimori.tor import RelaySet
from sakimori_demo.officesim.proxyday import generate_proxy_day

CONFIG = """\
networks:
  home: [10.0.0.0/8]
alerts:
  admins: []
"""


def _decoder(tmp_path: Path, relays: RelaySet | None = None) -> ProxyDecoder:
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(CONFIG)
    return ProxyDecoder(Context(load_config(cfg_path), None), DecodeStats(), relays)


def sq(t: float, status: str, method: str, url: str, user: str = "-",
       peer: str = "HIER_DIRECT/198.51.100.5", client: str = "10.1.1.5",
       elapsed: int = 100) -> str:
    return f"{t:.3f} {elapsed:6d} {client} {status} 500 {method} {url} {user} {peer} -"


def test_answered_request_becomes_http_and_flow(tmp_path: Path) -> None:
    dec = _decoder(tmp_path)
    evs = dec.decode(sq(1700000000.5, "TCP_MISS/200", "GET", "http://a.example/x?y=1",
                        elapsed=1500), 1)
    assert [e.kind for e in evs] == ["http", "flow"]
    http, flow = evs
    assert http.data["url"] == "/x?y=1" and http.data["hostname"] == "a.example"
    assert flow.dest_ip == "198.51.100.5" and flow.dest_port == 80 and flow.flow_id == http.flow_id
    assert flow.ts == pytest.approx(1700000000.5 - 1.5)  # Squid logs the end
    assert flow.data["flow"]["age"] == 1


def test_refusals_and_connect_ports(tmp_path: Path) -> None:
    dec = _decoder(tmp_path)
    none = "HIER_NONE/-"
    denied = dec.decode(sq(1.7e9, "TCP_DENIED/403", "GET", "http://b.example/", peer=none), 1)
    assert [e.kind for e in denied] == ["proxy"] and denied[0].data["denied"] == "TCP_DENIED/403"
    origin_403 = dec.decode(sq(1.7e9, "TCP_MISS/403", "GET", "http://b.example/"), 2)
    assert "proxy" not in [e.kind for e in origin_403]  # the web server said no, not the proxy
    ssh = dec.decode(sq(1.7e9, "TCP_TUNNEL/200", "CONNECT", "git.example:22"), 3)
    assert ssh[-1].kind == "proxy" and ssh[-1].data["tunnel"] == 22
    web = dec.decode(sq(1.7e9, "TCP_TUNNEL/200", "CONNECT", "www.example:443"), 4)
    assert [e.kind for e in web] == ["http", "flow"]
    apache = dec.decode('10.1.1.6 - - [14/Nov/2023:22:13:20 +0900] "GET http://c.example/ '
                        'HTTP/1.1" 403 10 "-" "-"', 5)
    assert apache[0].data["denied"] == "HTTP/403"


def test_407_counts_only_when_never_answered(tmp_path: Path) -> None:
    dec = _decoder(tmp_path)
    t, none = 1.7e9, "HIER_NONE/-"
    assert dec.decode(sq(t, "TCP_DENIED/407", "GET", "http://a.example/", peer=none), 1) == []
    dec.decode(sq(t + 0.2, "TCP_MISS/200", "GET", "http://a.example/", user="alice"), 2)
    dec.decode(sq(t + 1, "TCP_DENIED/407", "GET", "http://c2.example/", peer="HIER_NONE/-"), 3)
    dec.decode(sq(t + 5, "TCP_MISS/200", "GET", "http://other.example/", user="alice"), 4)
    assert dec.flush(final=False) == []  # the log has not moved on yet
    # a 407, then the tunnel opened with credentials: logged when it ends, 10 min later
    dec.decode(sq(t + 50, "TCP_DENIED/407", "CONNECT", "v.example:443", peer=none), 5)
    dec.decode(sq(t + 700, "TCP_MISS/200", "GET", "http://other.example/", user="alice"), 6)
    assert dec.flush(final=False) == []  # still waiting: the tunnel may be logged later
    dec.decode(sq(t + 650.3, "TCP_TUNNEL/200", "CONNECT", "v.example:443", user="alice",
                  elapsed=600_000), 7)
    dec.decode(sq(t + 4000, "TCP_MISS/200", "GET", "http://other.example/", user="alice"), 8)
    flushed = dec.flush(final=False)
    assert [(e.data["host"], e.data["denied"]) for e in flushed] == [
        ("c2.example", "TCP_DENIED/407")]
    assert dec.ctx.counters["proxy_auth_challenges_answered"] == 2
    assert dec.users == {"10.1.1.5": {"alice": 5}}


def test_anonymizer_reasons() -> None:
    rs = RelaySet()
    rs.add("185.220.101.47")
    relays = relay_check(rs)
    assert anonymizer_reason("185.220.101.47", ["185.220.101.47"], relays) == "Tor relay"
    assert anonymizer_reason("x.example", ["185.220.101.47"], relays) == "Tor relay"
    assert anonymizer_reason("abcdefghijklmnop.onion", [], None) == "onion address"
    assert anonymizer_reason("abcdefghijklmnop.onion.ws", [], None) == "tor2web gateway"
    assert anonymizer_reason("www.tor2web.org", [], None) == "tor2web gateway"
    assert anonymizer_reason("onion.example.com", ["203.0.113.9"], relays) is None


def test_squid_fields_are_parsed() -> None:
    rec = parse_line(sq(1.7e9, "TCP_TUNNEL/200", "CONNECT", "h.example:8531", user="bob",
                        elapsed=7200))
    assert rec is not None
    assert (rec.action, rec.status, rec.elapsed_ms, rec.peer, rec.user) == (
        "TCP_TUNNEL", 200, 7200, "198.51.100.5", "bob")
    rec = parse_line(sq(1.7e9, "TCP_MISS/200", "GET", "http://h.example/", peer="HIER_NONE/-"))
    assert rec is not None and rec.peer is None


# --- follow mode -----------------------------------------------------------------------
def _wait(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("timed out")
        time.sleep(0.02)


def _findings(out: Path) -> dict[tuple[str, str], dict]:
    by = {}
    for line in (out / "findings.jsonl").read_text().splitlines():
        f = json.loads(line)
        by[(f["host"], f["detection"])] = f
    return by


def _follow(cfg: Path, log: Path, out: Path, state: Path, until_lines: int) -> dict:
    consumer = Consumer(load_config(cfg), None, out, state, mail=False)
    stop = threading.Event()
    worker = threading.Thread(target=consumer.follow, args=(log, stop),
                              kwargs={"poll_s": 0.02, "interval_s": 0.2, "proxy": True})
    worker.start()
    try:
        _wait(lambda: consumer.decoder.stats.lines >= until_lines)
    finally:
        stop.set()
        worker.join(60)
        consumer.close()
    return json.loads((out / "stats.json").read_text())


@pytest.fixture(scope="module")
def squid_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("proxyday")
    generate_proxy_day(d)
    return d / "squid-access.log"


def test_follow_with_restart_equals_one_shot(tmp_path: Path, squid_log: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(CONFIG)
    with Consumer(load_config(cfg), None, tmp_path / "ref", tmp_path / "ref-state",
                  mail=False) as ref:
        ref.run_once(None, [squid_log])
    expected = _findings(tmp_path / "ref")
    assert {d for _, d in expected} >= {"beacon", "long_url", "fw_blocked", "long_session",
                                        "non_http_on_http_port"}
    lines = squid_log.read_bytes().splitlines(keepends=True)
    log, out, state = tmp_path / "access.log", tmp_path / "out", tmp_path / "state"
    a = len(lines) // 2
    log.write_bytes(b"".join(lines[:a]) + lines[a][:25])  # ends in a half-written line
    first = _follow(cfg, log, out, state, a)
    assert first["decode"]["lines"] == a
    with log.open("ab") as fh:  # the writer finishes the line and goes on; we restart
        fh.write(lines[a][25:] + b"".join(lines[a + 1:]))
    stats = _follow(cfg, log, out, state, len(lines))
    assert stats["decode"]["lines"] == len(lines) and stats["decode"]["bad"] == {}
    assert stats["input"]["input"] == "follow-proxy-log"
    assert _findings(out).keys() == expected.keys()
    # findings.jsonl re-emits a changed finding at most hourly in follow mode; hosts.csv is
    # rewritten at every evaluation: the whole report must equal the one-shot one
    assert (out / "hosts.csv").read_text() == (tmp_path / "ref" / "hosts.csv").read_text()


def test_consume_proxy_log_follow_cli(tmp_path: Path, squid_log: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(CONFIG)
    data = squid_log.read_bytes()
    log, out = tmp_path / "access.log", tmp_path / "out"
    log.write_bytes(data[:len(data) // 4].rsplit(b"\n", 1)[0] + b"\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sakimori", "consume", "--config", str(cfg), "--proxy-log",
         str(log), "--follow", "--out", str(out), "--state-dir", str(tmp_path / "state"),
         "--interval", "0.2", "--poll", "0.05", "--no-mail"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait(lambda: (out / "stats.json").is_file())
        with log.open("ab") as fh:
            fh.write(data[len(log.read_bytes()):])
        total = data.count(b"\n")
        _wait(lambda: json.loads((out / "stats.json").read_text())["decode"]["lines"] == total)
    finally:
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert stdout.strip().splitlines()[-1] == str(out / "hosts.csv")
    assert "telemetry.appcheck-cloud.net" in (out / "hosts.csv").read_text()


def test_shared_pc_names_the_user_behind_the_beacon(tmp_path: Path) -> None:
    rng = random.Random(5)
    t0, lines = 1.7e9, []
    for i in range(60):  # bob's malware, every ~60 s
        lines.append((t0 + 60 * i + rng.uniform(-3, 3), "GET", "http://c2.example/b", "bob"))
    for _ in range(80):  # alice (more requests than bob) browsing on the same terminal server
        site = rng.choice(["news.example", "shop.example", "wiki.example", "mail.example"])
        lines.append((t0 + rng.uniform(0, 3600), "GET", f"http://{site}/p{rng.randint(1, 99)}",
                      "alice"))
    log = tmp_path / "access.log"
    log.write_text("".join(sq(t, "TCP_MISS/200", m, u, user=usr) + "\n"
                           for t, m, u, usr in sorted(lines)))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(CONFIG)
    with Consumer(load_config(cfg), None, tmp_path / "out", tmp_path / "state",
                  mail=False) as consumer:
        rows = consumer.run_once(None, [log])
    beacon = next(f for r in rows for f in r.findings if f.detection == "beacon")
    assert beacon.host == "10.1.1.5" and beacon.destinations == ["c2.example"]
    assert beacon.evidence["proxy_users"] == ["bob"]
    assert consumer.proxy_decoder().users["10.1.1.5"] == {"alice": 80, "bob": 60}


def test_ipv4_mapped_client_is_the_ipv4_host(tmp_path: Path) -> None:
    dec = _decoder(tmp_path)
    evs = dec.decode(sq(1.7e9, "TCP_MISS/200", "GET", "http://a.example/", user="carol",
                        client="::ffff:10.1.1.9"), 1)
    assert {e.src_ip for e in evs} == {"10.1.1.9"} and dec.users == {"10.1.1.9": {"carol": 1}}


def test_unreached_server_and_failed_tunnel(tmp_path: Path) -> None:
    dec = _decoder(tmp_path)
    none = "HIER_NONE/-"
    evs = dec.decode(sq(1.7e9, "TCP_MISS/503", "GET", "http://gone.example/", peer=none), 1)
    flow = next(e for e in evs if e.kind == "flow")
    assert flow.data["flow"]["pkts_toclient"] == 0  # not a beat, like an unanswered flow
    evs = dec.decode(sq(1.7e9, "TCP_TUNNEL/503", "CONNECT", "git.example:22", peer=none), 2)
    assert all(e.kind != "proxy" for e in evs)  # no tunnel was made


def test_bad_line_reasons_are_few_counter_keys(tmp_path: Path) -> None:
    dec = _decoder(tmp_path)
    for i in range(20):
        dec.decode(sq(1.7e9, "TCP_MISS/200", "GET", f"no-scheme-{i}"), i + 1)
    assert dict(dec.stats.bad) == {"proxy log: not a URL": 20}
    assert dec.stats.examples[0] == "<proxy-log>:1: proxy log: not a URL: 'no-scheme-0'"


def test_a_damaged_held_407_in_the_saved_state_is_refused(tmp_path: Path) -> None:
    """The proxy join's saved shape is checked as it is restored: a held-back 407 whose
    fields are not what ``_hold`` saves is one line naming the consumer's state (the file
    left as it is); the undamaged state restores the same held 407."""
    import json
    import sqlite3

    from eve_consumer.pipeline import _CONSUMER_STATE
    from eve_consumer.store import StateStore, StateUnreadable
    from sakimori.eve.lines import Batch

    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(CONFIG)
    cfg, state = load_config(cfg_path), tmp_path / "state"
    t, none = 1.7e9, "HIER_NONE/-"
    lines = [sq(t, "TCP_DENIED/407", "GET", "http://c2.example/a", peer=none).encode(),
             sq(t + 1, "TCP_MISS/200", "GET", "http://b.example/", user="alice").encode()]
    with Consumer(cfg, None, tmp_path / "out", state, mail=False) as c:
        c.feed_proxy(Batch("<proxy-log>", lines, 1))
        c.evaluate(follow=True)  # commits; the 407 is still held (the log has not moved on)
    db = state / StateStore.FILENAME
    with sqlite3.connect(db) as conn:
        (raw,) = conn.execute("SELECT state FROM handler_state WHERE name=?",
                              (_CONSUMER_STATE,)).fetchone()
    own = json.loads(raw)
    held = own["proxy"]["pending"]["10.1.1.5 c2.example"]
    assert len(held) == 1 and held[0][4:] == ["GET", "TCP_DENIED", None]
    with Consumer(cfg, None, tmp_path / "out2", state, mail=False) as c:
        c.restore()
        assert c.proxy_decoder().pending == {"10.1.1.5 c2.example": held}
    for field, odd in [(1, "x"), (3, None), (4, 7), (6, ["alice"])]:
        bad = json.loads(raw)
        bad["proxy"]["pending"]["10.1.1.5 c2.example"][0][field] = odd
        for damaged in (bad, {**bad, "proxy": {**bad["proxy"], "users": {"10.1.1.5": [1]}}}):
            with sqlite3.connect(db) as conn:
                conn.execute("UPDATE handler_state SET state=? WHERE name=?",
                             (json.dumps(damaged).encode(), _CONSUMER_STATE))
            before = db.read_bytes()
            with Consumer(cfg, None, tmp_path / "out3", state, mail=False) as c, \
                    pytest.raises(StateUnreadable, match=r"consumer state: Expected"):
                c.restore()
            assert db.read_bytes() == before
