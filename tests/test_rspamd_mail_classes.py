"""Table 1 mail classes with the real engines: `sakimori scan-mail` runs a private Rspamd whose
antivirus module asks a private clamd (a minimal test database the harness writes: the EICAR
test file and a sakimori test marker as ClamAV body signatures). Proves: EICAR to one person
with a spoofed sender → targeted; malware on low-volume mail → targeted; one attachment as
copies to many recipients (and one mail to many) → mass_virus; GTUBE → spam; an ordinary mail
→ clean; an internal spoof without malware → targeted; clamd down → the mail still gets its
reply (fails open) and the class says so; the shared real-world mails all get a class."""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from email.utils import formatdate
from pathlib import Path

import pytest
import yaml
from conftest import SHARED_DATA
from engines import missing
from rspamd_support import requires_rspamd

from eve_consumer.mailwarn import MailWarnings
from eve_consumer.mailwarn.rspamd_events import flagged_from_rspamd
from generator.render_rspamd import write_rspamd
from sakimori.clamd_local import EICAR, TEST_MARKER, ClamdInstance
from sakimori.cli import main
from sakimori.config import load_config
from sakimori.mail.classes import classify
from sakimori.mailclassconfig import CLASSES
from sakimori.rspamd import RspamdInstance
from sakimori.rspamd_local import free_port

requires_clamd = pytest.mark.engine("clamd")
pytestmark = [pytest.mark.rspamd, requires_rspamd, requires_clamd]

CONFIG = {"mail": {"internal_domains": ["example.co.jp"]},
          "networks": {"home": ["10.0.0.0/8"], "mail_relays": ["192.0.2.10/32"]},
          "alerts": {"admins": ["soc@example.co.jp"]},
          "mail_classes": {"clamd_database": "test", "mass_min_recipients": 10}}
GTUBE = b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def message(sender: str, to: str, subject: str, body: str, attachment: bytes | None = None,
            filename: str = "invoice.pdf", n: int = 0) -> bytes:
    head = (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Date: {formatdate(1796000000 + n, usegmt=True)}\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}.{n}@mail.test>\r\nMIME-Version: 1.0\r\n")
    if attachment is None:
        return (head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n").encode()
    b64 = base64.encodebytes(attachment).decode().replace("\n", "\r\n")
    return (head + "Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n--b1\r\n"
            f"Content-Type: application/octet-stream; name={filename}\r\n"
            f"Content-Disposition: attachment; filename={filename}\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n" + b64 + "--b1--\r\n").encode()


def put(tmp: Path, name: str, data: bytes, ip: str, sender: str, rcpt: list[str]) -> Path:
    path = tmp / f"{name}.eml"
    path.write_bytes(data)
    (tmp / f"{name}.json").write_text(json.dumps(
        {"ip": ip, "envelope_from": sender, "rcpt": rcpt}), encoding="utf-8")
    return path


def scan(capsys, tmp: Path, files: list[Path], **config) -> tuple[int, dict, str]:
    cfg = tmp / "sakimori.yaml"
    merged = {**CONFIG, "mail_classes": {**CONFIG["mail_classes"], **config}}
    cfg.write_text(yaml.safe_dump(merged), encoding="utf-8")
    with pytest.raises(SystemExit) as done:
        main(["scan-mail", "--config", str(cfg), *map(str, files)])
    out = capsys.readouterr()
    by_name = {Path(o["file"]).stem: o for o in map(json.loads, out.out.splitlines())}
    return int(done.value.code), by_name, out.err


def test_classes_of_one_run(tmp_path: Path, capsys) -> None:
    files = [
        put(tmp_path, "spoofed_eicar", message(
            "CEO <ceo@example.co.jp>", "hanako@example.co.jp", "board minutes",
            "Please review before the meeting.", EICAR), "8.8.8.8", "ceo@example.co.jp",
            ["hanako@example.co.jp"]),
        put(tmp_path, "eicar_one", message(
            "Sales <sales@supplier.example>", "taro@example.co.jp", "quote",
            "Our quote is attached.", b"header\n" + EICAR + b"\ntrailer", "quote.doc"),
            "8.8.8.8", "sales@supplier.example", ["taro@example.co.jp"]),
        put(tmp_path, "gtube", message("x <x@spam.example>", "taro@example.co.jp", "offer",
                                       GTUBE.decode()), "8.8.8.8", "x@spam.example",
            ["taro@example.co.jp"]),
        put(tmp_path, "legit", message(
            "Partner <info@partner.example>", "hanako@example.co.jp", "meeting notes",
            "Hello Hanako,\r\nthe notes of today's meeting follow.\r\nBest regards"),
            "192.0.2.10", "info@partner.example", ["hanako@example.co.jp"]),
        put(tmp_path, "spoof", message(
            "CEO <ceo@example.co.jp>", "hanako@example.co.jp", "wire transfer",
            "Please transfer the amount today."), "8.8.8.8", "ceo@example.co.jp",
            ["hanako@example.co.jp"]),
    ]
    # one attachment (the test marker) as 4 copies, 3 recipients each: 12 distinct people
    for i in range(4):
        rcpt = [f"user{i}{j}@example.co.jp" for j in range(3)]
        files.append(put(tmp_path, f"mass{i}", message(
            "Shop <news@shop.example>", ", ".join(rcpt), "your parcel", "Track it here.",
            b"MZ" + TEST_MARKER + b"\x00" * 64, "parcel.exe", i), "8.8.4.4",
            "news@shop.example", rcpt))
    code, out, err = scan(capsys, tmp_path, files)
    assert code == 0, err
    assert "ClamAV signatures: test:EICAR" in err
    got = {name: o["class"] for name, o in out.items()}
    assert got == {"spoofed_eicar": "targeted", "eicar_one": "targeted", "gtube": "spam",
                   "legit": "clean", "spoof": "targeted", "mass0": "mass_virus",
                   "mass1": "mass_virus", "mass2": "mass_virus", "mass3": "mass_virus"}
    spoofed = out["spoofed_eicar"]
    assert spoofed["malware"] == ["Eicar-Test-Signature.UNOFFICIAL"]
    assert "SAKIMORI_INTERNAL_SPOOF" in spoofed["symbols"] and spoofed["antivirus"] == "infected"
    assert spoofed["volume"] == 2  # the two EICAR mails: two people
    assert out["eicar_one"]["class_reasons"][0].startswith("malware Eicar-Test-Signature")
    assert out["mass0"]["malware"] == ["Sakimori.Test.Marker.UNOFFICIAL"]
    assert out["mass0"]["volume"] == 12
    assert out["gtube"]["symbols"].get("GTUBE") == [] and out["gtube"]["malware"] == []
    for name in ("legit", "spoof", "gtube"):
        assert out[name]["antivirus"] == "clean", name
    assert out["spoof"]["warnings"] and not out["legit"]["warnings"]
    # what the consumer would mail: targeted (malware alone too), never mass_virus or spam
    assert out["eicar_one"]["warnings"] == [
        {"to": "admins", "addresses": ["soc@example.co.jp"], "checks": []}]
    assert out["mass0"]["warnings"] == out["gtube"]["warnings"] == []


def test_one_mail_to_many_recipients_is_mass(tmp_path: Path, capsys) -> None:
    rcpt = [f"staff{i}@example.co.jp" for i in range(12)]
    mail = put(tmp_path, "mass", message("IT <it@helpdesk.example>", "staff@example.co.jp",
                                         "update", "Run the attached tool.", EICAR,
                                         "update.com"), "8.8.8.8", "it@helpdesk.example", rcpt)
    few = put(tmp_path, "few", message("IT <it@helpdesk.example>", "a@example.co.jp",
                                       "update", "Run the attached tool.", EICAR,
                                       "update.com"), "8.8.8.8", "it@helpdesk.example",
              rcpt[:2])
    code, out, _ = scan(capsys, tmp_path, [mail, few], mass_min_recipients=13)
    assert code == 0 and out["mass"]["class"] == out["few"]["class"] == "targeted"
    code, out, _ = scan(capsys, tmp_path, [mail, few])  # threshold 10: 12 people
    assert out["mass"]["class"] == out["few"]["class"] == "mass_virus"
    assert out["mass"]["volume"] == 12


def test_clamd_down_fails_open(tmp_path: Path) -> None:
    cfg = load_config(None, env={})
    build = tmp_path / "build"
    write_rspamd(cfg, None, build)
    infected = message("CEO <ceo@example.co.jp>", "a@example.co.jp", "report", "see file",
                       EICAR)
    with ClamdInstance(use_system_db=False) as clamd:
        dead = f"127.0.0.1:{free_port()}"  # nothing listens there
        assert clamd.address != dead
    with RspamdInstance(build, antivirus=dead) as rspamd:
        reply = rspamd.scan(infected, ip="8.8.8.8", rcpt=["a@example.co.jp"])
    symbols = {k: v.get("options") or [] for k, v in reply["symbols"].items()}
    assert "CLAM_VIRUS" not in symbols and "CLAM_VIRUS_FAIL" in symbols
    assert reply["action"] in ("no action", "add header", "rewrite subject", "reject")
    result = classify(cfg.mail_classes, symbols, reply["action"], 0)
    assert result.antivirus == "failed" and result.name in CLASSES
    assert any("antivirus failed" in r for r in result.reasons)


def test_scan_mail_without_clamd(tmp_path: Path, capsys) -> None:
    mail = put(tmp_path, "eicar", message("a <a@x.example>", "b@example.co.jp", "x", "x",
                                          EICAR), "8.8.8.8", "a@x.example", ["b@example.co.jp"])
    code, out, err = scan(capsys, tmp_path, [mail], clamd_binary="/nonexistent/clamd")
    assert code == 0 and "no ClamAV, scanning without malware verdicts" in err
    assert out["eicar"]["antivirus"] == "off" and out["eicar"]["class"] in CLASSES
    assert out["eicar"]["malware"] == []


def test_shared_mails_all_classified(capsys, tmp_path: Path) -> None:
    mails = sorted((SHARED_DATA / "mail").glob("*.eml"))
    if not mails:
        missing(f"no shared mails in {SHARED_DATA / 'mail'}")
    code, out, err = scan(capsys, tmp_path, mails)
    assert code == 0, err
    assert len(out) == len(mails)
    assert all("error" not in o and o["class"] in CLASSES for o in out.values())
    distribution = Counter(o["class"] for o in out.values())
    print(f"shared mail classes ({len(mails)} mails): {dict(sorted(distribution.items()))}")
    # Rspamd's own test corpus carries one EICAR mail (broken rich text): one person, one copy
    infected = [o for o in out.values() if o["malware"]]
    assert [o["malware"] for o in infected] == [["Eicar-Test-Signature.UNOFFICIAL"]]
    assert infected[0]["class"] == "targeted" and distribution["mass_virus"] == 0


def test_consumer_classes_exported_mail(tmp_path: Path, smtp) -> None:
    """Rspamd's exporter posts infected mail too; the consumer classes it (volume counted over
    what it received), warns about targeted mail only, and records mass_virus mail."""
    cfg_path = tmp_path / "sakimori.yaml"
    cfg_path.write_text(yaml.safe_dump({
        **CONFIG, "alerts": {"admins": ["soc@example.co.jp"], "smtp": f"127.0.0.1:{smtp.port}",
                             "sender": "sakimori@example.co.jp"},
        "mail_classes": {"mass_min_recipients": 4}}), encoding="utf-8")
    cfg = load_config(cfg_path, env={})
    write_rspamd(cfg, None, tmp_path / "build")
    spoofed = message("CEO <ceo@example.co.jp>", "hanako@example.co.jp", "minutes", "see",
                      EICAR)
    mass = [message("Shop <news@shop.example>", f"u{i}@example.co.jp", "parcel", "track",
                    b"MZ" + TEST_MARKER, "parcel.exe", i) for i in range(5)]
    clean = message("Partner <info@partner.example>", "hanako@example.co.jp", "notes", "hi")
    with ClamdInstance(use_system_db=False) as clamd, \
            RspamdInstance(tmp_path / "build", antivirus=clamd.address) as rspamd:
        rspamd.scan(spoofed, ip="8.8.8.8", mail_from="ceo@example.co.jp",
                    rcpt=["hanako@example.co.jp"])
        for i, mail in enumerate(mass):
            rspamd.scan(mail, ip="8.8.4.4", mail_from="news@shop.example",
                        rcpt=[f"u{i}@example.co.jp"])
        rspamd.scan(clean, ip="192.0.2.10", mail_from="info@partner.example",
                    rcpt=["hanako@example.co.jp"])
        for _ in range(50):
            if len(rspamd.events) >= 6:
                break
            time.sleep(0.1)
        events = list(rspamd.events)
    assert len(events) == 6  # the spoof and the five infected copies; not the clean mail
    warnings = MailWarnings(cfg, tmp_path / "state.sqlite", tmp_path / "out")
    try:
        for event in events:
            mail = flagged_from_rspamd(event)
            assert mail is not None
            warnings.submit(mail)
        warnings.drain()
    finally:
        warnings.close()
    records = [json.loads(x) for x in (tmp_path / "out" / "mail_warnings.jsonl").read_text()
               .splitlines()]
    classes = [(r["class"], r["mailed"]) for r in records]
    # the first three copies reached 1..3 people (targeted, warned); the 4th and 5th the 4th
    # and 5th person: the campaign is mass_virus from then on (recorded, not mailed)
    assert classes == [("targeted", True)] * 4 + [("mass_virus", False)] * 2
    assert records[0]["malware"] == ["Eicar-Test-Signature.UNOFFICIAL"]
    assert records[-1]["reason"] == "class mass_virus is not in mail_classes.warn_classes"
    assert len(smtp.messages) == 4
    body = smtp.messages[0].get_content()
    assert "Class (Table 1): targeted" in body and "Eicar-Test-Signature" in body
    assert smtp.messages[1]["Subject"] == ("[sakimori] Warning: possibly targeted mail with "
                                           "malware")
