"""Kill chain: a recipient of a spoofed mail whose PC later shows backdoor findings.

Recipient → host mapping, in this order:

1. ``web.user_hosts`` in sakimori.yaml: a mail address (``tanaka@example.co.jp``) or a user
   name (``tanaka``, matched against the local part of addresses in ``mail.internal_domains``)
   → one or more host IPs;
2. learned from ``web.proxy_logs`` (Squid ``access.log`` with authentication, or Apache
   combined): the internal client address a user name last used. Only internal addresses
   (``networks.home``) count.

A mail warning escalates a host when one of its recipients maps to the host and the host has a
finding whose ``last_seen`` is at or after the mail's time. The mail's time is the earlier of
its ``Date`` header (attacker-controlled, so only allowed to move the time *earlier*) and the
moment the warning was recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from eve_consumer.correlate import HostReport
from sakimori.config import Config
from sakimori.errors import SakimoriError
from sakimori.proxylog import ProxyLogStats, read_proxy_log
from sakimori.web.data import parse_iso


@dataclass(frozen=True)
class Escalation:
    host: str
    recipient: str
    mapping: str  # "config" or "proxy log"
    warning: dict[str, Any]
    mail_time: float
    score: int
    detections: tuple[str, ...]


def learn_from_proxy_logs(cfg: Config, paths: tuple[Path, ...]) -> dict[str, str]:
    """user name (lower case) → the internal client address it used last."""
    last: dict[str, tuple[float, str]] = {}
    for path in paths:
        stats = ProxyLogStats()
        try:
            for rec in read_proxy_log(path, stats):
                if rec.user and cfg.is_home(rec.client):
                    for user in user_keys(rec.user):
                        if user not in last or rec.ts >= last[user][0]:
                            last[user] = (rec.ts, rec.client)
        except SakimoriError:
            continue  # a missing log only loses the learned mapping
    return {u: ip for u, (_, ip) in last.items()}


def user_keys(user: str) -> list[str]:
    """The names a proxy user is known by: as logged (lower case), without an NTLM domain
    (``EXAMPLE\\tanaka`` → ``tanaka``) and, for a Kerberos principal, its first part
    (``tanaka@EXAMPLE.CO.JP`` → ``tanaka``), to meet a mail address's local part."""
    name = user.strip().lower()
    keys = [name]
    bare = name.rsplit("\\", 1)[-1]
    bare = bare.split("@", 1)[0] if "@" in bare else bare
    if bare and bare not in keys:
        keys.append(bare)
    return keys


def hosts_of(cfg: Config, recipient: str, learned: dict[str, str]) -> list[tuple[str, str]]:
    """(host, mapping source) pairs of one recipient address."""
    addr = recipient.strip().strip("<>").lower()
    local, _, domain = addr.rpartition("@")
    internal = any(domain == d or domain.endswith("." + d) for d in cfg.mail.internal_domains)
    out: list[tuple[str, str]] = []
    for who, hosts in cfg.web.user_hosts:
        if who == addr or (internal and local and "@" not in who and who == local):
            out += [(h, "config") for h in hosts]
    if internal and local:
        for key in (addr, local):
            if key in learned:
                out.append((learned[key], "proxy log"))
    return list(dict.fromkeys(out))


def mail_time(warning: dict[str, Any]) -> float | None:
    recorded = parse_iso(warning.get("time"))
    claimed = None
    try:
        claimed = parsedate_to_datetime(str(warning.get("date") or "")).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        claimed = None
    times = [t for t in (recorded, claimed) if t is not None]
    return min(times) if times else None


def mapped_hosts(cfg: Config, warnings: list[dict[str, Any]],
                 learned: dict[str, str]) -> set[str]:
    """Every host a recipient of *warnings* maps to (the only hosts a kill chain can reach)."""
    out: set[str] = set()
    for w in warnings:
        for rcpt in w.get("recipients") or []:
            if isinstance(rcpt, str):
                out.update(h for h, _ in hosts_of(cfg, rcpt, learned))
    return out


def escalations(cfg: Config, hosts: list[HostReport], warnings: list[dict[str, Any]],
                learned: dict[str, str]) -> list[Escalation]:
    """Every (warning, recipient, host) that forms a kill chain, highest score first."""
    by_host = {h.host: h for h in hosts}
    out: dict[tuple[str, str, str], Escalation] = {}
    for w in warnings:
        when = mail_time(w)
        if when is None:
            continue
        for rcpt in w.get("recipients") or []:
            if not isinstance(rcpt, str):
                continue
            for host, source in hosts_of(cfg, rcpt, learned):
                row = by_host.get(host)
                if row is None or not any(f.last_seen >= when for f in row.findings):
                    continue
                key = (host, rcpt.lower(), str(w.get("key")))
                out.setdefault(key, Escalation(host, rcpt, source, w, when, row.score,
                                               tuple(row.detections)))
    return sorted(out.values(), key=lambda e: (-e.score, e.host, -e.mail_time))
