"""A private ClamAV daemon (clamd) on loopback, for ``scan-mail`` and the tests.

:class:`ClamdInstance` writes its own ``clamd.conf`` (TCP on a free loopback port, foreground,
its own log and PID file) into a run directory under ``SAKIMORI_CLAMD_DIR`` (default
``/var/tmp/sakimori-clamd``) and starts ``clamd``; the system's clamd and its socket are never
touched. The signature database is either

- the system's (``/var/lib/clamav`` holding ``main`` and ``daily`` ``.cvd``/``.cld``, as
  freshclam leaves it): real verdicts, but clamd needs ~20 s and ~1 GB RAM to load it; or
- a minimal test database written into the run directory (:func:`write_test_database`): the
  EICAR test file and a sakimori test marker, as ClamAV body signatures (``.ndb``). clamd with
  it starts in about a second.

:attr:`ClamdInstance.database` says which (``system:/var/lib/clamav`` or ``test:EICAR``).
Leftovers of a crashed run are found by the run directory's ``owner.json`` and stopped by PID
after checking that the process is a clamd started in that directory (as
:mod:`sakimori.rspamd_local` does for rspamd).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from sakimori.errors import ToolFailedError, ToolMissingError
from sakimori.rspamd_local import free_port, reap_runs, terminate, wait_ready, write_owner

DEFAULT_BASE = Path(os.environ.get("SAKIMORI_CLAMD_DIR", "/var/tmp/sakimori-clamd"))
SYSTEM_DB = Path("/var/lib/clamav")
# The EICAR anti-virus test file (https://www.eicar.org), a harmless 68-byte string every
# scanner detects; written here in two halves so this source file is not itself detected.
EICAR = (b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-"
         b"ANTIVIRUS-TEST-FILE!$H+H*")
TEST_MARKER = b"SAKIMORI-CLAMAV-TEST-MALWARE-" + b"7f3c9d2e"
TEST_SIGNATURES = (("Eicar-Test-Signature", EICAR), ("Sakimori.Test.Marker", TEST_MARKER))


def system_database(path: Path = SYSTEM_DB) -> bool:
    """True when *path* holds the official main and daily databases (as freshclam leaves)."""
    return all(any((path / f"{name}.{ext}").is_file() for ext in ("cvd", "cld"))
               for name in ("main", "daily"))


def write_test_database(directory: Path) -> Path:
    """``sakimori-test.ndb``: one ClamAV body signature per test sample (any offset)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "sakimori-test.ndb"
    path.write_text("".join(f"{name}:0:*:{data.hex()}\n" for name, data in TEST_SIGNATURES),
                    encoding="ascii")
    return path


def reap_leftovers(base: Path) -> list[int]:
    """Stop clamd processes of earlier runs whose owner is gone; returns their PIDs."""
    return reap_runs(base, "clamd_pid", "clamd")


class ClamdInstance:
    """A private clamd; use as a context manager or call :meth:`start`/:meth:`stop`.

    *use_system_db*: None = the system database when there is one, else the test database;
    False = always the test database (tests); True = the system database or an error."""

    def __init__(self, *, binary: str = "clamd", base_dir: Path | None = None,
                 use_system_db: bool | None = None, start_timeout: float = 180.0) -> None:
        path = shutil.which(binary)
        if path is None:
            raise ToolMissingError(binary, "install ClamAV with `make setup` "
                                           "(Debian package clamav-daemon)")
        self.binary = path
        self.base = Path(base_dir or DEFAULT_BASE)
        self.use_system_db = use_system_db
        self.start_timeout = start_timeout
        self.port = 0
        self.pid: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.run_dir: Path | None = None
        self.database = ""

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT`` (Rspamd antivirus ``servers``)."""
        return f"127.0.0.1:{self.port}"

    def _db_dir(self) -> Path:
        assert self.run_dir is not None
        use_system = self.use_system_db
        if use_system is None:
            use_system = system_database()
        if use_system:
            if not system_database():
                raise ToolFailedError("clamd", f"no main/daily database in {SYSTEM_DB} "
                                               "(run freshclam)")
            self.database = f"system:{SYSTEM_DB}"
            return SYSTEM_DB
        self.database = "test:EICAR"
        write_test_database(self.run_dir / "db")
        return self.run_dir / "db"

    def _write_config(self, db_dir: Path) -> Path:
        assert self.run_dir is not None
        conf = self.run_dir / "clamd.conf"
        conf.write_text("\n".join([
            "# written by sakimori.clamd_local (private clamd)",
            f"TCPSocket {self.port}", "TCPAddr 127.0.0.1", "Foreground yes",
            f"DatabaseDirectory {db_dir}", f"LogFile {self.run_dir / 'clamd.log'}",
            f"PidFile {self.run_dir / 'clamd.pid'}", f"TemporaryDirectory {self.run_dir}",
            "ScanMail yes", "ScanArchive yes", "SelfCheck 0", "MaxThreads 4",
            "ConcurrentDatabaseReload no", "",
        ]), encoding="ascii")
        return conf

    def start(self) -> ClamdInstance:
        self.base.mkdir(parents=True, exist_ok=True)
        reap_leftovers(self.base)
        self.run_dir = Path(tempfile.mkdtemp(prefix=f"run-{os.getpid()}-", dir=self.base))
        os.chmod(self.run_dir, 0o755)
        try:
            db_dir = self._db_dir()
        except ToolFailedError:
            self.stop()
            raise
        reason = ""
        for _attempt in range(3):  # a free port taken meanwhile: retry on another
            self.port = free_port()
            self._spawn(self._write_config(db_dir))
            reason = self._wait_ready()
            if not reason:
                return self
            self._kill()
            if not re.search(r"bind|in use|not listening", reason, re.I):
                break
        self.stop()
        raise ToolFailedError("clamd", reason)

    def _spawn(self, conf: Path) -> None:
        assert self.run_dir is not None
        self.proc = subprocess.Popen([self.binary, "-c", str(conf)], cwd=self.run_dir,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, start_new_session=True)
        self.pid = self.proc.pid
        write_owner(self.run_dir, "clamd_pid", self.pid)

    def _wait_ready(self) -> str:
        return wait_ready(self.proc, self.ping, self.start_timeout, self._exit_reason,
                          f"no PONG on {self.address} after {self.start_timeout:.0f} s")

    def _exit_reason(self) -> str:
        """The last line clamd wrote to stderr before it exited."""
        assert self.proc is not None
        err = self.proc.stderr.read().decode("utf-8", "replace") if self.proc.stderr else ""
        lines = [ln for ln in err.splitlines() if ln.strip()]
        return lines[-1] if lines else ""

    def command(self, cmd: bytes, payload: bytes | None = None, timeout: float = 10.0) -> str:
        """One clamd command (``zPING``, ``zINSTREAM`` with *payload*); the reply."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(b"z" + cmd + b"\0")
            if payload is not None:
                s.sendall(len(payload).to_bytes(4, "big") + payload + b"\0\0\0\0")
            chunks = []
            while chunk := s.recv(4096):
                chunks.append(chunk)
        return b"".join(chunks).rstrip(b"\0").decode("utf-8", "replace")

    def ping(self) -> bool:
        try:
            return self.command(b"PING", timeout=1.0) == "PONG"
        except OSError:
            return False

    def _kill(self) -> None:
        if self.pid is not None:
            terminate(self.pid)
            if self.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=5)
                if self.proc.stderr:
                    self.proc.stderr.close()
        self.pid = self.proc = None

    def stop(self) -> None:
        self._kill()
        if self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir = None

    def __enter__(self) -> ClamdInstance:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
