"""The ``web`` section of sakimori.yaml (the admin screen) and the whitelist file.

Kept apart from :mod:`sakimori.config` (which calls :func:`build_web` and
:func:`read_whitelist_file`) so that module stays small. The keys (types, defaults, bounds)
are declared in :mod:`sakimori.config_keys` and checked before :func:`build_web` sees them;
it adds what a bound cannot say. Every key is documented in ``examples/sakimori.yaml``,
docs/configuration.md and docs/admin-screen.md; relative paths resolve against the config
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


def _path(value: str | None, base_dir: Path) -> Path | None:
    if value is None:
        return None
    p = Path(value).expanduser()
    return p if p.is_absolute() else base_dir / p


def _paths(value: tuple[str, ...], base_dir: Path) -> tuple[Path, ...]:
    return tuple(p for p in (_path(v, base_dir) for v in value) if p is not None)


def _commands(value: list, src: str, key: str) -> tuple[tuple[str, ...], ...]:
    """Each command: a string (split like a shell would, never run by one) or an argv list."""
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


def _user_hosts(value: dict, src: str, key: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
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


def hostport(text: str, src: str, key: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too) → (host, port); the one parser of such keys."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(src, key, f"must be host:port, got {text!r}")
    return host.strip("[]"), int(port)


def _header_name(value: str, src: str, key: str) -> str:
    if not all(c.isalnum() or c == "-" for c in value):
        raise ConfigError(src, key, f"must be an HTTP header name, got {value!r}")
    return value


def _host_names(value: tuple[str, ...], src: str, key: str) -> tuple[str, ...]:
    out = []
    for i, item in enumerate(value):
        name = item.lower().strip("[]")
        if not name or not all(c.isalnum() or c in ".-:" for c in name):
            raise ConfigError(src, f"{key}[{i}]", f"not a host name or address: {item!r}")
        out.append(name)
    return tuple(out)


def _proxy_keys(w: dict[str, Any], src: str, base_dir: Path, auth: str) -> dict[str, Any]:
    """The keys about the reverse proxy: header auth, its secret, the client address, Host."""
    proxies = []
    for i, item in enumerate(w["trusted_proxies"]):
        try:
            proxies.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ConfigError(src, f"web.trusted_proxies[{i}]",
                              f"not an IP network: {item!r}") from exc
    secret = _path(w["proxy_secret_file"], base_dir)
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
    """The typed ``web`` section (*w*: every key, checked against its declaration)."""
    host, port = hostport(w["listen"], src, "web.listen")
    auth = w["auth"]
    base_url = w["base_url"]
    if (base_url and not base_url.startswith(("http://", "https://"))) or any(
            c in base_url for c in "\r\n\t <>\"'"):
        raise ConfigError(src, "web.base_url", f"must be an http(s) URL or empty, got "
                                               f"{base_url!r}")

    def path(key: str, default: str | None = None) -> Path | None:
        found = _path(w[key], base_dir)
        return found if found is not None or default is None else state_dir / default

    return WebConfig(
        listen_host=host, listen_port=port, auth=auth,
        users_file=path("users_file", "web-users.json"),
        **_proxy_keys(w, src, base_dir, auth), session_minutes=w["session_minutes"],
        secret_key_file=path("secret_key_file", "web-secret.key"),
        sessions_file=path("sessions_file", "web-sessions.sqlite"),
        index_file=path("index_file", "web-index.sqlite"),
        page_size=w["page_size"],
        base_url=base_url.rstrip("/"),
        report_dirs=_paths(w["report_dirs"], base_dir) if w["report_dirs"] is not None
        else (state_dir / "report",),
        state_dirs=_paths(w["state_dirs"], base_dir) if w["state_dirs"] is not None
        else (state_dir,),
        baselines=path("baselines"),
        build_dir=path("build_dir"),
        reload_commands=_commands(w["reload_commands"], src, "web.reload_commands"),
        audit_log=path("audit_log", "whitelist-audit.jsonl"),
        user_hosts=_user_hosts(w["user_hosts"], src, "web.user_hosts"),
        proxy_logs=_paths(w["proxy_logs"], base_dir),
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
