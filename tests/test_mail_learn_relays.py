"""Learned mail relays (``sakimori learn --mail``, docs/mail-learning.md "Relays"): the
receiving-side hops of a hosted mailbox are found in past mail and used as the trust boundary
of the same learn; a network used by one sender domain only is never a relay; the CLI prints
them; ``generate`` writes them (and the presets) into the relays map; config can switch them
off. Corpora come from sakimori_demo.mailsim (``hosted=microsoft365``) or are written here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from rspamd_support import make_config

from generator.mail.learn import MailLearner
from generator.render_rspamd import map_texts
from sakimori.cli import main
from sakimori.config import Config, load_config
from sakimori_demo.mailsim import catalogue as cat
from sakimori_demo.mailsim import generate_corpus
from sakimori_demo.mailsim.compose import received, rfc2822_date

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = (REPO / "examples" / "sakimori.yaml").read_text(encoding="utf-8")
TENANT = {"2603:1096:404::/48", "2603:1096:604::/48"}  # sakimori_demo/mailsim/hosted.py


def _config(tmp: Path, relays: list[str], networks: dict | None = None,
            mail: dict | None = None) -> Config:
    """The example config with these ``networks.mail_relays`` (and overrides)."""
    doc = yaml.safe_load(EXAMPLE)
    doc["networks"].update({"mail_relays": relays, **(networks or {})})
    doc["mail"].update(mail or {})
    return make_config(doc, tmp)


@pytest.fixture(scope="module")
def hosted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return generate_corpus(tmp_path_factory.mktemp("m365"), seed=2026, months=2,
                           hosted="microsoft365")


def _learn(cfg: Config, *paths: Path) -> dict:
    learner = MailLearner(cfg)
    for path in paths:
        learner.add_path(path)
    return learner.document_section()


def test_tenant_hops_are_learned_and_make_the_histories_right(hosted: dict,
                                                               tmp_path: Path) -> None:
    cfg = _config(tmp_path, ["192.0.2.10/32", "microsoft365"])
    mail = _learn(cfg, Path(hosted["past"]["maildir"]))
    assert set(mail["relays"]) == TENANT
    for rec in mail["relays"].values():
        assert rec["share"] >= 0.9 and rec["domains"] >= 10
    assert mail["params"]["relay_min_share"] == 0.5 and mail["params"]["relay_min_domains"] == 5
    truth = hosted["past"]["expected"]
    assert mail["domestic_domains"] == sorted(truth["domestic_domains"])
    assert mail["frequent_domains"] == sorted(truth["frequent_domains"])
    preset_senders = {o.domain for o in cat.ORGS if o.kind == "cloud"}  # EOP outbound itself
    for domain, want in truth["domains"].items():
        got = mail["domains"][domain]
        assert got["messages"] == want["messages"], domain
        if domain in preset_senders:  # judged at their own tenant's hop, behind the preset
            assert set(got["countries"]) == {"US"}
            assert all(k.startswith("net:2603:1096:400:") for k in got["infra"]), domain
            continue
        assert sorted(got["countries"]) == want["countries"], domain
        # Exchange's frontend writes the sender's HELO, no verified name: no ptr: key
        assert sorted(got["infra"]) == [k for k in want["infra"] if k.startswith("net:")]


def test_without_the_relays_the_tenant_is_taken_for_the_senders_path(
        hosted: dict, tmp_path: Path) -> None:
    off = _config(tmp_path, ["192.0.2.10/32", "microsoft365"],
                  networks={"learned_mail_relays": False})
    mail = _learn(off, Path(hosted["past"]["maildir"]))
    assert set(mail["relays"]) == TENANT  # still learned and stored, not used
    assert mail["domestic_domains"] == []  # every chain crossed our tenant's US hops
    assert all("US" in d["countries"] for d in mail["domains"].values())


def test_workspace_corpus_with_the_preset_learns_the_senders_own_path(tmp_path: Path) -> None:
    """Google's outbound servers change /24 all the time: nothing is learned, the preset is
    what trusts them, and Gmail's (PTR. [IP]) keeps the ptr: keys."""
    corpus = generate_corpus(tmp_path / "gws", seed=11, months=1, hosted="google_workspace")
    maildir = Path(corpus["past"]["maildir"])
    mail = _learn(_config(tmp_path, ["192.0.2.10/32", "google_workspace"]), maildir)
    assert mail["relays"] == {}
    truth = corpus["past"]["expected"]
    assert mail["domestic_domains"] == sorted(truth["domestic_domains"])
    for domain, want in truth["domains"].items():
        got = mail["domains"][domain]
        assert (got["messages"], sorted(got["countries"]), sorted(got["infra"])) == \
            (want["messages"], want["countries"], want["infra"]), domain
    bare = _learn(_config(tmp_path, ["192.0.2.10/32"]), maildir)
    assert bare["domestic_domains"] == []


def test_on_premises_corpus_learns_no_relay(tmp_path: Path) -> None:
    corpus = generate_corpus(tmp_path / "onprem", seed=7, months=1)
    mail = _learn(_config(tmp_path, ["192.0.2.10/32"]), Path(corpus["past"]["maildir"]))
    assert mail["relays"] == {}
    assert mail["relay_hops"]["messages"] > 100


def _eml(path: Path, domain: str, sender_ip: str, n: int, tenant_ip: str) -> None:
    ts = 1764000000.0 + n * 600
    hops = [received("mx1.example.co.jp", "mx1.example.co.jp", "192.0.2.10",
                     "mbox.example.co.jp", "LMTP", f"Q{n}", ts + 2),
            received(f"gw{n}.cloudfilter.example", f"gw{n}.cloudfilter.example", tenant_ip,
                     "mx1.example.co.jp", "ESMTPS", f"R{n}", ts + 1),
            received(f"mail.{domain}", f"mail.{domain}", sender_ip,
                     f"gw{n}.cloudfilter.example", "ESMTPS", f"S{n}", ts)]
    text = "".join(f"Received: {h}\r\n" for h in hops) + (
        f"From: <info@{domain}>\r\nTo: <hanako.sato@example.co.jp>\r\n"
        f"Date: {rfc2822_date(ts)}\r\nSubject: n{n}\r\n\r\nbody\r\n")
    path.write_text(text, encoding="utf-8")


def test_a_network_of_one_sender_domain_is_never_a_relay(tmp_path: Path) -> None:
    """30 of 40 messages come from one partner's /24, all 40 through a filter service's
    /24 from 11 domains: only the filter is a relay."""
    box = tmp_path / "mail"
    box.mkdir()
    for n in range(30):
        _eml(box / f"a{n:02d}.eml", "big-partner.co.jp", f"133.0.0.{10 + n % 3}", n,
             f"203.178.129.{20 + n % 5}")
    for n in range(10):
        _eml(box / f"b{n:02d}.eml", f"shop{n}.co.jp", f"133.1.{n}.25", 30 + n,
             f"203.178.129.{20 + n % 5}")
    mail = _learn(_config(tmp_path, ["192.0.2.10/32"]), box)
    hops = mail["relay_hops"]["networks"]
    assert hops["133.0.0.0/24"]["messages"] == 30
    assert hops["133.0.0.0/24"]["domains"] == ["big-partner.co.jp"]
    assert set(mail["relays"]) == {"203.178.129.0/24"}
    assert mail["domains"]["big-partner.co.jp"]["infra"] == {
        "net:133.0.0.0/24": 30, "ptr:big-partner.co.jp": 30}
    # a threshold over the domains seen makes the filter a sender again
    strict = _config(tmp_path, ["192.0.2.10/32"], mail={"relay_min_domains": 12})
    assert "relay_min_domains" in json.dumps(_learn(strict, box)["params"])
    assert _learn(strict, box)["relays"] == {}


def test_learning_in_two_parts_equals_learning_at_once(hosted: dict, tmp_path: Path) -> None:
    cfg = _config(tmp_path, ["192.0.2.10/32", "microsoft365"])
    whole = _learn(cfg, Path(hosted["past"]["mbox"]))
    learner = MailLearner(cfg)
    learner.add_path(Path(hosted["past"]["mbox"]))
    again = MailLearner(cfg, {"mail": learner.document_section()})
    assert again.document_section()["relays"] == whole["relays"]
    assert whole["relay_hops"] == again.document_section()["relay_hops"]


def test_cli_prints_relays_and_generate_maps_them(hosted: dict, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    cfg_path = tmp_path / "sakimori.yaml"
    cfg_path.write_text(EXAMPLE.replace("  mail_relays: [192.0.2.10/32]",
                                        "  mail_relays: [192.0.2.10/32, microsoft365]"),
                        encoding="utf-8")
    out = tmp_path / "baselines.json"
    with pytest.raises(SystemExit) as done:
        main(["learn", "--config", str(cfg_path), "--mail", hosted["past"]["maildir"],
              "--out", str(out)])
    assert done.value.code == 0
    printed = capsys.readouterr().out
    assert "mail relays: 2 learned" in printed
    for net in TENANT:
        assert f"relay {net}:" in printed
    doc = json.loads(out.read_text(encoding="utf-8"))
    rows = [line.split() for line in map_texts(load_config(cfg_path), doc)["relays"]
            .splitlines() if not line.startswith("#")]
    assert ["2603:1096:404::/48", "learned"] in rows
    assert ["40.107.0.0/16", "microsoft365"] in rows
    off = make_config({"networks": {"mail_relays": ["microsoft365"],
                                    "learned_mail_relays": False}}, tmp_path)
    rows_off = [line.split() for line in map_texts(off, doc)["relays"].splitlines()
                if not line.startswith("#")]
    assert ["40.107.0.0/16", "microsoft365"] in rows_off
    assert not [r for r in rows_off if r[1] == "learned"]


def test_trust_kinds_and_who_may_authenticate(tmp_path: Path) -> None:
    """Own hops may vouch for an authenticated submission, a provider relay may not; a suffix
    needs the verified name; a walk ending in relay hops is never internal mail."""
    from sakimori.mail.received import parse_received
    from sakimori.mail.relays import OWN, RELAY, Trust

    cfg = _config(tmp_path, ["192.0.2.10/32", "google_workspace", ".relay.example.net"])
    trust = Trust(cfg, {"relays": {"203.178.129.0/24": {}}})
    assert trust.address("10.1.2.3") == OWN and trust.address("192.0.2.10") == OWN
    assert trust.address("209.85.220.41") == RELAY and trust.address("203.178.129.9") == RELAY
    assert trust.address("45.33.1.1") == ""
    assert trust.address("45.33.1.1", "mx.relay.example.net.") == RELAY
    assert trust.address("45.33.1.1", "relay.example.net") == ""  # a suffix needs the dot
    off = Trust(_config(tmp_path, ["192.0.2.10/32"], networks={"learned_mail_relays": False}),
                {"relays": {"203.178.129.0/24": {}}})
    assert off.address("203.178.129.9") == ""

    def hops(*values: str) -> tuple:
        return tuple(parse_received(v) for v in values)

    own = hops("from mx1 (mx1.example.co.jp [192.0.2.10]) by mbox with LMTP id 1",
               "from [192.168.1.2] (p1.isp.example [45.33.1.1]) by mx1 with ESMTPSA id 2")
    assert trust.external(own).authenticated is True
    via_google = hops("from mx1 (mx1.example.co.jp [192.0.2.10]) by mbox with LMTP id 1",
                      "from g (mail-sor-f41.google.com. [209.85.220.41]) by mx1 with ESMTPS",
                      "from [192.168.1.2] (p1.isp.example [45.33.1.1]) by smtp.gmail.com "
                      "with ESMTPSA id 3")
    ext = trust.external(via_google)
    assert (ext.ip, ext.authenticated) == ("45.33.1.1", False)
    only_google = via_google[:2]
    ext = trust.external(only_google)
    assert (ext.ip, ext.host, ext.chain) == ("209.85.220.41", "mail-sor-f41.google.com",
                                             ("209.85.220.41",))
    assert trust.external(own[:1]).ip == ""  # own hops only: internal mail
    # learning and the checks trust the same name: Exim's looked-up name and a bare
    # 'from NAME [IP]' are not the PTR in parentheses, whatever they claim
    older = "from p (mail.partner.co.jp [133.0.0.1]) by mx.relay.example.net with ESMTP"
    for line in ("from mx.relay.example.net ([45.33.1.1] helo=mx.relay.example.net) by mx1 "
                 "with esmtp", "from mx.relay.example.net [45.33.1.1] by mx1 with ESMTP",
                 "from mx.relay.example.net (45.33.1.1) by mx1 with Microsoft SMTP Server"):
        assert trust.external(own[:1] + hops(line, older)).ip == "45.33.1.1", line
    assert trust.external(own[:1] + hops(
        "from x (mx.relay.example.net [45.33.1.1]) by mx1 with ESMTPS", older)).ip == \
        "133.0.0.1"
