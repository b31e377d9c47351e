"""Admin screen sessions under attack (issue 11, item 5): a cookie stolen before logout, a
deleted user's open session, a loopback client claiming a user in header mode, a foreign Host
in Werkzeug's merge-slashes redirect, and login throttling per user and behind a proxy."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import waitress
import webfixtures as wf
from flask import Flask
from flask.testing import FlaskClient

from sakimori.config import load_config
from sakimori.errors import ConfigError, SakimoriError
from sakimori.web import auth
from sakimori.web.app import create_app

PASSWORD = "correct horse battery"


def _site(tmp_path: Path, **extra: object) -> tuple[Path, Flask]:
    reports = wf.write_reports(tmp_path / "report")
    cfg_path = wf.write_config(tmp_path, report_dirs=[reports], extra_web=dict(extra))
    cfg = load_config(cfg_path, env={})
    for name in ("alice", "bob"):
        auth.add_user(cfg.web.users_file, name, PASSWORD)
    return cfg_path, create_app(cfg, testing=True)


def _token(client: FlaskClient, path: str = "/login", **kw: object) -> str:
    page = client.get(path, **kw).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _login(client: FlaskClient, user: str = "alice", password: str = PASSWORD,
           **kw: object) -> int:
    return client.post("/login", data={"username": user, "password": password,
                                       "csrf_token": _token(client, **kw)}, **kw).status_code


def _steal(client: FlaskClient, app: Flask) -> FlaskClient:
    """A second browser holding a copy of *client*'s session cookie."""
    thief = app.test_client()
    thief.set_cookie("sakimori_session", client.get_cookie("sakimori_session").value)
    return thief


def test_stolen_cookie_is_dead_after_logout(tmp_path: Path) -> None:
    _, app = _site(tmp_path)
    client = app.test_client()
    assert _login(client) == 302
    thief = _steal(client, app)
    assert thief.get("/").status_code == 200  # the copy works while the session lives
    assert client.post("/logout", data={"csrf_token": _token(client, "/")}).status_code == 302
    assert thief.get("/").status_code == 302
    assert thief.get("/report.csv").status_code == 401


def test_deleted_user_cannot_change_the_whitelist(tmp_path: Path) -> None:
    cfg_path, app = _site(tmp_path)
    client = app.test_client()
    assert _login(client) == 302
    tok = _token(client, "/whitelist")
    proc = subprocess.run([sys.executable, "-m", "sakimori", "serve", "--config",
                           str(cfg_path), "--delete-user", "alice"],
                          capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "1 session(s) ended" in proc.stdout
    resp = client.post("/whitelist", data={"entry": "c2.evil-cdn.test", "reason": "mine now",
                                           "csrf_token": tok})
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login")
    assert not (tmp_path / "whitelist.txt").exists()
    assert not (tmp_path / "audit.jsonl").exists()
    assert _login(app.test_client()) == 401


def test_user_removed_from_the_file_by_hand_loses_its_session(tmp_path: Path) -> None:
    _, app = _site(tmp_path)
    client = app.test_client()
    assert _login(client, "bob") == 302
    users = tmp_path / "users.json"
    users.write_text(users.read_text().replace('"bob"', '"bob-gone"'), encoding="utf-8")
    assert client.get("/").status_code == 302


def test_header_mode_needs_the_proxy_secret(tmp_path: Path) -> None:
    reports = wf.write_reports(tmp_path / "report")
    cfg = load_config(wf.write_config(tmp_path, report_dirs=[reports], auth="header"), env={})
    client = create_app(cfg, testing=True).test_client()
    loopback = {"REMOTE_ADDR": "127.0.0.1"}
    for headers in ({"X-Remote-User": "admin"},
                    {"X-Remote-User": "admin", "X-Sakimori-Proxy-Secret": "guess" * 8},
                    {"X-Remote-User": "admin", "X-Sakimori-Proxy-Secret": ""}):
        assert client.get("/", headers=headers, environ_overrides=loopback).status_code == 401
    assert client.get("/", headers={"X-Remote-User": "admin", **wf.PROXY},
                      environ_overrides=loopback).status_code == 200
    # header mode without a secret is refused at configuration time
    (tmp_path / "x").mkdir()
    path = wf.write_config(tmp_path / "x", report_dirs=[reports], auth="header",
                           extra_web={"proxy_secret_file": None})
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert err.value.key == "web.proxy_secret_file"
    (tmp_path / "proxy.secret").write_text("short\n", encoding="utf-8")
    with pytest.raises(SakimoriError, match="at least 16"):
        create_app(load_config(tmp_path / "sakimori.yaml", env={}), testing=True)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[int, Flask]]:
    """The app served by waitress as `sakimori serve` does, on a free loopback port."""
    _, app = _site(tmp_path)
    cfg = app.extensions["sakimori_cfg"]
    app = create_app(cfg, listen_host="127.0.0.1")
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=2,
                                    clear_untrusted_proxy_headers=True)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield server.effective_port, app
    finally:
        server.close()
        thread.join(5)


def _raw(port: int, path: str, host: str, cookie: str = "") -> tuple[int, str]:
    """Send a GET with exactly this request line and Host; (status, headers)."""
    req = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
    req += f"Cookie: sakimori_session={cookie}\r\n" if cookie else ""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall((req + "\r\n").encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    return int(head.split()[1]), head


def test_foreign_host_is_refused_and_never_reflected(served) -> None:
    port, app = served
    client = app.test_client()
    assert _login(client) == 302
    cookie = client.get_cookie("sakimori_session").value
    for path in ("//evil.example/", "//mail", "//hosts//10.1.20.11", "//static//style.css"):
        for who in ("", cookie):
            status, head = _raw(port, path, "evil", who)
            assert status == 400, (path, head)
            assert "evil" not in head.lower(), head
    # our own Host: slashes are not merged by a redirect (which would echo the Host)
    status, head = _raw(port, "//hosts//10.1.20.11", f"127.0.0.1:{port}", cookie)
    assert status in (200, 404) and "Location" not in head
    assert _raw(port, "/mail", f"127.0.0.1:{port}", cookie)[0] == 200
    assert _raw(port, "/mail", f"localhost:{port}", cookie)[0] == 200


def test_base_url_and_allowed_hosts_name_the_screen(tmp_path: Path) -> None:
    _, app = _site(tmp_path, base_url="https://soc.example.co.jp/sakimori",
                   allowed_hosts=["sakimori.internal"])
    client = app.test_client()
    for host in ("soc.example.co.jp", "SAKIMORI.internal:8443", "localhost"):
        assert client.get("/login", headers={"Host": host}).status_code == 200, host
    assert client.get("/login", headers={"Host": "soc.example.co.jp.evil"}).status_code == 400


def test_login_throttle_per_user_name(tmp_path: Path) -> None:
    """Guessing one user's password from many addresses locks that user, not the others."""
    _, app = _site(tmp_path)
    client = app.test_client()
    for i in range(auth.MAX_FAILURES):
        env = {"REMOTE_ADDR": f"192.0.2.{i + 1}"}
        assert _login(client, "alice", "wrong", environ_overrides=env) == 401
    fresh = {"REMOTE_ADDR": "192.0.2.200"}
    assert _login(client, "alice", environ_overrides=fresh) == 429
    assert _login(app.test_client(), "bob", environ_overrides=fresh) == 302


def test_login_throttle_per_forwarded_client_behind_a_trusted_proxy(tmp_path: Path) -> None:
    """One attacker behind the proxy is locked out; the others behind it still log in; a
    client without the proxy's secret cannot pick its own address."""
    (tmp_path / "proxy.secret").write_text(wf.PROXY_SECRET, encoding="utf-8")
    _, app = _site(tmp_path, proxy_secret_file=str(tmp_path / "proxy.secret"))
    proxy = {"REMOTE_ADDR": "127.0.0.1"}
    attacker = {**wf.PROXY, "X-Real-IP": "203.0.113.66"}
    client = app.test_client()
    for _ in range(auth.MAX_FAILURES):
        assert _login(client, "nobody", "wrong", headers=attacker,
                      environ_overrides=proxy) == 401
    assert _login(client, "alice", headers=attacker, environ_overrides=proxy) == 429
    colleague = {**wf.PROXY, "X-Real-IP": "203.0.113.7"}
    assert _login(app.test_client(), "alice", headers=colleague,
                  environ_overrides=proxy) == 302
    # without the secret, X-Real-IP is ignored: the loopback peer itself is the client
    spoofer = app.test_client()
    for i in range(auth.MAX_FAILURES):
        _login(spoofer, "mallory", "wrong", headers={"X-Real-IP": f"198.51.100.{i}"},
               environ_overrides={"REMOTE_ADDR": "127.0.0.2"})
    assert _login(spoofer, "bob", headers={"X-Real-IP": "198.51.100.99"},
                  environ_overrides={"REMOTE_ADDR": "127.0.0.2"}) == 429


def test_throttle_is_shared_through_the_file_and_windowed(tmp_path: Path) -> None:
    from sakimori.web.sessions import LoginThrottle, SessionStore

    one = LoginThrottle(SessionStore(tmp_path / "s.sqlite"), limit=2, window_s=10)
    two = LoginThrottle(SessionStore(tmp_path / "s.sqlite"), limit=2, window_s=10)
    one.failed(["addr:a", "user:x"], now=0)
    two.failed(["addr:a"], now=1)
    assert one.blocked(["addr:a"], now=5) and two.blocked(["addr:b", "addr:a"], now=5)
    assert not two.blocked(["addr:b", "user:x"], now=5)
    assert not one.blocked(["addr:a"], now=11.5)
    assert (tmp_path / "s.sqlite").stat().st_mode & 0o777 == 0o600


def test_session_ids_are_not_stored_in_clear(tmp_path: Path) -> None:
    from sakimori.web.sessions import SessionStore

    store = SessionStore(tmp_path / "s.sqlite")
    sid = store.create("alice", now=100.0)
    assert store.user(sid, 60, now=120.0) == "alice"
    assert sid.encode() not in (tmp_path / "s.sqlite").read_bytes()
    assert store.user(sid, 60, now=161.0) is None  # expired
    assert store.user("forged", 60, now=120.0) is None
    assert store.revoke_user("alice") == 1 and store.user(sid, 60, now=120.0) is None


def test_new_login_or_new_password_ends_the_old_sessions(tmp_path: Path) -> None:
    cfg_path, app = _site(tmp_path)
    client = app.test_client()
    assert _login(client) == 302
    thief = _steal(client, app)
    assert _login(client) == 302  # logging in again (without logging out) ...
    assert thief.get("/").status_code == 302  # ... ends the session the cookie copy held
    thief = _steal(client, app)
    proc = subprocess.run([sys.executable, "-m", "sakimori", "serve", "--config",
                           str(cfg_path), "--add-user", "alice"], input="a new password\n",
                          capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert thief.get("/").status_code == 302 and client.get("/").status_code == 302


def test_deleting_the_sessions_file_ends_every_session(tmp_path: Path) -> None:
    _, app = _site(tmp_path)
    client = app.test_client()
    assert _login(client) == 302
    for name in ("web-sessions.sqlite", "web-sessions.sqlite-wal", "web-sessions.sqlite-shm"):
        (tmp_path / "state" / name).unlink(missing_ok=True)
    assert client.get("/").status_code == 302
    assert _login(client) == 302 and client.get("/").status_code == 200
