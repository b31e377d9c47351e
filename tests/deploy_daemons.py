"""Daemons of the deploy test, started by hand from the deployed configuration (no systemd).

- :func:`converge` runs ``ansible-playbook site.yml`` against localhost and returns the output
  and the ``changed=`` count of its recap.
- :class:`Daemons` starts Redis, Rspamd, the sakimori consumer (the ``ExecStart`` of the
  deployed unit, as the unit's user) and Postfix, each on the loopback ports the converge was
  given, waits for their ports, and stops them by PID (process group) or ``postfix stop``.
- Leftovers of an earlier run that died: the PIDs are recorded in a state file; the next run
  stops each one that is still alive *and* still runs the same executable.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from sakimori.rspamd_local import terminate

STATE_FILE = Path("/var/tmp/sakimori-deploy-test/daemons.json")
ANSIBLE_DIR = Path(__file__).resolve().parent.parent / "ansible"


def ansible_bin(name: str) -> str | None:
    """An Ansible command from the project's virtualenv, else from PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else shutil.which(name)


def converge(inventory: Path, extra_vars: Path, log: Path) -> tuple[int, int, str]:
    """(return code, changed count summed over hosts, output) of one ``site.yml`` run."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_RETRY_FILES_ENABLED="0", PYTHONUNBUFFERED="1")
    proc = subprocess.run([ansible_bin("ansible-playbook"), "-i", str(inventory),
                           "-e", f"@{extra_vars}", str(ANSIBLE_DIR / "site.yml")],
                          capture_output=True, text=True, env=env, check=False, timeout=3000)
    out = proc.stdout + proc.stderr
    log.write_text(out, encoding="utf-8")
    found = re.findall(r"^\S+\s*:\s*ok=\d+\s+changed=(\d+)", out, re.M)
    return proc.returncode, sum(map(int, found)) if found else -1, out


def wait_port(port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited ({proc.returncode}) before port {port}")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


def unit_exec_start(unit: Path) -> list[str]:
    """The ExecStart command line of a (single-line ExecStart) systemd unit."""
    for line in unit.read_text(encoding="utf-8").splitlines():
        if line.startswith("ExecStart="):
            return shlex.split(line.removeprefix("ExecStart="))
    raise ValueError(f"{unit}: no ExecStart")


def unit_user(unit: Path) -> str:
    found = re.search(r"^User=(\S+)", unit.read_text(encoding="utf-8"), re.M)
    return found.group(1) if found else "root"


def _exe(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def postfix_running() -> bool:
    return subprocess.run(["postfix", "status"], capture_output=True, check=False).returncode == 0


def stop_leftovers() -> list[int]:
    """Stop the daemons an earlier, dead run recorded; returns the PIDs stopped."""
    stopped = []
    try:
        recorded = json.loads(STATE_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        recorded = {}
    for entry in recorded.get("daemons", []):
        pid, exe = int(entry["pid"]), entry["exe"]
        if exe and _exe(pid) == exe:
            terminate(pid)
            stopped.append(pid)
    if recorded.get("postfix") and postfix_running():
        subprocess.run(["postfix", "stop"], capture_output=True, check=False)
    STATE_FILE.unlink(missing_ok=True)
    return stopped


class Daemons:
    """Redis, Rspamd, the consumer and Postfix from the deployed files, on loopback."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen] = {}
        self.postfix = False

    def _record(self) -> None:
        STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
        daemons = [{"name": n, "pid": p.pid, "exe": _exe(p.pid)} for n, p in self.procs.items()]
        STATE_FILE.write_text(json.dumps({"owner": os.getpid(), "daemons": daemons,
                                          "postfix": self.postfix}), encoding="utf-8")

    def start(self, name: str, argv: list[str], port: int, timeout: float = 60) -> None:
        log = (self.log_dir / f"{name}.log").open("wb")
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = proc
        self._record()
        wait_port(port, timeout, proc)

    def start_postfix(self, port: int, timeout: float = 60) -> None:
        if postfix_running():
            subprocess.run(["postfix", "stop"], capture_output=True, check=False)
        # mail an earlier, killed run left queued (its sink is gone) must not reach this one
        subprocess.run(["postsuper", "-d", "ALL"], capture_output=True, check=False)
        proc = subprocess.run(["postfix", "start"], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"postfix start: {proc.stdout}{proc.stderr}")
        self.postfix = True
        self._record()
        wait_port(port, timeout)

    def stop(self) -> None:
        if self.postfix:
            subprocess.run(["postfix", "stop"], capture_output=True, check=False)
        for proc in reversed(list(self.procs.values())):
            terminate(proc.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        STATE_FILE.unlink(missing_ok=True)
