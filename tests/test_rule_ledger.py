"""The rule revision ledger (generator/rule_ledger.py): committed, current, and bumping revs.

A template or static.rules change without `python -m generator.rule_ledger --update` fails
test_committed_ledger_is_current; the bump itself is tested on a copy of the ledger."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from generator import rule_ledger
from generator.render_suricata import ET_META, SID_OFFSETS, attack_url, render_rules
from sakimori.config import load_config
from suricata_rules import STATIC_RULES


def test_committed_ledger_is_current() -> None:
    ledger = rule_ledger.load()
    assert rule_ledger.stale(ledger) == [], "run `python -m generator.rule_ledger --update`"
    assert rule_ledger.stamp_static(ledger) == STATIC_RULES.read_text(encoding="utf-8")
    assert rule_ledger.main(["--check"]) == 0


def test_changed_rule_gets_next_rev_and_keeps_created_at(monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = rule_ledger.load()
    rules = rule_ledger.canonical_rules()
    changed = dict(rules)
    changed[1100] = rules[1100].replace("urilen:", "urilen: ")  # any text change
    monkeypatch.setattr(rule_ledger, "canonical_rules", lambda: changed)
    assert rule_ledger.stale(ledger) == ["1100"]
    assert rule_ledger.main(["--check"]) == 1
    new = rule_ledger.update(ledger, "2030_01_02")
    assert new["1100"]["rev"] == ledger["1100"]["rev"] + 1
    assert new["1100"]["created_at"] == ledger["1100"]["created_at"]
    assert new["1100"]["updated_at"] == "2030_01_02"
    assert {k: v for k, v in new.items() if k != "1100"} == \
           {k: v for k, v in ledger.items() if k != "1100"}, "other rules untouched"


def test_rev_and_dates_come_from_the_ledger_not_the_clock(tmp_path: Path) -> None:
    cfg = load_config(None, env={})
    ledger = {str(o): {"sha256": "", "rev": 7, "created_at": "2001_02_03",
                       "updated_at": "2004_05_06"} for o in SID_OFFSETS.values()}
    text = render_rules(cfg, None, None, ledger)
    rules = [ln for ln in text.splitlines() if ln.startswith("alert ")]
    assert rules
    for rule in rules:
        assert "rev:7;" in rule and "created_at 2001_02_03, updated_at 2004_05_06" in rule
        assert re.search(r"reference:url,attack\.mitre\.org/(?:techniques|tactics)/", rule)
        assert re.search(r'msg:"SAKIMORI (?:INFO|BACKDOOR|ANONYMIZER|MALWARE|WEB_ATTACK) ', rule)
    with pytest.raises(KeyError, match="rule_ledger --update"):
        render_rules(cfg, None, None, {})


def test_every_rule_has_et_metadata_and_fast_pattern_with_content() -> None:
    assert set(ET_META) == set(SID_OFFSETS.values())
    for offset, rule in rule_ledger.canonical_rules().items():
        assert "signature_severity " in rule and "attack_target " in rule, offset
        if "content:" in rule:
            assert "fast_pattern" in rule, offset
        assert re.search(r"mitre_tactic_id TA\d{4}[,;]", rule), offset
        if "flowbits:noalert" not in rule and "Informational" not in rule:
            assert re.search(r"mitre_tactic_id TA\d{4}, mitre_technique_id T\d{4}", rule), offset
        assert not re.search(r"(?:^|[\s,])/(?:tmp|work|home|root)/", rule), offset


def test_no_build_machine_path_in_the_rules_files(tmp_path: Path) -> None:
    from generator.render_suricata import write_suricata
    (tmp_path / "relays.txt").write_text("192.0.2.1\n2001:db8::1\n")
    (tmp_path / "s.yaml").write_text(
        "networks:\n  home: [10.0.0.0/8]\nwhitelist:\n  destinations: [a.example.com]\n"
        f"anonymizer:\n  tor_relays: [{tmp_path / 'relays.txt'}]\n")
    out = write_suricata(load_config(tmp_path / "s.yaml", env={}), None, tmp_path / "build")
    for path in out:
        text = path.read_text(encoding="utf-8")
        assert str(tmp_path) not in text and "/tmp/" not in text, path
    assert "from relays.txt (2)" in out[1].read_text(encoding="utf-8")
    assert "load tor-relays-ipv4.lst;" in out[1].read_text(encoding="utf-8")


def test_every_reference_is_the_attack_page_of_the_rules_own_ids() -> None:
    """Generated and static rules: exactly one ``reference:url``, the ATT&CK page of the
    technique in the rule's own metadata (of the tactic for helpers without a technique)."""
    rules = rule_ledger.canonical_rules()
    assert len(rules) >= len(SID_OFFSETS) + 5
    for offset, rule in rules.items():
        refs = re.findall(r"\breference:\s*([^;]*);", rule)
        tactic = re.search(r"mitre_tactic_id (TA\d{4})[,;]", rule)
        technique = re.search(r"mitre_technique_id (T\d{4}(?:\.\d{3})?)[,;]", rule)
        assert tactic is not None, offset
        want = attack_url(tactic.group(1), technique.group(1) if technique else None)
        assert refs == [f"url,{want}"], (offset, refs)
        if technique is None:
            assert "flowbits:noalert" in rule, offset  # only helpers lack a technique


@pytest.mark.parametrize(("tactic", "technique", "url"), [
    ("TA0011", "T1071.001", "attack.mitre.org/techniques/T1071/001/"),
    ("TA0011", "T1571", "attack.mitre.org/techniques/T1571/"),
    ("TA0011", None, "attack.mitre.org/tactics/TA0011/"),
])
def test_attack_url(tactic: str, technique: str | None, url: str) -> None:
    assert attack_url(tactic, technique) == url


@pytest.mark.parametrize("technique", ["T1071/001", "t1071", "T107", "T1071.1", ""])
def test_attack_url_refuses_a_malformed_technique(technique: str) -> None:
    with pytest.raises(ValueError, match="ATT&CK technique"):
        attack_url("TA0011", technique)


def test_no_placeholder_reference_left() -> None:
    root = Path(__file__).resolve().parent.parent
    for path in [root / "generator" / "render_suricata.py", STATIC_RULES,
                 root / "generator" / "templates" / "sakimori.rules.j2"]:
        assert "github.com/sakimori" not in path.read_text(encoding="utf-8"), path


def test_canonical_render_puts_each_whitelist_helper_kind_at_its_ledger_offset() -> None:
    """Helpers take rev and dates from the ledger entry of their kind (wl_helpers.KIND_OFFSETS):
    the canonical configuration must render one helper of each kind exactly there."""
    from generator.wl_helpers import KIND_OFFSETS
    rules = rule_ledger.canonical_rules()
    for (exact, buffer), offset in KIND_OFFSETS.items():
        rule = rules[offset]
        assert ("http.host.raw;" if buffer == "host" else "tls.sni;") in rule, offset
        assert ("startswith; pcre:\"/^" in rule) == exact, offset
        assert "flowbits:set,sakimori.wl;" in rule
    assert not [o for o in rules if 2004 <= o < 4000], "one form of each kind, no more"
