"""Traffic learning from EVE and proxy logs: what each event contributes, incremental merging
(learn A then B == learn A+B), duplicate inputs, bad lines, and a real-data smoke test on
``slips-test6-malicious.eve.json`` (real Suricata EVE from stratosphereips/StratosphereLinuxIPS,
GPL-2.0, bundled in /work/shared/data — see tests/conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from learnfixtures import DAY, flow, office_day, write_eve

from generator.learn_traffic import TrafficLearner
from sakimori.baselines import effective_traffic, load_document, save_document
from sakimori.config import Config, load_config
from sakimori.errors import InputError


@pytest.fixture
def cfg() -> Config:
    return load_config(None, overrides={"networks.home": ["10.1.0.0/16"]})


def test_every_learned_value(tmp_path: Path, cfg: Config) -> None:
    eve = write_eve(tmp_path / "eve.json", office_day(DAY), extra="{broken\n")
    learner = TrafficLearner(cfg)
    entry = learner.add_eve(eve)
    assert entry is not None and entry["bad"] == 1 and entry["bad_examples"][0].startswith(
        f"{eve}:")
    doc = learner.document()
    t = doc["traffic"]
    assert t["url_length"]["n"] == 60  # outbound HTTP only
    assert t["url_length"]["threshold"] >= 200 and t["url_length"]["binding"] == "robust"
    assert t["session_duration"]["n"] == 60  # six TLS sessions of 120..720 s per host
    assert t["session_duration"]["threshold"] >= 3600
    assert t["fw_failures"]["per_host_day"]["10.1.10.19"]["2026-11-02"] == {
        "attempts": 43, "failed": 31}
    assert t["fw_failures"]["per_host_day"]["10.1.10.10"]["2026-11-02"]["failed"] == 3
    assert t["fw_failures"]["threshold"] == 5  # median 3, MAD 0 -> floor 5
    assert t["port_protocols"] == {"443": {"tls": 60}, "445": {"smb": 10}, "80": {"http": 60}}
    assert sorted(t["destinations"]) == ["mail.example.net", "www.example.com"]
    assert len(t["destinations"]["www.example.com"]) == 10
    assert t["n_internal_hosts"] == 10 and "198.51.100.99" not in t["internal_hosts"]
    assert t["internal_hosts"]["10.1.10.10"]["first"] == "2026-11-02T00:00:50Z"
    prov = doc["provenance"]
    assert prov["records"] == entry["records"] and prov["inputs"][0]["sha256"]
    assert prov["first_seen"] == "2026-11-02T00:00:00Z"
    eff = effective_traffic(cfg, doc)
    assert eff.url_length.origin == "learned" and eff.long_session_s.origin == "learned"
    assert eff.prevalence["www.example.com"] == 10


def test_unanswered_flows_do_not_create_ip_destinations(tmp_path: Path, cfg: Config) -> None:
    eve = write_eve(tmp_path / "e.json", [
        flow("10.1.10.5", "192.0.2.1", 80, DAY, 1, state="new", toclient=0, app=None),
        flow("10.1.10.5", "192.0.2.2", 80, DAY, 1, fid=7),
        flow("10.1.10.5", "192.0.2.3", 53, DAY, 1, proto="UDP", app="dns", state="established",
             fid=8)])
    learner = TrafficLearner(cfg)
    learner.add_eve(eve)
    dest = learner.document()["traffic"]["destinations"]
    assert sorted(dest) == ["192.0.2.2", "192.0.2.3"]


def _traffic(doc: dict) -> dict:
    return json.loads(json.dumps(doc["traffic"]))


def test_incremental_equals_batch(tmp_path: Path, cfg: Config) -> None:
    a = write_eve(tmp_path / "a.json", office_day(DAY, seed=1))
    b = write_eve(tmp_path / "b.json", office_day(DAY + 86400, hosts=14, seed=2))
    proxy = tmp_path / "access.log"
    proxy.write_text("1793577600.000 5 10.1.10.40 TCP_MISS/200 10 GET "
                     "http://news.example.org/" + "y" * 90 + " - HIER_DIRECT/192.0.2.9 -\n")
    inc = TrafficLearner(cfg)
    inc.add_eve(a)
    save_document(inc.document(), tmp_path / "inc.json")
    inc2 = TrafficLearner(cfg, load_document(tmp_path / "inc.json"))
    inc2.add_eve(b)
    inc2.add_proxy_log(proxy)
    batch = TrafficLearner(cfg)
    batch.add_eve(a)
    batch.add_eve(b)
    batch.add_proxy_log(proxy)
    t_inc, t_batch = _traffic(inc2.document()), _traffic(batch.document())
    assert t_inc == t_batch
    assert t_inc["n_internal_hosts"] == 15
    assert inc2.document()["provenance"]["records"] == batch.document()["provenance"]["records"]


def test_same_input_twice_is_skipped(tmp_path: Path, cfg: Config) -> None:
    a = write_eve(tmp_path / "a.json", office_day(DAY))
    learner = TrafficLearner(cfg)
    learner.add_eve(a)
    before = _traffic(learner.document())
    copy = tmp_path / "copy.json"
    copy.write_bytes(a.read_bytes())
    assert learner.add_eve(copy) is None and learner.skipped == [str(copy)]
    assert _traffic(learner.document()) == before


def test_corrupt_summaries_name_the_file(cfg: Config) -> None:
    doc = {"schema_version": 1, "traffic": {"destinations": {"x": "not-a-list"}}}
    with pytest.raises(InputError, match=r"^b\.json: baselines traffic section unusable"):
        TrafficLearner(cfg, doc, source="b.json")


def test_real_eve_smoke(slips_eve: Path) -> None:
    """Real Suricata EVE (stratosphereips test6, GPL-2.0): learning runs end to end."""
    cfg = load_config(None, overrides={"networks.home": ["192.168.1.0/24"]})
    learner = TrafficLearner(cfg)
    entry = learner.add_eve(slips_eve)
    doc = learner.document()
    assert entry is not None and entry["records"] > 3000 and entry["bad"] == 0
    assert doc["provenance"]["first_seen"].startswith("2021-06-0")
    assert doc["traffic"]["n_internal_hosts"] >= 1
    assert doc["traffic"]["destinations"]
    for key in ("url_length", "session_duration", "fw_failures"):
        rec = doc["traffic"][key]
        assert "n" in rec and ("threshold" in rec)
        assert rec["threshold"] is not None or "reason" in rec
