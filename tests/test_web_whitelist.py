"""The whitelist file (config) and the admin screen's whitelist editor: validate, write,
regenerate with generate's own code, run the reload commands, audit; bad input changes
nothing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import webfixtures as wf

from eve_consumer.context import Context
from generator.build import render_build
from generator.render_suricata import host_pcre
from sakimori.config import load_config
from sakimori.errors import ConfigError
from sakimori.web import auth
from sakimori.web.app import create_app
from sakimori.web.wledit import offers
from sakimori.whitelist import Whitelist

PASSWORD = "correct horse battery"


def test_whitelist_file_is_merged_everywhere(tmp_path: Path) -> None:
    cfg_path = wf.write_config(tmp_path, report_dirs=[tmp_path])
    (tmp_path / "whitelist.txt").write_text("# comment\n\nupdates.example.net  # why\n"
                                            "198.51.100.0/24\n", encoding="utf-8")
    cfg = load_config(cfg_path, env={})
    assert cfg.whitelist.destinations == ("ntp.nict.jp", "updates.example.net",
                                          "198.51.100.0/24")
    assert cfg.whitelist.configured == ("ntp.nict.jp",)
    ctx = Context(cfg, None)  # the consumer's whitelist
    assert ctx.whitelist.matches_host("updates.example.net")
    assert ctx.whitelist.matches_ip("198.51.100.7")
    assert "updates\\.example\\.net" in host_pcre(Whitelist.from_entries(
        cfg.whitelist.destinations))


def test_whitelist_file_bad_line_names_file_and_line(tmp_path: Path) -> None:
    cfg_path = wf.write_config(tmp_path, report_dirs=[tmp_path])
    (tmp_path / "whitelist.txt").write_text("ok.example.net\n*bad*.com\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(cfg_path, env={})
    assert err.value.path == str(tmp_path / "whitelist.txt") and err.value.key == "line 2"


def test_offers_strip_ports() -> None:
    assert offers("176.58.115.27:9001") == ["176.58.115.27"]
    assert offers("[2001:db8::1]:443") == ["2001:db8::1"]
    assert offers("2001:db8::1:443") == ["2001:db8::1"]  # a flow label of an IPv6 peer
    assert offers("198.51.100.9 -> :22") == ["198.51.100.9"]
    assert offers("Evil.Example.COM.") == ["evil.example.com"]
    assert offers("cdn.example.net:8080") == ["cdn.example.net"]
    assert offers("cdn.example.net (198.51.100.7:443)") == ["198.51.100.7", "cdn.example.net"]
    assert offers('x.test"><img src=x onerror=alert(1)>') == []


def _client(tmp_path: Path, reloads: list[str]):
    build = tmp_path / "build"
    cfg_path = wf.write_config(tmp_path, report_dirs=[wf.write_reports(tmp_path / "report")],
                               build_dir=build, reload_commands=reloads)
    cfg = load_config(cfg_path)
    render_build(cfg, None, build, validate=False)
    auth.add_user(cfg.web.users_file, "alice", PASSWORD)
    client = create_app(cfg, testing=True).test_client()
    page = client.get("/login").get_data(as_text=True)
    tok = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": tok})
    page = client.get("/whitelist").get_data(as_text=True)
    tok = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return cfg_path, build, client, tok


def test_editor_regenerates_reloads_and_audits(tmp_path: Path) -> None:
    cfg_path, build, client, tok = _client(
        tmp_path, ["echo reloaded-suricata", "false", str(tmp_path / "no-such-command")])
    rules = build / "suricata" / "sakimori.rules"
    assert "c2\\.evil-cdn\\.test" not in rules.read_text()
    resp = client.post("/whitelist", data={"entry": wf.C2, "reason": "vendor CDN, ticket 42",
                                           "csrf_token": tok})
    assert resp.status_code == 302 and "done=" in resp.headers["Location"]
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert f"{wf.C2} whitelisted and rules regenerated" in page
    assert "reload failed" in page and "reloaded-suricata" in page
    assert re.escape(wf.C2) in page  # the regenerated rule line with the PCRE is shown
    assert re.escape(wf.C2) in rules.read_text()  # … and it is on disk
    assert wf.C2 in (tmp_path / "whitelist.txt").read_text()
    assert wf.C2 in load_config(cfg_path).whitelist.destinations
    (audit,) = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert audit["user"] == "alice" and audit["reason"] == "vendor CDN, ticket 42"
    assert audit["entry"] == wf.C2 and audit["ok"] and audit["time"].endswith("Z")
    assert [r["ok"] for r in audit["reloads"]] == [True, False, False]
    host_page = client.get(f"/hosts/{wf.BEACON_HOST}").get_data(as_text=True)
    assert "whitelisted — reports change at the next analysis" in host_page
    assert f'name="entry" value="{wf.C2}"' not in host_page
    assert audit["reloads"][2]["returncode"] is None  # missing command: reported, no crash


@pytest.mark.parametrize(("entry", "reason", "message"), [
    ("*bad*.com", "x", "wildcard only allowed"),
    ("not a host!", "x", "not a host name"),
    ("ok.example.net", "", "a reason is required"),
    ("ntp.nict.jp", "x", "already whitelisted"),
])
def test_editor_refuses_bad_input_and_changes_nothing(tmp_path: Path, entry: str,
                                                      reason: str, message: str) -> None:
    _, build, client, tok = _client(tmp_path, [])
    before = (build / "suricata" / "sakimori.rules").read_text()
    resp = client.post("/whitelist", data={"entry": entry, "reason": reason,
                                           "csrf_token": tok})
    assert resp.status_code == 302
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert message in page
    assert not (tmp_path / "whitelist.txt").exists()
    assert not (tmp_path / "audit.jsonl").exists()
    assert (build / "suricata" / "sakimori.rules").read_text() == before


def test_editor_with_a_broken_whitelist_file_reports_it(tmp_path: Path) -> None:
    _, _, client, tok = _client(tmp_path, [])
    (tmp_path / "whitelist.txt").write_text("*bad*.example\n", encoding="utf-8")
    page = client.get("/whitelist").get_data(as_text=True)
    assert "does not load now" in page and "line 1" in page
    resp = client.post("/whitelist", data={"entry": "ok.example.net", "reason": "x",
                                           "csrf_token": tok})
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "not changed: the configuration does not load now" in page
    assert (tmp_path / "whitelist.txt").read_text() == "*bad*.example\n"


def test_header_mode_audits_the_proxy_user(tmp_path: Path) -> None:
    build = tmp_path / "build"
    cfg_path = wf.write_config(tmp_path, report_dirs=[wf.write_reports(tmp_path / "report")],
                               build_dir=build, auth="header")
    cfg = load_config(cfg_path)
    render_build(cfg, None, build, validate=False)
    client = create_app(cfg, testing=True).test_client()
    env, who = {"REMOTE_ADDR": "127.0.0.1"}, {"X-Remote-User": "bob@soc", **wf.PROXY}
    page = client.get("/whitelist", headers=who, environ_overrides=env).get_data(as_text=True)
    tok = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    resp = client.post("/whitelist", data={"entry": "*.cdn.example.net", "reason": "CDN",
                                           "csrf_token": tok},
                       headers=who, environ_overrides=env)
    assert resp.status_code == 302
    (audit,) = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert audit["user"] == "bob@soc" and audit["ok"]
    untrusted = client.post("/whitelist", data={"entry": "x.example.net", "reason": "x",
                                                "csrf_token": tok},
                            headers=who, environ_overrides={"REMOTE_ADDR": "10.9.9.9"})
    assert untrusted.status_code == 401
    assert "x.example.net" not in (tmp_path / "whitelist.txt").read_text()


def test_context_whitelist_verdicts_follow_the_whitelist_it_holds(tmp_path: Path) -> None:
    """Context.whitelisted: by IP, by name, by the DNS names of a nameless destination; the
    whitelist's emptiness is kept by the setter, so replacing the whitelist takes effect."""
    cfg = load_config(wf.write_config(tmp_path, report_dirs=[tmp_path]), env={})
    ctx = Context(cfg, None)
    ctx.whitelist = Whitelist.from_entries(["*.updates.example.net", "198.51.100.0/24"])
    assert ctx.whitelisted("198.51.100.7", None)
    assert ctx.whitelisted("203.0.113.9", "a.updates.example.net")
    assert not ctx.whitelisted("203.0.113.9", "updates.example.org")
    assert not ctx.whitelisted("203.0.113.9", None)
    ctx._add_dns("203.0.113.9", "other.example.org", None)
    assert not ctx.whitelisted("203.0.113.9", None)
    ctx._add_dns("203.0.113.9", "b.updates.example.net", None)
    assert ctx.whitelisted("203.0.113.9", None)  # the second DNS name of that address
    ctx.whitelist = Whitelist.from_entries(["other.example.org"])  # cached verdicts dropped
    assert not ctx.whitelisted("198.51.100.7", "a.updates.example.net")
    assert ctx.whitelisted("203.0.113.9", None)
    ctx.whitelist = Whitelist.from_entries([])
    assert not ctx.whitelisted("198.51.100.7", "a.updates.example.net")
