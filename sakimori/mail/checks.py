"""The spoofed-mail checks in Python — the passive twin of the Rspamd plugin.

Checks 1–6 exactly as docs/mail-checks.md defines them (the Lua plugin in ``rspamd_lua/``
implements the same text; ``tests/vectors/*.yaml`` drive both). API:

- :class:`~sakimori.mail.facts.MailFacts` — what one mail tells (connecting IP, PTR hostname,
  HELO, SMTP AUTH user, envelope, header From, Reply-To, ``Received`` hops newest first), and
  its builders, live in :mod:`sakimori.mail.facts`.
- :func:`run_checks` ``(facts, cfg, mail_baseline) -> list[Hit]`` — ``Hit(symbol, options)``
  in check order; options are sanitised like the plugin does (control, C1 and bidi characters
  removed, at most 128 UTF-8 bytes).

Pure and never raising on hostile input: every value is capped before it is parsed, and a
last-resort guard turns an unexpected error into "no hit" (logged), as the plugin's pcall
does. The learned data is prepared once per baselines object (treat it as read-only).
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sakimori.config import Config
from sakimori.mail import country, norm, symbols
from sakimori.mail.facts import MailFacts, text_value
from sakimori.mail.features import MAX_HOPS
from sakimori.mail.fromhdr import from_domains
from sakimori.mail.received import clean_ip
from sakimori.mail.relays import Trust

log = logging.getLogger("sakimori.mail.checks")

SYMBOLS = symbols.NAMES  # the catalogue (sakimori/mail/symbols.yaml), in check order
MAX_OPTION_BYTES = 128  # the plugin's max_option_length

# Look-alikes mapped to Latin (docs/mail-checks.md; rspamd_lua/sakimori/lookalike.lua):
# Cyrillic, Greek, Latin, digits — one character of the first string → the one below it.
CONFUSABLES = str.maketrans("аеёһіїјкӏорсѕухԁԛԝѡь" "αγικνορτυχω" "ıɑɡɩʏ" "01",
                            "aeehiijklopcsyxdqwwb" "ayikvoptuxw" "iagiy" "ol")
# What the plugin's sanitise() drops: C0, DEL, C1, line/paragraph separators, bidi controls.
_OPTION_DROP = dict.fromkeys([*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029,
                              *range(0x202A, 0x202F), *range(0x2066, 0x206A)])


@dataclass(frozen=True, slots=True)
class Hit:
    """One fired check: its symbol and its evidence."""

    symbol: str
    options: list[str] = field(default_factory=list)


# --- learned data, prepared once ----------------------------------------------------------

@dataclass(frozen=True)
class _Protected:
    reg: str
    label: str
    suffix: str
    skel: str
    dashed: str


@dataclass
class _Data:
    internal: tuple[str, ...]
    trust: Trust
    protected: dict[str, _Protected]
    ordered: list[_Protected]
    known: frozenset[str]
    domestic: frozenset[str]
    history: dict[str, int]
    infra: dict[str, frozenset[str]]
    names: dict[str, frozenset[str]]


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _prepare(cfg: Config, mail: dict[str, Any]) -> _Data:
    internal = tuple(sorted({d for d in map(norm.normalise_domain, cfg.mail.internal_domains)
                             if d}))
    protected: dict[str, _Protected] = {}
    for d in [*(mail.get("frequent_domains") or []), *internal]:
        reg, label, suffix = norm.split_domain(str(d))
        if reg and reg not in protected:
            protected[reg] = _Protected(reg, label, suffix, skeleton(reg),
                                        reg.replace(".", "-"))
    domains = {str(d): r for d, r in _dict(mail.get("domains")).items() if isinstance(r, dict)}
    names = {}
    for folded, rec in _dict(mail.get("names")).items():
        addrs = frozenset(str(a).lower() for a in _dict(_dict(rec).get("addresses"))
                          if a and not any(c.isspace() or c == "," for c in str(a)))
        if addrs and folded:
            names[str(folded)] = addrs
    return _Data(
        internal=internal,
        trust=Trust(cfg, mail),
        protected=protected, ordered=[protected[k] for k in sorted(protected)],
        known=frozenset(r for r in map(norm.registrable_domain, domains) if r),
        domestic=frozenset(str(d) for d in mail.get("domestic_domains") or []),
        history={d: _int(r.get("messages")) for d, r in domains.items()},
        infra={d: frozenset(map(str, _dict(r.get("infra")))) for d, r in domains.items()},
        names=names)


_PREPARED: dict[tuple[int, int], tuple[Config, dict, _Data]] = {}


def _data(cfg: Config, mail: dict[str, Any]) -> _Data:
    key = (id(cfg), id(mail))
    hit = _PREPARED.get(key)
    if hit is not None and hit[0] is cfg and hit[1] is mail:
        return hit[2]
    if len(_PREPARED) >= 8:
        _PREPARED.clear()
    data = _prepare(cfg, mail)
    _PREPARED[key] = (cfg, mail, data)
    return data


# --- helpers -------------------------------------------------------------------------------

def sanitise_option(text: str, limit: int = MAX_OPTION_BYTES) -> str:
    """An option as the plugin writes it: no control/C1/bidi characters, ≤ *limit* bytes."""
    out, size = [], 0
    for ch in str(text)[:limit * 2].translate(_OPTION_DROP):
        n = len(ch.encode("utf-8", "replace"))
        if size + n > limit:
            break
        out.append(ch)
        size += n
    return "".join(out)


def _unpuny(label: str) -> str:
    if label.startswith("xn--"):
        try:
            return label[4:].encode("ascii").decode("punycode")
        except Exception:  # invalid punycode: the label as written
            return label
    return label


@lru_cache(maxsize=16384)
def skeleton(domain: str) -> str:
    """``xn--`` labels decoded, NFKD without combining marks, confusables mapped, rn→m vv→w."""
    text = unicodedata.normalize("NFKD", ".".join(map(_unpuny, domain.split("."))))
    out = "".join(ch for ch in text if not unicodedata.combining(ch)).translate(CONFUSABLES)
    return out.replace("rn", "m").replace("vv", "w")


def osa_distance(a: str, b: str) -> int:
    """Optimal string alignment (restricted Damerau-Levenshtein) distance."""
    if not a or not b:
        return len(a) or len(b)
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            v = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                v = min(v, prev2[j - 2] + 1)
            cur[j] = v
        prev2, prev = prev, cur
    return prev[len(b)]


def _is_internal(domain: str, internal: tuple[str, ...]) -> bool:
    return bool(domain) and any(domain == d or domain.endswith("." + d) for d in internal)


def _real_name(name: str | None) -> str:
    text = text_value(name, 255)
    return "" if text.lower() == "unknown" else text


def _external(facts: MailFacts, trust: Trust) -> tuple[str, str, tuple[str, ...]]:
    """(external sender IP, its verified name, external chain); ('', '', ()) when internal.

    The trust boundary is :meth:`sakimori.mail.relays.Trust.external`. The verified name is
    the MTA's PTR name for the connecting IP, the PTR in parentheses for a hop — never the
    HELO (docs/mail-checks.md).
    """
    connect = clean_ip(text_value(facts.ip, 64)) if facts.ip else ""
    ext = trust.external(facts.hops[:MAX_HOPS], connect, _real_name(facts.hostname))
    return ext.ip, ext.host, ext.chain


def _lookalike_match(domain: str, ordered: list[_Protected], max_distance: int
                     ) -> tuple[str, str] | None:
    reg, label, suffix = norm.split_domain(domain)
    if not reg:
        return None
    skel = skeleton(reg)
    left = domain[:len(domain) - len(suffix) - 1]
    tokens = {t for t in left.replace("-", ".").split(".") if t}
    dotted = f".{domain}."
    for p in ordered:
        if suffix == p.suffix and len(p.label) >= 4 and \
                abs(len(label) - len(p.label)) <= max_distance and \
                0 < osa_distance(label, p.label) <= max_distance:
            return p.reg, "edit"
        if skel == p.skel and reg != p.reg:
            return p.reg, "homoglyph"
        if label == p.label and suffix != p.suffix:
            return p.reg, "suffix"
        if (len(p.label) >= 4 and p.label in tokens) or p.dashed in left or \
                f".{p.reg}." in dotted:
            return p.reg, "hyphen"
    return None


# --- the checks ----------------------------------------------------------------------------

@dataclass
class _Ctx:
    facts: MailFacts
    cfg: Config
    data: _Data
    ext_ip: str
    ext_host: str
    chain: tuple[str, ...]
    authenticated: bool
    froms: tuple[tuple[str, str], ...]  # (header-From domain, evidence) displayed, strict
    d_env: str
    senders: tuple[tuple[str, str], ...]  # the sender domain(s) with their evidence


def _context(facts: MailFacts, cfg: Config, data: _Data) -> _Ctx:
    froms = from_domains(text_value(facts.from_shown, 320), text_value(facts.from_addr, 320))
    d_env = norm.domain_of(text_value(facts.envelope_from, 320))
    ip, host, chain = _external(facts, data.trust)
    return _Ctx(facts=facts, cfg=cfg, data=data, ext_ip=ip, ext_host=host, chain=chain,
                authenticated=bool(text_value(facts.user, 255)), froms=froms, d_env=d_env,
                senders=froms or (((d_env, ""),) if d_env else ()))


def _with(opts: list[str], evidence: str) -> list[str]:
    return [*opts, evidence] if evidence else opts


def _internal_spoof(c: _Ctx) -> list[str] | None:
    if not c.ext_ip or c.authenticated:
        return None
    for dom, evidence in (*c.froms, (c.d_env, "")):
        if _is_internal(dom, c.data.internal):
            return _with([f"from={dom}", f"ip={c.ext_ip}"], evidence)
    return None


def _domestic_via_overseas(c: _Ctx) -> list[str] | None:
    if not c.ext_ip:
        return None
    mail = c.cfg.mail
    for d, evidence in c.senders:
        if _is_internal(d, c.data.internal):
            continue
        presumed = d not in c.data.history and norm.is_domestic_tld(d, mail.domestic_tlds)
        if d not in c.data.domestic and not presumed:  # learning overrides the TLD
            continue
        for ip in c.chain:
            cc = country.lookup(ip)
            if cc and cc.upper() != mail.domestic_country:
                return _with([f"domain={d}", f"ip={ip}", f"country={cc.upper()}"], evidence)
    return None


def _new_infrastructure(c: _Ctx) -> list[str] | None:
    if not c.ext_ip:
        return None
    keys = norm.infrastructure_keys(c.ext_ip, c.ext_host)
    for d, evidence in c.senders:
        if _is_internal(d, c.data.internal) or \
                c.data.history.get(d, 0) < c.cfg.mail.new_infra_min_history:
            continue
        seen = c.data.infra.get(d, frozenset())
        if keys and not any(k in seen for k in keys):
            return _with([f"domain={d}", *(f"infra={k}" for k in keys)], evidence)
    return None


def _display_name_spoof(c: _Ctx) -> list[str] | None:
    f = c.facts
    folded = norm.fold_name(f.from_name)
    addrs = c.data.names.get(folded) if len(folded) >= c.cfg.mail.display_name_min_length \
        else None
    if addrs is not None:
        judged = [a for a in dict.fromkeys(norm.normalise_address(text_value(x, 320))
                                           for x in (f.from_shown, f.from_addr)) if a]
        for addr in judged or [""]:
            if addr not in addrs:
                return [f"name={folded}", f"addr={addr}"]
    return _shows_protected(c)


def _shows_protected(c: _Ctx) -> list[str] | None:
    """Other address-like text of the From header (display name, comment, further mailbox)
    naming a protected domain that is not the From's own."""
    own = {_org(d) for d, _ in c.froms}
    for text in c.facts.from_others[:8]:
        dom = norm.domain_of(text_value(text, 320))
        org = _org(dom)
        if org and org in c.data.protected and org not in own:
            shown = norm.normalise_address(text_value(c.facts.from_shown, 320))
            return [f"shows={norm.normalise_address(text) or dom}", f"addr={shown}"]
    return None


def _lookalike(c: _Ctx) -> list[str] | None:
    for d, evidence in c.senders:
        reg = norm.registrable_domain(d) if d else ""
        if not reg or reg in c.data.protected or reg in c.data.known:
            continue
        hit = _lookalike_match(d, c.data.ordered, c.cfg.mail.lookalike_max_distance)
        if hit:
            return _with([f"domain={d}", f"like={hit[0]}", f"how={hit[1]}"], evidence)
    return None


def _org(domain: str) -> str:
    """The registrable domain, or the domain itself when it has none."""
    return (norm.registrable_domain(domain) or domain) if domain else ""


def _header_mismatch(c: _Ctx, fired: bool) -> list[str] | None:
    orgs = [o for o in dict.fromkeys(_org(d) for d, _ in c.froms) if o]
    if not orgs:
        return None
    opts = []
    reply = _org(norm.domain_of(text_value(c.facts.reply_to, 320)))
    if reply and reply not in orgs and \
            (fired or any(o in c.data.protected for o in orgs)):
        opts.append(f"reply_to={reply}")
    env = _org(c.d_env)
    if env and env not in orgs and fired:  # alone: everyday mail (bounce domains)
        opts.append(f"envelope={env}")
    return [f"from={orgs[0]}", *opts] if opts else None


_CHECKS: tuple[tuple[str, Callable[[_Ctx], list[str] | None]], ...] = (
    ("SAKIMORI_INTERNAL_SPOOF", _internal_spoof),
    ("SAKIMORI_DOMESTIC_VIA_OVERSEAS", _domestic_via_overseas),
    ("SAKIMORI_NEW_INFRASTRUCTURE", _new_infrastructure),
    ("SAKIMORI_DISPLAY_NAME_SPOOF", _display_name_spoof),
    ("SAKIMORI_LOOKALIKE_DOMAIN", _lookalike),
)


def run_checks(facts: MailFacts, cfg: Config, mail_baseline: dict[str, Any] | None
               ) -> list[Hit]:
    """Checks 1–6 of docs/mail-checks.md over *facts*; hits in check order. Never raises."""
    try:
        c = _context(facts, cfg, _data(cfg, mail_baseline if isinstance(mail_baseline, dict)
                                       else {}))
        hits = []
        for symbol, check in _CHECKS:
            opts = check(c)
            if opts is not None:
                hits.append(Hit(symbol, [sanitise_option(o) for o in opts]))
        opts = _header_mismatch(c, bool(hits))
        if opts is not None:
            hits.append(Hit("SAKIMORI_HEADER_MISMATCH", [sanitise_option(o) for o in opts]))
        return hits
    except Exception:  # last resort, like the plugin's pcall: the mail is passed unjudged
        log.exception("mail checks failed on one message (no verdict)")
        return []
