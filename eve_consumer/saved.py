"""Reading back what handlers saved in the state store: each value checked against the type it
was saved as (``msgspec.convert``), so a damaged or foreign row is refused while the consumer
restores it — one line naming the field (:class:`~eve_consumer.store.StateUnreadable`) —
instead of being met later, mid-evaluation, as a crash or a wrong report."""

from __future__ import annotations

from typing import Any, TypedDict, TypeVar

import msgspec

T = TypeVar("T")

# model.Tally.to_state: count, first, last (None: none yet), destinations' counts, flow ids
TALLY = tuple[int, float | None, float | None, dict[str, int], list[int]]
# handlers.rule_meta: the sakimori_* metadata of an alert's rule, as scalars
RULE_META = dict[str, dict[str, str | int | float]]
# inputs.proxylog.ProxyDecoder._hold: a 407 held back — start, flow id, destination, port,
# method, Squid action (None: Apache), user (None: none logged)
HELD_407 = tuple[float, int, str, int, str, str | None, str | None]


class DecodeCounts(TypedDict, total=False):
    """``DecodeStats.as_dict`` (what the decoder counted)."""

    lines: int
    decoded: dict[str, int]
    fast: dict[str, int]
    ignored: dict[str, int]
    bad: dict[str, int]
    examples: list[str]


class ProxyJoin(TypedDict, total=False):
    """``ProxyDecoder.snapshot`` (the proxy log's pending joins and users)."""

    pending: dict[str, list[HELD_407]]  # "client host" -> its held-back 407s
    users: dict[str, dict[str, int]]  # client -> user -> requests
    pair_users: dict[str, list[str]]  # "client host" -> users (shared PCs)
    latest: float


class ConsumerState(TypedDict, total=False):
    """``Consumer._own_state``: the consumer's counters and joins."""

    latest_ts: float
    counters: dict[str, int]
    flow_names: dict[str, str]  # flow id (text) -> name
    dns_names: dict[str, list[str]]
    decode: DecodeCounts
    input_counters: dict[str, int]
    proxy: ProxyJoin


def shaped(value: Any, kind: type[T], where: str) -> T:
    """*value* as *kind*; ValueError naming *where* and the path inside it when it is not."""
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError as exc:
        raise ValueError(f"{where}: {exc}") from None
