"""Operator configuration (sakimori.yaml): defaults → YAML → environment → CLI, merged once.

The result is a frozen :class:`Config` passed explicitly to every component. Every key is
declared once in :mod:`sakimori.config_keys` (type, default, bounds, description); unknown keys
and values off their declaration are :class:`~sakimori.errors.ConfigError` naming the file and
dotted key (:mod:`sakimori.config_schema`). This module adds what a type or bound cannot
say (networks, host:port, whitelist policy, port table, relay presets, paths) and builds the
typed sections.

Relative file paths in the file are resolved against the file's directory.

Environment overrides use ``SAKIMORI_<SECTION>__<KEY>`` (value parsed as YAML), e.g.
``SAKIMORI_ALERTS__SMTP=127.0.0.1:2525``; an error about such a value names the variable.
"""

from __future__ import annotations

import copy
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sakimori.config_keys import DEFAULTS, RELAY_MAX_DOMAINS, SECTIONS
from sakimori.config_schema import check_all
from sakimori.errors import ConfigError, SakimoriError
from sakimori.mailclassconfig import MailClassesConfig, build_mail_classes
from sakimori.ports import PortTable, build_port_table
from sakimori.redisconn import RedisConfig, build_redis, check_url
from sakimori.webconfig import WebConfig, build_web, hostport, read_whitelist_file
from sakimori.whitelist import EntryPolicy, entry_problem

__all__ = ["DEFAULTS", "RELAY_MAX_DOMAINS", "AlertsConfig", "AnonymizerConfig", "ClassesConfig",
           "Config", "ConsumerConfig", "MailConfig", "NetworksConfig", "RspamdConfig",
           "SuricataConfig", "TrafficConfig", "WhitelistConfig", "load_config"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_ENV_PREFIX = "SAKIMORI_"


@dataclass(frozen=True)
class NetworksConfig:
    """``mail_relays`` holds the CIDR entries only (our own relays: also the mail-warning
    receiver's allowed peers); presets and ``.suffix`` entries are kept apart — they trust
    a provider's shared infrastructure (sakimori/mail/relays.py)."""

    home: tuple[IPNetwork, ...]
    mail_relays: tuple[IPNetwork, ...]
    mail_relay_presets: tuple[str, ...]
    mail_relay_suffixes: tuple[str, ...]
    learned_mail_relays: bool


@dataclass(frozen=True)
class MailConfig:
    internal_domains: tuple[str, ...]
    domestic_country: str
    domestic_tlds: tuple[str, ...]
    new_infra_min_history: int
    frequent_min_messages: int
    display_name_min_length: int
    lookalike_max_distance: int
    tag_subject: str
    tag_header: bool
    relay_min_share: float
    relay_min_domains: int


@dataclass(frozen=True)
class WhitelistConfig:
    """``destinations`` is the one effective list (configured entries, then the file's)."""

    destinations: tuple[str, ...]
    file: Path | None
    configured: tuple[str, ...]
    from_file: tuple[str, ...]
    policy: EntryPolicy  # min_prefix_v4/_v6 and networks.home


@dataclass(frozen=True)
class AlertsConfig:
    smtp_host: str
    smtp_port: int
    sender: str
    admins: tuple[str, ...]
    notify_recipient: bool
    recipient_checks: tuple[str, ...]
    language: str
    enabled: bool
    notify_max: int
    notify_exclude: tuple[str, ...]
    max_per_minute: int
    max_per_recipient_per_minute: int


@dataclass(frozen=True)
class TrafficConfig:
    http_ports: tuple[int, ...]
    ports: PortTable  # http_ports + port_protocols: the non_http_on_http_port table
    url_length_threshold: int | None
    url_length_k: float
    long_url_min_events: int
    long_session_seconds: int | None
    long_session_k: float
    fw_blocked_min_failures: int | None
    beacon_min_connections: int
    beacon_threshold: float
    beacon_prevalence_fraction: float


@dataclass(frozen=True)
class AnonymizerConfig:
    tor_relays: tuple[str, ...]
    tor_cert_pattern: bool


@dataclass(frozen=True)
class RspamdConfig:
    binary: str
    url: str | None
    listen_host: str
    listen_port: int
    listen_secret_file: Path
    export_detached: int


@dataclass(frozen=True)
class SuricataConfig:
    binary: str
    sid_base: int


@dataclass(frozen=True)
class ConsumerConfig:
    state_dir: Path
    queue_size: int
    handlers: tuple[str, ...] | None
    outputs: tuple[str, ...] | None
    max_line_bytes: int
    rotated_pattern: str
    shared: str  # redis:// URL of the state shared by consumers ("" = not shared)


@dataclass(frozen=True)
class ClassesConfig:
    map_file: Path | None  # None: the packaged eve_consumer/classes.yaml


@dataclass(frozen=True)
class Config:
    source: str
    networks: NetworksConfig
    mail: MailConfig
    whitelist: WhitelistConfig
    alerts: AlertsConfig
    traffic: TrafficConfig
    anonymizer: AnonymizerConfig
    rspamd: RspamdConfig
    suricata: SuricataConfig
    consumer: ConsumerConfig
    web: WebConfig
    mail_classes: MailClassesConfig = field(default_factory=MailClassesConfig)
    classes: ClassesConfig = ClassesConfig(None)
    redis: RedisConfig | None = None

    def is_home(self, ip: str) -> bool:
        """True when *ip* belongs to one of ``networks.home``."""
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(addr in net for net in self.networks.home)


def _rotated_pattern(text: str, src: str) -> str:
    """``consumer.rotated_pattern``: a glob next to the EVE file; ``{name}`` = its name."""
    if "/" in text or "{name}" not in text or text == "{name}":
        raise ConfigError(src, "consumer.rotated_pattern", f"{text!r}: must be a file name "
                          "pattern containing {name} and more, e.g. '{name}[.-]*'")
    try:
        text.format(name="eve.json")
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(src, "consumer.rotated_pattern",
                          f"{text!r}: only {{name}} may be in braces") from exc
    return text


def load_config(path: str | Path | None, env: Mapping[str, str] | None = None,
                overrides: Mapping[str, Any] | None = None) -> Config:
    """Load *path* (or only defaults when None), apply environment and CLI overrides."""
    source = str(path) if path is not None else "<defaults>"
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(source, "", f"cannot read: {exc.strerror or exc}") from exc
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}" if mark is not None else ""
            raise ConfigError(source, where, f"not valid YAML: {getattr(exc, 'problem', exc)}")\
                from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(source, "", "top level must be a mapping of sections")
        raw = loaded
    merged = _merge(copy.deepcopy(DEFAULTS), raw, source)
    from_env = _apply_env(merged, os.environ if env is None else env)
    for dotted, value in (overrides or {}).items():
        section, _, key = dotted.partition(".")
        _check_known(section, key, source)
        merged[section][key] = value
        from_env.pop(dotted, None)
    base_dir = Path(path).resolve().parent if path is not None else Path.cwd()
    try:
        return _build(merged, source, base_dir)
    except ConfigError as exc:  # a value set by the environment: name the variable
        section, _, rest = exc.key.partition(".")
        name = from_env.get(f"{section}.{rest.split('.')[0].split('[')[0]}")
        if name is None or exc.path != source:
            raise
        raise ConfigError(f"environment {name}", exc.key, exc.message) from None


def _check_known(section: str, key: str, source: str) -> None:
    if section not in DEFAULTS:
        raise ConfigError(source, section, f"unknown section (known: {', '.join(DEFAULTS)})")
    if key and key not in DEFAULTS[section]:
        known = ", ".join(DEFAULTS[section])
        raise ConfigError(source, f"{section}.{key}", f"unknown key (known: {known})")


def _merge(base: dict[str, dict[str, Any]], raw: dict[str, Any], source: str) -> dict:
    for section, values in raw.items():
        _check_known(str(section), "", source)
        if values is None:
            continue
        if not isinstance(values, dict):
            raise ConfigError(source, str(section), "must be a mapping")
        for key, value in values.items():
            _check_known(str(section), str(key), source)
            base[section][key] = value
    return base


def _apply_env(merged: dict, env: Mapping[str, str]) -> dict[str, str]:
    """Set each ``SAKIMORI_<SECTION>__<KEY>`` (YAML) in *merged*; dotted key -> variable."""
    names = {}
    for name, text in env.items():
        if not name.startswith(_ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(_ENV_PREFIX):].lower().partition("__")
        _check_known(section, key, f"environment {name}")
        try:
            merged[section][key] = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"environment {name}", f"{section}.{key}", "not valid YAML")\
                from exc
        names[f"{section}.{key}"] = name
    return names


# --- post-processing of values already checked against their declaration ---------------

def _networks(items: tuple[str, ...], source: str, key: str) -> tuple[IPNetwork, ...]:
    nets = []
    for i, item in enumerate(items):
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ConfigError(source, f"{key}[{i}]", f"not an IP network: {item!r}") from exc
    return tuple(nets)


def _mail_relays(items: tuple[str, ...], source: str, key: str
                 ) -> tuple[tuple[IPNetwork, ...], tuple[str, ...], tuple[str, ...]]:
    """``networks.mail_relays``: CIDRs, presets (``microsoft365``, ``preset:NAME``) and
    ``.suffix`` host names → (networks, presets, suffixes)."""
    from sakimori.mail.relays import parse_entry
    nets: list[IPNetwork] = []
    presets: list[str] = []
    suffixes: list[str] = []
    for i, item in enumerate(items):
        try:
            kind, parsed = parse_entry(item)
        except ValueError as exc:
            raise ConfigError(source, f"{key}[{i}]", str(exc)) from exc
        {"net": nets, "preset": presets, "suffix": suffixes}[kind].append(parsed)
    return tuple(nets), tuple(dict.fromkeys(presets)), tuple(dict.fromkeys(suffixes))


def _resolve(entry: str, base_dir: Path) -> str:
    """A relative file path is taken relative to the config file; URLs stay as they are."""
    if "://" in entry or Path(entry).is_absolute():
        return entry
    return str(base_dir / entry)


def _file(entry: str | None, base_dir: Path) -> Path | None:
    return Path(_resolve(entry, base_dir)) if entry is not None else None


def _whitelist(wl: dict[str, Any], home: tuple[IPNetwork, ...], src: str,
               base_dir: Path) -> WhitelistConfig:
    policy = EntryPolicy(min_prefix_v4=wl["min_prefix_v4"], min_prefix_v6=wl["min_prefix_v6"],
                         home=home)
    destinations = wl["destinations"]
    for i, entry in enumerate(destinations):
        problem = entry_problem(entry, policy)
        if problem:
            raise ConfigError(src, f"whitelist.destinations[{i}]", problem)
    wl_file = _file(wl["file"], base_dir)
    from_file = read_whitelist_file(wl_file, policy) if wl_file is not None else ()
    return WhitelistConfig(
        destinations=tuple(dict.fromkeys((*destinations, *from_file))), file=wl_file,
        configured=destinations, from_file=from_file, policy=policy)


def _build(m: dict, src: str, base_dir: Path) -> Config:
    v = check_all(SECTIONS, m, src)
    net, mail, al, tr, an, rs, su, co = (v[s] for s in (
        "networks", "mail", "alerts", "traffic", "anonymizer", "rspamd", "suricata",
        "consumer"))
    shared = co["shared"] or ""
    if shared:
        try:
            check_url(shared, "consumer.shared")
        except SakimoriError as exc:
            raise ConfigError(src, "consumer.shared", str(exc).partition(": ")[2]) from None
    smtp_host, smtp_port = hostport(al["smtp"], src, "alerts.smtp")
    listen = hostport(rs["listen"], src, "rspamd.listen")
    country = mail["domestic_country"].upper()
    if len(country) != 2 or not country.isalpha():
        raise ConfigError(src, "mail.domestic_country", f"must be ISO 3166-1 alpha-2: {country}")
    if not tr["http_ports"]:
        raise ConfigError(src, "traffic.http_ports", "must list at least one port")
    home = _networks(net["home"], src, "networks.home")
    whitelist = _whitelist(v["whitelist"], home, src, base_dir)
    state_dir = Path(_resolve(co["state_dir"], base_dir))
    relay_nets, presets, suffixes = _mail_relays(net["mail_relays"], src, "networks.mail_relays")
    return Config(
        source=src,
        networks=NetworksConfig(
            home=home, mail_relays=relay_nets, mail_relay_presets=presets,
            mail_relay_suffixes=suffixes, learned_mail_relays=net["learned_mail_relays"]),
        mail=MailConfig(
            internal_domains=tuple(d.lower() for d in mail["internal_domains"]),
            domestic_country=country,
            domestic_tlds=tuple(t.lower().lstrip(".") for t in mail["domestic_tlds"]),
            **{key: mail[key] for key in (
                "new_infra_min_history", "frequent_min_messages", "display_name_min_length",
                "lookalike_max_distance", "tag_subject", "tag_header", "relay_min_share",
                "relay_min_domains")}),
        whitelist=whitelist,
        alerts=AlertsConfig(
            smtp_host=smtp_host, smtp_port=smtp_port,
            notify_exclude=tuple(p.lower() for p in al["notify_exclude"]),
            **{key: al[key] for key in (
                "sender", "admins", "notify_recipient", "recipient_checks", "language",
                "enabled", "notify_max", "max_per_minute", "max_per_recipient_per_minute")}),
        traffic=TrafficConfig(
            ports=build_port_table(tr["http_ports"], tr["port_protocols"], src),
            **{key: value for key, value in tr.items() if key != "port_protocols"}),
        anonymizer=AnonymizerConfig(
            tor_relays=tuple(_resolve(e, base_dir) for e in an["tor_relays"]),
            tor_cert_pattern=an["tor_cert_pattern"]),
        rspamd=RspamdConfig(
            binary=rs["binary"], url=rs["url"] or None,
            listen_host=listen[0], listen_port=listen[1],
            listen_secret_file=Path(_resolve(rs["listen_secret_file"], base_dir)),
            export_detached=rs["export_detached"]),
        suricata=SuricataConfig(binary=su["binary"], sid_base=su["sid_base"]),
        consumer=ConsumerConfig(
            state_dir=state_dir, queue_size=co["queue_size"],
            max_line_bytes=co["max_line_bytes"],
            rotated_pattern=_rotated_pattern(co["rotated_pattern"], src),
            handlers=co["handlers"], outputs=co["outputs"], shared=shared),
        web=build_web(v["web"], src, base_dir, state_dir),
        mail_classes=build_mail_classes(v["mail_classes"], src),
        classes=ClassesConfig(map_file=_file(v["classes"]["map_file"], base_dir)),
        redis=build_redis(v["redis"], src, base_dir),
    )
