"""The receiver's intake: Rspamd's post is answered after a durable journal append, before the
outbox's transactions; an accepted mail is never lost (crash, full outbox, store trouble)."""

from __future__ import annotations

import json
import sys
import threading
import time

import requests
from mailwarnfixtures import RSPAMD_EVENT, auth, flagged, make_cfg

from eve_consumer.mailwarn import MailWarnings
from eve_consumer.mailwarn.intake import Intake, IntakeFull, journal_path, recover
from eve_consumer.mailwarn.outbox import Outbox
from sakimori_demo.smtpsink import free_port


def test_answer_does_not_wait_for_the_store(tmp_path) -> None:
    """A store that takes 0.6 s per mail: the post is answered at once ("accepted"), the mail
    reaches the outbox afterwards."""
    cfg = make_cfg(tmp_path, listen=free_port())
    warnings = MailWarnings(cfg, tmp_path / "state.sqlite", tmp_path / "out", mail=False)
    slow_submit = warnings.submit

    def slow(mail):
        time.sleep(0.6)
        return slow_submit(mail)

    warnings.submit = slow  # type: ignore[method-assign]
    before = sys.getswitchinterval()
    receiver = warnings.listen()
    assert sys.getswitchinterval() <= 0.0005  # a ready handler does not wait 5 ms for the GIL
    try:
        reply = requests.post(receiver.url, data=json.dumps(RSPAMD_EVENT), timeout=5,
                              headers=auth(cfg))
        assert reply.status_code == 200 and reply.text.strip() == "accepted"
        # answered before the (0.6 s slow) store ran: the outbox is still empty
        assert warnings.outbox.counts()["by_state"] == {}
        assert warnings.intake is not None and warnings.intake.flush(5)
        # read once: the drain may move the row from pending to skipped between two reads
        stored = warnings.outbox.counts()["by_state"]
        assert stored in ({"skipped": 1}, {"pending": 1}), stored
    finally:
        warnings.close()
    assert warnings.counts["new"] == 1
    assert not journal_path(tmp_path / "state.sqlite").exists()  # emptied and removed
    assert sys.getswitchinterval() == before  # the process' own setting is back


def test_accepted_mail_survives_a_crash(tmp_path) -> None:
    """The journal holds the mail when accept() returns; a consumer that died before storing
    it (here: a store that never returns) gets it back at the next start."""
    cfg = make_cfg(tmp_path)
    db = tmp_path / "state.sqlite"
    stuck = threading.Event()
    intake = Intake(journal_path(db), lambda m: stuck.wait())
    intake.accept(flagged())
    lines = journal_path(db).read_bytes().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["message_id"] == flagged().message_id
    # the crash: nothing else runs; the next consumer on the same state directory
    warnings = MailWarnings(cfg, db, tmp_path / "out", mail=False)
    try:
        assert warnings.recovered == 1
        assert warnings.outbox.counts()["by_state"] == {"pending": 1}
        assert not journal_path(db).exists()
    finally:
        warnings.close()
        stuck.set()


def test_torn_journal_line_is_counted_not_fatal(tmp_path) -> None:
    path = tmp_path / "state.mail-intake.jsonl"
    good = json.dumps(flagged().as_dict())
    path.write_text(good + "\n" + good[: len(good) // 2], encoding="utf-8")  # crash mid-write
    got = []
    assert recover(path, got.append) == (1, 1)
    assert len(got) == 1 and not path.exists()
    assert recover(path, got.append) == (0, 0)  # nothing left


def test_full_outbox_refuses_new_posts_and_keeps_the_accepted(tmp_path) -> None:
    """The outbox refuses mail: the accepted one stays in the journal and is retried; new posts
    get 503 until the outbox takes it; nothing accepted is dropped."""
    cfg = make_cfg(tmp_path, listen=free_port())
    warnings = MailWarnings(cfg, tmp_path / "state.sqlite", tmp_path / "out", mail=False)
    warnings.outbox.max_pending = 0
    receiver = warnings.listen()
    post = lambda event: requests.post(receiver.url, data=json.dumps(event),  # noqa: E731
                                       timeout=5, headers=auth(cfg))
    try:
        assert post(RSPAMD_EVENT).text.strip() == "accepted"
        deadline = time.monotonic() + 5
        while warnings.intake is not None and not warnings.intake._refusing:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        other = dict(RSPAMD_EVENT, message_id="<other@evil.example>")
        assert post(other).status_code == 503
        assert journal_path(tmp_path / "state.sqlite").read_bytes().count(b"\n") == 1
        warnings.outbox.max_pending = 10  # the relay took mail again
        assert warnings.intake is not None and warnings.intake.flush(5)
        assert post(other).text.strip() == "accepted"
    finally:
        warnings.close()
    assert warnings.counts["new"] == 2
    assert Outbox(tmp_path / "state.sqlite").counts()["by_state"] == {"skipped": 2}


def test_intake_bound(tmp_path) -> None:
    stuck = threading.Event()
    intake = Intake(tmp_path / "j.jsonl", lambda m: stuck.wait(), max_queued=2)
    try:
        intake.accept(flagged())
        intake.accept(flagged())
        try:
            intake.accept(flagged())
        except IntakeFull:
            pass
        else:
            raise AssertionError("a third mail was accepted over the bound")
    finally:
        stuck.set()
        intake.close(timeout=5)
    assert not (tmp_path / "j.jsonl").exists()
