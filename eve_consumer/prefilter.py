"""Relevance prefilter: skip, before the JSON parse, EVE lines no enabled handler can use.

Parsing is most of the consumer's cost, so the decoder asks this test first (only for lines
that look complete: ``{`` … ``}`` and no ``null`` value — anything odd is parsed and judged
normally, so bad lines are still counted as bad). It reads a few fields straight from the bytes
of Suricata's compact EVE layout; when a field is not found there, the line is parsed.

Skipped (counted in stats.json as ``ignored["<type> (prefiltered)"]``):

- ``flow`` events with no internal side; inbound flows (only the destination internal) when
  the ``long_session`` handler is off or the flow is younger than its threshold;
- ``dns`` queries (only answers feed the IP → name map);
- ``alert`` events without ``sakimori_detection`` metadata, outside sakimori's SID range,
  whose category and signature map to no detection
  (:func:`~eve_consumer.handlers.signatures.classify`), or all when ``signatures`` is off.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from eve_consumer.context import Context
from eve_consumer.handlers.signatures import classify

_SRC = b'"src_ip":"'
_DST = b'"dest_ip":"'
_AGE = b'"age":'
_CAT = b'"category":"'
_SIG = b'"signature":"'


def _field(line: bytes, key: bytes) -> str | None:
    i = line.find(key)
    if i < 0:
        return None
    i += len(key)
    j = line.find(b'"', i)
    if j < 0:
        return None
    return line[i:j].decode("utf-8", "replace")


def _int_after(line: bytes, key: bytes) -> int | None:
    i = line.find(key)
    if i < 0:
        return None
    i += len(key)
    j = i
    while j < len(line) and 48 <= line[j] <= 57:
        j += 1
    return int(line[i:j]) if j > i else None


def make_prefilter(ctx: Context, handlers: Collection[str]) -> Callable[[bytes, str], bool]:
    """The relevance test for *ctx* with the named handlers enabled."""
    home = ctx.home
    long_s = ctx.thresholds.long_session_s.value if "long_session" in handlers else None
    want_sigs = "signatures" in handlers
    sid_lo, sid_hi = ctx.sid_range
    classified: dict[tuple[str, str], bool] = {}

    def relevant(line: bytes, kind: str) -> bool:
        if kind == "flow":
            src = _field(line, _SRC)
            if src is None or home(src):
                return True
            dst = _field(line, _DST)
            if dst is None:
                return True
            if not home(dst) or long_s is None:
                return False
            age = _int_after(line, _AGE)
            return age is None or age >= long_s
        if kind == "dns":
            return b'"type":"query"' not in line
        if kind == "alert":
            if b'"sakimori_detection"' in line:
                return True
            sid = _int_after(line, b'"signature_id":')
            if sid is None or sid_lo <= sid <= sid_hi:
                return True  # a sakimori SID without metadata is counted by the dispatcher
            if not want_sigs:
                return False
            cat, sig = _field(line, _CAT), _field(line, _SIG)
            if cat is None or sig is None:
                return True
            key = (cat, sig)
            known = classified.get(key)
            if known is None:
                if len(classified) > 50_000:
                    classified.clear()
                known = classified[key] = classify({"category": cat, "signature": sig}) \
                    is not None
            return known
        return True

    return relevant
