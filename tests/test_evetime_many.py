"""``sakimori.eve.evetime.parse_many``: the bulk reader of EVE times gives, row by row, exactly
what ``parse_ts`` gives (the same float, the same rejections), on Suricata's own layout, on
broken variants of it and on the ``flow.start`` texts of real EVE — and it really reads the
well-formed rows in bulk (``parse_ts`` is not called for them)."""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pytest
from engines import missing

from sakimori.accel import compiled
from sakimori.eve import evetime
from sakimori.eve.evetime import parse_many, parse_many_py, parse_ts


def _reference(texts: list[str]) -> list[float | None]:
    out: list[float | None] = []
    for text in texts:
        try:
            out.append(parse_ts(text))
        except ValueError:
            out.append(None)
    return out


def _same(texts: list[str]) -> int:
    """Assert parse_many == parse_ts row by row, for the compiled reader (``parse_into``,
    when built) and the pure one (:func:`parse_many_py`); the number of valid rows."""
    want = _reference(texts)
    found = []
    for reader in (parse_many, parse_many_py):
        values, ok = reader(list(texts))
        assert len(values) == len(ok) == len(texts)
        for text, expect, got, valid in zip(texts, want, values.tolist(), ok.tolist(),
                                            strict=True):
            assert valid == (expect is not None), text
            if expect is not None:
                assert got == expect, text  # the very same float, not approximately
        found.append(int(ok.sum()))
    assert found[0] == found[1]
    return found[0]


def test_compiled_reader_is_used_when_built() -> None:
    """With _evetime built, parse_many reads a list by the compiled parse_into (in CI an
    unbuilt module fails here instead of skipping)."""
    if compiled("sakimori.eve._evetime") is None:
        missing("sakimori.eve._evetime is not built (no C compiler at install)")
    assert evetime._PARSE_INTO is not None


def test_compiled_reader_reads_cached_minutes_in_c(monkeypatch: pytest.MonkeyPatch) -> None:
    """parse_into calls parse_ts only for rows whose minute is not cached yet (and odd rows);
    the rows of a cached minute are read in C, with the same floats."""
    if evetime._PARSE_INTO is None:
        missing("sakimori.eve._evetime is not built (no C compiler at install)")
    rng = random.Random(11)
    texts = sorted(_suricata(rng) for _ in range(400))
    want = _reference(texts)  # every minute now cached
    calls: list[str] = []

    def counted(text: str) -> float:
        calls.append(text)
        return parse_ts(text)

    monkeypatch.setattr(evetime, "parse_ts", counted)
    odd = texts[0][:17] + "61" + texts[0][19:]
    values, ok = parse_many([*texts, odd])
    assert calls == [odd]
    assert values[:-1].tolist() == want and bool(ok[:-1].all()) and not ok[-1]


def test_compiled_reader_reads_every_kind_of_seconds_as_float_does() -> None:
    """parse_into reads ``SS.ffffff`` as the integer SSffffff / 10⁶ (not by strtod): the
    same double as ``float()`` for every second 00–60 with 1,000 fractions each (edges,
    every digit) and 200,000 random ones."""
    if evetime._PARSE_INTO is None:
        missing("sakimori.eve._evetime is not built (no C compiler at install)")
    rng = random.Random(15)
    fractions = [0, 1, 5, 9, 10, 499_999, 500_000, 500_001, 999_998, 999_999]
    fractions += [rng.randrange(1_000_000) for _ in range(990)]
    secs = [f"{s:02d}.{f:06d}" for s in range(61) for f in fractions]
    secs += [f"{rng.randrange(61):02d}.{rng.randrange(1_000_000):06d}" for _ in range(200_000)]
    texts = [f"2026-11-02T13:47:{sec}+0900" for sec in secs]
    parse_ts(texts[0])  # the minute cached: every row read in C
    values, ok = parse_many(texts)
    assert bool(ok.all())
    base = parse_ts("2026-11-02T13:47:00.000000+0900")
    assert values.tolist() == [base + float(sec) for sec in secs]


def _suricata(rng: random.Random) -> str:
    year = rng.choice([1970, 2024, 2026, 2026, 2199])
    month, day = rng.randint(1, 12), rng.randint(1, 28)
    zone = rng.choice(["+0000", "+0000", "+0900", "-0500", "+0530", "-1130"])
    return (f"{year:04d}-{month:02d}-{day:02d}T{rng.randint(0, 23):02d}:"
            f"{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}.{rng.randrange(10**6):06d}"
            f"{zone}")


def _broken(rng: random.Random, text: str) -> str:
    """One of the ways a time can be odd: some parse_ts accepts, most it rejects."""
    i = rng.randrange(len(text))
    return rng.choice([
        text[:i] + rng.choice("x _+-:.é0") + text[i + 1:],  # one character changed
        text[:17] + rng.choice(["60", "61", "99"]) + text[19:],  # leap second, past it
        text[:5] + rng.choice(["02-30", "13-01", "00-10", "02-29"]) + text[10:],
        text[:11] + rng.choice(["24", "23"]) + text[13:],
        text[:26] + rng.choice(["+2400", "+0060", "-0000", "Z0000", "+00:0"]),
        rng.choice(["1969", "2200", "0001", "9999"]) + text[4:],
        text[:19] + text[26:],  # no fraction: parse_ts's slow path
        text[:-1], text + "0", "", "2026-11-02T00:00:01Z",
    ])


def test_suricata_layout_is_exact() -> None:
    rng = random.Random(2026)
    texts = [_suricata(rng) for _ in range(3000)]
    assert _same(texts) == len(texts)


@pytest.mark.parametrize("seed", range(6))
def test_broken_rows_are_judged_as_parse_ts_judges_them(seed: int) -> None:
    rng = random.Random(seed)
    texts = [_suricata(rng) for _ in range(1500)]
    texts = [_broken(rng, t) if rng.random() < 0.3 else t for t in texts]
    if seed % 2:  # equal lengths and ASCII: the bulk path with bad rows in it
        texts = [t for t in texts if len(t) == 31 and t.isascii()]
    valid = _same(texts)
    assert 0 < valid < len(texts)


@pytest.mark.parametrize("seed", range(2))
def test_chunked_rows_are_the_same(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Longer lists are read PARSE_MANY_CHUNK rows at a time (bounded scratch memory): the
    same values and rejections, in order, across chunk edges and with bad rows in chunks."""
    monkeypatch.setattr(evetime, "PARSE_MANY_CHUNK", 64)
    rng = random.Random(seed)
    texts = [_suricata(rng) for _ in range(64 * 5 + 17)]
    texts = [_broken(rng, t) if rng.random() < 0.1 else t for t in texts]
    valid = _same(texts)
    assert 0 < valid < len(texts)


def test_empty_and_one_row() -> None:
    values, ok = parse_many([])
    assert values.size == ok.size == 0
    assert _same(["2026-11-02T00:00:01.500000+0000"]) == 1
    assert _same(["2026-11-02T00:00:01.500000+00é0"]) == 0


def test_well_formed_rows_do_not_go_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(7)
    texts = [_suricata(rng) for _ in range(500)]
    want = _reference(texts)
    calls: list[str] = []

    def counted(text: str) -> float:
        calls.append(text)
        return parse_ts(text)

    monkeypatch.setattr(evetime, "parse_ts", counted)
    texts.append(texts[0][:17] + "61" + texts[0][19:])  # a row only parse_ts may judge
    values, ok = parse_many_py(texts)
    assert calls == [texts[-1]]
    assert values[:-1].tolist() == want and bool(ok[:-1].all())


def test_real_flow_starts(slips_eve: Path) -> None:
    texts = []
    for line in slips_eve.read_bytes().splitlines():
        rec = orjson.loads(line)
        flow = rec.get("flow")
        if rec.get("event_type") == "flow" and isinstance(flow, dict):
            texts += [t for t in (flow.get("start"), flow.get("end")) if isinstance(t, str)]
    assert len(texts) > 1000
    assert _same(texts) == len(texts)


def test_range_edges_and_calendar() -> None:
    """The rows where a day's midnight and its minutes disagree about the 1970–2199 range, a
    29 February, a zone offset of 60 minutes, a leap second: as parse_ts judges them."""
    texts = [
        "1970-01-01T00:30:00.000000+0100",  # 1969 in UTC: refused
        "1970-01-01T01:30:00.000000+0100",  # 00:30 UTC: valid, though its midnight is not
        "1970-01-01T00:00:00.000000+0000",
        "1969-12-31T23:30:00.000000-0100",  # 00:30 UTC on 1 January 1970: valid
        "2199-12-31T18:59:59.999999-0500",  # the last valid minute
        "2199-12-31T19:00:00.000000-0500",  # 2200 in UTC: refused
        "2199-12-31T23:59:59.000000+0000",
        "2200-01-01T00:00:00.000000+0000",
        "2024-02-29T12:00:00.000000+0000", "2026-02-29T12:00:00.000000+0000",
        "2026-11-02T10:00:00.000000+0060", "2026-11-02T10:00:00.000000-2359",
        "2026-11-02T10:00:60.500000+0000", "2026-11-02T10:00:61.000000+0000",
        "2026-11-02T24:00:00.000000+0000", "2026-11-02T23:60:00.000000+0000",
    ]
    assert 0 < _same(texts) < len(texts)
    assert _same(texts * 50) == 50 * _same(texts)
