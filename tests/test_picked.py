"""A worker's lines read in place (``eve_consumer.picked.Picked``): spans over the batch, and
worker 0's DNS changes replayed between them in the same order as for lines cut from the map
(``workers.feed_with_dns``, the path without the compiled loop).

That the in-place read gives the one worker's report is shown by the workers' tests
(tests/test_consumer_workers.py, tests/test_consumer_workers_real.py: crafted cases and real
captures, compiled and pure); a file shrinking under it by tests/test_consumer_workers_shrink.py.
"""

from __future__ import annotations

import random
from array import array
from types import SimpleNamespace
from typing import Any

import pytest

from eve_consumer.picked import Picked
from eve_consumer.shard import PRIMARY, SECONDARY, mine
from eve_consumer.workers import feed_picked, feed_with_dns


def _batch(rng: random.Random, n: int) -> tuple[bytes, array, bytes]:
    lines = [b"x" * rng.randrange(0, 30) for _ in range(n)]
    data = b"".join(line + b"\n" for line in lines)
    mask = bytes(rng.choice((0, 0, PRIMARY, SECONDARY)) for _ in range(n))
    return data, array("I", map(len, lines)), mask


def test_a_span_is_the_lines_it_names() -> None:
    rng = random.Random(7)
    data, lens, mask = _batch(rng, 50)
    whole = Picked(data, 0, lens, mask, 101)
    starts = [0]
    for ln in lens:
        starts.append(starts[-1] + ln + 1)
    for i in range(51):
        for j in range(i, 51):
            part = whole.span(i, j)
            assert part.first == 101 + i and list(part.lens) == list(lens[i:j])
            assert part.mask == mask[i:j] and part.base == starts[i]
            assert [data[part.base + sum(part.lens[:k]) + k:][:part.lens[k]]
                    for k in range(j - i)] == [data[starts[k]:starts[k] + lens[k]]
                                               for k in range(i, j)]
    assert whole.mine == len(mask) - mask.count(0)
    assert whole.shared == mask.count(SECONDARY)
    with pytest.raises(IndexError):
        whole.span(3, 51)
    with pytest.raises(ValueError):
        Picked(data, 0, lens, mask[:-1], 1)


class _Recorder:
    """What a consumer is asked, in order: the numbers of the lines fed (with their flags)
    and the DNS changes replayed."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.shared_lines = 0
        self.decoder = SimpleNamespace(shard=None)
        self.ctx = SimpleNamespace(replay_dns=lambda log: self.events.append(
            ("dns", [e[0] for e in log])))

    def feed(self, batch: Any, numbers: Any = None, flags: Any = None) -> None:
        if isinstance(batch.lines, Picked):
            part = batch.lines
            got = [(part.first + k, m) for k, m in enumerate(part.mask) if m]
        else:
            flags = flags if flags is not None else bytes([PRIMARY]) * len(numbers)
            got = list(zip(numbers, flags, strict=True))  # (feed_part: None, none shared)
        self.events.append(("lines", got))


@pytest.mark.parametrize("seed", range(200))
def test_dns_changes_are_replayed_between_the_same_lines(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randrange(1, 40)
    data, lens, mask = _batch(rng, n)
    first = rng.randrange(1, 1000)
    log = [(at, None, None, None) for at in
           sorted(rng.randrange(first, first + n) for _ in range(rng.randrange(1, 8)))]
    codes, table = mask, bytes(range(256))  # the mask as codes: the identity table
    cut = _Recorder()
    part = mine(codes, table, first, None, view=data, base=0, lens=lens)
    feed_with_dns(cut, SimpleNamespace(flags=lambda flags: None), "eve", part, log)
    picked = _Recorder()
    feed_picked(picked, "eve", Picked(data, 0, lens, mask, first), log)
    assert picked.events == cut.events
    assert picked.shared_lines == mask.count(SECONDARY)
