"""Operator configuration (sakimori.yaml): defaults → YAML → environment → CLI, merged once.

The result is a frozen :class:`Config` passed explicitly to every component. Unknown keys and
wrongly typed values are :class:`~sakimori.errors.ConfigError` naming the file and dotted key.

Relative file paths in the file are resolved against the file's directory.

Environment overrides use ``SAKIMORI_<SECTION>__<KEY>`` (value parsed as YAML), e.g.
``SAKIMORI_ALERTS__SMTP=127.0.0.1:2525``.
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

from sakimori.errors import ConfigError, SakimoriError
from sakimori.mailclassconfig import (
    MAIL_CLASSES_DEFAULTS,
    MailClassesConfig,
    build_mail_classes,
)
from sakimori.ports import PortTable, build_port_table
from sakimori.redisconn import REDIS_DEFAULTS, RedisConfig, build_redis, check_url
from sakimori.webconfig import WEB_DEFAULTS, WebConfig, build_web, read_whitelist_file
from sakimori.whitelist import DEFAULT_POLICY, EntryPolicy, entry_problem

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# The schema: section -> key -> default. A default of None means "learned" (or "unset").
DEFAULTS: dict[str, dict[str, Any]] = {
    "networks": {
        "home": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
        "mail_relays": [],
        "learned_mail_relays": True,
    },
    "mail": {
        "internal_domains": [],
        "domestic_country": "JP",
        "domestic_tlds": ["jp"],
        "new_infra_min_history": 5,
        "frequent_min_messages": 3,
        "display_name_min_length": 3,
        "lookalike_max_distance": 1,
        "tag_subject": "",
        "tag_header": True,
        "relay_min_share": 0.5,
        "relay_min_domains": 5,
    },
    "whitelist": {
        "destinations": [],
        "file": None,
        "min_prefix_v4": 16,
        "min_prefix_v6": 32,
    },
    "alerts": {
        "smtp": "127.0.0.1:25",
        "sender": "sakimori@localhost",
        "admins": [],
        "notify_recipient": False,
        "recipient_checks": [],
        "language": "en",
        "enabled": True,
        "notify_max": 20,
        "notify_exclude": [],
        "max_per_minute": 30,
        "max_per_recipient_per_minute": 10,
    },
    "traffic": {
        "http_ports": [80, 8080, 3128, 8000],
        "port_protocols": {443: ["tls", "http"], 8443: ["tls", "http"]},
        "url_length_threshold": None,
        "url_length_k": 6.0,
        "long_url_min_events": 2,
        "long_session_seconds": None,
        "long_session_k": 6.0,
        "fw_blocked_min_failures": None,
        "beacon_min_connections": 5,
        "beacon_threshold": 0.74,
        "beacon_prevalence_fraction": 0.25,
    },
    "anonymizer": {
        "tor_relays": [],
        "tor_cert_pattern": True,
    },
    "rspamd": {
        "binary": "rspamd",
        "url": None,
        "listen": "127.0.0.1:11339",
        "listen_secret_file": "rspamd-listen.secret",
    },
    "suricata": {
        "binary": "suricata",
        "sid_base": 9300000,
    },
    "consumer": {
        "state_dir": "/var/lib/sakimori",
        "queue_size": 10000,
        "max_line_bytes": 1048576,
        "rotated_pattern": "{name}[.-]*",
        "handlers": None,
        "outputs": None,
        "shared": None,
    },
    "classes": {
        "map_file": None,
    },
    "redis": REDIS_DEFAULTS,
    "web": WEB_DEFAULTS,
    "mail_classes": MAIL_CLASSES_DEFAULTS,
}

_ENV_PREFIX = "SAKIMORI_"
RELAY_MAX_DOMAINS = 32  # sender domains kept per relay candidate (generator/mail/state.py)


@dataclass(frozen=True)
class NetworksConfig:
    """``mail_relays`` holds the CIDR entries only (our own relays: also the mail-warning
    receiver's allowed peers); presets and ``.suffix`` entries are kept apart — they trust
    a provider's shared infrastructure (sakimori/mail/relays.py)."""

    home: tuple[IPNetwork, ...]
    mail_relays: tuple[IPNetwork, ...]
    mail_relay_presets: tuple[str, ...] = ()
    mail_relay_suffixes: tuple[str, ...] = ()
    learned_mail_relays: bool = True


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
    relay_min_share: float = 0.5
    relay_min_domains: int = 5


@dataclass(frozen=True)
class WhitelistConfig:
    """``destinations`` is the one effective list (configured entries, then the file's)."""

    destinations: tuple[str, ...]
    file: Path | None = None
    configured: tuple[str, ...] = ()
    from_file: tuple[str, ...] = ()
    policy: EntryPolicy = DEFAULT_POLICY  # min_prefix_v4/_v6 and networks.home


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
    notify_max: int = 20
    notify_exclude: tuple[str, ...] = ()
    max_per_minute: int = 30
    max_per_recipient_per_minute: int = 10


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
    listen_secret_file: Path = Path("rspamd-listen.secret")


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
    max_line_bytes: int = 1048576
    rotated_pattern: str = "{name}[.-]*"
    shared: str = ""  # redis:// URL of the state shared by consumers ("" = not shared)


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


def _rotated_pattern(value: Any, src: str) -> str:
    """``consumer.rotated_pattern``: a glob next to the EVE file; ``{name}`` = its name."""
    text = _str(value, src, "consumer.rotated_pattern")
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
    merged = _apply_env(merged, os.environ if env is None else env, source)
    for dotted, value in (overrides or {}).items():
        section, _, key = dotted.partition(".")
        _check_known(section, key, source)
        merged[section][key] = value
    base_dir = Path(path).resolve().parent if path is not None else Path.cwd()
    return _build(merged, source, base_dir)


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


def _apply_env(merged: dict, env: Mapping[str, str], source: str) -> dict:
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
    return merged


# --- typed readers: each names the dotted key on error -------------------------------------

def _list(value: Any, source: str, key: str) -> list:
    if value is None:
        return []
    if isinstance(value, str | int | float):
        raise ConfigError(source, key, "must be a list")
    if not isinstance(value, list):
        raise ConfigError(source, key, "must be a list")
    return value


def _str_list(value: Any, source: str, key: str) -> tuple[str, ...]:
    items = _list(value, source, key)
    for i, item in enumerate(items):
        if not isinstance(item, str | int | float) or isinstance(item, bool):
            raise ConfigError(source, f"{key}[{i}]", "must be a string")
    return tuple(str(item).strip() for item in items)


def _networks(value: Any, source: str, key: str) -> tuple[IPNetwork, ...]:
    nets = []
    for i, item in enumerate(_str_list(value, source, key)):
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ConfigError(source, f"{key}[{i}]", f"not an IP network: {item!r}") from exc
    return tuple(nets)


def _mail_relays(value: Any, source: str, key: str
                 ) -> tuple[tuple[IPNetwork, ...], tuple[str, ...], tuple[str, ...]]:
    """``networks.mail_relays``: CIDRs, presets (``microsoft365``, ``preset:NAME``) and
    ``.suffix`` host names → (networks, presets, suffixes)."""
    from sakimori.mail.relays import parse_entry
    nets: list[IPNetwork] = []
    presets: list[str] = []
    suffixes: list[str] = []
    for i, item in enumerate(_str_list(value, source, key)):
        try:
            kind, parsed = parse_entry(item)
        except ValueError as exc:
            raise ConfigError(source, f"{key}[{i}]", str(exc)) from exc
        {"net": nets, "preset": presets, "suffix": suffixes}[kind].append(parsed)
    return tuple(nets), tuple(dict.fromkeys(presets)), tuple(dict.fromkeys(suffixes))


def _int(value: Any, source: str, key: str, *, optional: bool = False,
         minimum: int | None = None, maximum: int | None = None) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(source, key, f"must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(source, key, f"must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(source, key, f"must be <= {maximum}, got {value}")
    return value


def _req_int(value: Any, source: str, key: str, minimum: int | None = None,
             maximum: int | None = None) -> int:
    result = _int(value, source, key, minimum=minimum, maximum=maximum)
    assert result is not None
    return result


def _float(value: Any, source: str, key: str, minimum: float = 0.0,
           maximum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(source, key, f"must be a number, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise ConfigError(source, key, f"must be {bound}, got {value}")
    return float(value)


def _bool(value: Any, source: str, key: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(source, key, f"must be true or false, got {value!r}")
    return value


def _str(value: Any, source: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(source, key, f"must be a non-empty string, got {value!r}")
    return value.strip()


def _opt_str(value: Any, source: str, key: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConfigError(source, key, f"must be a string, got {value!r}")
    if any(ch in value for ch in "\r\n\0"):
        raise ConfigError(source, key, "must not contain line breaks")
    return value


def _hostport(value: Any, source: str, key: str) -> tuple[str, int]:
    text = _str(value, source, key)
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(source, key, f"must be host:port, got {text!r}")
    return host.strip("[]"), int(port)


def _resolve(entry: str, base_dir: Path) -> str:
    """A relative file path is taken relative to the config file; URLs stay as they are."""
    if "://" in entry or Path(entry).is_absolute():
        return entry
    return str(base_dir / entry)


def _build(m: dict, src: str, base_dir: Path) -> Config:
    net, mail, wl, al, tr, an, rs, su, co, web = (m[s] for s in (
        "networks", "mail", "whitelist", "alerts", "traffic", "anonymizer", "rspamd",
        "suricata", "consumer", "web"))
    shared = _opt_str(co["shared"], src, "consumer.shared")
    if shared:
        try:
            check_url(shared, "consumer.shared")
        except SakimoriError as exc:
            raise ConfigError(src, "consumer.shared", str(exc).partition(": ")[2]) from None
    smtp_host, smtp_port = _hostport(al["smtp"], src, "alerts.smtp")
    listen = _hostport(rs["listen"], src, "rspamd.listen")
    country = _str(mail["domestic_country"], src, "mail.domestic_country").upper()
    if len(country) != 2 or not country.isalpha():
        raise ConfigError(src, "mail.domestic_country", f"must be ISO 3166-1 alpha-2: {country}")
    language = _str(al["language"], src, "alerts.language")
    if language not in ("en", "ja"):
        raise ConfigError(src, "alerts.language", f"must be 'en' or 'ja', got {language!r}")
    http_ports = tuple(_req_int(p, src, f"traffic.http_ports[{i}]", 1, 65535)
                       for i, p in enumerate(_list(tr["http_ports"], src, "traffic.http_ports")))
    if not http_ports:
        raise ConfigError(src, "traffic.http_ports", "must list at least one port")
    home = _networks(net["home"], src, "networks.home")
    policy = EntryPolicy(
        min_prefix_v4=_req_int(wl["min_prefix_v4"], src, "whitelist.min_prefix_v4", 0, 32),
        min_prefix_v6=_req_int(wl["min_prefix_v6"], src, "whitelist.min_prefix_v6", 0, 128),
        home=home)
    destinations = _str_list(wl["destinations"], src, "whitelist.destinations")
    for i, entry in enumerate(destinations):
        problem = entry_problem(entry, policy)
        if problem:
            raise ConfigError(src, f"whitelist.destinations[{i}]", problem)
    wl_file = Path(_resolve(_str(wl["file"], src, "whitelist.file"), base_dir)) \
        if wl["file"] is not None else None
    from_file = read_whitelist_file(wl_file, policy) if wl_file is not None else ()
    state_dir = Path(_resolve(_str(co["state_dir"], src, "consumer.state_dir"), base_dir))
    relay_nets, presets, suffixes = _mail_relays(net["mail_relays"], src, "networks.mail_relays")
    return Config(
        source=src,
        networks=NetworksConfig(
            home=home,
            mail_relays=relay_nets, mail_relay_presets=presets, mail_relay_suffixes=suffixes,
            learned_mail_relays=_bool(net["learned_mail_relays"], src,
                                      "networks.learned_mail_relays"),
        ),
        mail=MailConfig(
            internal_domains=tuple(d.lower() for d in _str_list(
                mail["internal_domains"], src, "mail.internal_domains")),
            domestic_country=country,
            domestic_tlds=tuple(t.lower().lstrip(".") for t in _str_list(
                mail["domestic_tlds"], src, "mail.domestic_tlds")),
            new_infra_min_history=_req_int(mail["new_infra_min_history"], src,
                                           "mail.new_infra_min_history", 1),
            frequent_min_messages=_req_int(mail["frequent_min_messages"], src,
                                           "mail.frequent_min_messages", 1),
            display_name_min_length=_req_int(mail["display_name_min_length"], src,
                                             "mail.display_name_min_length", 1),
            lookalike_max_distance=_req_int(mail["lookalike_max_distance"], src,
                                            "mail.lookalike_max_distance", 0, 3),
            tag_subject=_opt_str(mail["tag_subject"], src, "mail.tag_subject"),
            tag_header=_bool(mail["tag_header"], src, "mail.tag_header"),
            relay_min_share=_float(mail["relay_min_share"], src, "mail.relay_min_share",
                                   0.01, 1.0),
            relay_min_domains=_req_int(mail["relay_min_domains"], src,
                                       "mail.relay_min_domains", 2, RELAY_MAX_DOMAINS),
        ),
        whitelist=WhitelistConfig(
            destinations=tuple(dict.fromkeys((*destinations, *from_file))), file=wl_file,
            configured=destinations, from_file=from_file, policy=policy),
        alerts=AlertsConfig(
            smtp_host=smtp_host, smtp_port=smtp_port,
            sender=_str(al["sender"], src, "alerts.sender"),
            admins=_str_list(al["admins"], src, "alerts.admins"),
            notify_recipient=_bool(al["notify_recipient"], src, "alerts.notify_recipient"),
            recipient_checks=_str_list(al["recipient_checks"], src, "alerts.recipient_checks"),
            language=language,
            enabled=_bool(al["enabled"], src, "alerts.enabled"),
            notify_max=_req_int(al["notify_max"], src, "alerts.notify_max", 0, 1000),
            notify_exclude=tuple(p.lower() for p in _str_list(
                al["notify_exclude"], src, "alerts.notify_exclude")),
            max_per_minute=_req_int(al["max_per_minute"], src, "alerts.max_per_minute", 1),
            max_per_recipient_per_minute=_req_int(
                al["max_per_recipient_per_minute"], src, "alerts.max_per_recipient_per_minute",
                1),
        ),
        traffic=TrafficConfig(
            http_ports=http_ports,
            ports=build_port_table(http_ports, tr["port_protocols"], src),
            url_length_threshold=_int(tr["url_length_threshold"], src,
                                      "traffic.url_length_threshold", optional=True, minimum=1),
            url_length_k=_float(tr["url_length_k"], src, "traffic.url_length_k", 0.5, 50),
            long_url_min_events=_req_int(tr["long_url_min_events"], src,
                                         "traffic.long_url_min_events", 1),
            long_session_seconds=_int(tr["long_session_seconds"], src,
                                      "traffic.long_session_seconds", optional=True, minimum=60),
            long_session_k=_float(tr["long_session_k"], src, "traffic.long_session_k", 0.5, 50),
            fw_blocked_min_failures=_int(tr["fw_blocked_min_failures"], src,
                                         "traffic.fw_blocked_min_failures", optional=True,
                                         minimum=1),
            beacon_min_connections=_req_int(tr["beacon_min_connections"], src,
                                            "traffic.beacon_min_connections", 4),
            beacon_threshold=_float(tr["beacon_threshold"], src, "traffic.beacon_threshold",
                                    0.0, 1.0),
            beacon_prevalence_fraction=_float(tr["beacon_prevalence_fraction"], src,
                                              "traffic.beacon_prevalence_fraction", 0.0, 1.0),
        ),
        anonymizer=AnonymizerConfig(
            tor_relays=tuple(_resolve(e, base_dir) for e in _str_list(
                an["tor_relays"], src, "anonymizer.tor_relays")),
            tor_cert_pattern=_bool(an["tor_cert_pattern"], src, "anonymizer.tor_cert_pattern"),
        ),
        rspamd=RspamdConfig(
            binary=_str(rs["binary"], src, "rspamd.binary"),
            url=_opt_str(rs["url"], src, "rspamd.url") or None,
            listen_host=listen[0], listen_port=listen[1],
            listen_secret_file=Path(_resolve(_str(rs["listen_secret_file"], src,
                                                  "rspamd.listen_secret_file"), base_dir)),
        ),
        suricata=SuricataConfig(
            binary=_str(su["binary"], src, "suricata.binary"),
            sid_base=_req_int(su["sid_base"], src, "suricata.sid_base", 1, 4_000_000_000),
        ),
        consumer=ConsumerConfig(
            state_dir=state_dir,
            queue_size=_req_int(co["queue_size"], src, "consumer.queue_size", 1),
            max_line_bytes=_req_int(co["max_line_bytes"], src, "consumer.max_line_bytes",
                                    4096, 1 << 30),
            rotated_pattern=_rotated_pattern(co["rotated_pattern"], src),
            handlers=None if co["handlers"] is None
            else _str_list(co["handlers"], src, "consumer.handlers"),
            outputs=None if co["outputs"] is None
            else _str_list(co["outputs"], src, "consumer.outputs"),
            shared=shared,
        ),
        web=build_web(web, src, base_dir, state_dir),
        mail_classes=build_mail_classes(m["mail_classes"], src),
        classes=ClassesConfig(
            map_file=Path(_resolve(_str(m["classes"]["map_file"], src, "classes.map_file"),
                                   base_dir)) if m["classes"]["map_file"] is not None else None),
        redis=build_redis(m["redis"], src, base_dir),
    )
