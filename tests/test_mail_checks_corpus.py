"""The Python checks against the example corpus (sakimori_demo.mailsim): learn the past mail with
the real learner (generator.mail.learn), then judge every test-set mail with its SMTP session
from the sidecar. Every case must give exactly its ``expected_symbols`` (the ground truth the
corpus derives from docs/mail-checks.md), and the passive view (no PTR name, no SMTP AUTH)
must never flag a legitimate mail the inline view leaves alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.mail.learn import MailLearner
from sakimori.config import Config, load_config
from sakimori.mail.checks import run_checks
from sakimori.mail.facts import facts_from_message
from sakimori_demo.mailsim import generate_corpus
from sakimori_demo.mailsim.testset import config_for_testset

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cfg() -> Config:
    return config_for_testset(REPO / "examples" / "sakimori.yaml")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, cfg: Config) -> tuple[dict, dict]:
    truth = generate_corpus(tmp_path_factory.mktemp("mailsim"), seed=2026)
    learner = MailLearner(cfg)
    learner.add_path(Path(truth["past"]["maildir"]))
    return truth, learner.document_section()


def _judge(case: dict, root: Path, cfg: Config, mail: dict, session: bool = True) -> list[str]:
    facts = facts_from_message(
        (root / case["file"]).read_bytes(), ip=case["ip"], helo=case["helo"] or None,
        hostname=(case["hostname"] or None) if session else None,
        user=(case["user"] or None) if session else None,
        envelope_from=case["envelope_from"], rcpt=case["rcpt"])
    return sorted(h.symbol for h in run_checks(facts, cfg, mail))


def test_every_testset_case_gives_its_expected_symbols(corpus, cfg) -> None:
    truth, mail = corpus
    root = Path(truth["testset"]["dir"])
    wrong = {c["name"]: (_judge(c, root, cfg, mail), c["expected_symbols"])
             for c in truth["testset"]["cases"]
             if _judge(c, root, cfg, mail) != sorted(c["expected_symbols"])}
    assert not wrong


def test_passive_view_adds_no_false_positive(corpus, cfg) -> None:
    truth, mail = corpus
    root = Path(truth["testset"]["dir"])
    for case in truth["testset"]["cases"]:
        if case["legitimate"] and not case["expected_symbols"] and not case["user"]:
            assert _judge(case, root, cfg, mail, session=False) == [], case["name"]


def test_hosted_case_is_cleared_by_its_preset_only(corpus, cfg) -> None:
    """The mail through our Google Workspace tenant is clean with the preset and flagged at
    the tenant's US hop without it: the case exercises the preset, not a lucky path."""
    truth, mail = corpus
    root = Path(truth["testset"]["dir"])
    (case,) = [c for c in truth["testset"]["cases"] if "google-tenant" in c["name"]]
    plain = load_config(REPO / "examples" / "sakimori.yaml", env={})
    assert _judge(case, root, cfg, mail) == []
    assert "SAKIMORI_DOMESTIC_VIA_OVERSEAS" in _judge(case, root, plain, mail)
