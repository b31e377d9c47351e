"""Outputs and correlation as pure functions: CSV neutralisation, scoring, severity, mail text.

(The same properties are proven end to end with real Suricata and a real SMTP server in
tests/test_consumer_mail.py.)
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from types import SimpleNamespace

import pytest

from eve_consumer.correlate import WEIGHTS, correlate, host_score, severity
from eve_consumer.model import Finding, iso
from eve_consumer.outputs.hosts_csv import COLUMNS, render_csv
from eve_consumer.outputs.mail import build_message
from sakimori.textsafe import clean, csv_cell

HOSTILE = "=cmd|' /C calc'!A0\r\nBcc: x@evil.example\t<script>alert(1)</script>\u202e"


def finding(host: str, detection: str, conf: float = 1.0, dest: str = "d") -> Finding:
    return Finding(host, detection, conf, 1793577600.0, 1793581200.0, [dest], [1, 2],
                   {"k": 1}, f"summary {dest}")


@pytest.mark.parametrize("lead", ["=", "+", "-", "@", "\t", "\r"])
def test_formula_cells_are_prefixed(lead: str) -> None:
    cell = csv_cell(lead + "1+1")
    assert cell.startswith("'")
    assert "\t" not in cell and "\r" not in cell


def test_clean_escapes_controls_and_bidi() -> None:
    text = clean(HOSTILE)
    assert "\r" not in text and "\n" not in text and "\t" not in text
    assert "\u202e" not in text and "\\u202e" in text
    assert "\\x0d\\x0a" in text
    assert len(clean("x" * 1000, 50)) == 50


def test_hosts_csv_keeps_hostile_text_as_data() -> None:
    rows = correlate([finding("10.1.20.14", "long_url", dest=HOSTILE)])
    text = render_csv(rows).decode()
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == list(COLUMNS)
    assert len(parsed) == 2  # CR/LF inside a value never starts a new row
    row = dict(zip(COLUMNS, parsed[1], strict=True))
    assert row["destinations"].startswith("'=cmd")
    assert "\r" not in row["destinations"] and "\n" not in row["destinations"]
    assert row["detections"] == "long_url"
    assert row["first_seen"] == "2026-11-02T00:00:00Z"
    assert row["last_seen"] == "2026-11-02T01:00:00Z"


def test_score_grows_with_distinct_detections_and_confidence() -> None:
    one = host_score([finding("h", "beacon")])
    two = host_score([finding("h", "beacon"), finding("h", "long_url")])
    low = host_score([finding("h", "beacon", 0.5)])
    assert 0 < low < one < two <= 100
    assert one == round(WEIGHTS["beacon"])
    everything = host_score([finding("h", d) for d in WEIGHTS])
    assert everything == 100
    assert host_score([finding("h", "beacon"), finding("h", "beacon", 0.2)]) == one


def test_severity_bands() -> None:
    assert [severity(s) for s in (0, 39, 40, 59, 60, 79, 80, 100)] == \
        ["low", "low", "medium", "medium", "high", "high", "critical", "critical"]


def test_rows_sorted_by_score_then_address_and_internal_only() -> None:
    rows = correlate([finding("10.1.20.2", "fw_blocked"), finding("10.1.20.10", "fw_blocked"),
                      finding("10.1.20.3", "malware_signature"),
                      finding("8.8.8.8", "beacon")], is_home=lambda ip: ip.startswith("10."))
    assert [r.host for r in rows] == ["10.1.20.3", "10.1.20.2", "10.1.20.10"]


def test_iso_is_utc_z() -> None:
    assert iso(1793577600.9) == "2026-11-02T00:00:00Z"
    assert iso(None) == ""


def _cfg(language: str) -> SimpleNamespace:
    return SimpleNamespace(alerts=SimpleNamespace(
        language=language, sender="sakimori@example.co.jp", admins=("soc@example.co.jp",)))


@pytest.mark.parametrize(("language", "word"), [("en", "new finding"), ("ja", "新しい検知")])
def test_mail_headers_carry_no_network_text(language: str, word: str) -> None:
    row = correlate([finding("10.1.20.15", "non_http_on_http_port", dest=HOSTILE)])[0]
    row.findings[0].summary = HOSTILE
    msg = build_message(_cfg(language), row, row.findings)
    headers = "\n".join(f"{k}: {v}" for k, v in msg.items())
    for bad in ("cmd", "script", "evil", "Bcc"):
        assert bad not in headers
    assert "10.1.20.15" in msg["Subject"] and word in msg["Subject"]
    body = msg.get_body(("plain",)).get_content()
    assert "\\x0d\\x0a" in body and "\r\nBcc" not in body
    attachment = next(msg.iter_attachments())
    assert attachment.get_filename() == "sakimori-10.1.20.15.csv"


def test_mail_refuses_a_host_that_is_not_an_address() -> None:
    row = correlate([finding("evil\r\nBcc: x", "beacon")])[0]
    with pytest.raises(ValueError):
        build_message(_cfg("en"), row, row.findings)


def test_findings_jsonl_uses_the_consumers_class_map(tmp_path: Path, slips_eve: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The class map is parsed once, when the consumer is built: writing findings.jsonl (in
    the timed part of a run) does not read ``classes.map_file`` again."""
    from eve_consumer.classes import ClassMap
    from eve_consumer.pipeline import Consumer
    from sakimori.config import load_config

    (tmp_path / "cfg.yaml").write_text("networks:\n  home: [192.168.0.0/16]\n")
    consumer = Consumer(load_config(tmp_path / "cfg.yaml"), None, tmp_path / "out",
                        tmp_path / "state", mail=False)

    def no_second_load(*args: object) -> ClassMap:
        raise AssertionError("classes.map_file read again")

    monkeypatch.setattr(ClassMap, "load", no_second_load)
    with consumer:
        consumer.run_once(slips_eve)
    lines = (tmp_path / "out" / "findings.jsonl").read_text().splitlines()
    assert lines and all('"classes":[' in line for line in lines)
