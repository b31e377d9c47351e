"""sakimori_demo.mailsim: determinism, the catalogue's countries against the packaged country data,
the test set's sidecars, and the sidecars' expected symbols cross-checked against a small
oracle of checks 1–4 and 6 of docs/mail-checks.md over the learned example baselines.
"""

from __future__ import annotations

import hashlib
import json
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path

import pytest

from generator.mail.learn import MailLearner
from generator.mail.reader import ReadStats, read_mail
from sakimori.config import Config
from sakimori.mail import country, fromhdr, norm
from sakimori.mail.features import MailFeatures, Trust, extract, raw_headers
from sakimori.mail.norm import fold_name, is_domestic_tld, registrable_domain
from sakimori_demo.mailsim import catalogue as cat
from sakimori_demo.mailsim import generate_corpus
from sakimori_demo.mailsim.__main__ import main as mailsim_main
from sakimori_demo.mailsim.testset import config_for_testset

REPO = Path(__file__).resolve().parent.parent
CHECKS = {"SAKIMORI_INTERNAL_SPOOF", "SAKIMORI_DOMESTIC_VIA_OVERSEAS",
          "SAKIMORI_NEW_INFRASTRUCTURE", "SAKIMORI_DISPLAY_NAME_SPOOF",
          "SAKIMORI_LOOKALIKE_DOMAIN", "SAKIMORI_HEADER_MISMATCH"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return generate_corpus(tmp_path_factory.mktemp("mailsim"), seed=2026)


@pytest.fixture(scope="module")
def cfg() -> Config:
    return config_for_testset(REPO / "examples" / "sakimori.yaml")


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "truth.json"}


def test_same_seed_same_bytes_other_seed_other_mail(tmp_path: Path) -> None:
    one = generate_corpus(tmp_path / "one", seed=7, months=1)
    two = generate_corpus(tmp_path / "two", seed=7, months=1)
    other = generate_corpus(tmp_path / "other", seed=8, months=1)
    assert _digests(tmp_path / "one") == _digests(tmp_path / "two")
    assert one["past"]["expected"] == two["past"]["expected"]
    assert _digests(tmp_path / "one") != _digests(tmp_path / "other")
    assert other["past"]["messages"] != one["past"]["messages"] or \
        other["past"]["expected"] != one["past"]["expected"]


def test_catalogue_countries_agree_with_the_country_data() -> None:
    relays = [r for o in cat.ORGS for r in o.relays + o.upstream] + list(cat.ROAMING)
    for relay in relays:
        for n in relay.hosts:
            ip = cat.relay_ip(relay, n)
            assert country.lookup(ip) == relay.country, (relay.ptr, ip)


def test_past_mail_is_maildir_and_mbox_of_the_same_messages(corpus: dict) -> None:
    past = corpus["past"]
    for path, kind in ((past["maildir"], "maildir"), (past["mbox"], "mbox")):
        stats = ReadStats()
        assert sum(1 for _ in read_mail(Path(path), stats)) == past["messages"] > 1000
        assert stats.broken == past["broken"] == 4 and stats.kinds == {kind}
    assert any((Path(past["maildir"]) / "new").iterdir())
    assert past["expected"]["domestic_domains"] and past["expected"]["names"]


def test_testset_sidecars(corpus: dict) -> None:
    root = Path(corpus["testset"]["dir"])
    cases = corpus["testset"]["cases"]
    assert len(cases) == len(list(root.glob("*.eml"))) == len(list(root.glob("*.json"))) >= 30
    targeted = set()
    for case in cases:
        assert json.loads((root / f"{case['name']}.json").read_text()) == case
        assert (root / case["file"]).is_file()
        assert set(case["expected_symbols"]) <= CHECKS
        assert case["ip"] and case["rcpt"] and case["envelope_from"] is not None
        if case["legitimate"] and case["expected_symbols"]:
            assert case["note"].startswith("false positive")  # said out loud
        if case["kind"] == "spoofed":
            assert case["check"] in case["expected_symbols"]
            targeted.add(case["check"])
    assert targeted == CHECKS
    kinds = {c["kind"] for c in cases}
    assert kinds == {"legitimate", "spoofed", "hostile"}


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert mailsim_main(["--out", str(tmp_path), "--months", "1"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["past_messages"] > 100 and summary["testset"] >= 30
    assert mailsim_main(["--out", str(tmp_path), "--months", "99"]) == 2
    assert "months must be in" in capsys.readouterr().err


# --- the expected symbols, cross-checked ---------------------------------------------------

def _features(path: Path, case: dict, trust: Trust) -> MailFeatures:
    msg = BytesHeaderParser(policy=policy.default).parsebytes(path.read_bytes())
    return extract(msg, trust, connect_ip=case["ip"], connect_host=case["hostname"])


def _from_view(path: Path) -> fromhdr.FromView:
    msg = BytesHeaderParser(policy=policy.default).parsebytes(path.read_bytes())
    return fromhdr.read_from(raw_headers(msg).get("from", []))


def _shows_protected(view: fromhdr.FromView, protected: set[str]) -> bool:
    """Check 4's second half: other address-like text of the From names a protected domain
    that is not a From domain (docs/mail-checks.md, "Displayed From")."""
    def reg(domain: str) -> str:
        return registrable_domain(domain) or domain

    own = {reg(d) for d, _ in fromhdr.from_domains(view.shown, view.strict)}
    named = {reg(d) for d in (norm.domain_of(o) for o in view.others) if d}
    return bool(named & protected - own)


def _oracle(f: MailFeatures, case: dict, mail: dict, cfg: Config,
            view: fromhdr.FromView) -> set[str]:
    """Checks 1–4 and 6 of docs/mail-checks.md (check 5 is taken from the sidecar)."""
    internal = cfg.mail.internal_domains
    envelope = case["envelope_from"].rpartition("@")[2].lower()
    # the displayed From's domain (also when the displayed address is no normal address,
    # as in a@b@domain), else the envelope's
    domain = next((d for d, _ in fromhdr.from_domains(view.shown, view.strict)),
                  f.sender_domain)
    fired = set()
    if (domain in internal or envelope in internal) and f.external and not case["user"]:
        fired.add("SAKIMORI_INTERNAL_SPOOF")
    domestic = domain in mail["domestic_domains"] or (
        domain not in mail["domains"] and is_domestic_tld(domain, ("jp",)))
    if domestic and domain not in internal and any(c and c != "JP" for c in f.countries):
        fired.add("SAKIMORI_DOMESTIC_VIA_OVERSEAS")
    history = mail["domains"].get(domain)
    if domain not in internal and history and history["messages"] >= 5 and f.external \
            and not set(f.infra) & set(history["infra"]):
        fired.add("SAKIMORI_NEW_INFRASTRUCTURE")
    name = mail["names"].get(fold_name(f.from_name))
    protected = {registrable_domain(d) for d in (*internal, *mail["frequent_domains"])}
    if len(fold_name(f.from_name)) >= 3 and name and f.from_addr not in name["addresses"]:
        fired.add("SAKIMORI_DISPLAY_NAME_SPOOF")
    if _shows_protected(view, protected):
        fired.add("SAKIMORI_DISPLAY_NAME_SPOOF")
    fired |= {"SAKIMORI_LOOKALIKE_DOMAIN"} & set(case["expected_symbols"])
    reg = registrable_domain(domain)
    reply_differs = bool(f.reply_to) and registrable_domain(f.reply_to.rpartition("@")[2]) != reg
    envelope_differs = bool(envelope) and registrable_domain(envelope) != reg
    if (reply_differs and (fired or reg in protected)) or (envelope_differs and fired):
        fired.add("SAKIMORI_HEADER_MISMATCH")
    return fired


def test_expected_symbols_follow_the_definitions(corpus: dict, cfg: Config) -> None:
    learner = MailLearner(cfg)
    learner.add_path(Path(corpus["past"]["maildir"]))
    mail = learner.document_section()
    trust, root = Trust(cfg), Path(corpus["testset"]["dir"])
    for case in corpus["testset"]["cases"]:
        f = _features(root / case["file"], case, trust)
        fired = _oracle(f, case, mail, cfg, _from_view(root / case["file"]))
        assert sorted(fired) == case["expected_symbols"], case["name"]


def test_lookalike_cases_are_unknown_and_unprotected(corpus: dict, cfg: Config) -> None:
    learner = MailLearner(cfg)
    learner.add_path(Path(corpus["past"]["mbox"]))
    mail = learner.document_section()
    known = {registrable_domain(d) for d in mail["domains"]} | {"example.co.jp"}
    trust, root = Trust(cfg), Path(corpus["testset"]["dir"])
    for case in corpus["testset"]["cases"]:
        reg = registrable_domain(_features(root / case["file"], case, trust).sender_domain)
        looks = "SAKIMORI_LOOKALIKE_DOMAIN" in case["expected_symbols"]
        assert (reg not in known) if looks else True, case["name"]
