"""Render the Suricata side of sakimori: generated rules, static rules, data files, package.

:func:`write_suricata` is the API ``generate`` and ``analyze`` call. It writes into
``BUILD_DIR/suricata/``:

- ``static.rules``   — copied from ``suricata_rules/static.rules`` (SIDs re-based when
  ``suricata.sid_base`` is not the default),
- ``sakimori.rules`` — rendered from ``generator/templates/sakimori.rules.j2`` with the
  effective thresholds (:func:`sakimori.baselines.effective_traffic`: config overrides win),
- ``tor-relays-ipv4.lst`` / ``tor-relays-ipv6.lst`` — Suricata dataset files (when relays are
  configured); rules name them relative to the rule file, which Suricata 7 resolves against the
  rule file's directory and suricata-update rewrites when it installs the package,
- the suricata-update source package (:mod:`generator.package`).

Output is deterministic: same config + same baselines → byte-identical rule files.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from generator import rule_ledger
from generator.package import build_package
from generator.wl_helpers import KIND_OFFSETS, MAX_PCRE_CHARS, whitelist_helpers
from sakimori.baselines import Threshold, effective_traffic
from sakimori.config import Config
from sakimori.errors import InputError
from sakimori.ports import PortTable
from sakimori.tor import RelaySet, load_relays
from sakimori.whitelist import Whitelist
from suricata_rules import STATIC_RULES

log = logging.getLogger(__name__)

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
DEFAULT_SID_BASE = 9300000
ATTACK_SITE = "attack.mitre.org"  # reference:url of every rule: its ATT&CK page (attack_url)
TOR_IPV4_FILE = "tor-relays-ipv4.lst"
TOR_IPV6_FILE = "tor-relays-ipv6.lst"
STATIC_FILE = "static.rules"
GENERATED_FILE = "sakimori.rules"

# Fixed SID offsets (relative to suricata.sid_base) per rule kind: stable across re-learns.
SID_OFFSETS: dict[str, int] = {
    # 1000/1001 retired (one helper pair for the whole whitelist, see "Cost" in docs/rules.md);
    # whitelist helpers are base+2000 … +3999, two per name form (generator.wl_helpers); the
    # ledger and ET metadata of each kind sit at these four offsets:
    "whitelist_suffix_host": 2000, "whitelist_suffix_sni": 2001,
    "whitelist_exact_host": 2002, "whitelist_exact_sni": 2003,
    "long_url": 1100, "long_url_no_host": 1101,
    "non_http_tls": 1200, "non_http_failed": 1201, "non_http_other": 1202,
    "non_http_tunnel": 1203, "non_http_http": 1204,
    "long_session": 1300,
    "tor_relay_ipv4": 1400, "tor_relay_ipv6": 1401,
    "tor_sni_helper": 1410, "tor_cert": 1411,  # 1412 retired (was a per-packet tcp rule)
    # 1500-1599 fw_blocked and 1600-1699 beacon are reserved: the consumer detects them.
}


_TACTIC = re.compile(r"^TA\d{4}$")
_TECHNIQUE = re.compile(r"^(T\d{4})(?:\.(\d{3}))?$")


def attack_url(tactic: str | None, technique: str | None) -> str:
    """The ``reference:url`` value of a rule: the MITRE ATT&CK page of its technique
    (``T1071.001`` → ``attack.mitre.org/techniques/T1071/001/``), or of its tactic when it
    has none (``attack.mitre.org/tactics/TA0011/``). Without scheme, as ET Open writes it.
    Built from the same ids as the rule's ``mitre_*`` metadata, so the two cannot disagree."""
    if technique is not None:
        m = _TECHNIQUE.match(technique)
        if m is None:
            raise ValueError(f"not an ATT&CK technique id: {technique!r}")
        sub = f"{m.group(2)}/" if m.group(2) else ""
        return f"{ATTACK_SITE}/techniques/{m.group(1)}/{sub}"
    if tactic is not None and _TACTIC.match(tactic):
        return f"{ATTACK_SITE}/tactics/{tactic}/"
    raise ValueError(f"a rule needs an ATT&CK tactic or technique id (got {tactic!r})")


@dataclass(frozen=True)
class EtMeta:
    """ET Open metadata of a rule: severity, target, MITRE ATT&CK tactic and technique.
    Helpers that never alert carry the tactic of the detections they serve and no technique."""

    severity: str
    target: str = "Client_Endpoint"
    tactic: str = "TA0011"  # Command and Control
    technique: str | None = None

    @property
    def reference(self) -> str:
        """``reference:url`` value: the ATT&CK page of the technique (else the tactic)."""
        return attack_url(self.tactic, self.technique)


_WEB_C2 = EtMeta("Major", technique="T1071.001")  # application layer protocol: web
_TOR = EtMeta("Major", technique="T1090.003")      # proxy: multi-hop proxy
_PORT = EtMeta("Major", technique="T1571")         # non-standard port
ET_META: dict[int, EtMeta] = {
    **{o: EtMeta("Informational") for o in KIND_OFFSETS.values()},  # whitelist: for C2 rules
    1100: EtMeta("Major", tactic="TA0010", technique="T1041"),  # exfiltration over C2 channel
    1101: EtMeta("Major", tactic="TA0010", technique="T1041"),
    1200: EtMeta("Major", technique="T1573"),  # encrypted channel
    1201: _PORT, 1202: _PORT, 1203: EtMeta("Informational", technique="T1572"),  # tunnelling
    1204: _PORT, 1300: _WEB_C2,
    1400: _TOR, 1401: _TOR, 1410: _TOR, 1411: _TOR,
}


@dataclass(frozen=True)
class RuleValue:
    """An integer rule parameter and where it came from (learned|config|fallback)."""

    value: int
    source: str


def _rule_value(th: Threshold) -> RuleValue:
    return RuleValue(round(th.value), th.origin)


def host_pcre(wl: Whitelist) -> str | None:
    """One PCRE matching every whitelisted host name (exact or dot-suffix), or None: the
    negated whitelist test of ``long_url`` (the helpers have one PCRE each: generator.wl_helpers).

    Case-insensitive and tolerant of a trailing dot: ``tls.sni`` is raw, and ``http.host`` is
    lower-cased by Suricata 7.0.10 only when the Host header has no port (``NTP.nict.jp:80``
    arrives as ``NTP.nict.jp``). The port itself is stripped from ``http.host``.
    """
    alternatives = []
    for text, exact in wl.host_suffixes():
        escaped = re.escape(text)
        alternatives.append(escaped if exact else ".*" + escaped)
    if not alternatives:
        return None
    return "/^(?:" + "|".join(alternatives) + r")\.?$/i"


def _port_group(ports: list[int]) -> str | None:
    return "[" + ",".join(map(str, ports)) + "]" if ports else None


def port_groups(table: PortTable) -> dict[str, str | None]:
    """Suricata port groups of the table (None when empty: the rule is left out).

    ``all``: every judged port; ``no_tls`` / ``no_http``: ports where TLS / HTTP is not
    expected; ``http``: ports where HTTP is expected (an HTTP CONNECT there opens a tunnel).
    """
    return {"all": _port_group(table.ports()),
            "no_tls": _port_group(table.ports(lacking="tls")),
            "no_http": _port_group(table.ports(lacking="http")),
            "http": _port_group(table.ports(expecting="http"))}


def dest_group(wl: Whitelist) -> str:
    """Destination address of every rule: outside $HOME_NET and outside whitelisted blocks."""
    nets = sorted(wl.networks, key=lambda n: (n.version, n.network_address, n.prefixlen))
    if not nets:
        return "!$HOME_NET"
    return "[" + ",".join(["!$HOME_NET", *(f"!{n}" for n in nets)]) + "]"


def _source_name(source: str) -> str:
    """A relay source as shown in the rules file: URLs as given, files by name only (no path
    of the build machine in the rules)."""
    return source if source.startswith(("http://", "https://")) else Path(source).name


def _explain(cfg: Config, url: Threshold, session: Threshold, wl: Whitelist,
             relays: RelaySet | None) -> list[str]:
    lines = [f"long_url: urilen > {round(url.value)} — {url.explain()}",
             f"long_session: flow.age > {round(session.value)} s — {session.explain()}",
             f"non_http_on_http_port: expected protocols {cfg.traffic.ports.describe()}"]
    names = sorted(cfg.whitelist.destinations)
    lines.append("whitelist: " + (", ".join(names) if names else "(empty)"))
    if relays is not None:
        srcs = ", ".join(f"{_source_name(str(s['source']))} ({s['addresses']})"
                         for s in relays.sources)
        lines.append(f"tor relays: {len(relays.ipv4)} IPv4, {len(relays.ipv6)} IPv6 "
                     f"from {srcs or 'no source'}")
    lines.append(f"tor certificate pattern: {'on' if cfg.anonymizer.tor_cert_pattern else 'off'}")
    return lines


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
                              undefined=jinja2.StrictUndefined, autoescape=False,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def render_rules(cfg: Config, doc: dict[str, Any] | None,
                 relays: RelaySet | None = None,
                 ledger: dict[str, dict[str, Any]] | None = None) -> str:
    """The text of ``sakimori.rules`` (deterministic: rev and dates come from *ledger*,
    by default the committed :data:`generator.rule_ledger.LEDGER`)."""
    led = rule_ledger.load() if ledger is None else ledger
    eff = effective_traffic(cfg, doc)
    wl = Whitelist.from_entries(cfg.whitelist.destinations, cfg.whitelist.policy)
    context = {
        "base": cfg.suricata.sid_base,
        "ledger": {o: rule_ledger.entry(led, o) for o in SID_OFFSETS.values()},
        "et_meta": ET_META,
        "generated_at": (doc or {}).get("generated_at") or "none (no baselines: fallbacks)",
        "explain": _explain(cfg, eff.url_length, eff.long_session_s, wl, relays),
        "dst": dest_group(wl),
        "wl_pcre": host_pcre(wl),
        "max_pcre": MAX_PCRE_CHARS,
        "wl_helpers": whitelist_helpers(wl),
        "ports": port_groups(cfg.traffic.ports),
        "url": _rule_value(eff.url_length),
        "session": _rule_value(eff.long_session_s),
        "tor_ipv4": TOR_IPV4_FILE if relays is not None and relays.ipv4 else None,
        "tor_ipv6": TOR_IPV6_FILE if relays is not None and relays.ipv6 else None,
        "tor_cert": cfg.anonymizer.tor_cert_pattern,
    }
    return _environment().get_template("sakimori.rules.j2").render(**context)


def static_rules_text(cfg: Config, source: Path = STATIC_RULES) -> str:
    """``static.rules`` with SIDs moved from the default base to ``suricata.sid_base``."""
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(str(source), None, f"cannot read static rules: {exc.strerror or exc}") \
            from exc
    shift = cfg.suricata.sid_base - DEFAULT_SID_BASE

    def rebase(m: re.Match[str]) -> str:
        return f"sid:{int(m.group(1)) + shift};"

    return text if shift == 0 else re.sub(r"\bsid:\s*(\d+)\s*;", rebase, text)


def _write(path: Path, text: str) -> Path:
    """Write only when the content differs (keeps mtimes stable for unchanged files)."""
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return path


def write_suricata(cfg: Config, doc: dict[str, Any] | None, build_dir: Path,
                   package: bool = True, deploy_dir: Path | None = None) -> list[Path]:
    """Write ``build_dir/suricata/`` and return the rule files to load, static first.
    *deploy_dir*: the build directory the output will be moved to when *build_dir* is a
    staging directory (the package's index.yaml names the deployed archive)."""
    out = Path(build_dir) / "suricata"
    out.mkdir(parents=True, exist_ok=True)
    relays = load_relays(cfg.anonymizer.tor_relays) if cfg.anonymizer.tor_relays else None
    if relays is not None and not (relays.ipv4 or relays.ipv6):
        log.warning("anonymizer.tor_relays: no relay address in %s — no relay rule rendered",
                    ", ".join(cfg.anonymizer.tor_relays))
    data_files: list[Path] = []
    for name, addrs in ((TOR_IPV4_FILE, relays.sorted_ipv4() if relays else []),
                        (TOR_IPV6_FILE, relays.sorted_ipv6() if relays else [])):
        target = out / name
        if addrs:
            data_files.append(_write(target, "\n".join(addrs) + "\n"))
        else:
            target.unlink(missing_ok=True)
    static = _write(out / STATIC_FILE, static_rules_text(cfg))
    generated = _write(out / GENERATED_FILE, render_rules(cfg, doc, relays))
    if package:
        build_package(out, [generated, static, *data_files],
                      Path(deploy_dir) / "suricata" if deploy_dir is not None else None)
    return [static, generated]
