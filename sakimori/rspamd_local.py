"""What a private Rspamd needs around it on loopback (used by :mod:`sakimori.rspamd`).

- :class:`DnsStub` answers every UDP query with NXDOMAIN at once. Rspamd with no answering
  resolver waits for its task timeout (8 s) on every scan; a closed port still costs ~0.3 s.
- :class:`EventSink` accepts the JSON that Rspamd's ``metadata_exporter`` posts for flagged
  mail, standing in for the sakimori consumer (tests read :attr:`EventSink.events`).
- Process control: :func:`terminate` (TERM to the process group, KILL after a grace period)
  and :func:`reap_leftovers`, which stops the daemon of an earlier run whose owner is gone —
  only after checking that the PID is an rspamd whose working directory is that run's own.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

RSPAMD_USER = "_rspamd"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DnsStub:
    """A loopback UDP DNS server answering NXDOMAIN to every query, at once."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.queries = 0
        self._thread = threading.Thread(target=self._serve, name="sakimori-dns-stub",
                                        daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            if len(data) < 12:
                continue
            qid, flags, qdcount, _, _, arcount = struct.unpack("!HHHHHH", data[:12])
            end = 12
            while end < len(data) and data[end] != 0:  # first question's name
                end += data[end] + 1
            question = data[12:end + 5] if qdcount else b""
            # Echo the EDNS0 OPT record: Rspamd 3.4 drops an answer to an EDNS query that
            # lacks it when the packet is short (names under ~10 characters), and then waits
            # for its DNS timeout (R_SPF_DNSFAIL after 0.3 s for gmail.com, yahoo.com ...).
            rest = data[end + 5:]
            opt = rest if arcount == 1 and rest[:3] == b"\x00\x00\x29" else b""
            rflags = 0x8000 | (flags & 0x7900) | 0x0080 | 3  # response, RD copied, RA, NXDOMAIN
            reply = struct.pack("!HHHHHH", qid, rflags, 1 if question else 0, 0, 0,
                                1 if opt else 0)
            self.queries += 1
            with contextlib.suppress(OSError):
                self.sock.sendto(reply + question + opt, peer)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


class _SinkServer(ThreadingHTTPServer):
    daemon_threads = True
    # listen backlog (socketserver's default is 5): the exporter posts apart from its tasks,
    # up to rspamd.export_detached at once; a full backlog drops a connect, which Rspamd
    # retries only after a second — a burst of flagged mail then times out (5 s)
    request_queue_size = 128


class EventSink:
    """Collects what Rspamd's metadata_exporter posts (stands in for the consumer)."""

    def __init__(self) -> None:
        events: list[dict[str, Any]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server API name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    events.append(json.loads(body))
                except ValueError:
                    events.append({"raw": body.decode("utf-8", "replace")})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.events = events
        self.server = _SinkServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/rspamd/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def rspamd_ids() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    try:
        pw = pwd.getpwnam(RSPAMD_USER)
    except KeyError:
        return None
    return pw.pw_uid, pw.pw_gid


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def runs_in(pid: int, run_dir: Path, exe_prefix: str) -> bool:
    """True when *pid* runs a program named *exe_prefix*… with *run_dir* as its working
    directory (how a leftover daemon of one of our runs is told from an unrelated process)."""
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return False
    return Path(exe).name.startswith(exe_prefix) and Path(cwd) == run_dir


def write_owner(run_dir: Path, pid_key: str, pid: int) -> None:
    """``owner.json``: this process owns the daemon *pid* started in *run_dir* (read back by
    :func:`reap_runs` after a crash)."""
    (run_dir / "owner.json").write_text(json.dumps({"owner_pid": os.getpid(), pid_key: pid}),
                                        encoding="utf-8")


def wait_ready(proc: subprocess.Popen | None, ping: Callable[[], bool], timeout: float,
               exit_reason: Callable[[], str], no_answer: str) -> str:
    """'' once *ping* answers within *timeout* seconds; else why not: *exit_reason()* if the
    daemon exited, *no_answer* if it never answered."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return exit_reason() or f"exited with code {proc.returncode}"
        if ping():
            return ""
        time.sleep(0.1)
    return no_answer


def _signal(pid: int, sig: int) -> None:
    """*sig* to the process group led by *pid* (rspamd and its workers), else to *pid*."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def terminate(pid: int, grace: float = 10.0) -> None:
    """TERM the process group of *pid*, then KILL what is left after *grace* seconds."""
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _alive(pid):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    _signal(pid, signal.SIGKILL)


def reap_runs(base: Path, pid_key: str, exe_prefix: str) -> list[int]:
    """Stop the daemons of earlier runs under *base* (``run-*/owner.json``: ``owner_pid`` and
    *pid_key*) whose owner is gone and that still run *exe_prefix*… in their run directory;
    returns their PIDs."""
    stopped = []
    for run_dir in sorted(base.glob("run-*")):
        try:
            owner = json.loads((run_dir / "owner.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            owner = {}
        if owner.get("owner_pid") and _alive(int(owner["owner_pid"])):
            continue
        pid = int(owner.get(pid_key) or 0)
        if pid and _alive(pid) and runs_in(pid, run_dir, exe_prefix):
            terminate(pid)
            stopped.append(pid)
        shutil.rmtree(run_dir, ignore_errors=True)
    return stopped


def reap_leftovers(base: Path) -> list[int]:
    """Stop rspamd processes of earlier runs whose owner is gone; returns their PIDs."""
    return reap_runs(base, "rspamd_pid", "rspamd")
