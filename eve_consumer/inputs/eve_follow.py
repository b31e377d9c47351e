"""Follow an EVE file like ``tail -F``, resumable from a checkpoint (the ``follow`` input).

Guarantees (tested with a real file appended to and rotated by the test):

- **Complete lines only.** A last line without its ``\\n`` is held back (not counted in the
  checkpoint) until the writer finishes it.
- **Resume exactly.** The checkpoint is (path, inode, byte offset of the next unread line,
  line number). The caller stores it together with the handler state after each processed
  batch, so a restart neither re-reads nor loses a line.
- **Rotation** (the path now names another inode): the old file is kept open and read to its
  end; once it has stayed at its end for ``rotate_grace`` seconds (a writer may still flush a
  last event before reopening), the new file is read from offset 0. A half-written last line of
  the old file is handed out as a line of its own (the decoder counts it as bad).
- **Rotation while stopped**: on start, if the checkpoint's inode is no longer at the path,
  the rotated file is looked for next to it (``consumer.rotated_pattern``: ``eve.json.1``,
  ``eve.json-2026…``) by inode — or, once compressed (``eve.json.1.gz``), by content — and
  finished from the checkpoint offset first (``resumed_rotated``). If it is gone, that is
  counted (``rotated_unread``) and reading starts at the new file's beginning.
- **Truncation** (``copytruncate``), told by content, not size: the checkpoint carries a
  fingerprint of the file's first bytes and of the bytes before the offset
  (:mod:`~eve_consumer.inputs.rotated`), so a file truncated and written again past the old
  offset while the consumer was stopped is recognised too. The unread tail is then read from
  the rotated copy next to the file whose content matches (plain or gzip,
  ``truncations_recovered``), and the file from 0 after it. A copy with the same head that
  ends before the offset held nothing unread (``truncations_nothing_unread``). Otherwise the
  loss is counted (``truncated_unread``) and reading restarts at 0. Every truncation is
  counted (``truncations``).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from gzip import GzipFile
from pathlib import Path
from typing import BinaryIO

from eve_consumer.inputs.rotated import (
    DEFAULT_PATTERN,
    FP_BYTES,
    candidates,
    find_copy,
    fingerprint,
    matches,
    open_any,
    read_at,
    read_past,
)
from eve_consumer.store import Checkpoint
from sakimori.eve.lines import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_LINE_BYTES,
    DEFAULT_MAX_LINES,
    Batch,
    LineBuffer,
    Lines,
)


class FollowInput:
    """Tail *path*; ``read_batch()`` never returns None (an empty batch means "nothing new")."""

    name = "follow"

    def __init__(self, path: str | Path, checkpoint: Checkpoint | None = None,
                 max_bytes: int = DEFAULT_MAX_BYTES, rotate_grace: float = 1.0,
                 max_lines: int = DEFAULT_MAX_LINES,
                 max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                 rotated_pattern: str = DEFAULT_PATTERN) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.max_lines = max_lines
        self.max_line_bytes = max_line_bytes
        self.rotate_grace = rotate_grace
        self.pattern = rotated_pattern
        self.stats: Counter[str] = Counter()
        self._fh: BinaryIO | None = None
        self._name = str(self.path)  # the file currently read (the old one while draining)
        self._inode = 0
        self._offset = 0  # byte offset of the next line not yet handed out
        self._lineno = 0
        self._lines = LineBuffer(max_lines, max_line_bytes)
        self._head = b""  # the first FP_BYTES of the file (fewer while it is shorter)
        self._tail = b""  # the last FP_BYTES handed out, up to _offset
        self._copy = False  # reading a rotated copy found by content (then the path from 0)
        self._rotated_since: float | None = None
        self._resume(checkpoint)

    # --- opening ------------------------------------------------------------------------------
    def _resume(self, cp: Checkpoint | None) -> None:
        if cp is None or cp.path != str(self.path):
            self._open(self.path, 0, 0)
            return
        st = _stat(self.path)
        if st is not None and st.st_ino == cp.inode:
            same = st.st_size >= cp.offset and (
                not cp.fingerprint or matches(self.path, cp.offset, cp.fingerprint))
            if same:
                self._open(self.path, cp.offset, cp.lineno)
            else:  # truncated while stopped (perhaps written again past our offset)
                self._truncated(cp.offset, cp.lineno, cp.fingerprint)
            return
        old = self._find_inode(cp.inode)
        if old is None and cp.fingerprint:  # compressed since: find it by content
            old = find_copy(self.path, self.pattern, cp.offset, cp.fingerprint)
        if old is not None:
            self.stats["resumed_rotated"] += 1
            self._open(old, cp.offset, cp.lineno)
        else:
            self.stats["rotated_unread"] += 1
            self._open(self.path, 0, 0)

    def _truncated(self, offset: int, lineno: int, fp: str) -> None:
        """The followed file was truncated: finish its rotated copy if one matches."""
        self.stats["truncations"] += 1
        copy = find_copy(self.path, self.pattern, offset, fp)
        if copy is None:
            done = any(read_past(c, offset, fp) for c in candidates(self.path, self.pattern))
            self.stats["truncations_nothing_unread" if done else "truncated_unread"] += 1
            self._open(self.path, 0, 0)
            return
        self.stats["truncations_recovered"] += 1
        self._open(copy, offset, lineno)
        self._copy = True

    def _find_inode(self, inode: int) -> Path | None:
        for cand in candidates(self.path, self.pattern):
            st = _stat(cand)
            if st is not None and st.st_ino == inode:
                return cand
        return None

    def _open(self, path: Path, offset: int, lineno: int) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        self._lines = LineBuffer(self.max_lines, self.max_line_bytes)
        self._offset, self._lineno = offset, lineno
        self._name, self._rotated_since, self._copy = str(path), None, False
        try:
            fh = open_any(path)
        except OSError:
            self._inode = 0
            return  # not there yet: retried on the next read
        self._fh = fh
        self._inode = os.fstat(fh.fileno()).st_ino
        self._head = read_at(fh, 0, FP_BYTES)
        self._tail = read_at(fh, max(0, offset - FP_BYTES), min(offset, FP_BYTES))
        fh.seek(offset)

    # --- reading ------------------------------------------------------------------------------
    def read_batch(self) -> Batch:
        """Complete lines appended since the last call (at most ~max_bytes)."""
        if self._fh is None:
            self._open(self.path, 0, 0)
            if self._fh is None:
                return Batch(str(self.path))
        if not self._same_head():  # truncated and written again since the last read
            self._truncated(self._offset, self._lineno, self._fingerprint())
            if self._fh is None:
                return Batch(str(self.path))
        data = self._fh.read(self.max_bytes)
        if data:
            self._rotated_since = None
            return self._split(data)
        return self._at_end()

    def _split(self, data: bytes) -> Batch:
        assert self._fh is not None
        have = len(self._head)
        if have < FP_BYTES:  # a young file: its head grows
            pos = self._offset + self._lines.pending  # where *data* starts in the file
            if pos <= have < pos + len(data):
                self._head = (self._head + data[have - pos:])[:FP_BYTES]
        parts, nbytes, cut = self._lines.split(data)
        if cut:  # bounded batch: re-read the rest next time
            self._fh.seek(self._offset + nbytes)
        if parts:
            self._tail = _tail_of(self._tail, parts)
        start = self._lineno + 1
        self._lineno += len(parts)
        self._offset += nbytes
        return Batch(self._name, parts, start)

    def _at_end(self) -> Batch:
        """Nothing new in the open file: check for rotation or truncation."""
        st = _stat(self.path)
        assert self._fh is not None
        if st is None:
            return Batch(self._name)  # path gone (rotation in progress): keep the old file
        if st.st_ino != self._inode:
            now = time.monotonic()
            if self._rotated_since is None:
                self._rotated_since = now
            if now - self._rotated_since < self.rotate_grace:
                return Batch(self._name)
            tail = Batch(self._name)
            rest, _ = self._lines.take_rest()
            if rest:  # an unfinished last line of the old file: let the decoder judge it
                self._lineno += 1
                tail = Batch(self._name, [rest], self._lineno)
            self.stats["copies_finished" if self._copy else "rotations"] += 1
            self._open(self.path, 0, 0)
            return tail
        if st.st_size < self._offset + self._lines.pending:
            self._truncated(self._offset, self._lineno, self._fingerprint())
        return Batch(self._name)

    def _same_head(self) -> bool:
        """The first bytes of the followed file are still those read (one pread per batch;
        rotated files and copies are not rewritten, a gzip copy cannot be pread)."""
        fh = self._fh
        n = min(len(self._head), self._offset)
        if not n or fh is None or self._name != str(self.path) or isinstance(fh, GzipFile):
            return True
        try:
            return os.pread(fh.fileno(), n, 0) == self._head[:n]
        except OSError:
            return True

    def _fingerprint(self) -> str:
        return fingerprint(self._head[:min(len(self._head), self._offset)], self._tail)

    def checkpoint(self) -> Checkpoint | None:
        """Where the next unread line starts; None before the file first appeared."""
        if not self._inode:
            return None
        return Checkpoint(str(self.path), self._inode, self._offset, self._lineno,
                          self._fingerprint())

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def _tail_of(tail: bytes, parts: Lines) -> bytes:
    """The last FP_BYTES of *tail* followed by the lines *parts* (each with its newline):
    read from the chunk (:meth:`Lines.tail`), the lines are not made for it."""
    end = parts.tail(FP_BYTES)
    return end if len(end) >= FP_BYTES else (tail + end)[-FP_BYTES:]


def _stat(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None
