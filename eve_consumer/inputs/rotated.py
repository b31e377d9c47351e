"""Recognising a followed file by its content, and finding its rotated copy.

A checkpoint's inode and size cannot tell a file that was truncated and written again past
the old offset (``copytruncate`` while the consumer was stopped) from the same file grown.
The content can: :func:`fingerprint` hashes the file's first bytes and the bytes just before
the offset; :func:`matches` checks a file (plain or gzip) against it. :func:`find_copy` looks
next to the followed path (``consumer.rotated_pattern``, e.g. ``eve.json.1``,
``eve.json.1.gz``, ``eve.json-20261207``) for the copy that still holds the unread tail.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path
from typing import BinaryIO

from sakimori.config_keys import default

FP_BYTES = 4096  # bytes hashed at the head and before the offset
DEFAULT_PATTERN: str = default("consumer.rotated_pattern")
_GZIP_MAGIC = b"\x1f\x8b"


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def fingerprint(head: bytes, tail: bytes) -> str:
    """``"<head length>:<hash>:<tail length>:<hash>"`` of the first bytes of a file and of
    the bytes just before the checkpoint offset."""
    return f"{len(head)}:{_digest(head)}:{len(tail)}:{_digest(tail)}"


def _parse(fp: str) -> tuple[int, str, int, str] | None:
    parts = fp.split(":")
    if len(parts) != 4 or not parts[0].isdigit() or not parts[2].isdigit():
        return None
    return int(parts[0]), parts[1], int(parts[2]), parts[3]


def open_any(path: Path) -> BinaryIO:
    """*path* opened for reading; a gzip file (by its magic) is decompressed on the fly."""
    fh = open(path, "rb")  # noqa: SIM115 - the caller closes it
    if fh.read(2) == _GZIP_MAGIC:
        fh.seek(0)
        return gzip.GzipFile(fileobj=fh, mode="rb")  # type: ignore[return-value]
    fh.seek(0)
    return fh


def read_at(fh: BinaryIO, offset: int, n: int) -> bytes:
    """Up to *n* bytes of *fh* at *offset* (moves the position)."""
    fh.seek(offset)
    return fh.read(n)


def matches(path: Path, offset: int, fp: str) -> bool:
    """Does *path* hold, at its head and just before *offset*, what *fp* says was read?"""
    want = _parse(fp)
    if want is None:
        return False
    head_len, head, tail_len, tail = want
    try:
        with open_any(path) as fh:
            if _digest(read_at(fh, 0, head_len)) != head:
                return False
            return _digest(read_at(fh, max(0, offset - tail_len), tail_len)) == tail
    except (OSError, EOFError, gzip.BadGzipFile):
        return False


def read_past(path: Path, offset: int, fp: str) -> bool:
    """Is *path* a copy of the same file (same head) that ends at or before *offset* — one
    whose every byte was already read (logrotate copied it before lines we read since)?"""
    want = _parse(fp)
    if want is None or not want[0]:
        return False
    head_len, head = want[0], want[1]
    try:
        with open_any(path) as fh:
            if _digest(read_at(fh, 0, head_len)) != head:
                return False
            fh.seek(0)
            size = 0
            while chunk := fh.read(1 << 20):
                size += len(chunk)
                if size > offset:
                    return False
            return True
    except (OSError, EOFError, gzip.BadGzipFile):
        return False


def candidates(path: Path, pattern: str) -> list[Path]:
    """Files next to *path* named by *pattern* (``{name}`` = the file name), newest first."""
    try:
        found = [p for p in path.parent.glob(pattern.format(name=path.name)) if p != path]
    except (OSError, ValueError, KeyError, IndexError):
        return []
    found.sort(key=_mtime, reverse=True)
    return found


def _mtime(path: Path) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def find_copy(path: Path, pattern: str, offset: int, fp: str) -> Path | None:
    """The rotated copy of *path* whose content matches the checkpoint (*offset*, *fp*)."""
    if not fp:
        return None
    for cand in candidates(path, pattern):
        if matches(cand, offset, fp):
            return cand
    return None
