"""Admin screen (Flask test client): login, sessions, CSRF, security headers, escaping of
attacker-controlled text, header-auth mode, CSV download, kill chain, beacon plot."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import time
from pathlib import Path

import pytest
import webfixtures as wf
from flask.testing import FlaskClient
from webclient import PASSWORD, inert, login, token

from sakimori.config import load_config
from sakimori.web import auth, killchain
from sakimori.web.app import create_app
from sakimori.web.svgplot import interval_plot


@pytest.fixture
def site(tmp_path: Path) -> tuple[Path, FlaskClient]:
    reports = wf.write_reports(tmp_path / "report")
    cfg_path = wf.write_config(tmp_path, report_dirs=[reports])
    cfg = load_config(cfg_path, env={})
    auth.add_user(cfg.web.users_file, "alice", PASSWORD)
    return cfg_path, create_app(cfg, testing=True).test_client()


@pytest.mark.parametrize("path", ["/", "/hosts/10.1.20.11", "/mail", "/whitelist"])
def test_pages_need_login(site, path: str) -> None:
    _, client = site
    resp = client.get(path)
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/login?next=")


def test_csv_needs_login_401(site) -> None:
    _, client = site
    assert client.get("/report.csv").status_code == 401


def test_login_logout(site) -> None:
    _, client = site
    assert login(client, "wrong password").status_code == 401
    assert client.get("/").status_code == 302
    resp = login(client, next_="/mail")
    assert resp.status_code == 302 and resp.headers["Location"] == "/mail"
    assert client.get("/").status_code == 200
    assert client.post("/logout", data={"csrf_token": token(client, "/")}).status_code == 302
    assert client.get("/").status_code == 302


@pytest.mark.parametrize("target", ["//evil.example/", "/%09/evil.example/",
                                    "https://evil.example/", "/\\evil.example"])
def test_login_never_redirects_off_site(site, target: str) -> None:
    _, client = site
    resp = login(client, next_=target)
    assert resp.headers["Location"] == "/"


def test_session_expires(site, monkeypatch: pytest.MonkeyPatch) -> None:
    _, client = site
    login(client)
    assert client.get("/").status_code == 200
    from sakimori.web import sessions

    real = sessions.time.time
    monkeypatch.setattr(sessions.time, "time", lambda: real() + 31 * 60)
    assert client.get("/").status_code == 302


def test_posts_without_or_with_wrong_csrf_token_change_nothing(site, tmp_path: Path) -> None:
    _, client = site
    login(client)
    for data in ({"entry": "c2.evil-cdn.test", "reason": "x"},
                 {"entry": "c2.evil-cdn.test", "reason": "x", "csrf_token": "forged" * 8}):
        assert client.post("/whitelist", data=data).status_code == 400
    assert not (tmp_path / "whitelist.txt").exists()
    assert not (tmp_path / "audit.jsonl").exists()
    # login itself is CSRF-protected too
    fresh = create_app(load_config(tmp_path / "sakimori.yaml", env={}), testing=True)
    resp = fresh.test_client().post("/login", data={"username": "alice", "password": PASSWORD})
    assert resp.status_code == 400


def test_security_headers(site) -> None:
    _, client = site
    for resp in (client.get("/login"), client.get("/")):
        csp = resp.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src 'none'" in csp
        assert "frame-ancestors 'none'" in csp
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert resp.headers["Referrer-Policy"] == "no-referrer"
    login(client)
    cookie = client.get_cookie("sakimori_session")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Strict"


@pytest.mark.parametrize("path", ["/", "/hosts/10.1.20.11", "/hosts/10.1.20.14",
                                  "/hosts/10.1.20.18", "/mail"])
def test_attacker_strings_are_escaped(site, path: str) -> None:
    _, client = site
    login(client)
    page = client.get(path).get_data(as_text=True)
    inert(page)
    assert "&lt;script&gt;" in page or "&lt;img" in page or "&#34;&gt;&lt;img" in page


def test_payload_in_url_and_host_header_is_inert(site) -> None:
    _, client = site
    login(client)
    resp = client.get("/hosts/" + "%3Cscript%3Ealert(1)%3C/script%3E")
    assert resp.status_code == 404
    inert(resp.get_data(as_text=True))
    resp = client.get("/", environ_overrides={"HTTP_HOST": 'x"><script>alert(1)</script>'})
    inert(resp.get_data(as_text=True))
    assert "<script" not in resp.headers.get("Location", "")
    resp = client.get("/whitelist?entry=" + "%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E")
    inert(resp.get_data(as_text=True))


def test_header_auth_only_from_trusted_proxies(tmp_path: Path) -> None:
    reports = wf.write_reports(tmp_path / "report")
    cfg = load_config(wf.write_config(tmp_path, report_dirs=[reports], auth="header"), env={})
    client = create_app(cfg, testing=True).test_client()
    trusted = {"REMOTE_ADDR": "127.0.0.1"}
    assert client.get("/", headers={"X-Remote-User": "bob", **wf.PROXY},
                      environ_overrides=trusted).status_code == 200
    assert client.get("/", headers={"X-Remote-User": "bob", **wf.PROXY},
                      environ_overrides={"REMOTE_ADDR": "10.9.9.9"}).status_code == 401
    assert client.get("/", headers=wf.PROXY, environ_overrides=trusted).status_code == 401
    assert client.get("/", headers={"X-Remote-User": "<script>", **wf.PROXY},
                      environ_overrides=trusted).status_code == 401
    assert client.get("/login", headers=wf.PROXY, environ_overrides=trusted).status_code == 404


def test_csv_download_is_the_report_with_formulas_neutralised(site) -> None:
    _, client = site
    login(client)
    resp = client.get("/report.csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert rows[0]["host"] == wf.BEACON_HOST
    formula = next(r for r in rows if r["host"] == "10.1.20.19")
    assert formula["destinations"].startswith("'=")
    assert all(not v.startswith(("=", "+", "@")) for r in rows for v in r.values())


def test_host_page_shows_evidence_and_beacon_plot(site) -> None:
    _, client = site
    login(client)
    page = client.get("/hosts/10.1.20.11").get_data(as_text=True)
    assert wf.C2 in page and "1111" in page and "sub_z_shape" in page
    assert page.count("<svg") == 1 and page.count("<circle") == 150
    assert "no interval data" in page  # the second pair has no intervals_s
    assert 'class="baseline"' in page  # the threshold crossed is marked
    assert f'value="{wf.C2}"' in page  # whitelist button for the destination


def test_interval_plot_ignores_non_numbers() -> None:
    svg = interval_plot([1.0, "x", None, float("nan"), -1, 2.5, True], 2.0, "<b>")
    assert svg.count("<circle") == 2 and "&lt;b&gt;" in svg and "<b>" not in svg
    assert interval_plot([], 1.0) is None and interval_plot("nope") is None


def test_kill_chain_escalates_recipients_host_first(site, tmp_path: Path) -> None:
    _, client = site
    login(client)
    page = client.get("/").get_data(as_text=True)
    assert 'id="killchain"' in page
    chain = page.split('id="killchain"')[1].split("</section>")[0]
    assert wf.BEACON_HOST in chain and "keiri@example.co.jp" in chain
    first_row = page.split('id="hosts"')[1].split("host-link")[1]
    assert wf.BEACON_HOST in first_row


def test_kill_chain_mapping_learned_from_proxy_log(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(f"{wf.T0 + 5:.3f} 10 10.1.20.14 TCP_MISS/200 100 GET http://a.test/ "
                   "tanaka HIER_DIRECT/1.2.3.4 text/html\n"
                   f"{wf.T0 + 6:.3f} 10 8.8.8.8 TCP_MISS/200 100 GET http://a.test/ "
                   "sato HIER_DIRECT/1.2.3.4 text/html\n", encoding="utf-8")
    reports = wf.write_reports(tmp_path / "report")
    cfg = load_config(wf.write_config(tmp_path, report_dirs=[reports],
                                      extra_web={"proxy_logs": [str(log)]}), env={})
    learned = killchain.learn_from_proxy_logs(cfg, cfg.web.proxy_logs)
    assert learned == {"tanaka": "10.1.20.14"}  # 8.8.8.8 is not an internal client
    from sakimori.web import data

    report = data.load(cfg.web.report_dirs, cfg.web.state_dirs)
    chain = killchain.escalations(cfg, report.hosts, report.warnings, learned)
    assert {(e.host, e.recipient, e.mapping) for e in chain} == {
        (wf.BEACON_HOST, "keiri@example.co.jp", "config"),
        ("10.1.20.14", "tanaka@example.co.jp", "proxy log")}


def test_mail_warnings_page(site) -> None:
    _, client = site
    login(client)
    page = client.get("/mail").get_data(as_text=True)
    assert "SAKIMORI_DISPLAY_NAME_SPOOF" in page and "SAKIMORI_INTERNAL_SPOOF" in page
    assert "yes: soc@example.co.jp" in page  # admins told
    assert "no (--no-mail)" in page
    assert "お打ち合わせの件" in page


def test_add_user_cli_stores_a_salted_hash(tmp_path: Path) -> None:
    cfg_path = wf.write_config(tmp_path, report_dirs=[tmp_path])
    proc = subprocess.run([sys.executable, "-m", "sakimori", "serve", "--config",
                           str(cfg_path), "--add-user", "carol"], input="s3cret-password\n",
                          capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    users_file = tmp_path / "users.json"
    assert users_file.stat().st_mode & 0o777 == 0o600
    users = auth.load_users(users_file)
    assert users["carol"].startswith("scrypt:") and "s3cret" not in users["carol"]
    assert auth.check_login(users, "carol", "s3cret-password")
    short = subprocess.run([sys.executable, "-m", "sakimori", "serve", "--config",
                            str(cfg_path), "--add-user", "dave"], input="short\n",
                           capture_output=True, text=True, check=False, timeout=60)
    assert short.returncode == 2 and "at least" in short.stderr


def test_secret_key_created_private(tmp_path: Path) -> None:
    key = auth.secret_key(tmp_path / "k" / "secret")
    assert len(key) >= 32 and (tmp_path / "k" / "secret").stat().st_mode & 0o777 == 0o600
    assert auth.secret_key(tmp_path / "k" / "secret") == key


@pytest.mark.parametrize(("text", "key"), [
    ("web:\n  auth: ldap\n", "web.auth"),
    ("web:\n  colour: red\n", "web.colour"),
    ("web:\n  listen: nohostport\n", "web.listen"),
    ("web:\n  session_minutes: 0\n", "web.session_minutes"),
    ("web:\n  base_url: 'javascript:alert(1)'\n", "web.base_url"),
    ("web:\n  trusted_proxies: [10.0.0.0/33]\n", "web.trusted_proxies[0]"),
    ("web:\n  user_hosts: {a@b.jp: [not-an-ip]}\n", "web.user_hosts.a@b.jp"),
    ("web:\n  reload_commands: ['unbalanced \"quote']\n", "web.reload_commands[0]"),
    ("whitelist:\n  file: ''\n", "whitelist.file"),
])
def test_web_config_errors_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    from sakimori.errors import ConfigError

    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert err.value.key == key


def test_alert_mail_links_to_the_host_page(tmp_path: Path) -> None:
    from eve_consumer.correlate import correlate
    from eve_consumer.outputs.mail import build_message

    cfg_path = wf.write_config(tmp_path, report_dirs=[tmp_path],
                               extra_web={"base_url": "https://soc.example.co.jp/sakimori/"})
    cfg = load_config(cfg_path, env={})
    row = correlate(wf.findings())[0]
    body = build_message(cfg, row, row.findings).get_body(("plain",)).get_content()
    assert f"https://soc.example.co.jp/sakimori/hosts/{row.host}" in body
    (tmp_path / "x").mkdir()
    plain = load_config(wf.write_config(tmp_path / "x", report_dirs=[tmp_path]), env={})
    assert "/hosts/" not in build_message(plain, row, row.findings).get_body(
        ("plain",)).get_content()


def test_mail_page_shows_outbox_warnings_not_yet_or_never_mailed(site, tmp_path: Path) -> None:
    from eve_consumer.mailwarn.outbox import Outbox
    from sakimori.mail.checks import Hit
    from sakimori.mail.warnings import FlaggedMail

    _, client = site
    outbox = Outbox(tmp_path / "state" / "state.sqlite")  # consumer.state_dir of the config
    waiting = FlaggedMail("suricata", (Hit("SAKIMORI_LOOKALIKE_DOMAIN", ["d=examp1e"]),),
                          subject=f"pending {wf.XSS_SCRIPT}", message_id="<p1@x>")
    given_up = FlaggedMail("rspamd", (Hit("SAKIMORI_INTERNAL_SPOOF", []),),
                           subject="given up", message_id="<p2@x>")
    outbox.add(waiting)
    key, _ = outbox.add(given_up)
    outbox.failed_attempt(key, "421 try later", time.time(), lambda n: 30.0)
    outbox.finish(key, "failed", "421 try later")
    outbox.close()
    login(client)
    page = client.get("/mail").get_data(as_text=True)
    inert(page)
    assert "pending after 0 SMTP attempt(s)" in page
    assert "failed after 1 SMTP attempt(s): 421 try later" in page


def test_hosts_csv_alone_is_enough(tmp_path: Path) -> None:
    """Without findings.jsonl (output disabled) the screen shows hosts.csv's evidence text,
    and the kill chain still works from the row's times."""
    from sakimori.web import data

    reports = wf.write_reports(tmp_path / "report")
    (reports / "findings.jsonl").unlink()
    cfg = load_config(wf.write_config(tmp_path, report_dirs=[reports]), env={})
    report = data.load(cfg.web.report_dirs, cfg.web.state_dirs)
    beacon = report.host(wf.BEACON_HOST)
    assert beacon is not None and beacon.findings[0].summary.startswith(wf.C2)
    chain = killchain.escalations(cfg, report.hosts, report.warnings, {})
    assert [e.host for e in chain] == [wf.BEACON_HOST]
    auth.add_user(cfg.web.users_file, "alice", PASSWORD)
    client = create_app(cfg, testing=True).test_client()
    login(client)
    page = client.get(f"/hosts/{wf.BEACON_HOST}").get_data(as_text=True)
    inert(page)
    assert wf.C2 in page


def test_failed_logins_are_throttled_per_client(site) -> None:
    _, client = site
    codes = [login(client, "wrong").status_code for _ in range(auth.MAX_FAILURES)]
    assert codes == [401] * auth.MAX_FAILURES
    assert login(client).status_code == 429  # even the right password, for a while


def test_serve_errors_are_one_line(tmp_path: Path) -> None:
    import socket

    cfg_path = wf.write_config(tmp_path, report_dirs=[tmp_path])
    cmd = [sys.executable, "-m", "sakimori", "serve", "--config", str(cfg_path), "--listen"]
    bad = subprocess.run([*cmd, "nohostport"], capture_output=True, text=True, timeout=60,
                         check=False)
    assert bad.returncode == 2 and "--listen: expected HOST:PORT" in bad.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = subprocess.run([*cmd, f"127.0.0.1:{port}"], capture_output=True, text=True,
                              timeout=60, check=False)
    assert busy.returncode == 1 and "cannot listen on" in busy.stderr
    assert "Traceback" not in busy.stderr + bad.stderr


def test_index_shows_the_consumer_statistics(site, tmp_path: Path) -> None:
    _, client = site
    (tmp_path / "report" / "stats.json").write_text(
        '{"hosts_reported": 4, "decode": {"bad_lines": 2, "examples": ["<script>x</script>"]}}',
        encoding="utf-8")
    login(client)
    page = client.get("/").get_data(as_text=True)
    assert 'id="stats"' in page and "bad_lines" in page
    inert(page)
