"""Read stored mail for learning: ``.eml`` files and directories, mbox files, Maildir.

What a path means:

- a **directory** is walked recursively in name order: a directory holding ``cur/`` or
  ``new/`` is a Maildir (its message files are read, dot-files skipped; Maildir++ sub-folders
  such as ``.Sent/`` are found by the walk), every other file ending ``.eml`` is one message
  and every file ending ``.mbox`` an mbox;
- a **file** starting with an mbox ``From `` line is an mbox (split by the stdlib
  :class:`mailbox.mbox`), any other file is one message.

Only the header section is parsed (``email`` with ``policy.default``, headers only): learning
needs nothing from bodies, so broken MIME cannot hurt it. The policy's header factory is
replaced by one that keeps the raw value: the features read raw values anyway (hostile
headers must never raise), and building the structured header objects took ~70 % of the
reading time. A message is *broken* — counted with
``file[:index]: reason`` and skipped, never fatal — when it cannot be read, has no header
section, has a header section over :data:`HEADER_LIMIT` bytes, or the parser raises.
"""

from __future__ import annotations

import logging
import mailbox
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from pathlib import Path

log = logging.getLogger(__name__)

HEADER_LIMIT = 256 * 1024  # bytes of header section; larger is "huge headers"
EXAMPLES_KEPT = 20
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_HEADER_LINE = re.compile(rb"[!-9;-~]+:")  # RFC 5322 field name then colon
_POLICY = policy.default.clone(header_factory=lambda name, value: value)
_PARSER = BytesHeaderParser(policy=_POLICY)


@dataclass
class ReadStats:
    """What one input yielded: messages read, broken ones (with the first reasons)."""

    messages: int = 0
    broken: int = 0
    examples: list[str] = field(default_factory=list)
    kinds: set[str] = field(default_factory=set)

    def bad(self, label: str, reason: str) -> None:
        self.broken += 1
        if len(self.examples) < EXAMPLES_KEPT:
            self.examples.append(f"{label}: {reason}")
        log.debug("%s: %s (skipped)", label, reason)


def header_bytes(data: bytes) -> tuple[bytes | None, str]:
    """The header section of one message, or (None, reason) when it is broken."""
    if data.startswith(b"From "):  # a stray mbox separator line
        data = data.split(b"\n", 1)[1] if b"\n" in data else b""
    match = _HEADER_END.search(data, 0, HEADER_LIMIT + 4)
    head = data[:match.start()] if match else data
    if len(head) > HEADER_LIMIT:
        return None, f"header section larger than {HEADER_LIMIT // 1024} KiB"
    if not head.strip():
        return None, "empty" if not data.strip() else "no headers"
    if not _HEADER_LINE.match(head.lstrip(b"\r\n")):
        return None, "no headers (first line is not a header field)"
    return head + b"\n\n", ""


def parse_headers(data: bytes) -> tuple[EmailMessage | None, str]:
    """Parse the header section of *data* (a whole message); (None, reason) when broken."""
    head, reason = header_bytes(data)
    if head is None:
        return None, reason
    try:
        msg = _PARSER.parsebytes(head)
    except Exception as exc:  # the parser must never stop learning
        return None, f"parser error: {type(exc).__name__}: {str(exc)[:120]}"
    if not msg.keys():
        return None, "no headers"
    return msg, ""


def _read_head(path: Path) -> bytes:
    """Enough of a file to hold its header section (plus one byte to detect huge ones)."""
    with path.open("rb") as fh:
        return fh.read(HEADER_LIMIT + 8)


def _counted(label: str, data: bytes, stats: ReadStats) -> EmailMessage | None:
    """Parse one message's headers and count it as read or broken."""
    msg, reason = parse_headers(data)
    if msg is None:
        stats.bad(label, reason)
        return None
    stats.messages += 1
    return msg


def _one_file(path: Path, stats: ReadStats) -> Iterator[tuple[str, EmailMessage]]:
    label = str(path)
    try:
        data = _read_head(path)
    except OSError as exc:
        stats.bad(label, f"cannot read: {exc.strerror or exc}")
        return
    msg = _counted(label, data, stats)
    if msg is not None:
        yield label, msg


def _mbox(path: Path, stats: ReadStats) -> Iterator[tuple[str, EmailMessage]]:
    stats.kinds.add("mbox")
    try:
        box = mailbox.mbox(str(path), factory=None, create=False)
        keys = list(box.iterkeys())
    except (OSError, mailbox.Error) as exc:
        stats.bad(str(path), f"cannot read mbox: {exc}")
        return
    try:
        for index, key in enumerate(keys, start=1):
            label = f"{path}:{index}"
            try:
                data = box.get_bytes(key)
            except (OSError, mailbox.Error, KeyError) as exc:
                stats.bad(label, f"cannot read: {exc}")
                continue
            msg = _counted(label, data, stats)
            if msg is not None:
                yield label, msg
    finally:
        box.close()


def is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() or (path / "new").is_dir()


def _maildir(path: Path, stats: ReadStats) -> Iterator[tuple[str, EmailMessage]]:
    stats.kinds.add("maildir")
    for sub in ("new", "cur"):
        folder = path / sub
        if not folder.is_dir():
            continue
        for name in sorted(os.listdir(folder)):
            item = folder / name
            if not name.startswith(".") and item.is_file():
                yield from _one_file(item, stats)


def _is_mbox_file(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(5) == b"From "
    except OSError:
        return False


def _walk(root: Path, stats: ReadStats) -> Iterator[tuple[str, EmailMessage]]:
    if is_maildir(root):
        yield from _maildir(root, stats)
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as exc:
        stats.bad(str(root), f"cannot list: {exc.strerror or exc}")
        return
    for entry in entries:
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            if entry.name in ("cur", "new", "tmp") and is_maildir(root):
                continue
            yield from _walk(path, stats)
        elif entry.name.endswith(".eml") and entry.is_file():
            stats.kinds.add("eml")
            yield from _one_file(path, stats)
        elif entry.name.endswith(".mbox") and entry.is_file():
            yield from _mbox(path, stats)


def read_mail(path: Path, stats: ReadStats) -> Iterator[tuple[str, EmailMessage]]:
    """Yield ``(label, headers)`` for every readable message under *path* (see module doc).

    The caller checks that *path* exists; everything below it that fails is counted.
    """
    path = Path(path)
    if path.is_dir():
        yield from _walk(path, stats)
    elif _is_mbox_file(path):
        yield from _mbox(path, stats)
    else:
        stats.kinds.add("eml")
        yield from _one_file(path, stats)
