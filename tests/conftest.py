"""Shared pytest fixtures: repository paths, the example config, free loopback ports."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from mailsink import Sink

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
if not SHARED_DATA.is_dir():  # a worktree in /work/wt/NAME: the data sits in /work/shared
    SHARED_DATA = REPO.parent.parent / "shared" / "data"
EXAMPLE_CONFIG = REPO / "examples" / "sakimori.yaml"
# Real Suricata EVE from stratosphereips/StratosphereLinuxIPS dataset/test6-malicious.suricata.json
# (GPL-2.0), bundled in shared/data (see its README).
SLIPS_EVE = SHARED_DATA / "eve" / "slips-test6-malicious.eve.json"


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture
def example_config() -> Path:
    return EXAMPLE_CONFIG


@pytest.fixture
def slips_eve() -> Path:
    if not SLIPS_EVE.is_file():
        pytest.skip(f"shared sample data not found: {SLIPS_EVE}")
    return SLIPS_EVE


@pytest.fixture
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def require_suricata() -> str:
    path = shutil.which("suricata")
    if path is None:
        pytest.skip("suricata not installed (run `make setup`)")
    return path


@pytest.fixture
def smtp(free_port: int):
    """A real SMTP server (aiosmtpd) on loopback; the sink carries its ``port``."""
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port)
    controller.start()
    sink.port = free_port
    yield sink
    controller.stop()
