"""Who may use the admin screen: local users or a trusted reverse proxy's header; sessions.

- **local** (``web.auth: local``): users in ``web.users_file``, a JSON object ``{name:
  hash}`` written 0600. Hashes are werkzeug's salted ``scrypt`` (``generate_password_hash``);
  ``sakimori serve --add-user NAME`` adds or replaces one. Login checks the password in
  constant time with respect to whether the user exists (a dummy hash is checked otherwise).
- **header** (``web.auth: header``): the user name comes from ``web.header_name`` (e.g.
  ``X-Remote-User``) set by an authenticating reverse proxy, and is accepted **only** when the
  TCP peer is in ``web.trusted_proxies`` **and** the request carries the proxy's shared secret
  (``web.proxy_secret_header``, value from ``web.proxy_secret_file``, compared in constant
  time); from anyone else the request is refused (401). Header mode needs the secret.
- Failed logins are throttled per client address and per user name
  (:class:`sakimori.web.sessions.LoginThrottle`); behind a trusted proxy the client address is
  the one it forwards (``web.client_address_header``), see :func:`client_address`.
- Sessions live server-side (:mod:`sakimori.web.sessions`); the signed cookie (secret from
  ``web.secret_key_file``, created 0600 when missing) holds only the session id. A session's
  user must still be in the users file (:class:`UserList`) on every request.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import re
import secrets
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


def proxy_secret(web: WebConfig) -> bytes | None:
    """The reverse proxy's shared secret from ``web.proxy_secret_file`` (None when unset);
    SakimoriError when unreadable or shorter than 16 characters."""
    if web.proxy_secret_file is None:
        return None
    try:
        data = web.proxy_secret_file.read_bytes().strip()
    except OSError as exc:
        raise SakimoriError(f"{web.proxy_secret_file}: cannot read the proxy secret: "
                            f"{exc.strerror}") from exc
    if len(data) < 16:
        raise SakimoriError(f"{web.proxy_secret_file}: the proxy secret must have at least 16 "
                            "characters")
    return data


def from_trusted_proxy(web: WebConfig, remote_addr: str | None, given: str | None,
                       secret: bytes | None) -> bool:
    """True when the TCP peer is in ``web.trusted_proxies`` and sent the shared secret."""
    if secret is None or not remote_addr or not given:
        return False
    try:
        peer = ipaddress.ip_address(remote_addr)
    except ValueError:
        return False
    return any(peer in net for net in web.trusted_proxies) and hmac.compare_digest(
        given.strip().encode("utf-8", "replace"), secret)


def header_user(web: WebConfig, trusted: bool, value: str | None) -> str | None:
    """The proxy-asserted user, or None (untrusted request, missing or malformed value)."""
    if not trusted or not value:
        return None
    name = value.strip()
    return name if valid_user_name(name) else None


def client_address(web: WebConfig, remote_addr: str | None, trusted: bool,
                   forwarded: str | None) -> str:
    """The client's address: the TCP peer, or behind a trusted proxy the address it
    forwarded in ``web.client_address_header`` (when that is an IP address)."""
    if trusted and forwarded:
        try:
            return str(ipaddress.ip_address(forwarded.strip()))
        except ValueError:
            pass
    return remote_addr or "?"


class UserList:
    """The users file, re-read only when it changed (inode, size, mtime)."""

    def __init__(self, path: Path) -> None:
        self.path, self.stamp, self.users = path, None, {}

    def current(self) -> dict[str, str]:
        try:
            st = self.path.stat()
            stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        except OSError:
            stamp = None
        if stamp != self.stamp or stamp is None:
            self.users, self.stamp = load_users(self.path), stamp
        return self.users


def delete_user(path: Path, name: str) -> bool:
    """Remove *name* from the users file; True when it was there."""
    users = load_users(path)
    if name not in users:
        return False
    del users[name]
    _write_private(path, (json.dumps(users, indent=1, sort_keys=True) + "\n").encode())
    return True
