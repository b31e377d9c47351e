"""``consume --workers N`` (and one worker) on an EVE file that shrinks while it is read.

The input is real Suricata EVE (``slips-test6-malicious.eve.json``, public, see
shared/data/README.md) repeated until it spans at least three read batches. Each run is a
child process (a read of a memory-mapped page past the file's end is SIGBUS, which would kill
pytest itself) that runs ``sakimori consume`` with the splitter's read patched to truncate the
file right after its *k*-th batch — deterministic: the cut lands between the splitter's read
of a batch and the workers' cut of its lines. Checked, with the router compiled and pure and
the splitter being worker 0 or a process of its own:

- truncated below what was read (to 0 — ``copytruncate`` —, or inside the last page of a
  batch already handed out, whose bytes past the new end would read as zeros without a
  fault): exit 1, one line on stderr naming the file, the earlier report left as it was, no
  process left behind — as one worker (the file input finds it at its next read);
- truncated to a size past what was read: the read goes on to the new end, and the report is
  the one worker's of the same run;
- a worker or splitter killed by SIGBUS all the same is named by the parent, not a hang;
- the compiled reads of a mapped file that shrank raise ``MapShrank`` (each of them), and a
  worker's in-place read of its lines (``Picked``) raises ``PickedShrank`` after its batch —
  the zero-page guard, no jump out of Python code.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from engines import missing, require_path

from eve_consumer import shard
from eve_consumer import workers as workers_mod
from eve_consumer.pipeline import READ_CHUNK_BYTES, Consumer
from eve_consumer.workers import Workers, run_sharded
from sakimori.config import load_config
from sakimori.errors import InputError
from sakimori.eve.file import FileInput
from sakimori.eve.lines import DEFAULT_MAX_BYTES

REPO = Path(__file__).resolve().parents[1]
PAGE = os.sysconf("SC_PAGE_SIZE")

# the child: sakimori consume with the splitter's (or the one worker's file input's) k-th
# batch followed by a truncation of the file to SIZE bytes
CHILD = textwrap.dedent("""
    import os, sys
    from eve_consumer import fastfeed, shard, workers
    from sakimori.eve import file as file_mod
    from sakimori.cli import main

    impl, splitter, n, size, after, eve, cfg, out = sys.argv[1:9]
    shard.USE_COMPILED = fastfeed.USE_COMPILED = impl == "compiled"
    cls, name = (workers.SplitReader, "read") if int(n) > 1 else \\
        (file_mod.FileInput, "read_batch")
    real, count = getattr(cls, name), [0]

    def read(self):
        got = real(self)
        count[0] += 1
        if count[0] == int(after):
            os.truncate(eve, int(size))
        return got

    setattr(cls, name, read)
    if splitter == "process":
        init = workers.Workers.__init__

        def process_splitter(self, *args, **kwargs):
            init(self, *args, **{**kwargs, "splitter": "process"})

        workers.Workers.__init__ = process_splitter
    main(["consume", "--config", cfg, "--eve", eve, "--no-mail", "--out", out,
          "--state-dir", out + "-state", "--workers", n])
""")


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Real EVE repeated to ≥ three read batches, a config with its home network."""
    from conftest import SLIPS_EVE

    src = require_path(SLIPS_EVE).read_bytes()
    tmp = tmp_path_factory.mktemp("shrink")
    data = src * (2 * DEFAULT_MAX_BYTES // len(src) + 1)
    (tmp / "cfg.yaml").write_text("networks:\n  home: [192.168.0.0/16]\n")
    (tmp / "src.json").write_bytes(data)
    co = load_config(tmp / "cfg.yaml").consumer
    inp = FileInput(tmp / "src.json", max_lines=co.queue_size, max_line_bytes=co.max_line_bytes)
    ends = []  # the end of each batch, as the consumer's file input (and the splitter) cut
    while inp.read_batch() is not None:
        ends.append(inp.position)
    assert len(ends) >= 3
    first = ends[0]
    # one worker reads in the consumer's own, smaller chunks (pipeline.READ_CHUNK_BYTES)
    one = FileInput(tmp / "src.json", max_bytes=READ_CHUNK_BYTES, max_lines=co.queue_size,
                    max_line_bytes=co.max_line_bytes)
    one.read_batch()
    return {"tmp": tmp, "data": data, "first_end": first, "one_first_end": one.position}


def _run(big: dict[str, Any], name: str, impl: str, splitter: str, n: int, size: int,
         after: int) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    tmp = big["tmp"]
    eve, out = tmp / f"{name}.json", tmp / name
    eve.write_bytes(big["data"])
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, impl, splitter, str(n), str(size), str(after), str(eve),
         str(tmp / "cfg.yaml"), str(out)],
        capture_output=True, text=True, timeout=300, env=env, check=False)
    return proc, eve, out


def _report(out: Path, eve: Path) -> dict[str, Any]:
    """The report of a run, the EVE file's name left out (the bad-line examples name it)."""
    stats = json.loads((out / "stats.json").read_text().replace(str(eve), "EVE"))
    return {"csv": (out / "hosts.csv").read_text(),
            "findings": sorted((out / "findings.jsonl").read_text().splitlines()),
            "decode": stats["decode"]}


def _left_over(eve: Path) -> list[str]:
    """Processes still running with *eve* on their command line (none may be)."""
    found = []
    for pid in os.listdir("/proc"):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if pid.isdigit() and str(eve).encode() in cmd:
            found.append(pid)
    return found


@pytest.fixture(params=["compiled", "pure"])
def impl(request: pytest.FixtureRequest) -> str:
    if request.param == "compiled" and shard.compiled_route is None:
        missing("eve_consumer._route is not built (no C compiler at install: make setup)")
    return str(request.param)


def _cases(big: dict[str, Any], one: bool = False) -> dict[str, tuple[int, int]]:
    """name → (size to truncate to, after which batch); *one*: of the one-worker read."""
    first_end = big["one_first_end" if one else "first_end"]
    return {
        "emptied-after-1": (0, 1),  # before the workers cut the first batch
        "emptied-after-2": (0, 2),  # the workers have mapped the file already
        # inside the first batch's last page: no page fault, the bytes past read as zeros
        "cut-in-last-page": (first_end - 100, 1),
    }


@pytest.mark.parametrize("case", ["emptied-after-1", "emptied-after-2", "cut-in-last-page"])
@pytest.mark.parametrize("splitter", ["worker0", "process"])
def test_a_file_shrinking_below_the_read_is_one_error(big: dict[str, Any], impl: str,
                                                      splitter: str, case: str) -> None:
    size, after = _cases(big)[case]
    name = f"{impl}-{splitter}-{case}"
    out = big["tmp"] / name
    out.mkdir()
    (out / "hosts.csv").write_text("the earlier report\n")  # a failed run leaves it
    proc, eve, out = _run(big, name, impl, splitter, 2, size, after)
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])
    assert len(err) == 1, err
    assert err[0].startswith(f"sakimori consume: {eve}: the file shrank while it was read ")
    assert f"({size} bytes now, " in err[0]
    assert sorted(p.name for p in out.iterdir()) == ["hosts.csv"]
    assert (out / "hosts.csv").read_text() == "the earlier report\n"
    assert _left_over(eve) == []


@pytest.mark.parametrize("case", ["emptied-after-1", "cut-in-last-page"])
def test_one_worker_stops_with_the_same_error(big: dict[str, Any], case: str) -> None:
    size, after = _cases(big, one=True)[case]
    proc, eve, out = _run(big, f"one-{case}", "pure", "worker0", 1, size, after)
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(err) == 1, proc.stderr[-2000:]
    assert err[0].startswith(f"sakimori consume: {eve}: the file shrank while it was read "
                             f"({size} bytes now, ")
    assert not (out / "hosts.csv").exists()


@pytest.mark.parametrize("splitter", ["worker0", "process"])
def test_a_file_cut_past_the_read_is_read_to_its_new_end(big: dict[str, Any], impl: str,
                                                        splitter: str) -> None:
    """Cut after the first batch to a size inside the second: every path reads on to the
    new end (its last line cut: one bad line), as the one-worker file input does."""
    size = big["first_end"] + 3 * PAGE + 17
    if "one" not in big:
        proc, eve, out = _run(big, "one-cut-past", "pure", "worker0", 1, size, 1)
        assert proc.returncode == 0, proc.stderr[-2000:]
        big["one"] = _report(out, eve)
    proc, eve, out = _run(big, f"{impl}-{splitter}-cut-past", impl, splitter, 2, size, 1)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = _report(out, eve)
    assert got == big["one"]
    assert sum(got["decode"]["bad"].values()) == 1
    assert got["decode"]["lines"] == big["data"][:size].count(b"\n") + 1


def _sigbus(*args: Any, **kwargs: Any) -> None:
    # pytest's faulthandler (inherited through the fork) would dump this process's stack
    # to pytest's own stderr, past the output capture: the death is the point, not a dump
    import faulthandler

    faulthandler.disable()
    os.kill(os.getpid(), signal.SIGBUS)


@pytest.mark.parametrize(("splitter", "target", "who"), [
    ("process", "split", "the splitter"), ("worker0", "_read_routed", "worker 1")])
def test_a_process_killed_by_sigbus_is_named(big: dict[str, Any], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch, splitter: str,
                                             target: str, who: str) -> None:
    """A worker or splitter killed by SIGBUS whatever the guards do (patched before the
    fork: only the forked process calls it): one line naming the file and the process."""
    from conftest import SLIPS_EVE

    cfg = load_config(big["tmp"] / "cfg.yaml")
    monkeypatch.setattr(workers_mod, target, _sigbus)
    workers = Workers(cfg, None, SLIPS_EVE, 2, splitter=splitter)
    try:
        with Consumer(cfg, None, tmp_path / "out", tmp_path / "state", mail=False) as c, \
                pytest.raises(workers_mod.WorkerError) as err:
            run_sharded(c, workers, SLIPS_EVE)
    finally:
        workers.close(0)
    assert str(err.value).startswith(f"{SLIPS_EVE}: the file shrank while it was read ")
    assert f"{who} killed by SIGBUS" in str(err.value)


def test_the_file_input_finds_a_shrink_at_its_next_read(tmp_path: Path) -> None:
    """Cut past the read: read on to the new end; below it: one error at the next read
    (reads larger than the file object's buffer, as the consumer's 4 MiB)."""
    path = tmp_path / "eve.json"
    path.write_bytes(b"a\n" * 100_000)
    inp = FileInput(path, max_bytes=16384)
    assert len(inp.read_batch().lines) == 8192
    os.truncate(path, 16384 + 50_000)
    lines = []
    while (batch := inp.read_batch()) is not None:
        lines += batch.lines
    assert len(lines) == 25_000
    inp = FileInput(path, max_bytes=16384)
    assert inp.read_batch() is not None
    os.truncate(path, 0)
    with pytest.raises(InputError, match=r"eve\.json: the file shrank while it was read "
                                         r"\(0 bytes now, read up to byte 16384\)"):
        inp.read_batch()


GUARD = textwrap.dedent("""
    import mmap, os, sys
    from array import array
    from eve_consumer import _route, shard
    from eve_consumer.shard import Router

    path = sys.argv[1]
    line = open(path, "rb").readline()
    n = os.path.getsize(path) // len(line)
    lens = array("I", [len(line) - 1] * n)
    fh = open(path, "rb")
    view = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    router = Router(2, lambda ip: ip.startswith("10."), compiled=True)
    calls = {
        "scan": lambda: _route.scan(view, 0, 0, len(view), n + 1, 1 << 20),
        "scan_route": lambda: router.scan_route(view, 0, 0, len(view), n + 1, 1 << 20),
        "route_view": lambda: router.route_view(view, 0, lens),
        "cut": lambda: _route.cut(b"\\0" * n, b"\\1" * 256, 1, view, 0, lens),
    }
    for name, call in calls.items():
        assert call() is not None  # the whole file, mapped
    os.truncate(path, 3 * mmap.PAGESIZE + 10)
    for name, call in calls.items():
        try:
            call()
        except _route.MapShrank:
            print(name, "MapShrank")
    view[5 * mmap.PAGESIZE]  # unguarded: the default SIGBUS again (the process is killed)
    print("not killed")
""")


@pytest.mark.parametrize("flags", [[], ["-X", "faulthandler"]])
def test_the_compiled_reads_of_a_shrunk_map_raise(tmp_path: Path, flags: list[str]) -> None:
    """Each compiled read of the mapped file meets a page past the new end as MapShrank;
    outside the reads a SIGBUS has its earlier effect again (the guard puts back the default
    disposition, or faulthandler's, which dumps the stack and kills)."""
    if shard.compiled_route is None:
        missing("eve_consumer._route is not built (no C compiler at install: make setup)")
    line = (b'{"timestamp":"2026-11-02T00:00:00.000000+0000","flow_id":1,"event_type":"flow",'
            b'"src_ip":"10.0.0.1","src_port":1,"dest_ip":"10.0.0.2","dest_port":2}\n')
    path = tmp_path / "eve.json"
    path.write_bytes(line * (64 * PAGE // len(line)))
    proc = subprocess.run([sys.executable, *flags, "-c", GUARD, str(path)], capture_output=True,
                          text=True, timeout=60, check=False,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout.split("\n") == ["scan MapShrank", "scan_route MapShrank",
                                       "route_view MapShrank", "cut MapShrank", ""], \
        proc.stderr[-2000:]
    assert proc.returncode == -signal.SIGBUS
    assert ("Fatal Python error: Bus error" in proc.stderr) == bool(flags)


IN_PLACE = textwrap.dedent("""
    import mmap, os, sys
    from array import array
    from pathlib import Path
    from eve_consumer.picked import Picked, PickedShrank
    from eve_consumer.pipeline import Consumer
    from sakimori.config import load_config
    from sakimori.eve.lines import Batch

    path, cfg, tmp = sys.argv[1:4]
    line = open(path, "rb").readline()
    n = os.path.getsize(path) // len(line)
    lens = array("I", [len(line) - 1] * n)
    fh = open(path, "rb")
    view = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    other = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    c = Consumer(load_config(cfg), None, Path(tmp) / "out", Path(tmp) / "state", mail=False)
    assert c.reads_in_place
    mask = bytes([1, 2]) * (n // 2) + bytes([1]) * (n % 2)  # PRIMARY and SECONDARY lines
    c.feed(Batch(path, Picked(view, 0, lens, mask, 1), 1))
    print("read", c.decoder.stats.lines)
    os.truncate(path, 3 * mmap.PAGESIZE + 10)
    try:
        c.feed(Batch(path, Picked(view, 0, lens, mask, 1), 1))
    except PickedShrank as exc:
        print("PickedShrank", str(exc).split(" page")[0] != "0")
    c.feed(Batch(path, Picked(view, 0, lens[:2], mask[:2], 1), 1))  # within the file: fine
    print("read", c.decoder.stats.lines)
    other[5 * mmap.PAGESIZE]  # outside the guard: the earlier SIGBUS effect (killed)
    print("not killed")
""")


@pytest.mark.parametrize("flags", [[], ["-X", "faulthandler"]])
def test_an_in_place_read_of_a_shrunk_map_raises_after_its_batch(
        big: dict[str, Any], tmp_path: Path, flags: list[str]) -> None:
    """A worker's lines read in place (``Picked``, the compiled batch loop) from a mapped
    file cut below them: the pages past the new end read as zeros (the zero-page guard) and
    the batch raises ``PickedShrank`` when done — the process lives, the next batch reads;
    outside the guard a SIGBUS has its earlier effect again (default or faulthandler's)."""
    from eve_consumer.fastfeed import compiled_loop

    if shard.compiled_route is None or compiled_loop() is None:
        missing("the compiled accelerators are not built (no C compiler at install: "
                "make setup)")
    line = (b'{"timestamp":"2026-11-02T00:00:00.000000+0000","flow_id":1,"event_type":"flow",'
            b'"src_ip":"192.168.0.1","src_port":1,"dest_ip":"10.0.0.2","dest_port":2}\n')
    path = tmp_path / "eve.json"
    count = 64 * PAGE // len(line)
    path.write_bytes(line * count)
    proc = subprocess.run([sys.executable, *flags, "-c", IN_PLACE, str(path),
                           str(big["tmp"] / "cfg.yaml"), str(tmp_path)],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    primary = (count + 1) // 2  # SECONDARY lines are counted by their primary worker
    assert proc.stdout.split("\n") == [f"read {primary}", "PickedShrank True",
                                       f"read {2 * primary + 1}", ""], proc.stderr[-2000:]
    assert proc.returncode == -signal.SIGBUS
    assert ("Fatal Python error: Bus error" in proc.stderr) == bool(flags)


def test_one_worker_reads_a_pipe_to_its_end(tmp_path: Path) -> None:
    """The shrink check is for regular files: a pipe (``zcat eve.json.gz | … --eve
    /dev/stdin``) has no size to compare and is read to its end as before."""
    import subprocess

    from sakimori.eve.file import FileInput

    lines = [b'{"event_type":"stats","n":%d}' % i for i in range(300)]
    src = tmp_path / "eve.json"
    src.write_bytes(b"\n".join(lines) + b"\n")
    with subprocess.Popen(["cat", str(src)], stdout=subprocess.PIPE) as cat:
        assert cat.stdout is not None
        inp = FileInput(f"/dev/fd/{cat.stdout.fileno()}")
        got: list[bytes] = []
        while (batch := inp.read_batch()) is not None:
            got.extend(batch.lines)
    assert got == lines
