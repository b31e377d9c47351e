"""Relevance prefilter and byte fast path: spare the JSON parse where the bytes suffice.

Parsing is most of the consumer's cost, so the decoder asks this hook first, for lines that
look complete (``{`` … ``}``, no ``null`` value — anything odd is parsed and judged normally,
so bad lines are still counted as bad). It reads a few fields straight from the bytes of
Suricata's compact EVE layout; whenever a field is missing or contains a JSON escape (``\\``)
the line is parsed as usual. Verdicts (see :mod:`sakimori.eve.decode`):

``SKIP`` — no enabled handler can use the event (``ignored["<kind> (prefiltered)"]``):

- ``flow`` events with no internal side; inbound flows (only the destination internal), and
  non-TCP flows between two internal hosts (DNS to the internal resolver: fw_blocked and
  non_http judge TCP alone, beacon outbound flows alone), when the ``long_session`` handler is
  off or the flow is younger than its threshold;
- ``dns`` queries, and answers none of whose names is whitelisted (the IP → name map only
  serves the whitelist of destinations seen without their own Host/SNI);
- ``alert`` events without ``sakimori_detection`` metadata, outside sakimori's SID range,
  whose category and signature can get no class under the Table 1 class map
  (:meth:`~eve_consumer.classes.ClassMap.may_class`), or all when ``signatures`` is off.

``USED`` — the event only feeds the flow_id → name join, done here (``stats.fast``):

- ``tls`` events: flow_id and SNI;
- ``http`` events whose raw URL is not longer than the long-URL threshold (JSON escapes only
  lengthen the raw text, so the decoded URL is not longer either) and, when ``beacon`` is on,
  whose ``tx_id`` is 0 (later transactions of a kept-alive connection are beacon beats):
  flow_id and Host.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from eve_consumer.context import FLOW_NAMES_LIMIT, Context
from eve_consumer.model import MAX_NAME, cap_name
from sakimori.eve.decode import MAX_ID, PARSE, SKIP, USED
from sakimori.whitelist import normalise_host

_SRC = b'"src_ip":"'
_DST = b'"dest_ip":"'
_AGE = b'"age":'
_CAT = b'"category":"'
_SIG = b'"signature":"'
_FID = b'"flow_id":'
_SNI = b'"sni":"'
_HOST = b'"hostname":"'
_URL = b'"url":"'
_SID = b'"signature_id":'
_RRNAME = b'"rrname":"'
_PROTO = b'"proto":"'
_TXID = b'"tx_id":'
_NAMES_CACHE = 50_000  # raw SNI → noted name, cleared when full
# Handlers that take no flow events, or only TCP or outbound ones (see Prefilter.flow).
_TCP_OR_OUTBOUND_FLOWS = frozenset({
    "anonymizer", "beacon", "fw_blocked", "long_session", "long_url", "mail_spoof",
    "non_http_on_http_port", "signatures"})


def _raw(line: bytes, key: bytes) -> bytes | None:
    """The raw bytes of string field *key* (up to the next quote), or None."""
    i = line.find(key)
    if i < 0:
        return None
    i += len(key)
    j = line.find(b'"', i)
    return line[i:j] if j >= 0 else None


def _field(line: bytes, key: bytes) -> str | None:
    raw = _raw(line, key)
    return raw.decode("utf-8", "replace") if raw is not None else None


def _int_after(line: bytes, key: bytes) -> int | None:
    i = line.find(key)
    if i < 0:
        return None
    i += len(key)
    j = line.find(b",", i)
    if j < 0:
        j = line.find(b"}", i)
    try:
        return int(line[i:j])
    except ValueError:
        return None


def _cached(cache: dict, key: object, compute: Callable[[], bool], limit: int) -> bool:
    known = cache.get(key)
    if known is None:
        if len(cache) > limit:
            cache.clear()
        known = cache[key] = compute()
    return known


class Prefilter:
    """The decoder hook for one :class:`Context` with the named handlers enabled."""

    def __init__(self, ctx: Context, handlers: Collection[str]) -> None:
        self.ctx = ctx
        self.long_s = ctx.thresholds.long_session_s.value if "long_session" in handlers \
            else None
        self.url_limit = int(ctx.thresholds.url_length.value) if "long_url" in handlers \
            else 1 << 30
        self.want_sigs = "signatures" in handlers
        self.want_keepalive = "beacon" in handlers
        # Flows between two internal hosts over anything but TCP reach only long_session
        # (fw_blocked and non_http judge TCP alone, beacon outbound flows alone) — when no
        # other handler takes flow events.
        self.internal_non_tcp = set(handlers) <= _TCP_OR_OUTBOUND_FLOWS
        wl = ctx.whitelist
        self.wl_names = bool(wl.exact or wl.subdomain_of or wl.apex_and_subdomains)
        self._home: dict[bytes, bool] = {}
        self._wl: dict[bytes, bool] = {}
        self._classified: dict[tuple[str, str], bool] = {}
        self._low: dict[bytes, str] = {}  # raw SNI → the name noted (ctx.note_name's form)
        self._by_kind: dict[str, Callable[[bytes], str | None]] = {
            "flow": self.flow, "tls": self.tls, "http": self.http, "dns": self.dns,
            "alert": self.alert}

    def __call__(self, line: bytes, kind: str) -> str | None:
        hook = self._by_kind.get(kind)
        return hook(line) if hook is not None else PARSE

    def by_kind(self) -> dict[str, Callable[[bytes], str | None]]:
        """{kind: hook(line) -> verdict}: the decoder calls these directly."""
        return dict(self._by_kind)

    def is_home(self, ip: bytes) -> bool:
        known = self._home.get(ip)
        if known is None:
            known = _cached(self._home, ip,
                            lambda: self.ctx.home(ip.decode("ascii", "replace")), 200_000)
        return known

    def flow(self, line: bytes) -> str | None:
        i = line.find(_SRC)
        if i < 0:
            return PARSE
        i += 10
        j = line.find(b'"', i)
        if j < 0:
            return PARSE
        src = line[i:j]
        src_home = self._home.get(src)
        if src_home is None:
            src_home = self.is_home(src)
        if src_home and not self.internal_non_tcp:
            return PARSE
        i = line.find(_DST)
        if i < 0:
            return PARSE
        i += 11
        j = line.find(b'"', i)
        if j < 0:
            return PARSE
        dst = line[i:j]
        home = self._home.get(dst)
        if home is None:
            home = self.is_home(dst)
        if not home:
            return PARSE if src_home else SKIP
        if src_home:  # both internal: only long_session may want it, unless TCP
            proto = _raw(line, _PROTO)
            if proto is None or proto == b"TCP" or b"\\" in proto:
                return PARSE
        if self.long_s is None:
            return SKIP
        age = _int_after(line, _AGE)
        return PARSE if age is None or age >= self.long_s else SKIP

    def dns(self, line: bytes) -> str | None:
        if b'"type":"query"' in line or not self.wl_names:
            return SKIP
        matches = self.ctx.whitelist.matches_host
        cache = self._wl
        i = line.find(_RRNAME)
        while i >= 0:
            i += 10
            j = line.find(b'"', i)
            name = line[i:j]
            hit = cache.get(name)
            if hit is None:
                hit = _cached(cache, name, lambda n=name: b"\\" in n or matches(
                    n.decode("utf-8", "replace")), 100_000)
            if hit:
                return PARSE
            i = line.find(_RRNAME, j)
        return SKIP

    def tls(self, line: bytes) -> str | None:
        # flow_id (Suricata writes it second, after the timestamp)
        i = line.find(_FID)
        if i < 0:
            return PARSE
        i += 10
        j = line.find(b",", i)
        if j < 0:
            j = line.find(b"}", i)
        try:
            fid = int(line[i:j])
        except ValueError:
            return PARSE
        if not 0 <= fid < MAX_ID:
            return PARSE  # out of range: the decoder rejects it
        i = line.find(_SNI)
        if i < 0:
            return USED  # no SNI: nothing to join
        i += 7
        j = line.find(b'"', i)
        if j < 0:
            return USED  # as _raw: no name
        name = line[i:j]
        if b"\\" in name:
            return PARSE
        if name:
            names = self.ctx.flow_names
            low = self._low.get(name)
            if low is None or not fid or (len(names) >= FLOW_NAMES_LIMIT
                                          and fid not in names):
                self._note(fid, name)
            else:
                names[fid] = low
        return USED

    def http(self, line: bytes) -> str | None:
        if self.want_keepalive:
            tx_id = _int_after(line, _TXID)
            if tx_id is None or tx_id > 0:  # a later request on a kept-alive connection
                return PARSE
        return self.join(line, _HOST, self.url_limit)

    def _note(self, fid: int, raw: bytes) -> None:
        """ctx.note_name for a plain, non-empty name from the bytes (common case inline)."""
        names = self.ctx.flow_names
        if not fid or (len(names) >= FLOW_NAMES_LIMIT and fid not in names):
            self.ctx.note_name(fid, raw.decode("utf-8", "replace"))
            return
        low = self._low.get(raw)
        if low is None:
            low = raw.decode("utf-8", "replace").lower()
            if ":" in low or low[-1] == "." or " " in low:
                low = normalise_host(low)
            if len(low) > MAX_NAME:
                low = cap_name(low)
            if len(self._low) >= _NAMES_CACHE:
                self._low.clear()
            self._low[raw] = low
        names[fid] = low

    def join(self, line: bytes, key: bytes, url_limit: int | None) -> str | None:
        fid = _int_after(line, _FID)
        name = _raw(line, key)
        if fid is None or not 0 <= fid < MAX_ID or (name is not None and b"\\" in name):
            return PARSE
        if url_limit is not None:
            url = _raw(line, _URL)
            if url is None or b"\\" in url or len(url) > url_limit:
                return PARSE
        if name:  # ctx.note_name's value, by the raw name's cache (as tls)
            self._note(fid, name)
        return USED

    def alert(self, line: bytes) -> str | None:
        if b'"sakimori_detection"' in line:
            return PARSE
        sid = _int_after(line, _SID)
        lo, hi = self.ctx.sid_range
        if sid is None or lo <= sid <= hi:
            return PARSE  # a sakimori SID without metadata is counted by the dispatcher
        if not self.want_sigs:
            return SKIP
        cat, sig = _field(line, _CAT), _field(line, _SIG)
        if cat is None or sig is None:
            return PARSE
        known = _cached(self._classified, (cat, sig),
                        lambda: self.ctx.classes.may_class(cat, sig), 50_000)
        return PARSE if known else SKIP


def make_prefilter(ctx: Context, handlers: Collection[str]
                   ) -> Callable[[bytes, str], str | None]:
    """The hook for *ctx* with the named handlers enabled."""
    return Prefilter(ctx, handlers)


PREFILTER_KINDS = frozenset({"flow", "tls", "http", "dns", "alert"})
