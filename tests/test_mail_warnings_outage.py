"""Warnings across an SMTP outage (issue 11, item 11) and the rate limit, with a real SMTP
server on loopback (aiosmtpd) that is stopped and restarted, and a clock the test moves.

The clock is ``time.time`` monkeypatched to a value the test advances, so a 15- or
25-minute outage plays in a second. Every flagged mail arriving during the outage wakes the
sender (``drain()``, what the service's worker does on each submit): before the fix each
wake-up spent one of 20 attempts of the oldest warning and 8–13 of 200–300 warnings were
given up within a minute.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from mailsink import Sink
from mailwarnfixtures import flagged, make_cfg

from eve_consumer.mailwarn import MailWarnings

LOOSE = "  max_per_minute: 100000\n  max_per_recipient_per_minute: 100000\n"


class Clock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(time, "time", fake)
    return fake


def _outage(warnings: MailWarnings, clock: Clock, mails: int, seconds: float,
            offset: int = 0) -> None:
    """*mails* flagged mails spread over the first minute, each waking the sender, then the
    worker's periodic wake-ups every 5 s until *seconds* have passed."""
    end = clock.t + seconds
    for i in range(mails):
        warnings.submit(flagged(message_id=f"outage-{offset + i}@evil.example"))
        warnings.drain()
        clock.t += 60.0 / mails
    while clock.t < end:
        warnings.drain()
        clock.t += 5.0


def _deliver_all(warnings: MailWarnings, clock: Clock, sink: Sink, n: int) -> None:
    for _ in range(400):  # the relay is back: at most the longest back-off (5 min) to wait
        warnings.drain()
        if warnings.outbox.counts()["by_state"].get("sent", 0) >= n:
            break
        clock.t += 5.0
    sink.wait(n, timeout=30)


def test_short_smtp_outage_loses_no_warning(tmp_path: Path, free_port: int, clock) -> None:
    """250 warnings during a 60 s outage that lasts 15 minutes in all: none is given up,
    and all 250 are delivered once the relay is back."""
    cfg = make_cfg(tmp_path, free_port, extra=LOOSE)  # nothing listens on the relay port
    warnings = MailWarnings(cfg, tmp_path / "state.sqlite", tmp_path / "out")
    _outage(warnings, clock, 250, 15 * 60)
    assert warnings.outbox.counts()["by_state"] == {"pending": 250}
    tried = warnings.sender.stats["failed"]
    assert tried < 40, tried  # the relay was not hammered by 250 wake-ups
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port)
    controller.start()
    try:
        _deliver_all(warnings, clock, sink, 250)
    finally:
        controller.stop()
    warnings.close()
    assert len(sink.messages) == 250
    assert warnings.stats()["outbox"]["by_state"] == {"sent": 250}
    records = [json.loads(x) for x in (tmp_path / "out" / "mail_warnings.jsonl")
               .read_text().splitlines()]
    assert len(records) == 250 and all(r["mailed"] for r in records)


def test_long_outage_gives_up_visibly_and_resend_delivers(tmp_path: Path, free_port: int,
                                                          clock) -> None:
    """After 20 minutes of failures a warning is given up — recorded with the reason, still
    in the outbox as ``failed`` — and ``resend_failed`` delivers it once the relay is back."""
    cfg = make_cfg(tmp_path, free_port, extra=LOOSE)
    warnings = MailWarnings(cfg, tmp_path / "state.sqlite", tmp_path / "out")
    _outage(warnings, clock, 5, 19 * 60)
    assert warnings.outbox.counts()["by_state"] == {"pending": 5}  # not yet: < 20 minutes
    _outage(warnings, clock, 0, 10 * 60)
    assert warnings.outbox.counts()["by_state"] == {"failed": 5}
    records = [json.loads(x) for x in (tmp_path / "out" / "mail_warnings.jsonl")
               .read_text().splitlines()]
    assert len(records) == 5 and not any(r["mailed"] for r in records)
    assert all(r["reason"].startswith("given up after ") and "Connection refused" in
               r["reason"] for r in records)
    assert "5 given up (re-send: consume --resend-failed)" in warnings.summary()
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port)
    controller.start()
    try:
        warnings.drain()
        assert sink.messages == []  # given up stays given up until re-sent
        assert warnings.resend_failed() == 5
        _deliver_all(warnings, clock, sink, 5)
    finally:
        controller.stop()
    warnings.close()
    assert len(sink.messages) == 5


def test_flood_is_rate_limited_not_dropped(tmp_path: Path, smtp, clock) -> None:
    """300 flagged mails at once: 10 warnings a minute to the admin (the per-recipient limit,
    default), the rest wait in the outbox and leave minute by minute — none is dropped."""
    cfg = make_cfg(tmp_path, smtp.port)
    warnings = MailWarnings(cfg, tmp_path / "state.sqlite", tmp_path / "out")
    for i in range(300):
        warnings.submit(flagged(message_id=f"flood-{i}@evil.example"))
        warnings.drain()
    smtp.wait(10)
    time.sleep(0.3)
    assert len(smtp.messages) == 10
    assert warnings.outbox.counts()["by_state"] == {"sent": 10, "pending": 290}
    assert "delayed by the rate limit; 290 waiting in the outbox" in warnings.summary()
    hint = warnings.sender.wait_hint()
    assert hint is not None and 0 < hint <= 60
    clock.t += 61
    warnings.drain()
    smtp.wait(20)
    assert len(smtp.messages) == 20
    for _ in range(30):
        clock.t += 61
        warnings.drain()
    smtp.wait(300, timeout=30)
    warnings.close()
    assert len(smtp.messages) == 300
    assert warnings.sender.stats["rate_limited"] == 290  # each counted once, none dropped


def test_rate_limiter_overall_and_per_recipient_windows() -> None:
    """Both limits, sliding one-minute windows, and the wait until a slot frees."""
    from eve_consumer.mailwarn.ratelimit import RateLimiter

    limiter = RateLimiter(per_minute=3, per_recipient=2)
    t = 1000.0
    for rcpts in (["a@x", "soc@x"], ["b@x"], ["a@x"]):
        assert limiter.allow(rcpts, t)
        limiter.record(rcpts, t)
        t += 1
    assert not limiter.allow(["c@x"], t)  # 3 a minute in all
    assert limiter.next_free(t) == pytest.approx(57.0)
    t = 1060.5  # the first send left the window; a@x still has one send in it
    assert limiter.allow(["c@x"], t) and limiter.allow(["a@x"], t)
    limiter.record(["a@x"], t)
    assert not limiter.allow(["a@x"], t)  # 2 a minute to a@x (and 3 in all again)
    assert not limiter.allow(["soc@x"], t)
    assert limiter.allow(["soc@x"], 1061.5)  # b@x's send at 1001 left the window
