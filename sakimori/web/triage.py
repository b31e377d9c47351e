"""The triage order of the Table 1 page: what to look at first, and why it is there.

Tiers, first to last (docs/admin-screen.md, "Triage"); each item says why it is where it is:

1. ``kill_chain`` — a host whose user received a *targeted* mail (class ``targeted``, or a
   spoofing warning recorded before mail classes existed) and which shows ``backdoor``
   findings after it (the kill chain of :mod:`sakimori.web.killchain`): the attack got in.
2. ``targeted`` — targeted mails, newest first: spoofed senders or rare malware aimed at a
   few people; their recipients may be next.
3. ``backdoor`` — hosts with a backdoor class by score: an implant talking to its controller.
4. ``web_attack`` — internal web servers under attack (or with uploaded web shells), by score.
5. ``malware`` — ordinary malware / threat intelligence hits on internal clients, by score.
6. ``anonymizer`` — internal clients using Tor, by score: policy first, maybe exfiltration.
7. ``mass_virus`` — malware mailed to many recipients, newest first: the antivirus caught a
   campaign nobody aimed at us in particular.
8. ``spam`` — last: Rspamd's spam verdict, no attack on us.

A host appears once, in its first tier (its other classes are named in its reason). Each tier
shows at most *limit* items and says how many more there are (the class page lists them all).
The tier says why it is where it is (:data:`TIERS`); each item says why it is in its tier and
what put it first within it (score; for mails the time) — its class reasons or lead finding.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from eve_consumer.correlate import HostReport
from eve_consumer.model import iso
from sakimori.web import killchain
from sakimori.web import triagequery as tq
from sakimori.web.reportindex import ReportIndex

TIERS: tuple[tuple[str, str, str], ...] = (
    ("kill_chain", "Kill chain",
     "a targeted mail's recipient whose PC shows backdoor findings after the mail: the "
     "attack got through"),
    ("targeted", "Targeted mail",
     "a spoofed sender or rare malware aimed at a few people: its recipients may be next"),
    ("backdoor", "Backdoor",
     "an implant on an internal host talking to its controller, highest score first"),
    ("web_attack", "Web attack",
     "an internal web server attacked or tampered with (the row is the victim)"),
    ("malware", "Malware", "ordinary malware or threat intelligence on an internal client"),
    ("anonymizer", "Anonymizer", "an internal client using Tor: a policy breach, maybe cover"),
    ("mass_virus", "Mass virus",
     "malware mailed to many recipients: a campaign caught by the antivirus, not aimed at us"),
    ("spam", "Spam", "Rspamd's spam verdict: unwanted, no attack on us — last"),
)
TARGETED = ("targeted", "")  # "": a spoofing warning recorded before mail classes existed


@dataclass
class Item:
    """One thing to look at: a host (``host``) or a mail (``mail``), and why it is here."""

    reason: str
    host: HostReport | None = None
    mail: dict[str, Any] | None = None
    link_host: bool = False  # the host is a valid IP: it gets a link to its page


@dataclass
class Tier:
    key: str
    title: str
    why: str
    items: list[Item] = field(default_factory=list)
    more: int = 0  # how many more than shown


def linkable(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _host_item(row: HostReport, cls: str) -> Item:
    others = [c for c in row.classes if c != cls]
    lead = max(row.findings, key=lambda f: f.confidence, default=None)
    text = f"{cls}, score {row.score} ({', '.join(row.detections)})"
    if lead is not None and lead.summary:
        text += f" — {lead.detection}: {lead.summary}"
    if others:
        text += f" · also {', '.join(others)}"
    return Item(text, host=row, link_host=linkable(row.host))


def _mail_reason(mail: dict[str, Any]) -> str:
    reasons = [str(r) for r in mail.get("class_reasons") or [] if isinstance(r, str)]
    checks = [str(s) for s in mail.get("symbols") or [] if isinstance(s, str)]
    detail = reasons[0] if reasons else (f"checks {', '.join(checks)}" if checks else "")
    rcpts = mail.get("recipients") if isinstance(mail.get("recipients"), list) else []
    text = str(mail.get("class") or "targeted (spoofing warning)")
    return text + (f": {detail}" if detail else "") + f" · {len(rcpts)} recipient(s)"


def kill_chain(chain: list[killchain.Escalation],
               classes: dict[str, list[str]]) -> list[tuple[str, list[killchain.Escalation]]]:
    """The escalations of tier 1 — targeted mail, backdoor host — per host, by score."""
    hosts: dict[str, list[killchain.Escalation]] = {}
    for e in chain:
        if str(e.warning.get("class") or "") in TARGETED and \
                "backdoor" in classes.get(e.host, []):
            hosts.setdefault(e.host, []).append(e)
    return sorted(hosts.items(), key=lambda kv: (-kv[1][0].score, kv[0]))


def _chained_to(mail: dict[str, Any],
                chained: list[tuple[str, list[killchain.Escalation]]]) -> str:
    hosts = [h for h, es in chained if any(e.warning.get("key") == mail.get("key")
                                           for e in es)]
    return f" · kill chain: its recipient's host {', '.join(hosts)} (above)" if hosts else ""


def _chain_item(row: HostReport, chain: list[killchain.Escalation]) -> Item:
    first = min(chain, key=lambda e: e.mail_time)
    when = iso(first.mail_time)
    text = (f"kill chain: {first.recipient} (mapped by {first.mapping}) received the targeted "
            f"mail “{first.warning.get('subject', '')}” at {when}; afterwards this host shows "
            f"{', '.join(row.detections)} (backdoor), score {row.score}")
    if len(chain) > 1:
        text += f" ({len(chain)} mail/recipient pairs)"
    return Item(text, host=row, link_host=linkable(row.host))


def look_first(ix: ReportIndex, chain: list[killchain.Escalation], totals: dict[str, int],
               limit: int) -> list[Tier]:
    """The tiers in order, each with at most *limit* items (bounded queries only); *totals*:
    class → count (:func:`sakimori.web.triagequery.totals`)."""
    tiers = {k: Tier(k, t, w) for k, t, w in TIERS}
    mapped = tq.host_classes(ix, {e.host for e in chain})
    chained = kill_chain(chain, mapped)
    rows = {r.host: r for r in tq.hosts_with_findings(ix, [h for h, _ in chained[:limit]])}
    tier = tiers["kill_chain"]
    tier.items = [_chain_item(rows[h], es) for h, es in chained[:limit] if h in rows]
    tier.more = max(0, len(chained) - limit)
    listed = {h for h, _ in chained}
    for cls in ("targeted", "backdoor", "web_attack", "malware", "anonymizer", "mass_virus",
                "spam"):
        tier = tiers[cls]
        if cls in tq.MAIL_CLASSES:
            tier.items = [Item(_mail_reason(m) + _chained_to(m, chained), mail=m)
                          for m in tq.top_mails(ix, cls, limit)]
            tier.more = max(0, totals[cls] - len(tier.items))
            continue
        skip = {h for h, cs in tq.host_classes(ix, listed).items() if cls in cs}
        got = tq.top_hosts(ix, cls, limit, exclude=listed)
        tier.items = [_host_item(r, cls) for r in got]
        tier.more = max(0, totals[cls] - len(skip) - len(got))
        listed |= {r.host for r in got}
    return [tiers[k] for k, _, _ in TIERS]
