"""The whitelist helper rules' parameters: one HTTP Host and one TLS SNI helper per name form.

Each host-name form of the whitelist (:meth:`sakimori.whitelist.Whitelist.host_suffixes`: an
exact name, or a dot-suffix for ``*.example.com``; ``.example.com`` gives both) becomes a pair of
helper rules that set the flowbit ``sakimori.wl`` (rendered by ``sakimori.rules.j2``). Each
carries the form itself as its ``content`` / ``fast_pattern``, so Suricata's multi-pattern
matcher selects a helper only for a Host or SNI that contains a whitelisted name; the anchored
PCRE (trailing dot, and on ``http.host.raw`` a port) runs on those few. One helper pair for the
whole whitelist needed a pattern common to every name — usually just ``.`` — and so evaluated
its PCRE on every HTTP request and TLS handshake (docs/rules.md, "Cost").

``http.host.raw`` (not ``http.host``) because Suricata 7.0.10 accepts ``nocase`` only there: it
holds the absolute URI's host when the request line has one, else the ``Host`` header as sent
(case and port kept). ``tls.sni`` is raw too. Helper SIDs are positional (suffix forms first,
then exact names, each sorted) in ``suricata.sid_base + 2000`` … ``+3999``; they never alert,
so a SID moving when a name is added is harmless. Rev and dates come from the ledger entry of
the helper's *kind* (:data:`KIND_OFFSETS`), which ``generator.rule_ledger``'s canonical
configuration renders at exactly those offsets (one suffix form, one exact name).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sakimori.errors import InputError
from sakimori.whitelist import Whitelist

FIRST_OFFSET = 2000  # SID offset of the first helper (HTTP Host of the first form)
MAX_FORMS = 1000  # two SIDs each: base+2000 … base+3999
# Ledger / ET metadata offset of each kind: (exact, buffer) → offset.
KIND_OFFSETS: dict[tuple[bool, str], int] = {
    (False, "host"): 2000, (False, "sni"): 2001, (True, "host"): 2002, (True, "sni"): 2003}
_SAFE = re.compile(r"^\.?[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$")


@dataclass(frozen=True)
class WlHelper:
    """One whitelist name form and its two helper rules' SID offsets and match parameters."""

    text: str        # the content (fast pattern): the name, or the suffix starting with "."
    exact: bool      # the whole buffer is the name (startswith + anchored PCRE)
    host_offset: int
    sni_offset: int

    @property
    def pcre_sni(self) -> str:
        """``tls.sni``: the name or suffix at the end, one trailing dot allowed, any case."""
        return f"/{'^' if self.exact else ''}{re.escape(self.text)}\\.?$/i"

    @property
    def pcre_host(self) -> str:
        """``http.host.raw``: as :attr:`pcre_sni`, plus an optional ``:port``."""
        return f"/{'^' if self.exact else ''}{re.escape(self.text)}\\.?(?::\\d+)?$/i"

    @property
    def host_kind(self) -> int:
        return KIND_OFFSETS[(self.exact, "host")]

    @property
    def sni_kind(self) -> int:
        return KIND_OFFSETS[(self.exact, "sni")]


def whitelist_helpers(wl: Whitelist, source: str = "whitelist.destinations") -> list[WlHelper]:
    """The helper pairs of *wl*, suffix forms first, then exact names (each sorted)."""
    forms = sorted(wl.host_suffixes(), key=lambda form: (form[1], form[0]))
    if len(forms) > MAX_FORMS:
        raise InputError(source, None, f"{len(forms)} host-name forms; the whitelist helper "
                                        f"SID range holds at most {MAX_FORMS}")
    out = []
    for i, (text, exact) in enumerate(forms):
        text = text.lower()
        if not _SAFE.match(text):  # the Whitelist parser admits nothing else; never render it
            raise InputError(source, None, f"not a plain host name form: {text!r}")
        out.append(WlHelper(text, exact, FIRST_OFFSET + 2 * i, FIRST_OFFSET + 2 * i + 1))
    return out


def helper_matches(helper: WlHelper, buffer: str, host: bool) -> bool:
    """What Suricata does with one helper on a buffer (for tests and documentation): the
    case-insensitive content (at the start for exact names), then the PCRE."""
    low = buffer.lower()
    found = low.startswith(helper.text) if helper.exact else helper.text in low
    body = (helper.pcre_host if host else helper.pcre_sni)[1:-2]
    return found and re.search(body, buffer, re.IGNORECASE) is not None
