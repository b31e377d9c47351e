"""Side files: the Squid access.log of the baseline day and the Tor relay list."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from pathlib import Path

from sakimori_demo.officesim.flows import ProxyEntry
from sakimori_demo.officesim.params import rng_for

# First octets of ranges where hosting providers (and so Tor relays) commonly live.
_RELAY_OCTETS = (5, 23, 37, 45, 46, 51, 62, 77, 78, 80, 81, 82, 85, 87, 88, 89, 91, 94, 95,
                 104, 107, 109, 128, 135, 136, 138, 141, 144, 146, 148, 149, 152, 159, 162,
                 167, 171, 176, 178, 185, 188, 193, 194, 195, 199, 204, 205, 207, 209, 212,
                 213, 216, 217)


def write_squid_log(path: Path, entries: Iterable[ProxyEntry]) -> int:
    """Squid native format: ``time.msec elapsed client code/status bytes method URL user
    hierarchy/peer type``; lines in completion-time order. Returns the line count."""
    rows = sorted(entries, key=lambda e: (round(e.t_end, 3), e.client, e.url))
    with path.open("w", encoding="ascii", newline="\n") as fh:
        for e in rows:
            fh.write(f"{e.t_end:.3f} {e.elapsed_ms:6d} {e.client} {e.status} {e.size} "
                     f"{e.method} {e.url} - {e.peer} {e.ctype}\n")
    return len(rows)


def relay_list(seed: int, relay_ip: str, avoid: set[str], count: int = 50) -> list[str]:
    """``count`` plausible public addresses plus ``relay_ip``, sorted numerically."""
    rng = rng_for(seed, "tor-relays")
    out = {relay_ip}
    while len(out) < count + 1:
        ip = (f"{rng.choice(_RELAY_OCTETS)}.{rng.randint(1, 254)}.{rng.randint(0, 255)}."
              f"{rng.randint(1, 254)}")
        addr = ipaddress.ip_address(ip)
        if addr.is_global and not addr.is_multicast and ip not in avoid:
            out.add(ip)
    return sorted(out, key=lambda s: ipaddress.ip_address(s))


def write_relay_list(path: Path, relays: list[str]) -> None:
    """One IP per line with a comment header (the format ``anonymizer.relay_files`` loads)."""
    lines = ["# Tor relay addresses (simulated consensus snapshot for sakimori_demo.officesim)",
             "# one IPv4 address per line; '#' starts a comment", *relays]
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
