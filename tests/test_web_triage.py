"""The Table 1 triage page (issue 13, item 6): classes × days, top hosts and mails per class,
"look at these first" with reasons, drill-down links, login, hostile values, limits.

Report files are written by the consumer's own outputs and the warning sender's ``record``
(tests/webfixtures.py ``write_triage``: every class over three days, hostile strings in
destinations, summaries and subjects); pages are parsed with an HTML parser.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
import webfixtures as wf
from flask.testing import FlaskClient
from webclient import PASSWORD, inert, login

from eve_consumer.model import Finding
from sakimori.config import load_config
from sakimori.web import auth
from sakimori.web.app import create_app

# Ground truth of write_triage, by hand: hosts count on the day of their first finding,
# mails on the day they were recorded (the classless spoofing warning counts as targeted).
DAYS = {
    ("anonymizer", "2026-11-01"): 1,  # TOR
    ("backdoor", "2026-11-02"): 3,  # BD_MAL, BD_TOP, KC_HOST
    ("backdoor", "2026-11-03"): 1,  # BD_URL
    ("malware", "2026-11-02"): 1,  # BD_MAL (its first finding is day 1)
    ("malware", "2026-11-03"): 1,  # MALWARE
    ("web_attack", "2026-11-03"): 1,
    ("targeted", "2026-11-01"): 1,
    ("targeted", "2026-11-02"): 1,  # the warning recorded without a class
    ("targeted", "2026-11-03"): 1,
    ("mass_virus", "2026-11-02"): 2,
    ("spam", "2026-11-03"): 1,
}
TIER_ORDER = ["kill_chain", "targeted", "backdoor", "web_attack", "malware", "anonymizer",
              "mass_virus", "spam"]


class Page(HTMLParser):
    """Links, heat-map cells, and the triage items per tier (in page order)."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.cells: dict[tuple[str, str], int] = {}
        self.tiers: list[str] = []
        self.items: dict[str, list[dict[str, str]]] = {}
        self._item: dict[str, str] | None = None
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a":
            self.links.append(a.get("href", ""))
            if self._item is not None:
                self._item.setdefault("href", a.get("href", ""))
        if tag == "rect" and "data-class" in a:
            self.cells[(a["data-class"], a["data-day"])] = int(a["data-count"])
        if tag == "li" and a.get("class") == "tier":
            self.tiers.append(a["id"].removeprefix("tier-"))
        if tag == "li" and a.get("class") == "item":
            self._item = {"text": ""}
            self.items.setdefault(self.tiers[-1], []).append(self._item)

    def handle_endtag(self, tag: str) -> None:
        if tag == "li":
            self._item = None

    def handle_data(self, data: str) -> None:
        if self._item is not None:
            self._item["text"] += data


def _parse(html: str) -> Page:
    p = Page()
    p.feed(html)
    return p


def _site(tmp_path: Path, extra: list[Finding] | None = None, **web) -> FlaskClient:
    reports = wf.write_triage(tmp_path / "report", extra)
    cfg = load_config(wf.write_config(tmp_path, report_dirs=[reports], extra_web={
        "user_hosts": {wf.KC_USER: [wf.KC_HOST]}, **web}), env={})
    auth.add_user(cfg.web.users_file, "alice", PASSWORD)
    client = create_app(cfg, testing=True).test_client()
    login(client)
    return client


@pytest.fixture
def client(tmp_path: Path) -> FlaskClient:
    return _site(tmp_path)


def test_look_first_order_and_reasons(client: FlaskClient) -> None:
    page = _parse(client.get("/triage").get_data(as_text=True))
    assert page.tiers == TIER_ORDER
    items = page.items
    # 1: the kill chain host, although four hosts score higher
    assert [i["href"] for i in items["kill_chain"]] == [f"/hosts/{wf.KC_HOST}"]
    reason = items["kill_chain"][0]["text"]
    assert wf.KC_USER in reason and "targeted mail" in reason and "beacon" in reason
    # 2: targeted mails, newest first, the classless spoofing warning among them; the one
    # that led to the kill chain says so
    assert len(items["targeted"]) == 3
    assert "見積書の件" in items["targeted"][0]["text"]
    assert f"kill chain: its recipient's host {wf.KC_HOST}" in items["targeted"][2]["text"]
    assert all(i["href"].startswith("/mail/0/") for i in items["targeted"])
    # 3: backdoor by score, the kill-chain host not again; the backdoor+malware host says so
    assert [i["href"] for i in items["backdoor"]] == [
        f"/hosts/{h}" for h in (wf.BD_MAL, wf.BD_TOP, wf.BD_URL)]
    assert "also malware" in items["backdoor"][0]["text"]
    assert all("backdoor, score" in i["text"] for i in items["backdoor"])
    # 4-6: one host each; BD_MAL is not listed again under malware
    assert [i["href"] for i in items["web_attack"]] == [f"/hosts/{wf.WEB_SERVER}"]
    assert [i["href"] for i in items["malware"]] == [f"/hosts/{wf.MALWARE}"]
    assert [i["href"] for i in items["anonymizer"]] == [f"/hosts/{wf.TOR}"]
    # 7, 8: mass virus (newest first), spam last
    assert ["Invoice 2" in i["text"] for i in items["mass_virus"]] == [True, False]
    assert "reached 13 recipients" in items["mass_virus"][0]["text"]
    assert len(items["spam"]) == 1 and "Rspamd action add header" in items["spam"][0]["text"]


def test_day_counts_in_the_plot_match_the_fixture(client: FlaskClient) -> None:
    page = _parse(client.get("/triage").get_data(as_text=True))
    days = sorted({d for _, d in page.cells})
    assert days == ["2026-11-01", "2026-11-02", "2026-11-03"]
    nonzero = {k: n for k, n in page.cells.items() if n}
    assert nonzero == DAYS
    classes = {c for c, _ in page.cells}
    assert classes == set(TIER_ORDER) - {"kill_chain"}  # every class has a row, zeros too


def test_drill_down_links_resolve(client: FlaskClient) -> None:
    html = client.get("/triage").get_data(as_text=True)
    links = {h for h in _parse(html).links if h.startswith(("/hosts/", "/mail/", "/triage/"))}
    assert any(h.startswith("/mail/") for h in links) and any(
        h.startswith("/triage/") for h in links)
    for href in sorted(links):
        resp = client.get(href)
        assert resp.status_code == 200, href
        inert(resp.get_data(as_text=True))
    mail = client.get(next(h for h in sorted(links) if h.startswith("/mail/")))
    text = mail.get_data(as_text=True)
    assert 'id="class-reasons"' in text and "message_id" in text
    assert client.get("/mail/0/999999").status_code == 404
    assert client.get("/mail/7/0").status_code == 404
    assert client.get("/triage/kill_chain").status_code == 404
    assert client.get("/triage/%3Cscript%3E").status_code == 404


def test_mail_page_links_each_warning(client: FlaskClient) -> None:
    links = [h for h in _parse(client.get("/mail").get_data(as_text=True)).links
             if h.startswith("/mail/")]
    assert len(links) == 6
    assert all(client.get(h).status_code == 200 for h in links)


@pytest.mark.parametrize("path", ["/triage", "/triage/backdoor", "/triage/targeted",
                                  "/mail/0/0"])
def test_login_required(tmp_path: Path, path: str) -> None:
    reports = wf.write_triage(tmp_path / "report")
    cfg = load_config(wf.write_config(tmp_path, report_dirs=[reports]), env={})
    resp = create_app(cfg, testing=True).test_client().get(path)
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("path", ["/triage", "/triage/backdoor", "/triage/targeted",
                                  "/triage/malware", "/triage/mass_virus"])
def test_hostile_values_are_inert(client: FlaskClient, path: str) -> None:
    html = client.get(path).get_data(as_text=True)
    inert(html)
    assert "&lt;script&gt;" in html or "&#34;&gt;&lt;img" in html


def test_nav_links_the_triage_page(client: FlaskClient) -> None:
    assert "/triage" in _parse(client.get("/").get_data(as_text=True)).links


def test_limits_and_pagination(tmp_path: Path) -> None:
    extra = [Finding(f"10.1.50.{i}", "beacon", 0.5 + i / 100, wf.T0 + wf.DAY, wf.T0 + wf.DAY
                     + 60, [f"c{i}.test"], [], {}, f"c{i}.test") for i in range(25)]
    client = _site(tmp_path, extra, page_size=10)
    page = _parse(client.get("/triage").get_data(as_text=True))
    assert len(page.items["backdoor"]) == 10  # at most 10 per tier
    html = client.get("/triage").get_data(as_text=True)
    # 29 backdoor hosts: the kill-chain one in tier 1, 10 shown, 18 more
    assert "18 more:" in html and 'href="/triage/backdoor"' in html
    assert page.cells[("backdoor", "2026-11-02")] == 3 + 25
    seen = []
    for n in (1, 2, 3):
        p = _parse(client.get(f"/triage/backdoor?page={n}").get_data(as_text=True))
        seen += [h for h in p.links if h.startswith("/hosts/")]
    assert len(seen) == 29 == len(set(seen))
    last = client.get("/triage/backdoor?page=99").get_data(as_text=True)
    assert "page 3 of 3" in last
    assert client.get("/triage?days=abc").status_code == 200


def test_classes_follow_a_rewritten_report(client: FlaskClient, tmp_path: Path) -> None:
    """hostclass is kept with the best rows: a host gone from hosts.csv leaves its class."""
    import csv

    assert _parse(client.get("/triage").get_data(as_text=True)).cells[
        ("anonymizer", "2026-11-01")] == 1
    path = tmp_path / "report" / "hosts.csv"
    with path.open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["host"] != wf.TOR]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    page = _parse(client.get("/triage").get_data(as_text=True))
    assert "anonymizer" not in page.items
    assert ("anonymizer", "2026-11-01") not in {k for k, n in page.cells.items() if n}
    assert page.cells[("backdoor", "2026-11-02")] == 3


def test_a_hostile_host_name_gets_no_link(tmp_path: Path) -> None:
    """A hosts.csv host that is not an IP address (a payload) is shown as inert text."""
    bad = Finding(wf.XSS_IMG, "beacon", 0.99, wf.T0 + wf.DAY, wf.T0 + wf.DAY + 60,
                  [wf.C2], [], {}, "c2")
    client = _site(tmp_path, [bad])
    for path in ("/triage", "/triage/backdoor"):
        html = client.get(path).get_data(as_text=True)
        inert(html)
        assert "&#34;&gt;&lt;img src=x" in html  # shown, escaped
        assert not [h for h in _parse(html).links if "img" in h.lower()]
