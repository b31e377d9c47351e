"""The consumer's one-shot read (:meth:`Consumer.read`) in chunks of ``READ_CHUNK_BYTES``:
the chunk size changes only how the file is cut into batches, never the report — lines that
span chunks, lines longer than a chunk (valid, and over ``max_line_bytes``), a final line
without its newline and hostile variants give the same hosts, findings and counts whatever the
chunk (against one read of the whole file at once)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from consumerfixtures import SLIPS_HOME, broken, config, report

from eve_consumer import pipeline
from eve_consumer.pipeline import Consumer

MAX_LINE = 64 << 10


def _eve(slips: Path, tmp: Path) -> Path:
    """The slips EVE with hostile variants woven in, a valid flow line padded beyond a
    small chunk (but within ``max_line_bytes``), an over-long line and no final newline."""
    lines = slips.read_bytes().splitlines()
    flow = next(x for x in lines if b'"event_type":"flow"' in x)
    padded = flow[:-1] + b',"pad":"' + b"x" * (3 * 4096) + b'"}'  # unknown key: skipped
    over = flow[:-1] + b',"pad":"' + b"y" * (MAX_LINE + 10) + b'"}'
    extra = [*broken(lines), padded, over, padded]
    step = max(1, len(lines) // len(extra))
    out: list[bytes] = []
    for i, line in enumerate(lines):
        out.append(line)
        if i % step == 0 and extra:
            out.append(extra.pop())
    path = tmp / "eve.json"
    path.write_bytes(b"\n".join(out + extra))  # no newline after the last line
    return path


def _run(eve: Path, tmp: Path, name: str, queue_size: int = 10_000) -> dict:
    cfg = config(tmp / name, SLIPS_HOME, queue_size=queue_size, max_line_bytes=MAX_LINE)
    with Consumer(cfg, None, tmp / name / "out", tmp / name / "state", mail=False) as c:
        c.run_once(eve)
    return report(tmp / name / "out")


def test_chunk_size_never_changes_the_report(tmp_path: Path, slips_eve: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    eve = _eve(slips_eve, tmp_path)
    monkeypatch.setattr(pipeline, "READ_CHUNK_BYTES", os.path.getsize(eve) + 1)
    whole = _run(eve, tmp_path, "whole")
    bad = whole["stats"]["decode"]["bad"]
    assert bad.get("line longer than consumer.max_line_bytes") == 1  # the over-long line
    assert sum(bad.values()) > 10  # and the hostile ones
    assert whole["stats"]["decode"]["lines"] > 1000
    for chunk in (pipeline.READ_CHUNK_BYTES, 4096, 1000):
        monkeypatch.setattr(pipeline, "READ_CHUNK_BYTES", chunk)
        assert _run(eve, tmp_path, f"chunk{chunk}") == whole, chunk
        # batches cut at consumer.queue_size lines inside a chunk (the rest read again)
        assert _run(eve, tmp_path, f"chunk{chunk}q", queue_size=50) == whole, chunk


def test_default_chunk_is_bounded() -> None:
    """A chunk well under the file input's 4 MiB default, and large enough that per-batch
    costs stay negligible (tens of lines per chunk at least)."""
    assert 64 << 10 <= pipeline.READ_CHUNK_BYTES <= 4 << 20
