"""Normalisation shared by mail learning, the passive (Python) checks and the map writer.

One meaning per concept, so learned keys and looked-up keys always agree:

- :func:`fold_name` — display names compared after NFKC, case folding and removal of white
  space (including U+3000) and quoting, so ``"山田　太郎"``, ``山田太郎`` and full-width Latin
  match; the Lua plugin folds names the same way before looking them up (the generator writes
  already-folded keys into the map).
- :func:`registrable_domain` — the registrable part (eTLD+1) from the bundled Public Suffix List
  snapshot (``tldextract`` offline, never fetched); :func:`split_domain` also gives its label
  and public suffix (the look-alike check compares them).
- :func:`infrastructure_keys` — what "sending infrastructure" means for the pair check:
  ``net:<IPv4 /24>`` or ``net:<IPv6 /48>``, plus ``ptr:<registrable domain of the PTR/HELO
  name>`` when the name is known and resolves to a registrable domain.
- :func:`is_domestic_tld` — whether a domain ends in one of ``mail.domestic_tlds``.
- :func:`normalise_address` — an e-mail address as learned and looked up: local part
  lower-cased, domain normalised (IDNA); '' when it is not a usable ``local@domain``.
"""

from __future__ import annotations

import ipaddress
import unicodedata
from functools import lru_cache

import tldextract

_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
_QUOTES = "\"'`“”‘’「」『』"


def fold_name(name: str | None) -> str:
    """Canonical form of a display name for comparison ('' when nothing is left)."""
    if not name:
        return ""
    text = unicodedata.normalize("NFKC", name).casefold()
    return "".join(ch for ch in text
                   if not ch.isspace() and ch not in _QUOTES
                   and unicodedata.category(ch)[0] not in ("C", "Z"))


def normalise_domain(domain: str | None) -> str:
    """Lower-case ASCII (IDNA/punycode) form of a domain; '' when it is not one."""
    if not domain:
        return ""
    text = domain.strip().strip(".").lower()
    if not text or any(ch.isspace() for ch in text):
        return ""
    try:
        return text.encode("idna").decode("ascii") if not text.isascii() else text
    except UnicodeError:
        return ""


@lru_cache(maxsize=65536)
def registrable_domain(domain: str | None) -> str:
    """eTLD+1 of *domain* (``mail.example.co.jp`` → ``example.co.jp``); '' if none."""
    text = normalise_domain(domain)
    if not text:
        return ""
    result = _EXTRACT(text)
    top = getattr(result, "top_domain_under_public_suffix", None)
    if top is None:  # older tldextract
        top = result.registered_domain
    return top or ""


@lru_cache(maxsize=65536)
def split_domain(domain: str | None) -> tuple[str, str, str]:
    """(registrable domain, its label, its public suffix): ``mail.example.co.jp`` →
    ``("example.co.jp", "example", "co.jp")``; ``("", "", "")`` when there is none."""
    text = normalise_domain(domain)
    if not text:
        return "", "", ""
    result = _EXTRACT(text)
    if not result.domain or not result.suffix:
        return "", "", ""
    return f"{result.domain}.{result.suffix}", result.domain, result.suffix


def domain_of(address: str | None) -> str:
    """Domain part of an e-mail address, normalised; '' when there is none."""
    if not address or "@" not in address:
        return ""
    return normalise_domain(address.rsplit("@", 1)[1].strip(">").strip())


def normalise_address(address: str | None) -> str:
    """``local@domain`` lower-cased with an IDNA domain; '' when not usable (see module doc)."""
    if not address or len(address) > 320:
        return ""
    text = address.strip().strip("<>").strip()
    local, at, domain = text.rpartition("@")
    if not at or not local or any(ch.isspace() or ch < " " or ch in "<>\\,@" for ch in local):
        return ""
    domain = normalise_domain(domain)
    return f"{local.lower()}@{domain}" if domain and "." in domain else ""


def is_domestic_tld(domain: str, domestic_tlds: tuple[str, ...] | list[str]) -> bool:
    """True when *domain* ends with one of the configured TLD labels (``jp`` → ``*.jp``)."""
    text = normalise_domain(domain)
    return any(text == t or text.endswith("." + t) for t in domestic_tlds)


def network_key(ip: str) -> str:
    """``net:<prefix>``: the IPv4 /24 or IPv6 /48 an address belongs to; '' if not an IP."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    prefix = 24 if addr.version == 4 else 48
    return "net:" + str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


def infrastructure_keys(ip: str | None, hostname: str | None = None) -> list[str]:
    """The infrastructure keys of one sending hop (see the module docstring)."""
    keys = []
    if ip:
        net = network_key(ip)
        if net:
            keys.append(net)
    if hostname:
        reg = registrable_domain(hostname)
        if reg:
            keys.append("ptr:" + reg)
    return keys


def is_public_ip(ip: str | None) -> bool:
    """True for a globally routable unicast address (Received hops worth judging)."""
    if not ip:
        return False
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return addr.is_global and not addr.is_multicast
