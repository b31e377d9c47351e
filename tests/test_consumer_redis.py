"""The Redis input (``consume --redis``) and the shared counters, against a real redis-server.

EVE comes from real Suricata 7 (its ``redis`` eve-log output, ``mode: list`` and ``rpush``)
over a crafted capture: both modes hand the events out in the order of Suricata's own eve.json.
The at-least-once protocol is driven through both crash windows deterministically (the
consumer abandoned after feeding but before the commit; and after the commit but before the
acknowledgement): the restarted consumer counts every event exactly once and reports what the
one-shot file consumer reports. Also: follow mode while Suricata writes (SIGTERM), one
consumer per key, ACL user + password file, TLS verified against the configured CA, no
credentials in URLs or messages, the config keys, the shared exact-then-HyperLogLog counter,
``sakimori report`` merging findings and mail warnings (and the admin screen reading the
merged directory), and a shared Redis that disappears mid-run.
"""

from __future__ import annotations

import json
import logging
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pcapcraft import http_get, syn_only, tls_session, write_pcap
from redisd import RedisServer

import sakimori.distinct_shared as ds
from eve_consumer import redis_loop
from eve_consumer.inputs.redis_list import RedisListInput, parse_keys
from eve_consumer.outputs import Report
from eve_consumer.pipeline import Consumer
from eve_consumer.shared import SharedOutput
from sakimori.config import load_config
from sakimori.distinct import DistinctCount
from sakimori.errors import ConfigError, SakimoriError, UsageError
from sakimori.redisconn import connect, redact
from sakimori.suricata import pcap_to_redis, read_pcaps
from sakimori.web import data as web_data

pytestmark = pytest.mark.suricata
T0 = 1793577600.0
CONFIG = """\
networks:
  home: [10.9.0.0/16]
alerts:
  admins: []
consumer:
  queue_size: 7
"""


def _pcap(path: Path) -> Path:
    pk = []
    for i in range(12):  # a beacon every 60 s, plus noise from a second host
        pk += http_get("10.9.0.5", "198.51.100.9", "c2.example.net", "/s", sport=30000 + i,
                       t0=T0 + 60 * i)
        pk += tls_session("10.9.0.6", "198.51.100.10", f"site{i % 3}.example.org",
                          sport=31000 + i, t0=T0 + 60 * i + 7.3 * (i % 4))
    pk += syn_only("10.9.0.6", "198.51.100.11", 32000, 445, t0=T0 + 30)
    return write_pcap(path, pk)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("redisin")
    (tmp / "sakimori.yaml").write_text(CONFIG, encoding="utf-8")
    cfg = load_config(tmp / "sakimori.yaml")
    pcap = _pcap(tmp / "c.pcap")
    eve = read_pcaps(cfg, [pcap], tmp / "file")
    server = RedisServer(tmp / "redis").start()
    try:
        pcap_to_redis(cfg, pcap, tmp / "sl", "127.0.0.1", server.port, "src-list", "list")
        pcap_to_redis(cfg, pcap, tmp / "sr", "127.0.0.1", server.port, "src-rpush", "rpush")
        with Consumer(cfg, None, tmp / "oneshot", tmp / "oneshot-state", mail=False) as c:
            c.run_once(eve)
        yield {"tmp": tmp, "cfg": cfg, "eve": eve, "server": server,
               "hosts": (tmp / "oneshot" / "hosts.csv").read_text()}
    finally:
        server.stop()


def _fresh(env: dict, name: str) -> str:
    """A copy of the list-mode key for one test; returns its name."""
    r = env["server"].client()
    r.copy("src-list", name, replace=True)
    return name


def _input(env: dict, key: str, owner: str = "me", mode: str = "list") -> RedisListInput:
    client = env["server"].client()
    return RedisListInput(client, [(key, mode)], "redis://127.0.0.1/0", owner, max_lines=7)


def _identity(line: bytes) -> tuple:
    d = json.loads(line)
    return (d["event_type"], d["timestamp"], d.get("src_ip"), d.get("src_port"),
            d.get("dest_ip"), d.get("dest_port"), str(d.get("app_proto")))  # no salted flow_id


def test_both_modes_hand_out_events_in_push_order(env: dict) -> None:
    """Oldest push first: the tail of an LPUSH list, the head of an RPUSH list. (Two Suricata
    runs may order flow-timeout events differently, so the reference is the list itself; the
    content must equal Suricata's eve.json of the same capture.)"""
    r = env["server"].client()
    r.copy("src-rpush", "order-r", replace=True)
    in_file = sorted(_identity(x)[::2] for x in env["eve"].read_bytes().splitlines())
    for key, mode in ((_fresh(env, "order-l"), "list"), ("order-r", "rpush")):
        pushed = [_identity(x) for x in r.lrange(key, 0, -1)]
        want = pushed[::-1] if mode == "list" else pushed
        inp = _input(env, key, mode=mode)
        inp.resume({})
        got = []
        while (batch := inp.read_batch()).lines:
            got += [_identity(x) for x in batch.lines]
        assert got == want, mode
        assert got != got[::-1] and len(got) > 20
        assert sorted(g[::2] for g in got) == in_file  # flow times differ between runs


def _drain_fresh(env: dict, state: Path, key: str) -> Consumer:
    consumer = Consumer(env["cfg"], None, state / "report", state, mail=False)
    consumer.follow_redis(_input(env, key), threading.Event(), drain=True, interval_s=0)
    return consumer


def test_crash_before_commit_redelivers_and_counts_once(env: dict) -> None:
    key, state = _fresh(env, "crash1"), env["tmp"] / "crash1"
    total = env["server"].client().llen(key)
    first = Consumer(env["cfg"], None, state / "report", state, mail=False)
    inp = _input(env, key)
    inp.resume({})
    fed = []
    for _ in range(3):
        batch = inp.read_batch()
        fed += batch.lines
        first.feed(batch)
    first.close()  # "killed": fed, never committed
    again = _input(env, key)  # a restart hands the same events out again, oldest first,
    again.resume({})           # in batches of at most max_lines
    replayed = [again.read_batch() for _ in range(3)]
    assert [len(b.lines) for b in replayed] == [7, 7, 7]
    assert [x for b in replayed for x in b.lines] == fed
    assert again.read_batch().lines != fed[:7]  # then new events (and that one dies too)
    with _drain_fresh(env, state, key) as second:
        assert second.input_stats["redelivered"] == 28
        assert second.decoder.stats.lines == total
    assert (state / "report" / "hosts.csv").read_text() == env["hosts"]
    assert env["server"].client().llen("{crash1}:sakimori:processing") == 0


def test_crash_between_commit_and_ack_counts_nothing_twice(env: dict) -> None:
    key, state = _fresh(env, "crash2"), env["tmp"] / "crash2"
    total = env["server"].client().llen(key)
    first = Consumer(env["cfg"], None, state / "report", state, mail=False)
    inp = _input(env, key)
    inp.resume({})
    for _ in range(2):
        first.feed(inp.read_batch())
    first.evaluate(follow=True, checkpoints=inp.checkpoints())
    first.close()  # "killed" after the commit, before inp.acknowledge()
    assert env["server"].client().llen("{crash2}:sakimori:processing") == 14
    with _drain_fresh(env, state, key) as second:
        assert second.input_stats["acks_finished_on_start"] == 1
        assert "redelivered" not in second.input_stats
        assert second.decoder.stats.lines == total
    assert (state / "report" / "hosts.csv").read_text() == env["hosts"]


def _commit_rounds(env: dict, state: Path, key: str, rounds: int, owner: str) -> None:
    """Feed, commit and acknowledge *rounds* batches of *key* into the state in *state*."""
    consumer = Consumer(env["cfg"], None, state / "report", state, mail=False)
    inp = _input(env, key, owner=owner)
    inp.resume({k.checkpoint_name: consumer.store.checkpoint(k.checkpoint_name)
                for k in inp.keys})
    for _ in range(rounds):
        consumer.feed(inp.read_batch())
        redis_loop.evaluate(consumer, inp)
    inp.close()
    consumer.close()


def _resume_warnings(env: dict, state: Path, key: str, owner: str, caplog) -> tuple:
    """Start on *state*: (input stats, the WARNING lines logged)."""
    caplog.clear()
    with Consumer(env["cfg"], None, state / "report", state, mail=False) as consumer:
        inp = _input(env, key, owner=owner)
        with caplog.at_level(logging.WARNING, logger="sakimori.redis"):
            inp.resume({k.checkpoint_name: consumer.store.checkpoint(k.checkpoint_name)
                        for k in inp.keys})
        inp.close()
    return inp.stats, [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_state_lost_while_redis_kept_its_history_is_said(env: dict, tmp_path: Path,
                                                         caplog) -> None:
    """A consumer state deleted (or a new state directory) while the sensor's Redis kept the
    key's acknowledgements and processing list: the events left there are read again, and
    the start says so in one line and in the stats instead of silently."""
    key, old = _fresh(env, "lost1"), tmp_path / "old"
    _commit_rounds(env, old, key, 2, owner="old")
    inp = _input(env, key, owner="old")  # the old state takes one more batch and dies
    inp.resume({})
    taken = inp.read_batch().lines
    assert env["server"].client().llen("{lost1}:sakimori:processing") == len(taken) > 0
    stats, lines = _resume_warnings(env, tmp_path / "new", key, "old", caplog)
    assert stats["history_without_state"] == 1 and stats["redelivered"] == len(taken)
    assert len(lines) == 1 and "no record of the key" in lines[0] and "acknowledged 2" in lines[0]
    assert f"the {len(taken)} event(s)" in lines[0] and "\n" not in lines[0]
    # the ordinary restart of the same state says nothing
    _, lines = _resume_warnings(env, old, key, "old", caplog)
    assert lines == []


def test_state_behind_or_ahead_of_redis_is_said(env: dict, tmp_path: Path, caplog) -> None:
    key, state = _fresh(env, "lost2"), tmp_path / "s"
    _commit_rounds(env, state, key, 1, owner="me")
    backup = tmp_path / "backup"
    shutil.copytree(state, backup)
    _commit_rounds(env, state, key, 2, owner="me")  # rounds 2 and 3 acknowledged
    stats, lines = _resume_warnings(env, backup, key, "me", caplog)  # state restored: round 1
    assert stats["state_behind_redis"] == 2 and "history_without_state" not in stats
    assert len(lines) == 1 and "round 1 but Redis acknowledged round 3" in lines[0]
    env["server"].client().set("{lost2}:sakimori:acked", 1)  # Redis from an older snapshot
    stats, lines = _resume_warnings(env, state, key, "me", caplog)
    assert stats["redis_behind_state"] == 1 and "state_behind_redis" not in stats
    assert len(lines) == 1 and "acknowledged only round 1" in lines[0]


def test_one_consumer_per_key(env: dict) -> None:
    key = _fresh(env, "locked")
    first = _input(env, key, owner="state-a")
    first.resume({})
    with pytest.raises(SakimoriError, match="being consumed by"):
        _input(env, key, owner="state-b").resume({})
    _input(env, key, owner="state-a").resume({})  # the same state dir takes over (restart)
    first.close()
    _input(env, key, owner="state-b").resume({})  # released on a clean stop


def test_key_specs() -> None:
    assert parse_keys(["a", "b#rpush", "c#lpush"], "list") == [
        ("a", "list"), ("b", "rpush"), ("c", "list")]
    for bad in (["a#stream"], ["{a}"], ["a", "a"]):
        with pytest.raises(UsageError):
            parse_keys(bad, "list")


def test_acl_user_password_file_and_no_secret_in_urls(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "r", user=("sensor1", "s3cret-pw")).start()
    try:
        (tmp_path / "pw").write_text("s3cret-pw\n")
        (tmp_path / "bad").write_text("wrong\n")
        good = tmp_path / "good.yaml"
        good.write_text(CONFIG + "redis:\n  username: sensor1\n  password_file: pw\n")
        wrong = tmp_path / "wrong.yaml"
        wrong.write_text(CONFIG + "redis:\n  username: sensor1\n  password_file: bad\n")
        url = f"redis://127.0.0.1:{server.port}/0"
        assert connect(url, load_config(good).redis).ping()
        run = [sys.executable, "-m", "sakimori", "consume", "--redis"]
        state = ["--redis-key", "k", "--drain", "--state-dir", str(tmp_path / "s")]
        proc = subprocess.run([*run, url, "--config", str(good), *state],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        proc = subprocess.run([*run, url, "--config", str(wrong), *state],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1 and "wrong" not in proc.stderr
        assert f"redis://127.0.0.1:{server.port}/0" in proc.stderr
        with_pw = f"redis://sensor1:s3cret-pw@127.0.0.1:{server.port}/0"
        proc = subprocess.run([*run, with_pw, "--config", str(good), *state],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and "s3cret" not in proc.stderr
        assert "s3cret" not in redact(with_pw)
    finally:
        server.stop()


def test_shared_counter_exact_then_hll_and_union(env: dict, monkeypatch) -> None:
    monkeypatch.setattr(ds, "EXACT_MAX", 50)
    client = env["server"].client(db=5)
    client.flushdb()
    one, two = ds.SharedCounters(client), ds.SharedCounters(client)
    a, b = one.counter("dest:x"), two.counter("dest:x")
    for i in range(30):
        a.add(f"10.0.0.{i}")
        b.add(f"10.0.0.{i + 10}")  # 20 of them overlap
    assert len(a) == 30  # b's adds are still queued in its consumer (sent at evaluation)
    two.flush()
    assert len(a) == len(b) == 40  # exact: a set in Redis
    for i in range(30):
        a.add(f"10.0.0.{i}")  # redelivered after a crash: idempotent
    assert len(b) == 40
    items = [f"10.{i // 65536}.{i // 256 % 256}.{i % 256}" for i in range(20_000)]
    for i, it in enumerate(items):
        (a if i % 2 else b).add(it)
    two.flush()
    local = DistinctCount(items)
    assert abs(len(a) - len(local)) <= 0.02 * len(local)  # HyperLogLog past EXACT_MAX
    assert client.exists(ds._keys("dest:x")[1]) and not client.exists(ds._keys("dest:x")[0])


def test_config_redis_section_and_shared_url(tmp_path: Path) -> None:
    def load(extra: str):
        path = tmp_path / "c.yaml"
        path.write_text(CONFIG + extra, encoding="utf-8")
        return load_config(path)

    cfg = load("  shared: rediss://10.0.0.9:6380/2\nredis:\n  username: u\n"
               "  password_file: pw\n  ca_file: /etc/ca.pem\n  mode: rpush\n")
    assert cfg.consumer.shared == "rediss://10.0.0.9:6380/2"
    assert cfg.redis.password_file == tmp_path / "pw" and cfg.redis.mode == "rpush"
    for extra, key in (("  shared: redis://u:pw@10.0.0.9/0\n", "consumer.shared"),
                       ("  shared: http://10.0.0.9/\n", "consumer.shared"),
                       ("redis:\n  mode: stream\n", "redis.mode"),
                       ("redis:\n  password: x\n", "redis.password"),
                       ("redis:\n  tls: 1\n", "redis.tls")):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as err:
            load(extra)
        assert "pw@" not in str(err.value)


def test_report_merges_findings_and_mail_warnings_of_every_consumer(env: dict) -> None:
    tmp, server = env["tmp"], env["server"]
    (tmp / "shared.yaml").write_text(
        CONFIG + f"  shared: redis://127.0.0.1:{server.port}/6\n", encoding="utf-8")
    cfg = load_config(tmp / "shared.yaml")
    server.client(db=6).flushdb()
    source = Consumer(cfg, None, tmp / "pub", tmp / "pub-state", mail=False)
    source.run_once(env["eve"])  # publishes its findings (consumer.shared)
    source.close()
    findings = {f.key for f in source.findings()}
    assert findings
    other = tmp / "other-out"
    other.mkdir()
    warning = {"time": "2026-11-02T00:00:00Z", "recipients": ["a@example.co.jp"],
               "checks": ["SAKIMORI_INTERNAL_SPOOF"], "message_id": "<x@y>"}
    (other / "mail_warnings.jsonl").write_bytes(json.dumps(warning).encode() + b"\n")
    out = SharedOutput(cfg, server.client(db=6), "other-consumer")
    for _ in range(2):  # republished (a restart): still one warning
        out._warn_offset = 0
        out.write(Report(other, [], [], {}))
    proc = subprocess.run([sys.executable, "-m", "sakimori", "report", "--config",
                           str(tmp / "shared.yaml"), "--out", str(tmp / "merged")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    merged = tmp / "merged"
    assert (merged / "hosts.csv").read_text() == env["hosts"]
    assert [json.loads(x) for x in (merged / "mail_warnings.jsonl").read_text().splitlines()] \
        == [warning]
    stats = json.loads((merged / "stats.json").read_text())
    assert len(stats["consumers"]) == 2 and stats["findings"] == len(findings)
    shown = web_data.load([merged])  # the admin screen's view of the merged directory
    assert {h.host for h in shown.hosts} == {h for h, _ in findings} and shown.warnings
    proc = subprocess.run([sys.executable, "-m", "sakimori", "report", "--config",
                           str(tmp / "sakimori.yaml"), "--out", str(tmp / "none")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "consumer.shared is not set" in proc.stderr


def test_follow_mode_reads_while_suricata_writes_and_stops_on_sigterm(env: dict) -> None:
    """``consume --redis`` without --drain follows: Suricata pushes while it runs (BLMOVE);
    SIGTERM commits, acknowledges and exits 0 with the one-shot file result."""
    tmp, server = env["tmp"], env["server"]
    state = tmp / "follow"
    proc = subprocess.Popen([sys.executable, "-m", "sakimori", "consume", "--config",
                             str(tmp / "sakimori.yaml"), "--redis",
                             f"redis://127.0.0.1:{server.port}/0", "--redis-key", "live",
                             "--state-dir", str(state), "--interval", "0.2", "--poll", "0.2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        pcap_to_redis(env["cfg"], tmp / "c.pcap", tmp / "sur-live", "127.0.0.1", server.port,
                      "live", "list")
        r = server.client()
        deadline = time.monotonic() + 60
        while (r.llen("live") or r.llen("{live}:sakimori:processing")) and \
                time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert proc.poll() is None  # still following
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert (state / "report" / "hosts.csv").read_text() == env["hosts"]
    stats = json.loads((state / "report" / "stats.json").read_text())
    assert stats["decode"]["lines"] == env["server"].client().llen("src-list")


def test_shared_redis_down_mid_run_is_logged_and_the_report_is_still_written(
        env: dict, tmp_path: Path) -> None:
    shared = RedisServer(tmp_path / "shared").start()
    try:
        (tmp_path / "c.yaml").write_text(CONFIG + f"  shared: {shared.url}\n")
        consumer = Consumer(load_config(tmp_path / "c.yaml"), None, tmp_path / "out",
                            tmp_path / "state", mail=False)
    finally:
        shared.stop()  # gone before the first evaluation
    with consumer:
        consumer.run_once(env["eve"])
    assert (tmp_path / "out" / "hosts.csv").read_text() == env["hosts"]
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert "error" in stats["shared"] and stats["shared"]["url"] == shared.url


def _self_signed(directory: Path, cn: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA) and its key, PEM."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]),
                critical=False)
            .sign(key, hashes.SHA256()))
    crt, pem = directory / f"{cn}.crt", directory / f"{cn}.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    pem.chmod(0o600)
    return crt, pem


def test_tls_verified_against_the_configured_ca(env: dict, tmp_path: Path) -> None:
    crt, key = _self_signed(tmp_path, "eve-redis")
    other, _ = _self_signed(tmp_path, "someone-else")
    server = RedisServer(tmp_path / "r", tls=(crt, key)).start()
    try:
        run = [sys.executable, "-m", "sakimori", "consume", "--redis-key", "k", "--drain",
               "--state-dir", str(tmp_path / "s")]
        for ca, rc in ((crt, 0), (other, 1)):
            conf = tmp_path / f"{ca.stem}.yaml"
            conf.write_text(CONFIG + f"redis:\n  ca_file: {ca}\n", encoding="utf-8")
            proc = subprocess.run([*run, "--config", str(conf), "--redis", server.url],
                                  capture_output=True, text=True, timeout=120)
            assert proc.returncode == rc, proc.stderr
            if rc:
                assert len(proc.stderr.strip().splitlines()) == 1
                assert "certificate verify failed" in proc.stderr.lower()
        conf = tmp_path / "plain.yaml"  # tls: true turns redis:// into TLS as well
        conf.write_text(CONFIG + f"redis:\n  tls: true\n  ca_file: {crt}\n", encoding="utf-8")
        plain = server.url.replace("rediss://", "redis://")
        proc = subprocess.run([*run, "--config", str(conf), "--redis", plain],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
    finally:
        server.stop()


@pytest.mark.parametrize("args, message", [
    (["--redis", "redis://127.0.0.1:1/0"], "--redis needs at least one --redis-key"),
    (["--redis-key", "k"], "--redis-key and --drain need --redis"),
    (["--redis", "redis://127.0.0.1:1/0", "--redis-key", "k", "--eve", "x"], "exclusive"),
    (["--redis", "redis://127.0.0.1:1/0", "--redis-key", "k", "--drain", "--follow"],
     "--drain exits"),
    (["--redis", "redis://127.0.0.1:1/x", "--redis-key", "k"], "database must be a number"),
])
def test_consume_redis_usage_errors(env: dict, args: list[str], message: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "sakimori", "consume", "--config",
                           str(env["tmp"] / "sakimori.yaml"), *args],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
