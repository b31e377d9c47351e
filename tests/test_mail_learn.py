"""generator.mail.learn and ``sakimori learn --mail``: what is learned from the example corpus
(checked against the generator's own oracle), Maildir == mbox, incremental == batch,
re-learning, provenance, and the CLI end to end.

Also learns Rspamd's functional-test messages (rspamd/rspamd test/functional/messages/,
Apache-2.0; bundled in /work/shared/data/mail) as real-world hostile input.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from engines import require_path
from realdata import shared_data_dir

from generator.mail.learn import MailLearner
from sakimori.baselines import load_document
from sakimori.cli import main
from sakimori.config import Config, load_config
from sakimori.errors import InputError
from sakimori.mail.norm import fold_name
from sakimori_demo.mailsim import generate_corpus

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = REPO / "examples" / "sakimori.yaml"
SHARED_MAIL = shared_data_dir() / "mail"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("corpus")
    return generate_corpus(out, seed=2026)


@pytest.fixture(scope="module")
def cfg() -> Config:
    return load_config(EXAMPLE_CONFIG)


def _section(cfg: Config, *paths: Path) -> dict:
    learner = MailLearner(cfg)
    for path in paths:
        learner.add_path(path)
    return learner.document_section()


def _split_maildir(src: Path, a: Path, b: Path) -> None:
    """Copy a Maildir into two Maildirs: files before / after the middle name."""
    files = sorted((src / sub / name, sub) for sub in ("cur", "new")
                   for name in (p.name for p in (src / sub).iterdir()))
    for target in (a, b):
        for sub in ("cur", "new", "tmp"):
            (target / sub).mkdir(parents=True)
    half = len(files) // 2
    for i, (path, sub) in enumerate(files):
        shutil.copy(path, (a if i < half else b) / sub / path.name)


def test_learned_section_matches_the_generator_oracle(corpus: dict, cfg: Config) -> None:
    sec = _section(cfg, Path(corpus["past"]["maildir"]))
    expected = corpus["past"]["expected"]
    assert sec["messages"] == corpus["past"]["messages"] == expected["messages"]
    assert sec["broken"] == corpus["past"]["broken"] == 4
    assert sec["domestic_domains"] == expected["domestic_domains"]
    assert sec["frequent_domains"] == expected["frequent_domains"]
    assert {k: sorted(v["addresses"]) for k, v in sec["names"].items()} == expected["names"]
    for domain, want in expected["domains"].items():
        got = sec["domains"][domain]
        assert got["messages"] == want["messages"], domain
        assert sorted(got["infra"]) == want["infra"], domain
        assert sorted(got["countries"]) == want["countries"], domain
    assert set(sec["domains"]) == set(expected["domains"])
    assert sec["country_data"]["source"] == "iptocc"


def test_learned_values_an_operator_would_expect(corpus: dict, cfg: Config) -> None:
    sec = _section(cfg, Path(corpus["past"]["maildir"]))
    assert {"tanaka-shoji.co.jp", "kyoto-seiki.co.jp", "nihon-robotics.com",
            "hokuriku-u.ac.jp"} <= set(sec["domestic_domains"])
    # overseas partners, newsletters via overseas providers, cloud-hosted .co.jp: not domestic
    assert not {"acme-industries.com", "mueller-technik.de", "mag.kaimono-club.jp",
                "osaka-trading.co.jp"} & set(sec["domestic_domains"])
    tanaka = sec["domains"]["tanaka-shoji.co.jp"]
    assert set(tanaka["infra"]) == {"net:153.127.10.0/24", "ptr:tanaka-shoji.co.jp"}
    assert set(sec["domains"]["kyoto-seiki.co.jp"]["infra"]) == {
        "net:210.130.1.0/24", "ptr:sakura-isp.ne.jp"}  # a shared ISP relay
    assert "net:2001:2f8:1c::/48" in sec["domains"]["hokuriku-u.ac.jp"]["infra"]  # IPv6
    # width and space variants of one Japanese name fold to one key, on one address
    for variant in ("山田 太郎", "山田　太郎", "山田太郎", " 山田\t太郎 "):
        assert fold_name(variant) == "山田太郎"
    assert set(sec["names"]["山田太郎"]["addresses"]) == {"taro.yamada@example.co.jp"}
    assert sec["names"]["山田太郎"]["display"] == "山田 太郎"  # the most frequent form
    assert "イトウミサキ" in sec["names"] and "shonakamura" in sec["names"]  # half/full width
    assert set(sec["names"]["田中一郎"]["addresses"]) == {
        "ichiro.tanaka@tanaka-shoji.co.jp", "tanaka.ichiro.private@gmail.com"}
    assert "example.co.jp" not in sec["domains"]  # internal and roaming mail: no history


def test_maildir_and_mbox_learn_the_same(corpus: dict, cfg: Config) -> None:
    assert _section(cfg, Path(corpus["past"]["maildir"])) == \
        _section(cfg, Path(corpus["past"]["mbox"]))


def test_incremental_equals_batch(corpus: dict, cfg: Config, tmp_path: Path) -> None:
    a, b = tmp_path / "both" / "a", tmp_path / "both" / "b"
    _split_maildir(Path(corpus["past"]["maildir"]), a, b)
    batch = _section(cfg, tmp_path / "both")
    first = MailLearner(cfg)
    first.add_path(a)
    second = MailLearner(cfg, first.document())
    second.add_path(b)
    assert second.document_section() == batch
    assert batch == _section(cfg, Path(corpus["past"]["maildir"]))


def test_growing_maildir_learns_only_new_mail(corpus: dict, cfg: Config,
                                              tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _split_maildir(Path(corpus["past"]["maildir"]), a, b)
    learner = MailLearner(cfg)
    learner.add_path(a)
    doc = learner.document()
    for sub in ("cur", "new"):  # the Maildir grows: yesterday's mail plus today's
        for path in (b / sub).iterdir():
            shutil.copy(path, a / sub / path.name)
    again = MailLearner(cfg, doc)
    entry = again.add_path(a)
    assert entry is not None and entry["already_learned"] > 0
    grown, batch = again.document_section(), _section(cfg, Path(corpus["past"]["maildir"]))
    # broken files carry no date: on a path learned before they are not counted again
    assert grown.pop("broken") == 0 and batch.pop("broken") == 4
    assert grown == batch
    nothing = MailLearner(cfg, again.document()).add_path(a)
    assert nothing is not None and nothing["records"] == 0


def test_same_mbox_content_is_skipped(corpus: dict, cfg: Config, tmp_path: Path,
                                      caplog: pytest.LogCaptureFixture) -> None:
    copy = tmp_path / "copy.mbox"
    shutil.copy(corpus["past"]["mbox"], copy)
    learner = MailLearner(cfg)
    assert learner.add_path(Path(corpus["past"]["mbox"])) is not None
    assert learner.add_path(copy) is None and "already learned" in caplog.text
    assert learner.document_section()["messages"] == corpus["past"]["messages"]


def test_provenance_entry(corpus: dict, cfg: Config) -> None:
    learner = MailLearner(cfg)
    entry = learner.add_path(Path(corpus["past"]["mbox"]))
    assert entry is not None
    assert entry["kind"] == "mail" and entry["format"] == "mbox" and len(entry["sha256"]) == 64
    assert entry["records"] == corpus["past"]["messages"] and entry["bad"] == 4
    assert entry["bad_examples"][0].startswith(f"{corpus['past']['mbox']}:")
    assert entry["first"].startswith("2025-10-") and entry["last"].startswith("2026-01-")
    prov = learner.document()["provenance"]
    assert prov["records"] == entry["records"] and prov["first_seen"] == entry["first"]


def test_rspamd_sample_messages(cfg: Config) -> None:
    require_path(SHARED_MAIL, "shared sample mail")
    learner = MailLearner(cfg)
    entry = learner.add_path(SHARED_MAIL)
    assert entry is not None
    assert entry["records"] + entry["bad"] == len(list(SHARED_MAIL.glob("*.eml")))
    sec = learner.document_section()
    assert "chat-met-vreemden.nl" not in sec["domains"]  # no From domain in received1.eml
    assert sec["domains"]["external.com"]["countries"] == {"NL": 1}  # external_relay.eml


def test_unusable_mail_section_is_an_input_error(cfg: Config) -> None:
    with pytest.raises(InputError, match="baselines mail section unusable"):
        MailLearner(cfg, {"mail": {"domains": {"x.jp": {"infra": ["not", "counts"]}}}},
                    source="b.json")


# --- the CLI -------------------------------------------------------------------------------

def sakimori(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


def test_cli_learn_mail_end_to_end(capsys: pytest.CaptureFixture[str], corpus: dict,
                                   tmp_path: Path) -> None:
    out = tmp_path / "baselines.json"
    code, stdout, _ = sakimori(capsys, "learn", "--config", EXAMPLE_CONFIG, "--mail",
                               corpus["past"]["maildir"], "--out", out)
    assert code == 0 and f"wrote {out}" in stdout
    assert f"{corpus['past']['messages']} messages, 4 broken" in stdout
    doc = load_document(out)
    assert doc["mail"]["domestic_domains"] == corpus["past"]["expected"]["domestic_domains"]
    assert doc["traffic"] == {} and doc["provenance"]["inputs"][0]["kind"] == "mail"


def test_cli_incremental_equals_batch(capsys: pytest.CaptureFixture[str], corpus: dict,
                                      tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _split_maildir(Path(corpus["past"]["maildir"]), a, b)
    inc, batch = tmp_path / "inc.json", tmp_path / "batch.json"
    for argv in (["--mail", a, "--out", inc], ["--mail", b, "--out", inc],
                 ["--mail", a, b, "--out", batch]):
        assert sakimori(capsys, "learn", "--config", EXAMPLE_CONFIG, *argv)[0] == 0
    mail = [json.loads(p.read_text())["mail"] for p in (inc, batch)]
    assert mail[0] == mail[1]


def test_cli_mail_with_traffic_keeps_both(capsys: pytest.CaptureFixture[str], corpus: dict,
                                          tmp_path: Path, slips_eve: Path) -> None:
    out = tmp_path / "b.json"
    code, _, _ = sakimori(capsys, "learn", "--config", EXAMPLE_CONFIG, "--eve", slips_eve,
                          "--mail", corpus["past"]["mbox"], "--out", out)
    doc = load_document(out)
    assert code == 0 and doc["traffic"]["url_length"] and doc["mail"]["messages"] > 1000
    assert {i["kind"] for i in doc["provenance"]["inputs"]} == {"eve", "mail"}
    # a later mail-only learn leaves the traffic section alone
    traffic = doc["traffic"]
    assert sakimori(capsys, "learn", "--config", EXAMPLE_CONFIG, "--mail", SHARED_MAIL
                    if SHARED_MAIL.is_dir() else corpus["past"]["maildir"], "--out", out)[0] == 0
    assert load_document(out)["traffic"] == traffic


def test_cli_missing_mail_input_is_one_line(capsys: pytest.CaptureFixture[str],
                                            tmp_path: Path) -> None:
    code, _, err = sakimori(capsys, "learn", "--config", EXAMPLE_CONFIG, "--mail",
                            tmp_path / "nope", "--out", tmp_path / "b.json")
    assert code == 1 and err.strip() == f"sakimori learn: {tmp_path / 'nope'}: " \
                                        "mail input not found"
    assert not (tmp_path / "b.json").exists()
