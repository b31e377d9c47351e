"""Read web-proxy access logs: Squid native ``access.log`` and Apache common/combined format.

Each usable line becomes a :class:`ProxyRecord` (client IP, time, method, URL, destination
host/port, the authenticated user name when the log has one, and the URL length as Suricata's
``urilen`` would see it on a direct request: the path-and-query part of an absolute URL). A line
that fits neither format is counted as malformed and skipped; the first few are kept as
``file:line: reason`` examples. Lines that are well-formed but carry no request (Squid
``NONE error:…``, Apache ``"-"``) are counted as ignored.
Files ending in ``.gz`` are decompressed on the fly.
"""

from __future__ import annotations

import functools
import gzip
import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from sakimori.errors import InputError

MAX_EXAMPLES = 5

_SQUID = re.compile(
    r"^(?P<ts>\d{9,}(?:\.\d+)?)\s+(?P<elapsed>-?\d+)\s+(?P<client>\S+)\s+(?P<action>[^\s/]+)/"
    r"(?P<status>\d{3})\s+(?P<size>\d+|-)\s+(?P<method>\S+)\s+(?P<url>\S+)"
    r"(?:\s+(?P<user>\S+)(?:\s+(?P<hier>\S+))?(?:\s+\S+)?)?\s*$")
_COMBINED = re.compile(
    r'^(?P<client>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<request>[^"]*)" '
    r'(?P<status>\d{3}|-) '
    r'(?P<size>\d+|-)(?: "(?:[^"\\]|\\.)*" "(?:[^"\\]|\\.)*")?\s*$')


@dataclass(frozen=True, slots=True)
class ProxyRecord:
    """One proxied request."""

    client: str
    ts: float
    method: str
    url: str
    host: str | None
    port: int | None
    url_length: int | None  # None for CONNECT (no URL is visible)
    user: str | None = None  # the authenticated user name (Squid rfc931/user column), if any
    status: int | None = None  # HTTP status the client got (None: Apache "-")
    action: str | None = None  # Squid result code (TCP_MISS, TCP_DENIED, ...); None: Apache
    elapsed_ms: int | None = None  # Squid: time the transaction (or CONNECT tunnel) took
    peer: str | None = None  # Squid hierarchy peer address (HIER_DIRECT/<ip>), when an IP


@dataclass
class ProxyLogStats:
    """What a proxy log contained."""

    lines: int = 0
    records: int = 0
    ignored: int = 0
    malformed: int = 0
    examples: list[str] = field(default_factory=list)

    def bad(self, where: str, reason: str) -> None:
        self.malformed += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(f"{where}: {reason}")

    def summary(self) -> str:
        text = (f"{self.lines} lines: {self.records} requests used, {self.ignored} ignored, "
                f"{self.malformed} malformed")
        if self.examples:
            text += f" (first: {', '.join(self.examples[:3])})"
        return text


def _split_url(method: str, url: str) -> tuple[str | None, int | None, int | None]:
    """(host, port, url_length) for a logged URL; ValueError if it is not a URL at all."""
    if method.upper() == "CONNECT":
        host, sep, port = url.rpartition(":")
        if not sep or not port.isdigit() or not host:
            raise ValueError(f"CONNECT target is not host:port: {url[:60]!r}")
        return host.strip("[]").lower(), int(port), None
    if url.startswith("/"):
        return None, None, len(url)
    if "://" not in url:
        raise ValueError(f"not a URL: {url[:60]!r}")
    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError(f"URL without host: {url[:60]!r}")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"bad port in URL: {url[:60]!r}") from exc
    default = 443 if parts.scheme == "https" else 80
    return parts.hostname.lower(), port or default, len(request_target(url))


def request_target(url: str) -> str:
    """What a direct request puts on its request line: an absolute URL without
    ``scheme://authority`` (``/`` when nothing follows); a relative URL as it is."""
    if "://" not in url:
        return url
    rest = url.split("://", 1)[1]
    slash = rest.find("/")
    return rest[slash:] if slash >= 0 else "/"


@functools.lru_cache(maxsize=1 << 16)  # logs repeat the same clients and peers
def _valid_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def parse_line(line: str) -> ProxyRecord | None:
    """Parse one line; None when well-formed but without a request; ValueError if malformed."""
    m = _SQUID.match(line)
    if m:
        method, url = m["method"], m["url"]
        if method.upper() == "NONE" or url.startswith("error:"):
            return None
        ts = float(m["ts"])
        client = m["client"]
        extra = _squid_extra(m)
    else:
        m = _COMBINED.match(line)
        if not m:
            raise ValueError("neither Squid native nor Apache common/combined format")
        request = m["request"].split()
        if request == ["-"] or not request:
            return None
        if len(request) not in (2, 3):
            raise ValueError(f"request line is not 'METHOD URL [PROTOCOL]': {m['request'][:60]!r}")
        method, url = request[0], request[1]
        try:
            ts = datetime.strptime(m["time"], "%d/%b/%Y:%H:%M:%S %z").timestamp()
        except ValueError as exc:
            raise ValueError(f"bad time: {m['time']!r}") from exc
        client = m["client"]
        extra = {"status": int(m["status"]) if m["status"].isdigit() else None}
    if not _valid_ip(client):
        raise ValueError(f"client is not an IP address: {client[:40]!r}")
    host, port, length = _split_url(method, url)
    # Squid %-encodes the user column (``EXAMPLE%5Ctanaka``); control characters stay out
    user = unquote(m["user"]) if m["user"] not in (None, "-") else None
    if user is not None and not user.isprintable():
        user = None
    return ProxyRecord(client, ts, method.upper(), url, host, port, length, user, **extra)


def _squid_extra(m: re.Match[str]) -> dict[str, Any]:
    """Status, result code, elapsed time and the peer address of a Squid native line."""
    hier = m["hier"] or ""
    peer = hier.split("/", 1)[1] if "/" in hier else ""
    elapsed = int(m["elapsed"])
    return {"status": int(m["status"]), "action": m["action"].upper(),
            "elapsed_ms": elapsed if elapsed >= 0 else None,
            "peer": peer if peer and _valid_ip(peer) else None}


def open_log(path: Path) -> IO[str]:
    """A text handle on a proxy log (``.gz`` decompressed on the fly); OSError if unreadable."""
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return path.open("r", encoding="utf-8", errors="replace")


def read_proxy_log(path: str | Path, stats: ProxyLogStats) -> Iterator[ProxyRecord]:
    """Yield the records of one log file, counting lines in *stats*."""
    p = Path(path)
    try:
        fh = open_log(p)
    except OSError as exc:
        raise InputError(str(p), None, f"cannot read proxy log: {exc.strerror or exc}") from exc
    with fh:
        try:
            for lineno, raw in enumerate(fh, 1):
                stats.lines += 1
                line = raw.strip()
                if not line or line.startswith("#"):
                    stats.ignored += 1
                    continue
                try:
                    record = parse_line(line)
                except ValueError as exc:
                    stats.bad(f"{p}:{lineno}", str(exc))
                    continue
                if record is None:
                    stats.ignored += 1
                    continue
                stats.records += 1
                yield record
        except (OSError, EOFError) as exc:  # e.g. a truncated .gz
            raise InputError(str(p), stats.lines, f"cannot read proxy log: {exc}") from exc
