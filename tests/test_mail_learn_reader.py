"""generator.mail.reader: .eml files and directories, mbox, Maildir; broken mail is counted and
skipped, never fatal.

Real-world hostile input: Rspamd's own functional-test messages (rspamd/rspamd,
test/functional/messages/, Apache-2.0), bundled in /work/shared/data/mail (see its README).
"""

from __future__ import annotations

import mailbox
from pathlib import Path

import pytest
from engines import require_path
from realdata import shared_data_dir

from generator.mail import reader
from generator.mail.reader import HEADER_LIMIT, ReadStats, parse_headers, read_mail

SHARED_MAIL = shared_data_dir() / "mail"

GOOD = (b"Received: from a.example.jp (a.example.jp [133.0.0.1]) by mx; "
        b"Mon, 6 Jul 2015 09:01:20 +0900\r\nFrom: A <a@example.jp>\r\nSubject: x\r\n\r\nbody\r\n")


def _read(path: Path) -> tuple[list[str], ReadStats]:
    stats = ReadStats()
    labels = [label for label, _ in read_mail(path, stats)]
    return labels, stats


@pytest.fixture
def rspamd_messages() -> Path:
    require_path(SHARED_MAIL, "shared sample mail")
    return SHARED_MAIL


def test_rspamd_sample_messages_never_fatal(rspamd_messages: Path) -> None:
    labels, stats = _read(rspamd_messages)
    files = sorted(rspamd_messages.glob("*.eml"))
    assert stats.messages + stats.broken == len(files) and stats.messages >= 35
    assert labels == sorted(labels) and stats.kinds == {"eml"}


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "empty"),
    (b"\r\n\r\nonly a body\r\n", "no headers"),
    (b"this is not a header line\nnor this\n\nbody", "first line is not a header"),
    (b"\x00\xff\xfe garbage \x80\x81", "first line is not a header"),
    (b"X-Big: " + b"a" * (HEADER_LIMIT + 10) + b"\r\n\r\nbody", "larger than 256 KiB"),
])
def test_broken_messages_are_reasons(data: bytes, reason: str) -> None:
    msg, why = parse_headers(data)
    assert msg is None and reason in why


def test_hostile_but_readable_headers() -> None:
    data = (b"From: \xe5\xb1\xb1\xe7\x94\xb0 <x@example.jp>\r\nSubject: \xff\xfe\r\n"
            b"To: =?bogus?Q?x?= <y@example.jp>\r\nContent-Type: multipart/mixed\r\n\r\n--")
    msg, why = parse_headers(data)
    assert msg is not None and not why and len(msg.keys()) == 4


def test_eml_directory_recursive_with_broken_ones(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "1.eml").write_bytes(GOOD)
    (tmp_path / "a" / "b" / "2.eml").write_bytes(GOOD)
    (tmp_path / "a" / "b" / "3.eml").write_bytes(b"garbage\n")
    (tmp_path / "a" / "notes.txt").write_bytes(GOOD)  # not .eml: not read
    (tmp_path / "0.eml").mkdir()  # a directory named .eml is walked, not read
    labels, stats = _read(tmp_path)
    assert labels == [str(tmp_path / "a" / "1.eml"), str(tmp_path / "a" / "b" / "2.eml")]
    assert stats.broken == 1 and stats.examples[0].startswith(str(tmp_path / "a/b/3.eml"))


def test_single_eml_file_and_unreadable_file(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    one = tmp_path / "one.eml"
    one.write_bytes(GOOD)
    assert _read(one)[0] == [str(one)]

    def refuse(path: Path) -> bytes:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(reader, "_read_head", refuse)  # root could read a chmod-0 file
    labels, stats = _read(one)
    assert labels == [] and stats.examples == [f"{one}: cannot read: Permission denied"]


def test_mbox_labels_and_broken_member(tmp_path: Path) -> None:
    path = tmp_path / "box"
    box = mailbox.mbox(str(path))
    box.add(GOOD)
    box.add(b"not a header at all\n\nbody\n")
    box.add(GOOD.replace(b"Subject: x", b"Subject: y"))
    box.close()
    labels, stats = _read(path)
    assert labels == [f"{path}:1", f"{path}:3"]
    assert stats.broken == 1 and stats.examples[0].startswith(f"{path}:2: no headers")
    assert stats.kinds == {"mbox"}


def test_maildir_new_and_cur_and_subfolders(tmp_path: Path) -> None:
    md = mailbox.Maildir(str(tmp_path / "Maildir"))
    md.add(GOOD)
    sent = md.add_folder("Sent")
    sent.add(GOOD)
    msg = mailbox.MaildirMessage(GOOD)
    msg.set_subdir("cur")
    md.add(msg)
    (tmp_path / "Maildir" / "new" / "broken").write_bytes(b"")
    labels, stats = _read(tmp_path / "Maildir")
    assert stats.messages == 3 and stats.broken == 1 and stats.kinds == {"maildir"}
    assert sum("/.Sent/" in label for label in labels) == 1


def test_mbox_inside_directory(tmp_path: Path) -> None:
    box = mailbox.mbox(str(tmp_path / "archive.mbox"))
    box.add(GOOD)
    box.close()
    (tmp_path / "x.eml").write_bytes(GOOD)
    labels, stats = _read(tmp_path)
    assert labels == [f"{tmp_path / 'archive.mbox'}:1", str(tmp_path / "x.eml")]
    assert stats.messages == 2 and stats.kinds == {"eml", "mbox"}
