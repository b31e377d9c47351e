"""The ``web`` section of sakimori.yaml (the admin screen) and the whitelist file.

Kept apart from :mod:`sakimori.config` (which calls :func:`build_web` and
:func:`read_whitelist_file`) so that module stays small. Every key is documented in
``examples/sakimori.yaml`` and docs/admin-screen.md; relative paths resolve against the config
file's directory; a path left ``null`` defaults to a file in ``consumer.state_dir``.

The whitelist file (``whitelist.file``) holds extra whitelist entries, one per line (``#``
starts a comment), in the same forms as ``whitelist.destinations``; the admin screen's
whitelist editor appends to it. A missing file is an empty list; a bad line is a
:class:`~sakimori.errors.ConfigError` naming ``FILE: line N``.
"""

from __future__ import annotations

import ipaddress
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sakimori.errors import ConfigError
from sakimori.whitelist import DEFAULT_POLICY, EntryPolicy, entry_problem

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

WEB_DEFAULTS: dict[str, Any] = {
    "listen": "127.0.0.1:8080",
    "auth": "local",
    "users_file": None,
    "header_name": "X-Remote-User",
    "trusted_proxies": ["127.0.0.1/32", "::1/128"],
    "proxy_secret_file": None,
    "proxy_secret_header": "X-Sakimori-Proxy-Secret",
    "client_address_header": "X-Real-IP",
    "allowed_hosts": [],
    "session_minutes": 480,
    "secret_key_file": None,
    "sessions_file": None,
    "index_file": None,
    "page_size": 100,
    "base_url": "",
    "report_dirs": None,
    "state_dirs": None,
    "baselines": None,
    "build_dir": None,
    "reload_commands": [],
    "audit_log": None,
    "user_hosts": {},
    "proxy_logs": [],
}
AUTH_MODES = ("local", "header")
MAX_WHITELIST_FILE_BYTES = 1 << 20


@dataclass(frozen=True)
class WebConfig:
    listen_host: str
    listen_port: int
    auth: str
    users_file: Path
    header_name: str
    trusted_proxies: tuple[IPNetwork, ...]
    proxy_secret_file: Path | None
    proxy_secret_header: str
    client_address_header: str
    allowed_hosts: tuple[str, ...]
    session_minutes: int
    secret_key_file: Path
    sessions_file: Path
    index_file: Path
    page_size: int
    base_url: str
    report_dirs: tuple[Path, ...]
    state_dirs: tuple[Path, ...]
    baselines: Path | None
    build_dir: Path | None
    reload_commands: tuple[tuple[str, ...], ...]
    audit_log: Path
    user_hosts: tuple[tuple[str, tuple[str, ...]], ...]  # (mail address or user, hosts)
    proxy_logs: tuple[Path, ...]


def _path(value: Any, src: str, key: str, base_dir: Path) -> Path | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError(src, key, f"must be a path, got {value!r}")
    p = Path(value).expanduser()
    return p if p.is_absolute() else base_dir / p


def _paths(value: Any, src: str, key: str, base_dir: Path) -> tuple[Path, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError(src, key, "must be a list of paths")
    out = []
    for i, item in enumerate(value):
        p = _path(item, src, f"{key}[{i}]", base_dir)
        if p is None:
            raise ConfigError(src, f"{key}[{i}]", "must be a non-empty path")
        out.append(p)
    return tuple(out)


def _commands(value: Any, src: str, key: str) -> tuple[tuple[str, ...], ...]:
    """Each command: a string (split like a shell would, never run by one) or an argv list."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError(src, key, "must be a list of commands")
    out = []
    for i, item in enumerate(value):
        try:
            argv = shlex.split(item) if isinstance(item, str) else \
                [str(a) for a in item] if isinstance(item, list) else None
        except ValueError as exc:
            raise ConfigError(src, f"{key}[{i}]", f"cannot split: {exc}") from exc
        if not argv:
            raise ConfigError(src, f"{key}[{i}]", "must be a command (string or list)")
        out.append(tuple(argv))
    return tuple(out)


def _user_hosts(value: Any, src: str, key: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise ConfigError(src, key, "must map a mail address (or user name) to host IPs")
    out = []
    for who, hosts in value.items():
        items = hosts if isinstance(hosts, list) else [hosts]
        checked = []
        for host in items:
            try:
                checked.append(str(ipaddress.ip_address(str(host).strip())))
            except ValueError as exc:
                raise ConfigError(src, f"{key}.{who}", f"not an IP address: {host!r}") from exc
        out.append((str(who).strip().lower(), tuple(checked)))
    return tuple(sorted(out))


def _hostport(text: Any, src: str, key: str) -> tuple[str, int]:
    host, sep, port = str(text).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(src, key, f"must be host:port, got {text!r}")
    return host.strip("[]"), int(port)


def _header_name(value: Any, src: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip() or not all(
            c.isalnum() or c == "-" for c in value.strip()):
        raise ConfigError(src, key, f"must be an HTTP header name, got {value!r}")
    return value.strip()


def _host_names(value: Any, src: str, key: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError(src, key, "must be a list of host names")
    out = []
    for i, item in enumerate(value):
        name = str(item).strip().lower().strip("[]")
        if not name or not all(c.isalnum() or c in ".-:" for c in name):
            raise ConfigError(src, f"{key}[{i}]", f"not a host name or address: {item!r}")
        out.append(name)
    return tuple(out)


def _proxy_keys(w: dict[str, Any], src: str, base_dir: Path, auth: str) -> dict[str, Any]:
    """The keys about the reverse proxy: header auth, its secret, the client address, Host."""
    if not isinstance(w["trusted_proxies"], list):
        raise ConfigError(src, "web.trusted_proxies", "must be a list")
    proxies = []
    for i, item in enumerate(w["trusted_proxies"]):
        try:
            proxies.append(ipaddress.ip_network(str(item).strip(), strict=False))
        except ValueError as exc:
            raise ConfigError(src, f"web.trusted_proxies[{i}]",
                              f"not an IP network: {item!r}") from exc
    secret = _path(w["proxy_secret_file"], src, "web.proxy_secret_file", base_dir)
    if auth == "header" and secret is None:
        raise ConfigError(src, "web.proxy_secret_file",
                          "required with web.auth: header (the proxy's shared secret)")
    return {
        "header_name": _header_name(w["header_name"], src, "web.header_name"),
        "trusted_proxies": tuple(proxies), "proxy_secret_file": secret,
        "proxy_secret_header": _header_name(w["proxy_secret_header"], src,
                                            "web.proxy_secret_header"),
        "client_address_header": _header_name(w["client_address_header"], src,
                                              "web.client_address_header"),
        "allowed_hosts": _host_names(w["allowed_hosts"], src, "web.allowed_hosts"),
    }


def build_web(w: dict[str, Any], src: str, base_dir: Path, state_dir: Path) -> WebConfig:
    """The typed ``web`` section (*w* holds every key, defaults merged)."""
    host, port = _hostport(w["listen"], src, "web.listen")
    auth = w["auth"]
    if auth not in AUTH_MODES:
        raise ConfigError(src, "web.auth", f"must be one of {', '.join(AUTH_MODES)}, got "
                                           f"{auth!r}")
    minutes = w["session_minutes"]
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= 10080:
        raise ConfigError(src, "web.session_minutes", f"must be 1..10080, got {minutes!r}")
    page_size = w["page_size"]
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not \
            10 <= page_size <= 5000:
        raise ConfigError(src, "web.page_size", f"must be 10..5000, got {page_size!r}")
    base_url = w["base_url"] or ""
    if not isinstance(base_url, str) or (base_url and not base_url.startswith(
            ("http://", "https://"))) or any(c in base_url for c in "\r\n\t <>\"'"):
        raise ConfigError(src, "web.base_url", f"must be an http(s) URL or empty, got "
                                               f"{base_url!r}")
    reports = _paths(w["report_dirs"], src, "web.report_dirs", base_dir) \
        if w["report_dirs"] is not None else (state_dir / "report",)
    return WebConfig(
        listen_host=host, listen_port=port, auth=auth,
        users_file=_path(w["users_file"], src, "web.users_file", base_dir)
        or state_dir / "web-users.json",
        **_proxy_keys(w, src, base_dir, auth), session_minutes=minutes,
        secret_key_file=_path(w["secret_key_file"], src, "web.secret_key_file", base_dir)
        or state_dir / "web-secret.key",
        sessions_file=_path(w["sessions_file"], src, "web.sessions_file", base_dir)
        or state_dir / "web-sessions.sqlite",
        index_file=_path(w["index_file"], src, "web.index_file", base_dir)
        or state_dir / "web-index.sqlite",
        page_size=page_size,
        base_url=base_url.rstrip("/"), report_dirs=reports,
        state_dirs=_paths(w["state_dirs"], src, "web.state_dirs", base_dir)
        if w["state_dirs"] is not None else (state_dir,),
        baselines=_path(w["baselines"], src, "web.baselines", base_dir),
        build_dir=_path(w["build_dir"], src, "web.build_dir", base_dir),
        reload_commands=_commands(w["reload_commands"], src, "web.reload_commands"),
        audit_log=_path(w["audit_log"], src, "web.audit_log", base_dir)
        or state_dir / "whitelist-audit.jsonl",
        user_hosts=_user_hosts(w["user_hosts"], src, "web.user_hosts"),
        proxy_logs=_paths(w["proxy_logs"], src, "web.proxy_logs", base_dir),
    )


def read_whitelist_file(path: Path, policy: EntryPolicy = DEFAULT_POLICY) -> tuple[str, ...]:
    """The entries of a whitelist file (see the module docstring); () when it is missing.
    Each line is checked with :func:`sakimori.whitelist.entry_problem` under *policy*."""

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return ()
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot read: {exc.strerror or exc}") from exc
    if len(data) > MAX_WHITELIST_FILE_BYTES:
        raise ConfigError(str(path), "", "larger than 1 MiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), "", "not UTF-8 text") from exc
    entries: list[str] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        entry = raw.split("#", 1)[0].strip()
        if not entry:
            continue
        problem = entry_problem(entry, policy)
        if problem:
            raise ConfigError(str(path), f"line {lineno}", problem)
        if entry not in entries:
            entries.append(entry)
    return tuple(entries)
