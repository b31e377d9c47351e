"""Progress on long runs: a redrawn line on a terminal (a real pty), nothing otherwise.

The commands run as real subprocesses with stderr on a pseudo-terminal (``pty.openpty``) or on
a pipe; with a pipe, stderr must be exactly what it is with progress turned off. The Suricata
phase runs the real Suricata over a public capture (nDPI's trickbot sample in shared/data).
"""

from __future__ import annotations

import io
import mailbox
import os
import pty
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest
from conftest import SHARED_DATA
from engines import require_path

from sakimori import progress
from sakimori_demo.officesim.proxyday import generate_proxy_day

CONFIG = """\
networks:
  home: [10.0.0.0/8, 192.168.0.0/16, 172.16.0.0/12]
alerts:
  admins: []
anonymizer:
  tor_relays: [tor-relays.txt]
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SAKIMORI_PROGRESS", "TERM")}
    env.update(extra)
    return env


def _on_pty(argv: list[str], cwd: Path) -> tuple[int, str, bytes]:
    """Run with stderr on a pty; (exit code, stdout, everything written to the terminal)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=slave, env=_env())
    os.close(slave)
    data = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        data += chunk
    os.close(master)
    stdout = proc.stdout.read().decode() if proc.stdout else ""
    return proc.wait(), stdout, data


def _piped(argv: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=_env(**env),
                          check=False, timeout=300)


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("progress")
    generate_proxy_day(d)
    (d / "cfg.yaml").write_text(CONFIG)
    return d


def _analyze(out: str) -> list[str]:
    return [sys.executable, "-m", "sakimori", "analyze", "--config", "cfg.yaml", "--proxy-log",
            "squid-access.log", "apache-access.log", "--out", out, "--no-mail"]


def test_no_terminal_no_progress_output(day: Path) -> None:
    piped = _piped(_analyze("out-pipe"), day)
    off = _piped(_analyze("out-off"), day, SAKIMORI_PROGRESS="0")
    assert piped.returncode == 0 and off.returncode == 0, piped.stderr
    assert "\r" not in piped.stderr and "reading" not in piped.stderr
    assert piped.stderr == off.stderr and piped.stderr.count("\n") == 1
    assert piped.stdout.replace("out-pipe", "X") == off.stdout.replace("out-off", "X")


def test_terminal_shows_a_bar_per_log_then_erases_it(day: Path) -> None:
    code, stdout, term = _on_pty(_analyze("out-tty"), day)
    assert code == 0, term.decode(errors="replace")
    assert stdout.strip() == "out-tty/hosts.csv"  # stdout untouched
    text = term.decode()
    for name in ("squid-access.log", "apache-access.log"):
        assert f"\rreading {name} [" in text
    assert "lines" in text and "%" in text
    assert text.count("\r\x1b[K") >= 2  # erased at the end of each phase
    assert text.rstrip().endswith("host(s) reported; mail skipped (--no-mail)")


def test_learn_shows_a_spinner_while_suricata_runs(tmp_path: Path,
                                                   require_suricata: str) -> None:
    pcap = SHARED_DATA / "pcaps" / "ndpi-trickbot.pcap"
    require_path(pcap)
    (tmp_path / "tor-relays.txt").write_text("192.0.2.1\n")
    (tmp_path / "cfg.yaml").write_text(CONFIG)
    code, _, term = _on_pty([sys.executable, "-m", "sakimori", "learn", "--config", "cfg.yaml",
                             "--pcap", str(pcap), "--out", "b.json"], tmp_path)
    assert code == 0, term.decode(errors="replace")
    text = term.decode()
    assert "\rsuricata ndpi-trickbot.pcap " in text and "eve.json" in text
    assert "\rlearning ndpi-trickbot.pcap (EVE) " in text


def test_render_bar_and_spinner() -> None:
    assert progress.render("reading x", 3.2, 0, 0.5, "10 lines") == \
        f"reading x [{'#' * 12}{'.' * 12}]  50% 10 lines 3s"
    assert progress.render("suricata a.pcap", 12.0, 1, None, "") == "suricata a.pcap / 12s"


def test_phase_is_silent_off_a_terminal_and_survives_a_failing_callable() -> None:
    buf = io.StringIO()  # not a tty
    with progress.phase("x", lambda: 0.5, stream=buf):
        pass
    assert buf.getvalue() == ""

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    with progress.phase("y", lambda: 1 / 0, stream=tty):
        pass
    assert tty.getvalue().startswith("\ry | ")  # the failing fraction: a spinner instead
    assert tty.getvalue().endswith("\r\x1b[K")


def test_learn_shows_counts_for_logs_and_mail(day: Path, tmp_path: Path) -> None:
    mbox = tmp_path / "past.mbox"
    mb = mailbox.mbox(str(mbox))
    for i in range(3):
        msg = EmailMessage()
        msg["From"], msg["To"] = f"a{i}@partner.example", "b@example.co.jp"
        msg["Subject"], msg["Date"] = "hi", "Mon, 02 Nov 2026 10:00:00 +0900"
        msg["Message-ID"] = f"<m{i}@partner.example>"
        msg["Received"] = "from mx.partner.example ([203.0.113.5]) by mx.example.co.jp"
        msg.set_content("hello")
        mb.add(msg)
    mb.close()
    code, stdout, term = _on_pty([sys.executable, "-m", "sakimori", "learn", "--config",
                                  "cfg.yaml", "--proxy-log", "baseline-squid-access.log",
                                  "--mail", str(mbox), "--out", str(tmp_path / "b.json")], day)
    assert code == 0, term.decode(errors="replace")
    text = term.decode()
    assert "\rlearning baseline-squid-access.log | " in text and " lines " in text
    assert "\rlearning mail past.mbox | " in text and " messages " in text
    assert "\r" not in stdout and "learned proxy-log" in stdout
