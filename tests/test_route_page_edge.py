"""The compiled router reads no byte past a line's newline (eve_consumer/_route.pyx).

Its byte helpers load 8, 16 and 32 bytes at a time (SSE2 searches, overlapping key loads).
Inside a mapped file a load past the last line would fault only where the mapping ends, so
here every line is placed to end exactly at a page that may not be read (``mprotect``
``PROT_NONE``, in a child process: a fault kills the child, not the test run). Lines: real
Suricata EVE of every event type (stratosphereips/StratosphereLinuxIPS test6-malicious, via
tests/conftest.py) and each of them cut at every length over its first 160 bytes (where the
searched keys lie); both the line-by-line route (``route_view``) and the batch scan
(``scan_route``) read them. Skipped (with the reason; a failure in CI) when the extension is
not built.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from conftest import SLIPS_EVE
from engines import missing, require_path

from eve_consumer import shard

CHILD = textwrap.dedent("""
    import ctypes, json, mmap, sys
    from array import array
    from eve_consumer import shard
    from eve_consumer._route import SCAN_BATCH, SCAN_END

    PAGE = mmap.PAGESIZE
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    lines = [bytes.fromhex(h) for h in json.load(sys.stdin)]
    home = lambda ip: ip.startswith(("192.168.", "10."))
    tried = 0
    for line in lines:
        pages = (len(line) + 1) // PAGE + 1
        mm = mmap.mmap(-1, (pages + 1) * PAGE)
        at = ctypes.addressof(ctypes.c_char.from_buffer(mm))
        if libc.mprotect(at + pages * PAGE, PAGE, 0) != 0:  # the page after: no access
            raise SystemExit(f"mprotect: errno {ctypes.get_errno()}")
        size = pages * PAGE
        start = size - len(line) - 1  # the line ends, newline included, at the guard page
        mm[:start] = b"\\n" * start
        mm[start:size] = line + b"\\n"
        view = memoryview(mm)[:size]
        router = shard.Router(2, home, compiled=True, handicap=0.13)
        router.route_view(view, start, array("I", [len(line)]))
        router = shard.Router(2, home, compiled=True, handicap=0.13)
        pos = first = 0
        while True:
            status, _lens, first, pos, _codes = router.scan_route(view, first, pos, 1 << 20,
                                                                  10000, 1 << 20)
            if status != SCAN_BATCH:
                break
        assert status == SCAN_END, status
        view.release()
        mm.close()
        tried += 1
    print(tried)
""")


def _cases() -> list[bytes]:
    lines = require_path(SLIPS_EVE).read_bytes().splitlines()
    by_kind: dict[str, bytes] = {}
    for line in lines:
        kind = json.loads(line).get("event_type", "")
        by_kind.setdefault(kind, line)
    assert {"flow", "dns", "tls", "http", "alert"} <= by_kind.keys()
    cases = []
    for line in by_kind.values():
        cases.append(line)
        cases += [line[:n] for n in range(1, min(len(line), 160))]
    return cases


def test_no_read_past_a_line_at_a_guard_page() -> None:
    if shard.compiled_route is None:
        missing("eve_consumer._route is not built (no C compiler at install: make setup)")
    cases = _cases()
    proc = subprocess.run([sys.executable, "-c", CHILD], input=json.dumps(
        [c.hex() for c in cases]), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert int(proc.stdout) == len(cases)
