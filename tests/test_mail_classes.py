"""Table 1 mail classes without engines: the precedence of :func:`classify`, the volume counter
(distinct recipients in a sliding window) and the ``mail_classes`` config section. The real
verdicts (ClamAV through Rspamd, GTUBE) are in test_rspamd_mail_classes.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sakimori.config import load_config
from sakimori.errors import ConfigError
from sakimori.mail.classes import VolumeCounter, antivirus_state, classify, volume_keys
from sakimori.mailclassconfig import MailClassesConfig

CFG = MailClassesConfig(mass_min_recipients=10, mass_window_hours=24)
EICAR = {"CLAM_VIRUS": ["Eicar-Test-Signature"]}
SPOOF = {"SAKIMORI_INTERNAL_SPOOF": ["from=example.co.jp"]}


@pytest.mark.parametrize(("symbols", "action", "volume", "expected"), [
    ({**EICAR, **SPOOF}, "no action", 12, "mass_virus"),  # a campaign, spoofed or not
    (EICAR, "reject", 10, "mass_virus"),
    ({**EICAR, **SPOOF}, "no action", 1, "targeted"),
    (EICAR, "add header", 9, "targeted"),  # malware on low-volume mail
    (SPOOF, "add header", 0, "targeted"),  # spoofing beats the spam verdict
    ({"SAKIMORI_HEADER_MISMATCH": []}, "no action", 0, "targeted"),
    ({"GTUBE": []}, "reject", 0, "spam"),
    ({"R_SPF_FAIL": []}, "add header", 0, "spam"),
    ({"R_SPF_FAIL": []}, "rewrite subject", 0, "spam"),
    ({"R_SPF_FAIL": []}, "no action", 0, "clean"),
    ({"CLAM_VIRUS_FAIL": ["failed"]}, "no action", 0, "clean"),
    ({"SAKIMORI_CHECK": []}, "greylist", 0, "clean"),  # not a spoofing finding
])
def test_precedence(symbols, action, volume, expected) -> None:
    result = classify(CFG, symbols, action, volume)
    assert result.name == expected
    assert result.reasons and all(isinstance(r, str) for r in result.reasons)


def test_reasons_and_antivirus_state() -> None:
    failed = classify(CFG, {"CLAM_VIRUS_FAIL": ["x"], **SPOOF}, "no action", 0)
    assert failed.name == "targeted" and failed.antivirus == "failed"
    assert any("antivirus failed" in r for r in failed.reasons)
    mass = classify(CFG, {**EICAR, **SPOOF}, "no action", 15)
    assert mass.as_dict()["malware"] == ["Eicar-Test-Signature"]
    assert mass.volume == 15 and "SAKIMORI_INTERNAL_SPOOF" in mass.reasons[-1]
    assert antivirus_state({}, None) == "unknown" and antivirus_state({}, False) == "off"
    assert antivirus_state({}) == "clean" and antivirus_state(EICAR) == "infected"
    assert classify(CFG, {}, "no action", 0, False).antivirus == "off"


def test_volume_counts_distinct_recipients_in_a_window() -> None:
    counter = VolumeCounter(3600)
    keys = volume_keys(EICAR)
    assert keys == ["malware:eicar-test-signature"]
    counter.add(keys, ["A@example.co.jp", "a@example.co.jp", "b@example.co.jp"], now=0)
    counter.add(keys, ["b@example.co.jp"], now=10)  # same person again: still 2
    assert counter.volume(keys, now=20) == 2
    counter.add(keys, [], now=30)  # a copy without envelope: one recipient of its own
    counter.add(keys, [], now=31)
    assert counter.volume(keys, now=40) == 4
    assert counter.volume(keys, now=3605) == 3  # the first mail's recipients left the window
    assert counter.volume(["malware:other"], now=40) == 0
    counter.add([], ["x@y"], now=50)  # no malware: nothing counted
    assert counter.volume(volume_keys({}), now=50) == 0


def test_config_section(tmp_path: Path) -> None:
    cfg = load_config(None, env={})
    assert cfg.mail_classes.mass_min_recipients == 10
    assert cfg.mail_classes.warn_classes == ("targeted",)
    path = tmp_path / "s.yaml"
    for bad, key in (({"mass_min_recipients": 0}, "mass_min_recipients"),
                     ({"clamd_database": "cloud"}, "clamd_database"),
                     ({"warn_classes": ["phish"]}, "warn_classes"),
                     ({"antivirus_servers": 'x"; y'}, "antivirus_servers"),
                     ({"nope": 1}, "nope")):
        path.write_text(yaml.safe_dump({"mail_classes": bad}), encoding="utf-8")
        with pytest.raises(ConfigError, match=f"mail_classes.{key}"):
            load_config(path, env={})


def test_mail_page_shows_the_class(tmp_path: Path) -> None:
    """The admin screen's mail page: a class column (and the malware names), escaped."""
    import json

    import webfixtures as wf
    from webclient import PASSWORD, login

    from eve_consumer.mailwarn.send import record
    from sakimori.mail.checks import Hit
    from sakimori.mail.warnings import FlaggedMail
    from sakimori.web import auth
    from sakimori.web.app import create_app

    reports = wf.write_reports(tmp_path / "report")
    mass = FlaggedMail(source="rspamd", hits=(Hit("SAKIMORI_INTERNAL_SPOOF", ["x"]),),
                       malware=("Win.<b>Trojan</b>",), mail_class="mass_virus",
                       class_reasons=("malware reached 30 recipients",))
    with (reports / "mail_warnings.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record("mid:m3@x", mass, [], mailed=False,
                                   reason="class mass_virus is not in "
                                          "mail_classes.warn_classes")) + "\n")
    cfg = load_config(wf.write_config(tmp_path, report_dirs=[reports]), env={})
    auth.add_user(cfg.web.users_file, "alice", PASSWORD)
    client = create_app(cfg, testing=True).test_client()
    login(client)
    page = client.get("/mail").get_data(as_text=True)
    assert "<th>class</th>" in page
    assert '<td class="class">mass_virus' in page
    assert "Win.&lt;b&gt;Trojan&lt;/b&gt;" in page and "<b>Trojan" not in page
    assert '<td class="class">-' in page  # records written before classes existed


def test_antivirus_conf_follows_the_config(tmp_path: Path) -> None:
    from generator.render_rspamd import render_antivirus

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"mail_classes": {"antivirus_servers": "10.0.0.5:3310",
                                                     "antivirus_timeout": 3}}), encoding="utf-8")
    text = render_antivirus(load_config(path, env={}))
    assert 'servers = "10.0.0.5:3310";' in text and "timeout = 3;" in text
    assert 'symbol = "CLAM_VIRUS";' in text and "action" not in text.split("clamav {")[1]
    assert 'servers = "/run/clamav/clamd.ctl";' in render_antivirus(load_config(None, env={}))


def test_consumer_volume_survives_a_restart(tmp_path: Path) -> None:
    """The consumer's store: the same contract as the in-memory counter, kept on disk."""
    from eve_consumer.mailwarn.volume import VolumeStore

    keys = volume_keys(EICAR)
    store = VolumeStore(tmp_path / "state.sqlite", 3600)
    store.add(keys, ["a@example.co.jp", "B@example.co.jp"], now=0)
    store.add(keys, [], now=1)
    store.close()
    store = VolumeStore(tmp_path / "state.sqlite", 3600)  # restarted
    store.add(keys, ["b@example.co.jp", "c@example.co.jp"], now=10)
    store.add(keys, [], now=11)
    assert store.volume(keys, now=20) == 5
    assert store.volume(keys, now=3605) == 3  # the first two are out of the window
    assert store.volume(["malware:other"], now=20) == 0
    store.close()
