"""The compiled router's C cache of codes (``FastRoutes``' ``_fc_*``, eve_consumer/_route.pyx).

The C cache sits in front of the dict cache of codes: a hit answers a line without a Python
object. It must only ever hold what the dict holds (same key, same value) — after every
batch, through evictions from its bounded sets, through the dict's clears at its bound — and
the codes, host placement and loads must stay the pure router's: on real Suricata EVE, with a
tiny C cache (every set full, evictions all the time), with a tiny dict bound, and with
hostile keys (addresses longer than a C key holds, at the bound exactly, non-ASCII, NUL
bytes, empty fields). Skipped (with the reason; a failure in CI) when the extension is not
built.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from engines import missing

from eve_consumer import shard
from eve_consumer.shard import Router

_HOME = ("192.168.", "10.")


@pytest.fixture(autouse=True)
def _compiled() -> None:
    if shard.compiled_route is None:
        missing("eve_consumer._route is not built (no C compiler at install: make setup)")


def _home(ip: str) -> bool:
    return ip.startswith(_HOME)


def _fast_router(count: int, *, fast_sets: int | None = None, limit: int | None = None
                 ) -> Router:
    router = Router(count, _home, compiled=True, handicap=0.15)
    if fast_sets is not None or limit is not None:
        kw = {} if fast_sets is None else {"fast_sets": fast_sets}
        router._fast = shard.compiled_route.FastRoutes(
            router, shard._ROUTE_CACHE if limit is None else limit, shard._KIND_CLASS, **kw)
    return router


def _check_in_dict(fast: Any) -> dict[str, int]:
    """Every C cache entry is the dict cache's (key and value); the counts are bounded."""
    cached = fast.dict_cache()
    items = fast.fast_cache()
    stats = fast.fast_cache_stats()
    assert len(items) == stats["entries"] <= stats["slots"]
    assert len(items) <= len(cached)
    assert len({k for k, _ in items}) == len(items), "a key twice in the C cache"
    for key, value in items:
        assert len(key) <= shard.compiled_route.FAST_CACHE_KEY
        assert cached.get(key) == value, key
    return stats


def _run(lines: list[bytes], batch: int, count: int, **kw: Any) -> tuple[Any, Any, list[Any]]:
    """(codes, hosts, load) of the pure router and of a compiled one (*kw*: its caches), the
    compiled one's C cache checked against its dict after every batch; its stats."""
    pure = Router(count, _home, compiled=False, handicap=0.15)
    fast = _fast_router(count, **kw)
    got_pure, got_fast, stats = [], [], []
    for i in range(0, len(lines), batch):
        got_pure.append(pure.route(lines[i:i + batch]))
        got_fast.append(fast.route(lines[i:i + batch]))
        stats.append(_check_in_dict(fast._fast))
    return ((b"".join(got_pure), list(pure.hosts.items()), pure.load),
            (b"".join(got_fast), list(fast.hosts.items()), fast.load), stats)


def test_hits_are_the_dict_answers_on_real_eve(real_lines: list[bytes]) -> None:
    pure, fast, stats = _run(real_lines, 500, 2)
    assert fast == pure
    assert pure[1], "internal hosts are placed"
    assert stats[-1]["hits"] > len(real_lines) // 2, "most lines answered by the C cache"
    assert stats[-1]["entries"] > 10


@pytest.mark.parametrize("fast_sets", [1, 2, 8])
def test_a_full_c_cache_evicts_and_keeps_the_codes(real_lines: list[bytes],
                                                   fast_sets: int) -> None:
    pure, fast, stats = _run(real_lines, 97, 3, fast_sets=fast_sets)
    assert fast == pure
    slots = fast_sets * shard.compiled_route.FAST_CACHE_WAYS
    assert max(s["entries"] for s in stats) == slots, "the sets fill up"
    assert stats[-1]["dict"] > slots, "more keys than the C cache holds: evictions"
    assert stats[-1]["hits"] > 0


def test_the_c_cache_is_cleared_with_the_dict(real_lines: list[bytes]) -> None:
    pure, fast, stats = _run(real_lines, 50, 2, limit=5)
    assert fast == pure
    # the dict holds at most its bound plus one batch's new keys: the C cache no more
    assert all(s["entries"] <= s["dict"] <= 5 + 50 for s in stats)


def test_bad_cache_sizes_are_refused() -> None:
    router = Router(2, _home, compiled=False)
    for bad in (0, 3, -4, 1 << 21):
        with pytest.raises(ValueError, match="fast_sets"):
            shard.compiled_route.FastRoutes(router, 10, shard._KIND_CLASS, fast_sets=bad)


def _line(kind: str, src: bytes, dst: bytes, k: int) -> bytes:
    head = json.dumps({"timestamp": "2026-11-02T00:00:00.000000+0000", "flow_id": k,
                       "event_type": kind}, separators=(",", ":")).encode()[:-1]
    return head + b',"src_ip":"' + src + b'","src_port":' + str(1000 + k).encode() + \
        b',"dest_ip":"' + dst + b'","dest_port":443,"proto":"TCP"}'


def _hostile_lines() -> list[bytes]:
    """Keys longer than a C key, at its bound exactly and one past, non-ASCII and NUL bytes,
    empty fields — each line repeated so that a cached key is asked again."""
    bound = shard.compiled_route.FAST_CACHE_KEY
    kind = "flow"
    room = bound - len(kind) - 2  # src + dst at the bound
    src_at = b"10.0.0." + b"9" * (room - 7 - len(b"10.0.0.1"))
    addresses = [
        (b"10.0.0.1", b"8.8.8.8"),
        (b"10.0.0.1", b"10.0." + b"7" * 300),  # far longer than a C key
        (src_at, b"10.0.0.1"),  # the key at the bound exactly
        (src_at + b"9", b"10.0.0.1"),  # one byte past it
        (b"10.0.0.\xe3\x81\x82", b"8.8.4.4"),  # non-ASCII (UTF-8)
        (b"10.0.0.\xff\xfe", b"10.0.0.2"),  # not UTF-8
        (b"10.0.\x00.3", b"10.0.0.\x00"),  # NUL bytes
        (b"10.0.\x00.3", b"10.0.0."),  # differs from the one above only after a NUL
        (b"", b"10.0.0.4"),  # an empty source
        (b"192.168.1.1", b""),
    ]
    lines = []
    for k in range(6):
        for j, (src, dst) in enumerate(addresses):
            lines.append(_line(("flow", "tls", "http")[(j + k) % 3], src, dst, k * 100 + j))
    return lines


@pytest.mark.parametrize("fast_sets", [1, 1024])
def test_hostile_keys(fast_sets: int) -> None:
    lines = _hostile_lines()
    bound = shard.compiled_route.FAST_CACHE_KEY
    keys = {shard.compiled_route.compact_fields(x) for x in lines}
    lengths = {len(k[0]) + len(k[1]) + len(k[2]) + 2 for k in keys if k}
    assert bound in lengths and bound + 1 in lengths and max(lengths) > bound
    for batch in (1, 7, len(lines)):
        pure, fast, stats = _run(lines, batch, 2, fast_sets=fast_sets)
        assert fast == pure
        if fast_sets > 1:  # room for every short key: the long ones are in the dict alone
            assert stats[-1]["dict"] > stats[-1]["entries"]
            if batch < len(lines):  # a key is cached once its batch is routed
                assert stats[-1]["hits"] > 0
