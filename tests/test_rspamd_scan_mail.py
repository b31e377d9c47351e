"""`sakimori scan-mail` end to end: a private Rspamd started for the run (or rspamd.url), one
JSON object per message with symbols, score, action and the warnings that would be sent,
sidecar envelopes, broken and unreadable mails, and the one-line error without rspamd."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from rspamd_support import make_config, requires_rspamd, shared_instance

from sakimori.cli import main
from sakimori.commands.scan_mail import planned_warnings

CONFIG = {"mail": {"internal_domains": ["example.co.jp"]},
          "networks": {"home": ["10.0.0.0/8"], "mail_relays": ["192.0.2.10/32"]},
          "alerts": {"admins": ["soc@example.co.jp"], "notify_recipient": True,
                     "recipient_checks": ["SAKIMORI_DISPLAY_NAME_SPOOF"]}}
BASELINES = {"schema_version": 1, "generated_at": "2026-01-01T00:00:00Z", "provenance": {},
             "traffic": {}, "mail": {
                 "domains": {"partner.co.jp": {"messages": 40,
                                               "infra": {"net:133.0.0.0/24": 40}}},
                 "domestic_domains": ["partner.co.jp"], "frequent_domains": ["partner.co.jp"],
                 "names": {"山田太郎": {"display": "山田 太郎",
                                        "addresses": {"taro@example.co.jp": 9}}}}}
SPOOF = b"From: CEO <ceo@example.co.jp>\r\nSubject: wire\r\n\r\npay\r\n"
NAME = "From: 山田 太郎 <taro.yamada@gmail.com>\r\nSubject: x\r\n\r\nx\r\n".encode()
LEGIT = b"From: Partner <info@partner.co.jp>\r\nSubject: report\r\n\r\nok\r\n"
BROKEN = b"\x00\xff garbage\r\nContent-Type: multipart/mixed\r\n\r\n--\r\n"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {"config": tmp_path / "sakimori.yaml", "baselines": tmp_path / "baselines.json"}
    out["config"].write_text(yaml.safe_dump(CONFIG), encoding="utf-8")
    out["baselines"].write_text(json.dumps(BASELINES, ensure_ascii=False), encoding="utf-8")
    for name, data in (("spoof", SPOOF), ("name", NAME), ("legit", LEGIT),
                       ("broken", BROKEN)):
        out[name] = tmp_path / f"{name}.eml"
        out[name].write_bytes(data)
    # sidecars: mailsim style (<stem>.json) and <file>.json
    (tmp_path / "legit.json").write_text(json.dumps({
        "ip": "133.0.0.1", "hostname": "mail.partner.co.jp", "envelope_from": "info@partner.co.jp",
        "rcpt": ["hanako@example.co.jp"], "expected_symbols": []}))
    (tmp_path / "name.eml.json").write_text(json.dumps({"ip": "8.8.4.4",
                                                        "rcpt": "hanako@example.co.jp"}))
    return out


def _run(argv: list[str], capsys) -> tuple[int, list[dict], str]:
    with pytest.raises(SystemExit) as done:
        main(argv)
    captured = capsys.readouterr()
    lines = [json.loads(ln) for ln in captured.out.splitlines() if ln.strip()]
    return done.value.code, lines, captured.err


@pytest.mark.rspamd
@requires_rspamd
def test_scan_mail_private_instance(files: dict[str, Path], tmp_path: Path, capsys) -> None:
    code, out, _ = _run(["scan-mail", "--config", str(files["config"]), "--baselines",
                         str(files["baselines"]), "--ip", "8.8.8.8", "--rcpt",
                         "hanako@example.co.jp", str(files["spoof"]), str(files["name"]),
                         str(files["legit"]), str(files["broken"]),
                         str(tmp_path / "missing.eml")], capsys)
    assert code == 1  # the missing file; every other message was judged
    by_name = {Path(o["file"]).stem: o for o in out}
    assert list(by_name) == ["spoof", "name", "legit", "broken", "missing"]
    spoof = by_name["spoof"]
    assert spoof["symbols"]["SAKIMORI_INTERNAL_SPOOF"] == ["from=example.co.jp", "ip=8.8.8.8"]
    assert isinstance(spoof["score"], float) and spoof["action"]
    assert [(w["to"], w["checks"]) for w in spoof["warnings"]] == [
        ("admins", ["SAKIMORI_INTERNAL_SPOOF"])]
    name = by_name["name"]  # sidecar <file>.json: ip 8.8.4.4
    assert name["symbols"]["SAKIMORI_DISPLAY_NAME_SPOOF"] == [
        "name=山田太郎", "addr=taro.yamada@gmail.com"]
    assert {"to": "recipient", "addresses": ["hanako@example.co.jp"],
            "checks": ["SAKIMORI_DISPLAY_NAME_SPOOF"]} in name["warnings"]
    legit = by_name["legit"]  # sidecar <stem>.json: domestic relay
    assert not [s for s in legit["symbols"] if s.startswith("SAKIMORI_")]
    assert legit["warnings"] == []
    assert "error" not in by_name["broken"] and "symbols" in by_name["broken"]
    assert by_name["missing"]["error"].startswith("cannot read")


@pytest.mark.rspamd
@requires_rspamd
def test_scan_mail_uses_a_configured_rspamd(files: dict[str, Path], capsys) -> None:
    inst = shared_instance()
    config = {**CONFIG, "rspamd": {"url": inst.url, "binary": "rspamd-not-needed"}}
    files["config"].write_text(yaml.safe_dump(config), encoding="utf-8")
    code, out, err = _run(["scan-mail", "--config", str(files["config"]), "--ip", "8.8.8.8",
                           str(files["legit"])], capsys)
    assert code == 0 and "private Rspamd" not in err
    assert out[0]["file"].endswith("legit.eml") and "score" in out[0]


def test_missing_rspamd_is_a_one_line_error(files: dict[str, Path], capsys) -> None:
    config = {**CONFIG, "rspamd": {"binary": "/nonexistent/rspamd"}}
    files["config"].write_text(yaml.safe_dump(config), encoding="utf-8")
    code, out, err = _run(["scan-mail", "--config", str(files["config"]), str(files["spoof"])],
                          capsys)
    assert code == 1 and out == []
    assert err.count("\n") == 1 and "/nonexistent/rspamd: not found" in err


def test_planned_warnings_follow_the_consumers_recipient_policy(tmp_path: Path) -> None:
    checks = ["SAKIMORI_DISPLAY_NAME_SPOOF", "SAKIMORI_INTERNAL_SPOOF"]
    rcpt = ["hanako@example.co.jp", "partner@elsewhere.example"]
    admins_only = make_config({"alerts": {"admins": ["soc@x.jp"]}}, tmp_path)
    assert planned_warnings(admins_only, checks, rcpt) == [
        {"to": "admins", "addresses": ["soc@x.jp"], "checks": checks}]
    assert planned_warnings(admins_only, [], rcpt) == []
    everyone = make_config({"alerts": {"notify_recipient": True},
                            "mail": {"internal_domains": ["example.co.jp"]}}, tmp_path)
    # only internal recipients are warned, as the consumer does
    assert planned_warnings(everyone, checks, rcpt)[1] == {
        "to": "recipient", "addresses": ["hanako@example.co.jp"], "checks": checks}
    assert len(planned_warnings(everyone, checks, ["x@elsewhere.example"])) == 1
    narrow = make_config({"alerts": {"notify_recipient": True,
                                     "recipient_checks": ["SAKIMORI_LOOKALIKE_DOMAIN"]},
                          "mail": {"internal_domains": ["example.co.jp"]}}, tmp_path)
    assert [w["to"] for w in planned_warnings(narrow, checks, rcpt)] == ["admins"]
    off = make_config({"alerts": {"enabled": False}}, tmp_path)
    assert planned_warnings(off, checks, rcpt) == []
