"""A state file the consumer's user cannot write is refused at start, in one line.

SQLite opens such a file read-only without a word and fails only at the first commit (seen on
a deployment: a ``state.sqlite`` left by a run as root in the service's state directory made
the consumer die with a traceback after it had started listening). The check needs a user
without root's override, so the store is opened as ``nobody`` through ``runuser``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from engines import missing, require_binary

from eve_consumer.store import StateStore

REPO = Path(__file__).resolve().parent.parent
OPEN_AS_NOBODY = f"""
import sys
sys.path.insert(0, {str(REPO)!r})
from eve_consumer.store import StateStore
from sakimori.errors import SakimoriError
try:
    StateStore(sys.argv[1]).close()
except SakimoriError as exc:
    print(exc)
    sys.exit(1)
print("opened")
"""


def _as_nobody(state: Path) -> subprocess.CompletedProcess:
    require_binary("runuser", "runuser (util-linux)")
    if os.geteuid() != 0:
        missing("opening a store as another user needs root")
    return subprocess.run(["runuser", "-u", "nobody", "--", sys.executable, "-c",
                           OPEN_AS_NOBODY, str(state)], capture_output=True, text=True,
                          timeout=60)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A state directory ``nobody`` can reach and write (pytest's own tmp is root's 0700)."""
    base = Path(tempfile.mkdtemp(prefix="sakimori-owner-", dir="/var/tmp"))
    try:
        base.chmod(0o755)
        state = base / "state"
        state.mkdir()
        state.chmod(0o777)
        yield state
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_a_state_file_of_another_user_is_one_line_at_start(shared_dir: Path) -> None:
    StateStore(shared_dir).close()  # created by root, mode 0644
    result = _as_nobody(shared_dir)
    assert result.returncode == 1, result.stdout + result.stderr
    line = result.stdout.strip()
    assert "\n" not in line and "Traceback" not in result.stderr
    assert line.startswith(f"{shared_dir / 'state.sqlite'}: not writable by nobody")
    assert "owned by root" in line


def test_the_own_state_file_opens(shared_dir: Path) -> None:
    result = _as_nobody(shared_dir)  # nobody creates it, then opens it again
    assert result.stdout.strip() == "opened", result.stderr
    assert _as_nobody(shared_dir).stdout.strip() == "opened"
