"""The ``redis`` section of sakimori.yaml and the one way sakimori connects to Redis.

Used by the Redis EVE input (``consume --redis``, :mod:`eve_consumer.inputs.redis_list`) and
the shared state (``consumer.shared``, :mod:`eve_consumer.shared`). Credentials never travel
in a URL: a URL with a user or password in it is refused (it would end up in logs, the
process list and stats.json); the ACL user is ``redis.username``, the password is read from
``redis.password_file``. TLS: a ``rediss://`` URL or ``redis.tls: true``, verified against
``redis.ca_file`` (else the system CAs). :func:`redact` is the URL as it may be logged.
The section's keys are declared in :mod:`sakimori.config_keys`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sakimori.errors import ConfigError, SakimoriError, UsageError


@dataclass(frozen=True)
class RedisConfig:
    username: str
    password_file: Path | None
    tls: bool
    ca_file: Path | None
    mode: str
    connect_timeout_s: float


def build_redis(r: dict[str, Any], src: str, base_dir: Path) -> RedisConfig:
    """The typed ``redis`` section (*r*: every key, checked against its declaration in
    :mod:`sakimori.config_keys`; paths relative to the config file's directory)."""
    def path(key: str) -> Path | None:
        if r[key] is None:
            return None
        p = Path(r[key])
        return p if p.is_absolute() else base_dir / p

    user = r["username"]
    if user is not None and any(c in user for c in " \r\n\0"):
        raise ConfigError(src, "redis.username", f"must be an ACL user name, got {user!r}")
    return RedisConfig(username=user or "", password_file=path("password_file"),
                       tls=r["tls"], ca_file=path("ca_file"), mode=r["mode"],
                       connect_timeout_s=r["connect_timeout_s"])


def check_url(url: str, what: str) -> str:
    """*url* if it is ``redis://HOST[:PORT][/DB]`` or ``rediss://…`` without credentials."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"{what}: not a Redis URL ({exc})") from None
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise UsageError(f"{what}: expected redis://HOST:PORT/DB or rediss://…, got "
                         f"{redact(url)!r}")
    if parts.username or parts.password:
        raise UsageError(f"{what}: no credentials in the URL — set redis.username and "
                         f"redis.password_file in the config")
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise UsageError(f"{what}: the database must be a number, got {db!r}")
    if parts.query or parts.fragment:
        raise UsageError(f"{what}: no query or fragment allowed in {redact(url)!r}")
    del port
    return url


def redact(url: str) -> str:
    """*url* without any user or password (for logs and stats)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<bad url>"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}{port}{parts.path}"


def connect(url: str, rcfg: RedisConfig, what: str = "redis") -> Any:
    """A redis-py client for *url* with the configured ACL user, password and TLS; checked
    with PING (SakimoriError naming the redacted URL when Redis cannot be reached)."""
    import redis

    check_url(url, what)
    password = None
    if rcfg.password_file is not None:
        try:
            password = rcfg.password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SakimoriError(f"{rcfg.password_file}: cannot read the Redis password: "
                                f"{exc.strerror or exc}") from exc
    tls = rcfg.tls or url.startswith("rediss://")
    if tls and url.startswith("redis://"):
        url = "rediss://" + url[len("redis://"):]
    kwargs: dict[str, Any] = {"socket_connect_timeout": rcfg.connect_timeout_s,
                              "health_check_interval": 30}
    if rcfg.username:
        kwargs["username"] = rcfg.username
    if password:
        kwargs["password"] = password
    if tls:
        kwargs["ssl_cert_reqs"] = "required"
        kwargs["ssl_check_hostname"] = True
        if rcfg.ca_file is not None:
            kwargs["ssl_ca_certs"] = str(rcfg.ca_file)
    client = redis.Redis.from_url(url, **kwargs)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise SakimoriError(f"{what} {redact(url)}: {exc}") from exc
    return client
