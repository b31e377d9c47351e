"""One-click "mark benign" (issue 11, item 3): a host page offers only the flow's exact IP and
the exact host name seen in its evidence — never a CIDR, wildcard, apex form, public suffix or
an address that is only Host/SNI text — and the POST handler accepts only an entry offered for
that host, so an attacker who writes the Host header or SNI cannot make an analyst's click
whitelist more than one name or address.
"""

from __future__ import annotations

import re
from pathlib import Path

import webfixtures as wf

from eve_consumer.model import Finding
from generator.build import render_build
from sakimori.config import load_config
from sakimori.web import auth
from sakimori.web.app import create_app

HOST = "10.1.20.30"
PASSWORD = "correct horse battery"
# What the attacker's client wrote as Host/SNI, next to the address the flow really reached.
DESTINATIONS = [
    "*.windowsupdate.com (203.0.113.66:80)",  # a wildcard that looks like a vendor
    ".evil-c2.test (203.0.113.67:443)",       # apex-and-subdomains form
    "com (203.0.113.68:80)",                  # a TLD
    "0.0.0.0/1",                              # a Host header holding half the internet
    "8.8.8.8",                                # a Host header holding someone else's address
    "*.co.jp:80",
    "c2.attacker.test (203.0.113.69:443)",    # a plain name: offered exactly
]
OFFERED = {"203.0.113.66", "203.0.113.67", "203.0.113.68", "203.0.113.69", "c2.attacker.test"}


def _site(tmp_path: Path):
    extra = [Finding(HOST, "long_url", 0.8, wf.T0 + 50, wf.T0 + 60, DESTINATIONS, [5555],
                     {"requests": 7}, "long URLs")]
    build = tmp_path / "build"
    cfg_path = wf.write_config(tmp_path, build_dir=build, report_dirs=[
        wf.write_reports(tmp_path / "report", extra)])
    cfg = load_config(cfg_path, env={})
    render_build(cfg, None, build, validate=False)
    auth.add_user(cfg.web.users_file, "alice", PASSWORD)
    client = create_app(cfg, testing=True).test_client()
    page = client.get("/login").get_data(as_text=True)
    tok = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": tok})
    return client, tmp_path / "whitelist.txt"


def _offered(page: str) -> set[str]:
    return set(re.findall(r'<input type="hidden" name="entry" value="([^"]*)">', page))


def test_host_page_offers_only_exact_ips_and_names(tmp_path: Path) -> None:
    client, _ = _site(tmp_path)
    page = client.get(f"/hosts/{HOST}").get_data(as_text=True)
    assert _offered(page) == OFFERED
    assert f'action="/hosts/{HOST}/benign"' in page
    for hostile in ("*.windowsupdate.com", ".evil-c2.test", "com", "0.0.0.0/1", "8.8.8.8",
                    "*.co.jp"):
        assert f"Mark {hostile} benign" not in page


def test_benign_post_accepts_only_what_was_offered_for_that_host(tmp_path: Path) -> None:
    client, wl_file = _site(tmp_path)
    page = client.get(f"/hosts/{HOST}").get_data(as_text=True)
    tok = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    # Valid whitelist entries, but none of them was offered for this host: an edited or
    # forged form (or one of another host's destinations) changes nothing.
    for entry in ("*.windowsupdate.com", ".evil-c2.test", "8.8.8.8", "203.0.113.0/24",
                  "attacker.test", wf.C2):
        resp = client.post(f"/hosts/{HOST}/benign", data={
            "entry": entry, "reason": "looks like a vendor", "csrf_token": tok})
        assert resp.status_code == 302
        msg = client.get(resp.headers["Location"]).get_data(as_text=True)
        assert "is not a destination address or host name seen in the evidence" in msg
        assert not wl_file.exists()
    resp = client.post(f"/hosts/{HOST}/benign", data={
        "entry": "c2.attacker.test", "reason": "vendor API, ticket 7", "csrf_token": tok})
    assert "done=" in resp.headers["Location"]
    assert wl_file.read_text().splitlines()[-1] == "c2.attacker.test"
    # the other host's own destination is accepted on its own page
    resp = client.post(f"/hosts/{wf.BEACON_HOST}/benign", data={
        "entry": wf.C2, "reason": "vendor CDN", "csrf_token": tok})
    assert "done=" in resp.headers["Location"]
    assert wl_file.read_text().splitlines()[-2:] == ["c2.attacker.test", wf.C2]
    assert client.post("/hosts/10.9.9.9/benign", data={
        "entry": "x.test", "reason": "x", "csrf_token": tok}).status_code == 404


def test_whitelist_page_is_not_prefilled_from_a_link(tmp_path: Path) -> None:
    client, _ = _site(tmp_path)
    page = client.get("/whitelist?entry=.evil-c2.test").get_data(as_text=True)
    assert ".evil-c2.test" not in page
