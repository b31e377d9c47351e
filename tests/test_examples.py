"""The bundled examples stay in step with the simulator they describe."""

from __future__ import annotations

from pathlib import Path

import pytest

from sakimori.config import load_config
from sakimori_demo.officesim import SimParams, generate


@pytest.mark.slow
def test_example_relay_list_is_the_simulators(tmp_path: Path, example_config: Path) -> None:
    truth = generate(tmp_path, SimParams())
    cfg = load_config(example_config, env={})
    example_list = Path(cfg.anonymizer.tor_relays[0])
    assert example_list.read_text() == (tmp_path / "tor-relays.txt").read_text()
    assert set(cfg.whitelist.destinations) == set(truth["whitelist"])
    assert [str(n) for n in cfg.networks.home] == truth["home_net"]
