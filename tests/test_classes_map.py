"""The Table 1 class map (eve_consumer/classes.yaml): loading, validation, first-match order.

Which alerts Suricata writes is proven with real Suricata in tests/test_classes_et.py; here
the map itself: a broken map file is a ConfigError naming the file and the entry, and the
packaged map keeps policy/info/scan alerts classless whatever their classtype says.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from eve_consumer.classes import DEFAULT_MAP, ClassMap
from sakimori.config import load_config
from sakimori.errors import ConfigError


def _alert(sig: str, category: str = "", **meta: list[str]) -> dict:
    return {"signature": sig, "category": category, "metadata": dict(meta)}


@pytest.mark.parametrize(("alert", "cls", "side"), [
    (_alert("ET POLICY Something", "A Network Trojan was detected"), None, None),
    (_alert("ET INFO vk .com API Usage Observed", "A Network Trojan was detected"), None, None),
    (_alert("ET SCAN Suspicious inbound to MSSQL port 1433", "Potentially Bad Traffic"),
     None, None),
    (_alert("ET CINS Active Threat Intelligence Poor Reputation IP group 1", "Misc Attack"),
     None, None),
    (_alert("ET WEB_SERVER /etc/passwd Detected in URI", "Attempted Information Leak"),
     "web_attack", "server"),
    (_alert("Vendor X SQLi", "Web Application Attack"), "web_attack", "server"),
    (_alert("ET EXPLOIT Log4j RCE", "Attempted Administrator Privilege Gain",
            attack_target=["Web_Server"]), "web_attack", "server"),
    (_alert("ET CNC Feodo Tracker Reported CnC Server group 1",
            "A Network Trojan was detected"), "malware", "client"),
    (_alert("Vendor Y beacon", "Malware Command and Control Activity Detected"),
     "malware", "client"),
    (_alert("ET TOR Known Tor Relay/Router (Not Exit) Node Traffic group 1", "Misc Attack"),
     "anonymizer", "client"),
    (_alert("Vendor Z thing", "Misc activity"), None, None),
    (_alert("GPL EXPLOIT something", "Attempted Administrator Privilege Gain"), "no entry", None),
])
def test_packaged_map(alert: dict, cls: str | None, side: str | None) -> None:
    rule = ClassMap.load().for_alert(alert)
    if cls == "no entry":
        assert rule is None
        return
    assert rule is not None and rule.cls == cls
    if side:
        assert rule.host == side


def test_detections_map_to_classes() -> None:
    m = ClassMap.load()
    assert m.host_classes(["beacon", "fw_blocked", "long_url"]) == ["backdoor"]
    assert m.host_classes(["anonymizer", "malware_signature", "web_attack", "beacon"]) == [
        "backdoor", "web_attack", "malware", "anonymizer"]


def test_prefilter_question_is_conservative() -> None:
    m = ClassMap.load()
    assert not m.may_class("misc attack", "et cins poor reputation")
    assert m.may_class("attempted administrator privilege gain", "et exploit x")  # metadata
    assert m.may_class("a network trojan was detected", "vendor")


@pytest.mark.parametrize(("edit", "where"), [
    (("  beacon: backdoor", "  beacon: trojan"), "detections.beacon"),
    (("  fw_blocked: backdoor ", "  # fw_blocked: backdoor "), "detections.fw_blocked"),
    (("    host: server\n", "    host: victim\n"), "alerts[3].host"),
    (("  - name: web-application attack classtype\n    classtype: [web-application-attack]",
      "  - name: x\n    classtype: [no-such-classtype]"), "classtype"),
    (("version: 1", "version: 1\ncolour: red"), "colour"),
    (("    class: null\n", "    clas: null\n"), "alerts[0]"),
])
def test_bad_map_names_file_and_entry(tmp_path: Path, edit: tuple[str, str], where: str
                                      ) -> None:
    text = DEFAULT_MAP.read_text()
    assert edit[0] in text
    path = tmp_path / "classes.yaml"
    path.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(ConfigError) as exc:
        ClassMap.load(path)
    assert str(path) in str(exc.value) and where in str(exc.value)


def test_config_key_resolves_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "sakimori.yaml").write_text("classes:\n  map_file: my-classes.yaml\n")
    cfg = load_config(tmp_path / "sakimori.yaml", env={})
    assert cfg.classes.map_file == tmp_path / "my-classes.yaml"
    assert load_config(None, env={}).classes.map_file is None
