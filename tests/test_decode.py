"""sakimori.eve.decode: real EVE decodes; every kind of bad line is skipped, counted, explained."""

from __future__ import annotations

from pathlib import Path

import pytest
from engines import missing

from sakimori.errors import InputError
from sakimori.eve.decode import Decoder, flow_times, parse_ts
from sakimori.eve.file import read_events


def test_real_eve_decodes_without_rejections(slips_eve: Path) -> None:
    decoder = Decoder()
    events = list(read_events(slips_eve, decoder))
    assert decoder.stats.bad_total == 0
    kinds = {e.kind for e in events}
    assert {"flow", "alert", "http", "dns"} <= kinds
    flows = [e for e in events if e.kind == "flow"]
    times = [flow_times(f) for f in flows]
    assert all(t is not None and t[0] <= t[1] for t in times)


@pytest.mark.parametrize(("line", "reason"), [
    (b'{"timestamp":"2021-06-06T15:59:46.457984+0200","event_type":"flo', "not valid JSON"),
    (b"\x00\xff garbage", "not valid JSON"),
    (b"[1,2]", "not a JSON object"),
    (b'{"timestamp":"2021-06-06T15:59:46+0200"}', "'event_type' missing"),
    (b'{"event_type":"flow","timestamp":null,"src_ip":"1.1.1.1","dest_ip":"2.2.2.2"}',
     "'timestamp' missing"),
    (b'{"event_type":"flow","timestamp":"yesterday","src_ip":"1.1.1.1","dest_ip":"2.2.2.2"}',
     "not ISO 8601"),
    (b'{"event_type":"http","timestamp":"2021-06-06T15:59:46.1+0200","src_ip":null,'
     b'"dest_ip":"2.2.2.2","http":{}}', "'src_ip'/'dest_ip'"),
    (b'{"event_type":"http","timestamp":"2021-06-06T15:59:46.1+0200","src_ip":"1.1.1.1",'
     b'"dest_ip":"2.2.2.2","http":null}', "'http' missing"),
    (b'{"event_type":"flow","timestamp":"2021-06-06T15:59:46.1+0200","src_ip":"1.1.1.1",'
     b'"dest_ip":"2.2.2.2","src_port":"80"}', "not an integer"),
    (b"   ", "empty line"),
])
def test_bad_lines_are_rejected_with_reason(line: bytes, reason: str) -> None:
    decoder = Decoder(source="eve.json")
    assert decoder.decode(line, 42) is None
    assert decoder.stats.bad_total == 1
    assert decoder.stats.examples[0].startswith("eve.json:42: ")
    assert reason in decoder.stats.examples[0]


def test_garbage_mixed_into_real_eve_loses_nothing(slips_eve: Path, tmp_path: Path) -> None:
    lines = slips_eve.read_bytes().splitlines(keepends=True)
    broken = tmp_path / "eve.json"
    garbage = [b'{"event_type":"flow","timest\n', b"\xde\xad\n", b"null\n"]
    with broken.open("wb") as fh:
        for i, line in enumerate(lines):
            fh.write(line)
            if i % 1000 == 0:
                fh.write(garbage[i // 1000 % 3])
    clean = Decoder()
    n_clean = len(list(read_events(slips_eve, clean)))
    dirty = Decoder()
    n_dirty = len(list(read_events(broken, dirty)))
    assert n_dirty == n_clean
    assert dirty.stats.bad_total == (len(lines) - 1) // 1000 + 1
    assert f"{broken}:2:" in dirty.stats.examples[0]
    assert "bad" in dirty.stats.summary()


def test_ignored_types_are_counted_not_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    decoder = Decoder()
    line = b'{"timestamp":"2021-06-06T15:59:46.457984+0200","event_type":"stats","stats":{}}'
    with monkeypatch.context() as m:
        m.setattr("sakimori.eve.decode.orjson.loads", None)  # a parse would raise
        assert decoder.decode(line, 1) is None
    assert decoder.stats.ignored["stats"] == 1
    # a cut line of an ignored type is parsed, and so counted as bad (issue 11 item 12)
    assert decoder.decode(b'{"event_type":"stats","stats":{} broken json', 2) is None
    assert decoder.stats.ignored["stats"] == 1 and decoder.stats.bad_total == 1


def test_missing_file_is_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read EVE file"):
        list(read_events(tmp_path / "none.json", Decoder()))


def test_parse_ts_forms() -> None:
    assert parse_ts("2026-11-02T00:00:01.500000+0000") == pytest.approx(1793577601.5)
    assert parse_ts("2026-11-02T09:00:01.5+0900") == pytest.approx(1793577601.5)
    assert parse_ts("2026-11-02T00:00:01Z") == 1793577601.0
    with pytest.raises(ValueError):
        parse_ts("2026-11-02T00:00:01.+0000")


def test_parse_ts_compiled_same_as_pure() -> None:
    """The compiled parse_ts (sakimori/eve/_evetime.pyx) gives the pure function's value or
    ValueError for every time: Suricata's layout, other layouts and damaged texts."""
    import random

    from sakimori.eve import evetime

    if evetime.parse_ts is evetime.parse_ts_py:
        missing("sakimori.eve._evetime is not built (no C compiler at install)")
    rng = random.Random(5)
    base = ["2026-11-02T00:00:01.500000+0000", "2021-06-06T15:57:37.272281+0200",
            "1970-01-01T00:00:00.000000+0000", "2199-12-31T23:59:60.999999-0100",
            "2026-11-02T09:00:01.5+0900", "2026-11-02T00:00:01Z", "2026-11-02T00:00:01"]
    edges = [f"2026-11-02T00:00:{s}+0000" for s in (
        "60.999999", "61.000000", "65.500000", "99.999999", "-1.000000", "+1.000000",
        " 1.000000", "1_.000000", "01.5e0000", "0x.000000", "nan000000", "inf000000")]
    texts: list[object] = [*base, *edges, "", "x" * 31, None, 5, b"2026",
                           "2026-11-02T00:00:01.+0000", "2026-11-02T00:00:01.000000+0000x"]
    for _ in range(3000):
        t = list(rng.choice(base))
        for _ in range(rng.randrange(1, 3)):
            at = rng.randrange(len(t))
            t[at] = rng.choice("0123456789.:+-TZ _eé\x00" + t[at])
        texts.append("".join(t))
    for text in texts:
        want: object
        got: object
        try:
            want = evetime.parse_ts_py(text)  # type: ignore[arg-type]
        except (ValueError, TypeError) as exc:
            want = type(exc)
        try:
            got = evetime.parse_ts(text)  # type: ignore[arg-type]
        except (ValueError, TypeError) as exc:
            got = type(exc)
        assert got == want, text


def test_deeply_nested_flow_line_is_bad_json_on_every_loop(slips_eve: Path, tmp_path: Path
                                                           ) -> None:
    """A flow line nested deeper than msgspec's recursion limit (and orjson's 1024) is a bad
    line ("not valid JSON") for the typed flow decode as for orjson — on every feed loop —
    not a line a handler failed on."""
    import yaml

    from eve_consumer.fastfeed import compiled_loop
    from eve_consumer.pipeline import Consumer
    from sakimori.config import load_config
    from sakimori.eve.lines import Batch

    flow = next(x for x in slips_eve.read_bytes().splitlines()
                if b'"event_type":"flow"' in x and b'"src_ip":"192.168.1.129"' in x)
    deep = flow[:-1] + b',"zz":' + b"[" * 2000 + b"]" * 2000 + b"}"
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump({"networks": {"home": ["192.168.0.0/16"]},
                                    "alerts": {"enabled": False}}))
    cfg = load_config(path)
    loops = [("per-line", False, False), ("python", True, False)]
    if compiled_loop() is not None:
        loops.append(("compiled", True, True))
    for name, fast, compiled in loops:
        with Consumer(cfg, None, tmp_path / name / "o", tmp_path / name / "s",
                      mail=False) as c:
            c.fast, c.compiled = fast, compiled
            c.feed(Batch("deep.json", [deep, flow], 1))
            assert dict(c.decoder.stats.bad) == {
                "not valid JSON (truncated or garbage line)": 1}, name
            assert c.decoder.stats.decoded["flow"] == 1, name
            assert not c.ctx.counters.get("lines_failed_in_handler"), name
