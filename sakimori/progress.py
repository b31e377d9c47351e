"""Progress on long runs: one redrawn line on stderr when it is a terminal, nothing otherwise.

The work never calls into this module per record: :func:`phase` starts a small thread that
redraws the line five times a second from callables the caller gives (a fraction done, a
text such as ``12,345 lines``), so hot loops stay as they are. Without a fraction the line is
a spinner with the phase name and the elapsed time (e.g. while Suricata reads a capture).
The line is erased when the phase ends, so what the command prints is the same with or
without a terminal. ``SAKIMORI_PROGRESS=0`` turns it off on a terminal too.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

REDRAW_S = 0.2
WIDTH = 24
_SPIN = "|/-\\"


def enabled(stream: TextIO | None = None) -> bool:
    """True when *stream* (stderr) is a terminal and progress is not turned off."""
    stream = stream if stream is not None else sys.stderr
    if os.environ.get("SAKIMORI_PROGRESS", "") == "0" or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def render(label: str, elapsed: float, tick: int, fraction: float | None,
           text: str) -> str:
    """One progress line (without the carriage return)."""
    if fraction is None:
        head = f"{label} {_SPIN[tick % len(_SPIN)]}"
    else:
        f = min(1.0, max(0.0, fraction))
        filled = int(f * WIDTH)
        head = f"{label} [{'#' * filled}{'.' * (WIDTH - filled)}] {f:4.0%}"
    tail = f" {text}" if text else ""
    return f"{head}{tail} {elapsed:.0f}s"


class _Line(threading.Thread):
    def __init__(self, label: str, stream: TextIO, fraction: Callable[[], float] | None,
                 text: Callable[[], str] | None) -> None:
        super().__init__(daemon=True, name=f"progress {label}")
        self.label, self.stream = label, stream
        self.fraction, self.text = fraction, text
        self.stop = threading.Event()
        self.t0 = time.monotonic()

    def draw(self, tick: int) -> None:
        try:
            fraction = self.fraction() if self.fraction is not None else None
            text = self.text() if self.text is not None else ""
        except Exception:  # a progress line must never break the work
            fraction, text = None, ""
        line = render(self.label, time.monotonic() - self.t0, tick, fraction, text)
        self.stream.write(f"\r{line}\x1b[K")
        self.stream.flush()

    def run(self) -> None:
        tick = 0
        while True:
            self.draw(tick)
            tick += 1
            if self.stop.wait(REDRAW_S):
                return

    def finish(self) -> None:
        self.stop.set()
        self.join()
        self.stream.write("\r\x1b[K")
        self.stream.flush()


@contextmanager
def phase(label: str, fraction: Callable[[], float] | None = None,
          text: Callable[[], str] | None = None,
          stream: TextIO | None = None) -> Iterator[None]:
    """Show *label* with a bar (*fraction*) or a spinner, and *text*, while the block runs."""
    out = stream if stream is not None else sys.stderr
    if not enabled(out):
        yield
        return
    line = _Line(label, out, fraction, text)
    line.start()
    try:
        yield
    finally:
        line.finish()


def file_fraction(position: Callable[[], int], size: int) -> Callable[[], float] | None:
    """A fraction callable from a byte position and the file size (None when size unknown)."""
    if size <= 0:
        return None
    return lambda: position() / size


def count(n: Callable[[], int], unit: str) -> Callable[[], str]:
    """A text callable: ``12,345 lines``."""
    return lambda: f"{n():,} {unit}"
