"""The port → expected-protocol table of ``non_http_on_http_port`` (one definition).

Built from two keys of the ``traffic`` section of sakimori.yaml:

- ``http_ports`` (list, kept for compatibility): each port expects ``http``;
- ``port_protocols`` (mapping port → list of ``http``/``tls``): extends the table; a port
  listed in both takes its ``port_protocols`` entry. Default ``{443: [tls, http],
  8443: [tls, http]}``.

The generated Suricata rules (:mod:`generator.render_suricata`) and the consumer handler
(:mod:`eve_consumer.handlers.non_http`) both read :class:`PortTable`, so the two paths judge
the same ports the same way. ``http`` covers HTTP/1 and HTTP/2 (Suricata ``http``/``http1``/
``http2``); anything else — another protocol, or payload no parser recognised — is unexpected.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sakimori.errors import ConfigError

PROTOCOLS = ("http", "tls")
# Suricata app_proto values that count as each table protocol.
APP_PROTOS: dict[str, frozenset[str]] = {
    "http": frozenset({"http", "http1", "http2"}),
    "tls": frozenset({"tls"}),
}


@dataclass(frozen=True)
class PortTable:
    """``entries``: (port, expected protocols) sorted by port; protocols in PROTOCOLS order."""

    entries: tuple[tuple[int, tuple[str, ...]], ...]

    def as_dict(self) -> dict[int, tuple[str, ...]]:
        return dict(self.entries)

    def ports(self, *, expecting: str | None = None, lacking: str | None = None) -> list[int]:
        """Ports (sorted) whose expected set contains *expecting* / lacks *lacking*."""
        return [p for p, protos in self.entries
                if (expecting is None or expecting in protos)
                and (lacking is None or lacking not in protos)]

    def describe(self) -> str:
        """``80 http; 443 tls|http; …`` for rule headers and reports."""
        return "; ".join(f"{p} {'|'.join(protos)}" for p, protos in self.entries)


def _port(value: Any, source: str, key: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ConfigError(source, key, f"must be a port number 1-65535, got {value!r}")
    return value


def _protocols(value: Any, source: str, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ConfigError(source, key, "must be a non-empty list of protocols (http, tls)")
    seen = set()
    for i, item in enumerate(value):
        name = item.strip().lower() if isinstance(item, str) else item
        if name not in PROTOCOLS:
            raise ConfigError(source, f"{key}[{i}]",
                              f"unknown protocol {item!r} (expected one of: http, tls)")
        seen.add(name)
    return tuple(p for p in PROTOCOLS if p in seen)


def build_port_table(http_ports: Iterable[int], port_protocols: Any,
                     source: str) -> PortTable:
    """The effective table; ConfigError naming ``traffic.port_protocols.<port>`` on bad input."""
    table: dict[int, tuple[str, ...]] = {p: ("http",) for p in http_ports}
    if port_protocols is None:
        port_protocols = {}
    if not isinstance(port_protocols, Mapping):
        raise ConfigError(source, "traffic.port_protocols",
                          "must be a mapping of port to protocols, e.g. {443: [tls, http]}")
    for raw_port, protos in port_protocols.items():
        key = f"traffic.port_protocols.{raw_port}"
        table[_port(raw_port, source, key)] = _protocols(protos, source, key)
    return PortTable(tuple(sorted(table.items())))
