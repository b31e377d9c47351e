"""The private-Rspamd harness (sakimori.rspamd): start and stop by PID, a leftover daemon of a
crashed run, a stale owner file naming a process that is not rspamd, a taken port, the DNS
stub, Lua errors counted from the log, and the one-line error when rspamd is missing."""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest
from rspamd_support import make_config, make_doc, requires_rspamd

import sakimori.rspamd as harness
from generator.render_rspamd import write_rspamd
from sakimori.errors import ToolMissingError
from sakimori.rspamd import RspamdInstance
from sakimori.rspamd_local import DnsStub, reap_leftovers

pytestmark = [pytest.mark.rspamd, requires_rspamd]

SPOOF = (b"From: Taro <taro@example.co.jp>\r\nTo: hanako@example.co.jp\r\nSubject: hi\r\n\r\n"
         b"hello\r\n")
CONFIG = {"mail": {"internal_domains": ["example.co.jp"]},
          "networks": {"home": ["10.0.0.0/8"], "mail_relays": ["192.0.2.10/32"]}}


@pytest.fixture
def build(tmp_path: Path) -> Path:
    write_rspamd(make_config(CONFIG, tmp_path), make_doc({}), tmp_path / "build")
    return tmp_path / "build"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text().split()
    return stat[2] != "Z"


def test_start_scan_stop(build: Path) -> None:
    with RspamdInstance(build) as inst:
        pid, run_dir = inst.pid, inst.run_dir
        assert pid and _alive(pid) and inst.ping()
        assert Path(os.readlink(f"/proc/{pid}/cwd")) == run_dir
        reply = inst.scan(SPOOF, ip="8.8.8.8", mail_from="taro@example.co.jp",
                          rcpt=["hanako@example.co.jp"], helo="mx.evil.example")
        assert reply["symbols"]["SAKIMORI_INTERNAL_SPOOF"]["options"] == [
            "from=example.co.jp", "ip=8.8.8.8"]
        assert inst.dns is not None and inst.dns.queries > 0  # answered by the stub
        assert inst.lua_errors() == []
    assert not _alive(pid)
    assert not run_dir.exists()


def test_leftover_daemon_of_a_crashed_run_is_stopped(build: Path) -> None:
    first = RspamdInstance(build).start()
    leftover, run_dir = first.pid, first.run_dir
    # the owner "crashed": its recorded PID is a process that has exited
    dead = subprocess.Popen(["true"])
    dead.wait()
    owner = json.loads((run_dir / "owner.json").read_text())
    (run_dir / "owner.json").write_text(json.dumps({**owner, "owner_pid": dead.pid}))
    first.pid = first.proc = None  # forget it, as a crashed owner would
    try:
        with RspamdInstance(build) as second:
            assert second.ping() and second.pid != leftover
            deadline = time.monotonic() + 5
            while _alive(leftover) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not _alive(leftover)
            assert not run_dir.exists()
    finally:
        first.stop()


def test_stale_owner_file_never_kills_a_foreign_process(tmp_path: Path) -> None:
    base = tmp_path / "base"
    run_dir = base / "run-stale"
    run_dir.mkdir(parents=True)
    foreign = subprocess.Popen(["sleep", "30"])  # a live PID that is not our rspamd
    try:
        (run_dir / "owner.json").write_text(json.dumps({"owner_pid": 2 ** 22 + 1,
                                                        "rspamd_pid": foreign.pid}))
        assert reap_leftovers(base) == []
        assert foreign.poll() is None
        assert not run_dir.exists()
    finally:
        foreign.kill()
        foreign.wait()


def test_taken_port_makes_the_start_retry(build: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        picks = iter([taken, taken])
        real = harness.free_port
        monkeypatch.setattr(harness, "free_port", lambda: next(picks, None) or real())
        with RspamdInstance(build) as inst:
            assert inst.port != taken and inst.ping()


def test_lua_errors_are_counted_and_mail_flow_goes_on(build: Path) -> None:
    checks = build / "rspamd" / "plugins" / "sakimori" / "checks.lua"
    checks.write_text(checks.read_text().replace(
        "function M.evaluate(f, cfg, data)", "function M.evaluate(f, cfg, data)\n"
        "    error('injected failure')"))
    with RspamdInstance(build) as inst:
        reply = inst.scan(SPOOF, ip="8.8.8.8")
        assert reply["action"] and not any(s.startswith("SAKIMORI_") and s != "SAKIMORI_CHECK"
                                           for s in reply["symbols"])
        errors = inst.lua_errors()
        assert len(errors) == 1 and "injected failure" in errors[0]


def test_dns_stub_answers_nxdomain() -> None:
    stub = DnsStub()
    try:
        query = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + \
            b"\x07example\x03com\x00" + struct.pack("!HH", 1, 1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            s.sendto(query, ("127.0.0.1", stub.port))
            reply, _ = s.recvfrom(512)
        qid, flags, qd, an = struct.unpack("!HHHH", reply[:8])
        assert qid == 0x1234 and flags & 0x8000 and flags & 0xF == 3 and qd == 1 and an == 0
        assert reply[12:] == query[12:]
    finally:
        stub.close()


def test_dns_stub_echoes_edns_and_short_names_resolve_at_once(build: Path) -> None:
    stub = DnsStub()
    try:
        opt = b"\x00\x00\x29\x10\x00\x00\x00\x00\x00\x00\x00"
        query = struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 1) + b"\x01a\x02io\x00" + \
            struct.pack("!HH", 16, 1) + opt
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            s.sendto(query, ("127.0.0.1", stub.port))
            reply, _ = s.recvfrom(512)
        assert struct.unpack("!H", reply[10:12])[0] == 1 and reply.endswith(opt)
    finally:
        stub.close()
    with RspamdInstance(build) as inst:  # without the echo: 0.3 s and R_SPF_DNSFAIL each
        inst.scan(SPOOF, ip="8.8.8.8", mail_from="a@gmail.com")
        start = time.monotonic()
        reply = inst.scan(SPOOF, ip="8.8.8.8", mail_from="b@yahoo.com")
        assert time.monotonic() - start < 0.2
        assert "R_SPF_NA" in reply["symbols"] and "R_SPF_DNSFAIL" not in reply["symbols"]


def test_missing_rspamd_is_a_one_line_error() -> None:
    with pytest.raises(ToolMissingError) as err:
        RspamdInstance(None, binary="rspamd-not-installed")
    assert "\n" not in str(err.value) and "rspamd-not-installed" in str(err.value)
