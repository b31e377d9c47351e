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
  the rotated file is looked for next to it (``eve.json.1``, ``eve.json-2026…``) by inode and
  finished from the checkpoint offset first. If it is gone, that is counted
  (``rotated_unread``) and reading starts at the new file's beginning.
- **Truncation** (same inode, size below our offset, e.g. ``copytruncate``): restart at 0,
  counted (``truncations``).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path
from typing import BinaryIO

from eve_consumer.inputs import DEFAULT_MAX_BYTES, DEFAULT_MAX_LINES, Batch
from eve_consumer.store import Checkpoint


class FollowInput:
    """Tail *path*; ``read_batch()`` never returns None (an empty batch means "nothing new")."""

    name = "follow"

    def __init__(self, path: str | Path, checkpoint: Checkpoint | None = None,
                 max_bytes: int = DEFAULT_MAX_BYTES, rotate_grace: float = 1.0,
                 max_lines: int = DEFAULT_MAX_LINES) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.max_lines = max_lines
        self.rotate_grace = rotate_grace
        self.stats: Counter[str] = Counter()
        self._fh: BinaryIO | None = None
        self._name = str(self.path)  # the file currently read (the old one while draining)
        self._inode = 0
        self._offset = 0  # byte offset of the next line not yet handed out
        self._lineno = 0
        self._buf = b""
        self._rotated_since: float | None = None
        self._resume(checkpoint)

    # --- opening ------------------------------------------------------------------------------
    def _resume(self, cp: Checkpoint | None) -> None:
        if cp is None or cp.path != str(self.path):
            self._open(self.path, 0, 0)
            return
        st = _stat(self.path)
        if st is not None and st.st_ino == cp.inode:
            if st.st_size >= cp.offset:
                self._open(self.path, cp.offset, cp.lineno)
            else:
                self.stats["truncations"] += 1
                self._open(self.path, 0, 0)
            return
        old = self._find_inode(cp.inode)
        if old is not None:
            self.stats["resumed_rotated"] += 1
            self._open(old, cp.offset, cp.lineno)
        else:
            self.stats["rotated_unread"] += 1
            self._open(self.path, 0, 0)

    def _find_inode(self, inode: int) -> Path | None:
        try:
            candidates = sorted(self.path.parent.glob(self.path.name + "*"))
        except OSError:
            return None
        for cand in candidates:
            st = _stat(cand)
            if st is not None and st.st_ino == inode and cand != self.path:
                return cand
        return None

    def _open(self, path: Path, offset: int, lineno: int) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        self._buf, self._offset, self._lineno = b"", offset, lineno
        self._name, self._rotated_since = str(path), None
        try:
            fh = open(path, "rb")  # noqa: SIM115 - kept open across calls, closed in close()
        except OSError:
            self._inode = 0
            return  # not there yet: retried on the next read
        self._fh = fh
        self._inode = os.fstat(fh.fileno()).st_ino
        fh.seek(offset)

    # --- reading ------------------------------------------------------------------------------
    def read_batch(self) -> Batch:
        """Complete lines appended since the last call (at most ~max_bytes)."""
        if self._fh is None:
            self._open(self.path, 0, 0)
            if self._fh is None:
                return Batch(str(self.path))
        data = self._fh.read(self.max_bytes)
        if data:
            self._rotated_since = None
            return self._split(data)
        return self._at_end()

    def _split(self, data: bytes) -> Batch:
        parts = (self._buf + data).split(b"\n")
        self._buf = parts.pop()
        if len(parts) > self.max_lines:  # bounded batch: re-read the rest next time
            assert self._fh is not None
            parts = parts[:self.max_lines]
            self._buf = b""
            self._fh.seek(self._offset + sum(map(len, parts)) + len(parts))
        start = self._lineno + 1
        self._lineno += len(parts)
        self._offset += sum(len(p) for p in parts) + len(parts)
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
            if self._buf:  # an unfinished last line of the old file: let the decoder judge it
                self._lineno += 1
                tail = Batch(self._name, [self._buf], self._lineno)
            self.stats["rotations"] += 1
            self._open(self.path, 0, 0)
            return tail
        if st.st_size < self._offset + len(self._buf):
            self.stats["truncations"] += 1
            self._open(self.path, 0, 0)
        return Batch(self._name)

    def checkpoint(self) -> Checkpoint | None:
        """Where the next unread line starts; None before the file first appeared."""
        if not self._inode:
            return None
        return Checkpoint(str(self.path), self._inode, self._offset, self._lineno)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def _stat(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None
