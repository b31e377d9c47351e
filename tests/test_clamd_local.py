"""The private clamd harness: a real clamd with the test database detects the EICAR test file
and the sakimori marker (and nothing in clean data), a leftover of a crashed run is stopped by
PID only when it is that run's clamd, and the database choice is reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sakimori.clamd_local import (
    EICAR,
    TEST_MARKER,
    ClamdInstance,
    reap_leftovers,
    system_database,
)
from sakimori.errors import ToolFailedError, ToolMissingError
from sakimori.rspamd_local import _alive

pytestmark = pytest.mark.engine("clamd")


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_test_database_verdicts(tmp_path: Path) -> None:
    with ClamdInstance(base_dir=tmp_path, use_system_db=False) as clamd:
        assert clamd.database == "test:EICAR"
        assert clamd.command(b"INSTREAM", b"x" + EICAR + b"y").endswith(
            "Eicar-Test-Signature.UNOFFICIAL FOUND")
        assert "Sakimori.Test.Marker" in clamd.command(b"INSTREAM", TEST_MARKER)
        assert clamd.command(b"INSTREAM", b"EICAR-STANDARD but not the file") == "stream: OK"
        run_dir = clamd.run_dir
    assert run_dir is not None and not run_dir.exists()  # removed on stop


def test_leftover_of_a_crashed_run_is_stopped(tmp_path: Path) -> None:
    crashed = ClamdInstance(base_dir=tmp_path, use_system_db=False).start()
    pid, run_dir = crashed.pid, crashed.run_dir
    assert pid is not None and run_dir is not None
    owner = json.loads((run_dir / "owner.json").read_text())
    owner["owner_pid"] = _dead_pid()  # its owner is gone
    (run_dir / "owner.json").write_text(json.dumps(owner))
    crashed.pid = crashed.proc = None  # forget it, as a crashed owner would
    # a stale run naming a live process that is not its clamd: nothing is killed
    stale = tmp_path / "run-stale"
    stale.mkdir()
    (stale / "owner.json").write_text(json.dumps({"owner_pid": _dead_pid(),
                                                  "clamd_pid": os.getpid()}))
    with ClamdInstance(base_dir=tmp_path, use_system_db=False) as fresh:
        assert fresh.ping() and not _alive(pid)
    assert not stale.exists() and _alive(os.getpid())
    assert reap_leftovers(tmp_path) == []


def test_database_choice(tmp_path: Path) -> None:
    fake = tmp_path / "clamav"
    fake.mkdir()
    (fake / "main.cvd").write_bytes(b"")
    assert not system_database(fake)
    (fake / "daily.cld").write_bytes(b"")
    assert system_database(fake)
    if not system_database():
        with pytest.raises(ToolFailedError, match="no main/daily database"):
            ClamdInstance(base_dir=tmp_path / "b", use_system_db=True).start()
        assert list((tmp_path / "b").glob("run-*")) == []  # nothing left behind
    with pytest.raises(ToolMissingError, match="clamav-daemon"):
        ClamdInstance(binary="/nonexistent/clamd")


def test_port_taken_meanwhile_is_retried(tmp_path: Path, monkeypatch) -> None:
    import socket

    import sakimori.clamd_local as cl

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        ports = iter([busy.getsockname()[1], cl.free_port()])
        monkeypatch.setattr(cl, "free_port", lambda: next(ports))
        with ClamdInstance(base_dir=tmp_path, use_system_db=False) as clamd:
            assert clamd.port != busy.getsockname()[1] and clamd.ping()
