"""Shared pytest fixtures: repository paths, the example config, free loopback ports, the
``consume --workers`` router under test (compiled or pure)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from consumerfixtures import config
from engines import check_engine_marks, missing, require_binary, require_path
from mailsink import Sink
from realdata import load_truth, real_data_dir, shared_data_dir

REPO = Path(__file__).resolve().parent.parent
# <repo>/../shared/data, or $SAKIMORI_SHARED_DATA (e.g. when the checkout is a git worktree).
SHARED_DATA = shared_data_dir()
EXAMPLE_CONFIG = REPO / "examples" / "sakimori.yaml"
# Real Suricata EVE from stratosphereips/StratosphereLinuxIPS dataset/test6-malicious.suricata.json
# (GPL-2.0), bundled in shared/data (see its README).
SLIPS_EVE = SHARED_DATA / "eve" / "slips-test6-malicious.eve.json"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """``pytest.mark.engine("rspamd", ...)``: skip without the program, fail in CI (engines.py)."""
    check_engine_marks(item)


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture
def example_config() -> Path:
    return EXAMPLE_CONFIG


@pytest.fixture
def slips_eve() -> Path:
    return require_path(SLIPS_EVE)


@pytest.fixture
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def require_suricata() -> str:
    return require_binary("suricata")


@pytest.fixture
def smtp(free_port: int):
    """A real SMTP server (aiosmtpd) on loopback; the sink carries its ``port``."""
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port)
    controller.start()
    sink.port = free_port
    yield sink
    controller.stop()


@pytest.fixture(params=["compiled", "pure"])
def router_impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """``consume --workers`` tests run with the compiled router (eve_consumer._route) and
    batch loop (eve_consumer._fastfeed), then the pure ones (set before the workers fork, so
    every process of the run uses them)."""
    from eve_consumer import fastfeed, shard

    if request.param == "compiled" and shard.compiled_route is None:
        missing("eve_consumer._route is not built (no C compiler at install: make setup)")
    if request.param == "compiled" and fastfeed.compiled_loop() is None:
        missing("eve_consumer._fastfeed is not built (no C compiler at install: make setup)")
    monkeypatch.setattr(shard, "USE_COMPILED", request.param == "compiled")
    monkeypatch.setattr(fastfeed, "USE_COMPILED", request.param == "compiled")
    return str(request.param)


@pytest.fixture(scope="module")
def real_lines() -> list[bytes]:
    """The lines of the slips capture's EVE (shared by the router tests: test_shard_route,
    test_route_fast_cache)."""
    require_path(SLIPS_EVE)
    lines = Path(SLIPS_EVE).read_bytes().splitlines()
    assert len(lines) > 1000
    return lines


@pytest.fixture(scope="module")
def real_eves(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, list[str], Path]]:
    """(name, home networks, EVE) for each real capture, read by real Suricata 7 (shared by
    the consumer comparison tests: test_consumer_fastfeed, test_flowgate)."""
    from sakimori.suricata import read_pcaps

    require_binary("suricata")
    where = real_data_dir()
    tmp = tmp_path_factory.mktemp("real-eve")
    out = []
    for cap in load_truth():
        pcap = where / cap.file
        if not pcap.is_file():
            continue
        cfg = config(tmp / cap.file, list(cap.home))
        eve = read_pcaps(cfg, [pcap], tmp / cap.file / "suricata")
        out.append((cap.file, list(cap.home), eve))
    if not out:
        missing(f"no real capture in {where}")
    return out
