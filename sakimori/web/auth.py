"""Who may use the admin screen: local users or a trusted reverse proxy's header; sessions.

- **local** (``web.auth: local``): users in ``web.users_file``, a JSON object ``{name:
  hash}`` written 0600. Hashes are werkzeug's salted ``scrypt`` (``generate_password_hash``);
  ``sakimori serve --add-user NAME`` adds or replaces one. Login checks the password in
  constant time with respect to whether the user exists (a dummy hash is checked otherwise).
- **header** (``web.auth: header``): the user name comes from ``web.header_name`` (e.g.
  ``X-Remote-User``) set by an authenticating reverse proxy, and is accepted **only** when the
  TCP peer is in ``web.trusted_proxies``; from anyone else the request is refused (401).
- Failed logins are throttled per client address: after ``MAX_FAILURES`` within
  ``FAILURE_WINDOW_S`` the login answers 429 until the window has passed (in memory, per
  process).
- Sessions are Flask's signed cookies (secret from ``web.secret_key_file``, created 0600 when
  missing), ``HttpOnly``, ``SameSite=Strict`` (``Secure`` when ``web.base_url`` is https), and
  expire ``web.session_minutes`` after login whatever the activity.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
import threading
import time
from collections import deque
from pathlib import Path

from werkzeug.security import check_password_hash, generate_password_hash

from sakimori.errors import SakimoriError
from sakimori.webconfig import WebConfig

USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 8
MAX_FAILURES = 10
FAILURE_WINDOW_S = 300.0
_DUMMY_HASH = generate_password_hash("not a password " + secrets.token_hex(8), "scrypt")


def valid_user_name(name: str) -> bool:
    return bool(USER_NAME.match(name or ""))


def load_users(path: Path) -> dict[str, str]:
    """name → hash; {} when the file is missing; SakimoriError when it is unreadable."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise SakimoriError(f"{path}: cannot read the users file: {exc}") from exc
    if not isinstance(doc, dict):
        raise SakimoriError(f"{path}: the users file must be a JSON object name -> hash")
    return {str(k): str(v) for k, v in doc.items() if valid_user_name(str(k))}


def _write_private(path: Path, data: bytes) -> None:
    """Write *data* to *path* through a 0600 temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def add_user(path: Path, name: str, password: str) -> bool:
    """Add or replace *name*; True when it was new. ValueError for a bad name or password."""
    if not valid_user_name(name):
        raise ValueError(f"bad user name {name!r} (letters, digits, . _ @ -; at most 64)")
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"the password must have at least {MIN_PASSWORD} characters")
    users = load_users(path)
    new = name not in users
    users[name] = generate_password_hash(password, "scrypt")
    _write_private(path, (json.dumps(users, indent=1, sort_keys=True) + "\n").encode())
    return new


class LoginThrottle:
    """Failed logins per client address in a sliding window (bounded memory)."""

    MAX_CLIENTS = 10_000

    def __init__(self, limit: int = MAX_FAILURES, window_s: float = FAILURE_WINDOW_S) -> None:
        self.limit, self.window_s = limit, window_s
        self.failures: dict[str, deque[float]] = {}
        self.lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self.failures.get(client, deque())
        while times and times[0] < now - self.window_s:
            times.popleft()
        return times

    def blocked(self, client: str, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        with self.lock:
            return len(self._recent(client, now)) >= self.limit

    def failed(self, client: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self.lock:
            if client not in self.failures and len(self.failures) >= self.MAX_CLIENTS:
                self.failures.pop(next(iter(self.failures)))
            times = self.failures[client] = self._recent(client, now)
            times.append(now)


def check_login(users: dict[str, str], name: str, password: str) -> bool:
    stored = users.get(name)
    ok = check_password_hash(stored or _DUMMY_HASH, password)
    return ok and stored is not None


def secret_key(path: Path) -> bytes:
    """The session signing key from *path*; created (0600, 32 random bytes) when missing."""
    try:
        data = path.read_bytes().strip()
        if len(data) >= 32:
            return data
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise SakimoriError(f"{path}: cannot read the secret key: {exc.strerror}") from exc
    data = secrets.token_hex(32).encode()
    try:
        _write_private(path, data + b"\n")
    except OSError as exc:
        raise SakimoriError(f"{path}: cannot create the secret key: {exc.strerror}") from exc
    return data


def header_user(web: WebConfig, remote_addr: str | None, value: str | None) -> str | None:
    """The proxy-asserted user, or None (untrusted peer, missing or malformed value)."""
    if not remote_addr or not value:
        return None
    try:
        peer = ipaddress.ip_address(remote_addr)
    except ValueError:
        return None
    if not any(peer in net for net in web.trusted_proxies):
        return None
    name = value.strip()
    return name if valid_user_name(name) else None


def session_user(session: dict, web: WebConfig, now: float | None = None) -> str | None:
    """The logged-in user of a local-mode session, or None (none, or expired)."""
    user, since = session.get("user"), session.get("since")
    if not isinstance(user, str) or not isinstance(since, int | float):
        return None
    now = time.time() if now is None else now
    if now - since > web.session_minutes * 60 or since > now + 60:
        return None
    return user
