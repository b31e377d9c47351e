r"""The whitelist helper rules' parameters: one HTTP Host and one TLS SNI helper per name form.

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

**More than** :data:`MAX_FORMS` **forms** (a big imported allowlist): the SID range holds
1,000 pairs, so the first forms keep a pair each and the rest share *combined* pairs — one
per group of forms of one kind (suffix or exact), each group's alternation short enough for
Suricata's 8 KiB rule line (:data:`MAX_PCRE_CHARS`). A combined pair's content is ``.``
(every suffix form starts with a dot; exact names without a dot always keep a pair of their
own), and its PCRE the anchored alternation ``/^(?:a|b|…)\.?$/i`` (exact) or
``/(?:\.a|\.b|…)\.?$/i`` (suffix). Verdicts stay those of one pair per form; only the cost
grows: each combined PCRE runs on every Host and SNI that contains a dot, as the single
helper pair of the first design did (docs/rules.md, "Cost").
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from sakimori.errors import InputError
from sakimori.whitelist import Whitelist

FIRST_OFFSET = 2000  # SID offset of the first helper (HTTP Host of the first form)
MAX_FORMS = 1000  # two SIDs each: base+2000 … base+3999
# Longest alternation of a combined helper's PCRE: with the rest of the rule well under
# Suricata's 8,192-byte rule line (DETECT_MAX_RULE_SIZE; a longer line fails to parse).
MAX_PCRE_CHARS = 6000
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
    forms: tuple[str, ...] = ()  # a combined pair: its forms (text is then ".")

    @property
    def starts(self) -> bool:
        """The content must be at the start of the buffer (a single exact name)."""
        return self.exact and not self.forms

    def _body(self) -> str:
        names = "|".join(re.escape(f) for f in self.forms) if self.forms else None
        core = f"(?:{names})" if names else re.escape(self.text)
        return f"{'^' if self.exact else ''}{core}\\.?"

    @property
    def pcre_sni(self) -> str:
        """``tls.sni``: the name or suffix at the end, one trailing dot allowed, any case."""
        return f"/{self._body()}$/i"

    @property
    def pcre_host(self) -> str:
        """``http.host.raw``: as :attr:`pcre_sni`, plus an optional ``:port``."""
        return f"/{self._body()}(?::\\d+)?$/i"

    @property
    def host_kind(self) -> int:
        return KIND_OFFSETS[(self.exact, "host")]

    @property
    def sni_kind(self) -> int:
        return KIND_OFFSETS[(self.exact, "sni")]


def whitelist_helpers(wl: Whitelist, source: str = "whitelist.destinations") -> list[WlHelper]:
    """The helper pairs of *wl*, suffix forms first, then exact names (each sorted)."""
    forms = sorted({(text.lower(), exact) for text, exact in wl.host_suffixes()},
                   key=lambda form: (form[1], form[0]))
    for text, _ in forms:
        if not _SAFE.match(text):  # the Whitelist parser admits nothing else; never render it
            raise InputError(source, None, f"not a plain host name form: {text!r}")
    single, groups = _layout(forms, source)
    out = []
    for i, (text, exact) in enumerate(single):
        out.append(WlHelper(text, exact, FIRST_OFFSET + 2 * i, FIRST_OFFSET + 2 * i + 1))
    for j, (exact, names) in enumerate(groups, start=len(single)):
        out.append(WlHelper(".", exact, FIRST_OFFSET + 2 * j, FIRST_OFFSET + 2 * j + 1,
                            tuple(names)))
    return out


def _groups(forms: list[tuple[str, bool]]) -> list[tuple[bool, list[str]]]:
    """Forms of one kind together, in order, each group's alternation ≤ MAX_PCRE_CHARS."""
    out: list[tuple[bool, list[str]]] = []
    size = 0
    for text, exact in forms:
        cost = len(re.escape(text)) + 1
        if not out or out[-1][0] != exact or size + cost > MAX_PCRE_CHARS:
            out.append((exact, []))
            size = 0
        out[-1][1].append(text)
        size += cost
    return out


def _layout(forms: list[tuple[str, bool]], source: str
            ) -> tuple[list[tuple[str, bool]], list[tuple[bool, list[str]]]]:
    """(forms with a pair of their own, combined groups): every form single up to MAX_FORMS;
    above, the fewest combined groups that make the total fit. Names without a dot (no
    common content with the others) always stay single."""
    if len(forms) <= MAX_FORMS:
        return forms, []
    dotless = [f for f in forms if "." not in f[0]]
    dotted = [f for f in forms if "." in f[0]]
    for g in range(1, MAX_FORMS + 1):
        k = MAX_FORMS - len(dotless) - g
        if k < 0:
            break
        groups = _groups(dotted[k:])
        if len(groups) <= g:
            single = sorted(dotless + dotted[:k], key=lambda form: (form[1], form[0]))
            return single, groups
    raise InputError(source, None, f"{len(forms)} host-name forms ({len(dotless)} without a "
                                    f"dot) do not fit the {MAX_FORMS} whitelist helper pairs")


def helper_matches(helper: WlHelper, buffer: str, host: bool) -> bool:
    """What Suricata does with one helper on a buffer (for tests and documentation): the
    case-insensitive content (at the start for exact names), then the PCRE."""
    low = buffer.lower()
    found = low.startswith(helper.text) if helper.starts else helper.text in low
    body = (helper.pcre_host if host else helper.pcre_sni)[1:-2]
    return found and _compiled(body).search(buffer) is not None


@functools.lru_cache(maxsize=4096)
def _compiled(body: str) -> re.Pattern[str]:
    return re.compile(body, re.IGNORECASE)
