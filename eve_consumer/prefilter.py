"""Relevance prefilter and byte fast path: spare the JSON parse where the bytes suffice.

Parsing is most of the consumer's cost, so the decoder asks this hook first, for lines that
look complete (``{`` … ``}``, no ``null`` value — anything odd is parsed and judged normally,
so bad lines are still counted as bad). It reads a few fields straight from the bytes of
Suricata's compact EVE layout; whenever a field is missing or contains a JSON escape (``\\``)
the line is parsed as usual. Verdicts (see :mod:`eve_consumer.decode`):

``SKIP`` — no enabled handler can use the event (``ignored["<kind> (prefiltered)"]``):

- ``flow`` events with no internal side; inbound flows (only the destination internal) when
  the ``long_session`` handler is off or the flow is younger than its threshold;
- ``dns`` queries, and answers none of whose names is whitelisted (the IP → name map only
  serves the whitelist of destinations seen without their own Host/SNI);
- ``alert`` events without ``sakimori_detection`` metadata, outside sakimori's SID range,
  whose category and signature map to no detection
  (:func:`~eve_consumer.handlers.signatures.classify`), or all when ``signatures`` is off.

``USED`` — the event only feeds the flow_id → name join, done here (``stats.fast``):

- ``tls`` events: flow_id and SNI;
- ``http`` events whose raw URL is not longer than the long-URL threshold (JSON escapes only
  lengthen the raw text, so the decoded URL is not longer either): flow_id and Host.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from eve_consumer.context import Context
from eve_consumer.decode import PARSE, SKIP, USED
from eve_consumer.handlers.signatures import classify

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


def make_prefilter(ctx: Context, handlers: Collection[str]
                   ) -> Callable[[bytes, str], str | None]:
    """The hook for *ctx* with the named handlers enabled."""
    home, note_name = ctx.home, ctx.note_name
    long_s = ctx.thresholds.long_session_s.value if "long_session" in handlers else None
    url_limit = int(ctx.thresholds.url_length.value) if "long_url" in handlers else 1 << 30
    want_sigs = "signatures" in handlers
    sid_lo, sid_hi = ctx.sid_range
    classified: dict[tuple[str, str], bool] = {}

    home_b: dict[bytes, bool] = {}

    def is_home(ip: bytes) -> bool:
        known = home_b.get(ip)
        if known is None:
            if len(home_b) > 200_000:
                home_b.clear()
            known = home_b[ip] = home(ip.decode("ascii", "replace"))
        return known

    def flow(line: bytes) -> str | None:
        src = _raw(line, _SRC)
        if src is None or is_home(src):
            return PARSE
        dst = _raw(line, _DST)
        if dst is None:
            return PARSE
        if not is_home(dst) or long_s is None:
            return SKIP
        age = _int_after(line, _AGE)
        return PARSE if age is None or age >= long_s else SKIP

    wl = ctx.whitelist
    wl_names = bool(wl.exact or wl.subdomain_of or wl.apex_and_subdomains)
    wl_cache: dict[bytes, bool] = {}

    def dns(line: bytes) -> str | None:
        if b'"type":"query"' in line or not wl_names:
            return SKIP
        i = line.find(_RRNAME)
        while i >= 0:
            j = line.find(b'"', i + len(_RRNAME))
            name = line[i + len(_RRNAME):j]
            hit = wl_cache.get(name)
            if hit is None:
                if len(wl_cache) > 100_000:
                    wl_cache.clear()
                text = name.decode("utf-8", "replace")
                hit = wl_cache[name] = b"\\" in name or wl.matches_host(text)
            if hit:
                return PARSE
            i = line.find(_RRNAME, j)
        return SKIP

    def join(line: bytes, key: bytes, url_limit: int | None) -> str | None:
        fid = _int_after(line, _FID)
        name = _raw(line, key)
        if fid is None or (name is not None and b"\\" in name):
            return PARSE
        if url_limit is not None:
            url = _raw(line, _URL)
            if url is None or b"\\" in url or len(url) > url_limit:
                return PARSE
        if name:
            note_name(fid, name.decode("utf-8", "replace"))
        return USED

    def alert(line: bytes) -> str | None:
        if b'"sakimori_detection"' in line:
            return PARSE
        sid = _int_after(line, _SID)
        if sid is None or sid_lo <= sid <= sid_hi:
            return PARSE  # a sakimori SID without metadata is counted by the dispatcher
        if not want_sigs:
            return SKIP
        cat, sig = _field(line, _CAT), _field(line, _SIG)
        if cat is None or sig is None:
            return PARSE
        known = classified.get((cat, sig))
        if known is None:
            if len(classified) > 50_000:
                classified.clear()
            known = classified[(cat, sig)] = classify({"category": cat, "signature": sig}) \
                is not None
        return PARSE if known else SKIP

    def hook(line: bytes, kind: str) -> str | None:
        if kind == "flow":
            return flow(line)
        if kind == "tls":
            return join(line, _SNI, None)
        if kind == "http":
            return join(line, _HOST, url_limit)
        if kind == "dns":
            return dns(line)
        if kind == "alert":
            return alert(line)
        return PARSE

    return hook


PREFILTER_KINDS = frozenset({"flow", "tls", "http", "dns", "alert"})
