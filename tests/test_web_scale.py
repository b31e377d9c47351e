"""Admin screen at scale (issue 11, item 6), behaviour only — timings are in bench/web.py:
pagination of hosts and warnings, the newest findings record shown however large
findings.jsonl grows, the index refreshed when the report files change, the CSV complete."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path

import pytest
import webfixtures as wf
from flask.testing import FlaskClient

from eve_consumer.outputs.hosts_csv import render_csv
from sakimori.config import load_config
from sakimori.web import auth, data, reportindex, reportquery
from sakimori.web.app import create_app

PASSWORD = "correct horse battery"


def _client(tmp_path: Path, report_dirs: list[Path], **web: object) -> FlaskClient:
    cfg = load_config(wf.write_config(tmp_path, report_dirs=report_dirs,
                                      extra_web={"page_size": 100, **web}), env={})
    auth.add_user(cfg.web.users_file, "alice", PASSWORD)
    client = create_app(cfg, testing=True).test_client()
    page = client.get("/login").get_data(as_text=True)
    tok = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/login", data={"username": "alice", "password": PASSWORD,
                                       "csrf_token": tok}).status_code == 302
    return client


def _hosts(page: str) -> list[str]:
    table = page.split('id="hosts"')[1].split("</table>")[0]
    return re.findall(r'class="host-link" href="/hosts/([0-9.]+)"', table)


def test_hosts_index_is_paginated(tmp_path: Path) -> None:
    reports = wf.write_many(tmp_path / "report", 250)
    client = _client(tmp_path, [reports])
    pages = [client.get(f"/?page={n}").get_data(as_text=True) for n in (1, 2, 3)]
    shown = [_hosts(p) for p in pages]
    assert [len(s) for s in shown] == [100, 100, 50]
    assert "250 host(s) with detections" in pages[0] and "page 1 of 3" in pages[0]
    assert 'href="/?page=2"' in pages[0] and 'href="/?page=2"' in pages[2]
    expected = [r["host"] for r in csv.DictReader(io.StringIO(
        (reports / "hosts.csv").read_text(encoding="utf-8")))]
    assert sorted(h for s in shown for h in s) == sorted(expected)  # every host once
    scores = [h.score for h in reportquery.host_page(client.application.extensions[
        "sakimori_web"].index, 0, 250)]
    assert scores == sorted(scores, reverse=True)
    for bad in ("0", "-3", "99", "x"):  # clamped, never an error
        assert client.get(f"/?page={bad}").status_code == 200


def test_mail_warnings_are_paginated(tmp_path: Path) -> None:
    reports = wf.write_reports(tmp_path / "report")
    (one,) = wf.warnings()[:1]
    with (reports / "mail_warnings.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(230):
            fh.write(json.dumps({**one, "key": f"k{i}", "subject": f"mail #{i:03d}",
                                 "time": f"2026-11-01T{i // 60:02d}:{i % 60:02d}:00Z"}) + "\n")
    client = _client(tmp_path, [reports])
    first = client.get("/mail").get_data(as_text=True)
    last = client.get("/mail?page=3").get_data(as_text=True)
    assert "230 warning(s)" in first and "page 1 of 3" in first
    assert "mail #229" in first and "mail #130" in first and "mail #129" not in first
    assert "mail #029" in last and "mail #000" in last and "mail #030" not in last


def _record(host: str, summary: str, detection: str = "beacon") -> bytes:
    return json.dumps({"host": host, "detection": detection, "confidence": 0.9,
                       "first_seen": "2026-11-01T00:00:00Z", "last_seen": "2026-11-02T00:00:00Z",
                       "destinations": ["c2.example.test"], "summary": summary,
                       "evidence": {"pad": "x" * 200}}).encode() + b"\n"


def test_newest_record_shown_after_findings_jsonl_past_the_read_chunk(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The old screen read findings.jsonl up to 64 MiB only and showed the stale record
    after that; the index reads every chunk (made 4 KiB here instead of writing 64 MiB)."""
    monkeypatch.setattr(reportindex, "READ_CHUNK", 4096)
    reports = wf.write_reports(tmp_path / "report")
    path = reports / "findings.jsonl"
    with path.open("ab") as fh:
        fh.write(_record(wf.BEACON_HOST, "OLD evidence"))
        for i in range(60):  # other hosts' updates push the file past several chunks
            fh.write(_record(f"10.9.0.{i}", f"filler {i}"))
    client = _client(tmp_path, [reports])
    assert "OLD evidence" in client.get(f"/hosts/{wf.BEACON_HOST}").get_data(as_text=True)
    with path.open("ab") as fh:  # follow mode appends the update
        fh.write(_record(wf.BEACON_HOST, "NEWEST evidence"))
    assert path.stat().st_size > 4 * 4096
    page = client.get(f"/hosts/{wf.BEACON_HOST}").get_data(as_text=True)
    assert "NEWEST evidence" in page and "OLD evidence" not in page


def test_index_follows_the_report_files(tmp_path: Path) -> None:
    reports = wf.write_reports(tmp_path / "report")
    client = _client(tmp_path, [reports])
    assert "4 host(s)" in client.get("/").get_data(as_text=True)
    findings = reports / "findings.jsonl"
    # a half-written line is not read until it is complete
    whole = _record(wf.BEACON_HOST, "APPENDED summary")
    with findings.open("ab") as fh:
        fh.write(whole[:40])
    assert "APPENDED" not in client.get(f"/hosts/{wf.BEACON_HOST}").get_data(as_text=True)
    with findings.open("ab") as fh:
        fh.write(whole[40:])
    assert "APPENDED" in client.get(f"/hosts/{wf.BEACON_HOST}").get_data(as_text=True)
    # a new report (atomic rename, as the consumer writes): rows and findings rebuilt
    fresh = wf.write_many(tmp_path / "next", 30)
    os.replace(fresh / "hosts.csv", reports / "hosts.csv")
    os.replace(fresh / "findings.jsonl", findings)
    page = client.get("/").get_data(as_text=True)
    assert "30 host(s)" in page and wf.BEACON_HOST not in _hosts(page)
    assert client.get(f"/hosts/{wf.BEACON_HOST}").status_code == 404
    # the same inode rewritten in place, the same start, longer: its last record changed
    # (before the offset already read), so the file is read again, not as appended to
    lines = findings.read_bytes().splitlines(keepends=True)
    last = json.loads(lines[-1])
    with findings.open("r+b") as fh:
        fh.write(b"".join(lines[:-1]) + _record(last["host"], "REPLACED in place",
                                                last["detection"])
                 + _record("10.9.9.9", "filler") * 10)
    page = client.get(f"/hosts/{last['host']}").get_data(as_text=True)
    assert "REPLACED in place" in page
    # the same inode rewritten shorter (copytruncate) with other content: rebuilt too
    findings.write_bytes(_record("10.2.0.0", "REWRITTEN in place"))
    assert "REWRITTEN in place" in client.get("/hosts/10.2.0.0").get_data(as_text=True)
    index = client.application.extensions["sakimori_web"].index.path
    for path in index.parent.glob(index.name + "*"):
        path.unlink()  # the index is a cache: deleting it costs one rebuild
    assert "30 host(s)" in client.get("/").get_data(as_text=True)
    (reports / "hosts.csv").unlink()
    assert "0 host(s)" in client.get("/").get_data(as_text=True)


def test_a_host_in_two_reports_keeps_its_highest_row(tmp_path: Path) -> None:
    low = wf.write_reports(tmp_path / "a")
    high = tmp_path / "b"
    high.mkdir()
    rows = list(csv.DictReader(io.StringIO((low / "hosts.csv").read_text(encoding="utf-8"))))
    row = next(r for r in rows if r["host"] == "10.1.20.19")
    with (high / "hosts.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(row))
        w.writeheader()
        w.writerow({**row, "score": "99"})
    client = _client(tmp_path, [low, high])
    page = client.get("/").get_data(as_text=True)
    assert "4 host(s)" in page and _hosts(page)[0] in (wf.BEACON_HOST, "10.1.20.19")
    assert ">99<" in client.get("/hosts/10.1.20.19").get_data(as_text=True)
    # the second report lowers that row (rewritten by rename): the first one's row is back
    tmp = high / ".hosts.csv.tmp"
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(row))
        w.writeheader()
        w.writerow({**row, "score": "1"})
    os.replace(tmp, high / "hosts.csv")
    page = client.get("/hosts/10.1.20.19").get_data(as_text=True)
    assert f'id="score">{row["score"]}<' in page and row["score"] != "1"


def test_csv_download_is_complete_across_chunks(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reportquery, "CHUNK", 64)
    reports = wf.write_many(tmp_path / "report", 300)
    client = _client(tmp_path, [reports])
    got = client.get("/report.csv").get_data()
    direct = data.load([reports])  # the un-indexed reader
    assert got == render_csv(direct.hosts)
    assert got.count(b"host,score,severity") == 1 and len(got.splitlines()) == 301


def test_pages_do_not_queue_behind_a_refresh(tmp_path: Path) -> None:
    """While another process holds the refresh lock, a built index is served as it is; the
    change shows once the lock is free. Before any build, a page waits for it."""
    import fcntl

    reports = wf.write_reports(tmp_path / "report")
    client = _client(tmp_path, [reports])
    assert "4 host(s)" in client.get("/").get_data(as_text=True)
    index = client.application.extensions["sakimori_web"].index
    fresh = wf.write_many(tmp_path / "next", 30)
    os.replace(fresh / "hosts.csv", reports / "hosts.csv")
    with index.path.with_name(index.path.name + ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another `sakimori serve` is refreshing
        assert "4 host(s)" in client.get("/").get_data(as_text=True)
    assert "30 host(s)" in client.get("/").get_data(as_text=True)


def test_extra_csv_cells_do_not_break_the_index(tmp_path: Path) -> None:
    reports = wf.write_reports(tmp_path / "report")
    with (reports / "hosts.csv").open("a", encoding="utf-8") as fh:
        fh.write("10.1.20.99,50,medium,beacon,,,,x,EXTRA,<script>\r\n")
    client = _client(tmp_path, [reports])
    page = client.get("/").get_data(as_text=True)
    assert "5 host(s)" in page and "10.1.20.99" in _hosts(page)


def test_overlong_and_bad_lines_are_skipped_and_counted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reportindex, "READ_CHUNK", 1024)
    monkeypatch.setattr(reportindex, "MAX_LINE", 4096)
    reports = wf.write_reports(tmp_path / "report")
    with (reports / "findings.jsonl").open("ab") as fh:
        fh.write(b'{"host": "10.1.20.11", "summary": "' + b"A" * 20_000 + b'"}\n')
        fh.write(b"not json <script>\n")
        fh.write(_record(wf.BEACON_HOST, "AFTER the long line"))
    client = _client(tmp_path, [reports])
    assert "AFTER the long line" in client.get(f"/hosts/{wf.BEACON_HOST}").get_data(
        as_text=True)
    assert "findings.jsonl: 2 unreadable line(s) skipped" in client.get("/").get_data(
        as_text=True)
