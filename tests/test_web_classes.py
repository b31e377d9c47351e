"""The admin screen shows each host's Table 1 classes (hosts page column, host page), read
from hosts.csv by column name; an older hosts.csv without the column gets them from the class
map. The report files are written by the consumer's own outputs (tests/webfixtures.py)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import webfixtures as wf
from webclient import PASSWORD, login

from eve_consumer.model import Finding
from sakimori.config import load_config
from sakimori.web import auth
from sakimori.web.app import create_app

WEB_SERVER = "10.1.30.80"


def _client(tmp_path: Path, drop_classes_column: bool = False):
    web = Finding(WEB_SERVER, "web_attack", 0.8, wf.T0, wf.T0 + 60, ["198.51.100.20 -> :80"],
                  [5555], {"alerts": 2}, "2 alert(s), e.g. 2006446: ET WEB_SERVER …",
                  classes=["web_attack"])
    reports = wf.write_reports(tmp_path / "report", extra=[web])
    if drop_classes_column:
        path = reports / "hosts.csv"
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        with path.open("w", newline="", encoding="utf-8") as fh:
            fields = [c for c in rows[0] if c != "classes"]
            writer = csv.DictWriter(fh, fields, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
    cfg = load_config(wf.write_config(tmp_path, report_dirs=[reports]), env={})
    auth.add_user(cfg.web.users_file, "alice", PASSWORD)
    client = create_app(cfg, testing=True).test_client()
    login(client)
    return client


def _class_cells(page: str) -> dict[str, str]:
    """host → the text of its classes cell on the hosts page."""
    out = {}
    for row in re.findall(r"<tr class=\"sev-.*?</tr>", page, re.S):
        host = re.search(r'class="host-link"[^>]*>([^<]+)<', row).group(1)
        out[host] = re.search(r'<td class="classes">([^<]*)</td>', row).group(1)
    return out


def test_hosts_and_host_page_show_classes(tmp_path: Path) -> None:
    for drop in (False, True):
        client = _client(tmp_path / str(drop), drop_classes_column=drop)
        page = client.get("/").get_data(as_text=True)
        assert "<th>classes</th>" in page
        cells = _class_cells(page)
        assert cells[wf.BEACON_HOST] == "backdoor"
        assert cells["10.1.20.18"] == "anonymizer"
        assert cells[WEB_SERVER] == "web_attack"
        host = client.get(f"/hosts/{WEB_SERVER}").get_data(as_text=True)
        assert re.search(r'<span id="classes">web_attack</span>', host)
