"""bench/mail.py's everyday-mail workload: the learned past mail as the gateway saw it.

Its figure is only honest if the mails are scanned with the envelope the gateway had: the
mailbox's own trace headers gone, the connecting IP, HELO, verified name and (for submission
over ESMTPSA) the user taken from our MX's ``Received``. Checked here with the Python checks
against the baselines learned from the same mail: nothing may be flagged, as the real Rspamd
run of the benchmark also finds; a wrong envelope (no user for roaming staff, the store's hop
left in, the wrong hop's address) flags internal mail as spoofed.
"""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

import pytest

from generator.mail.learn import MailLearner
from sakimori.mail.checks import run_checks
from sakimori.mail.facts import facts_from_message
from sakimori_demo.mailsim import generate_corpus
from sakimori_demo.mailsim.testset import config_for_testset

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from mail import _everyday_batch  # noqa: E402  (bench/mail.py)


@pytest.fixture(scope="module")
def past(tmp_path_factory: pytest.TempPathFactory) -> Path:
    truth = generate_corpus(tmp_path_factory.mktemp("mailsim"), seed=2026)
    return Path(truth["past"]["maildir"])


def test_everyday_mail_is_scanned_as_the_gateway_saw_it(past: Path) -> None:
    batch = _everyday_batch(past, 1600)
    distinct = {m for m, _ in batch}
    assert len(distinct) >= 1500  # every well-formed past mail, cycled to the length asked
    for message, env in batch[:len(distinct)]:
        head = message.partition(b"\r\n\r\n")[0]
        assert head.startswith(b"Received: from ")  # our MX's hop is the newest
        assert b"Return-Path:" not in head and b"Delivered-To:" not in head
        assert b"with LMTP" not in head
        assert ipaddress.ip_address(env["ip"])  # an address Rspamd parses (no "IPv6:")
        assert env["mail_from"] and env["rcpt"]
    submitted = [env for _, env in batch if env["user"]]
    assert submitted and all(env["mail_from"].startswith(env["user"] + "@")
                             for env in submitted)


def test_nothing_in_everyday_mail_is_flagged(past: Path) -> None:
    cfg = config_for_testset(REPO / "examples" / "sakimori.yaml")
    learner = MailLearner(cfg)
    learner.add_path(past)
    mail = learner.document_section()
    flagged = []
    for message, env in _everyday_batch(past, 1521):
        facts = facts_from_message(message, ip=env["ip"], helo=env["helo"],
                                   hostname=env["hostname"], user=env["user"],
                                   envelope_from=env["mail_from"], rcpt=env["rcpt"])
        hits = sorted(h.symbol for h in run_checks(facts, cfg, mail))
        if hits:
            flagged.append((env["mail_from"], hits))
    assert flagged == []
