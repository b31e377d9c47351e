"""Every case of tests/vectors/*.yaml (mode ``passive``) judged by the Python checks.

The Lua plugin runs the same files through a real Rspamd (tests/test_vectors_lua.py, mode
``inline``), so the two implementations cannot drift. Each case runs twice here:

- from the message bytes (``facts_from_message``: headers parsed as an email, Received newest
  first) — the reference;
- as Suricata would log it (an EVE ``smtp`` record: raw header values, ``received[]``
  bottom-most first, the connecting IP as ``src_ip``) through the passive handler's own
  conversion (``eve_consumer.handlers.mail_spoof.facts_from_eve``).

The reference run gives the checks the vector's ``hostname`` and ``user`` too (the Python
checks implement the whole definition); a real sensor knows neither the PTR name nor SMTP
AUTH, so the EVE run is compared with a reference run without them.
"""

from __future__ import annotations

import email
from email.policy import compat32
from typing import Any

import pytest
from rspamd_support import build_message, check_expect, load_vectors, make_config

from eve_consumer.handlers.mail_spoof import facts_from_eve
from sakimori.mail.checks import run_checks
from sakimori.mail.facts import MailFacts, facts_from_message

VECTORS = load_vectors("passive")


@pytest.fixture(scope="module")
def cfg_dir(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("vector-configs")


_CONFIGS: dict[str, Any] = {}


def _config(sections: dict[str, Any], tmp) -> Any:
    key = repr(sections)
    if key not in _CONFIGS:
        _CONFIGS[key] = make_config(sections, tmp)
    return _CONFIGS[key]


def _facts(message: dict[str, Any], session: bool = True) -> MailFacts:
    return facts_from_message(build_message(message), ip=message.get("ip"),
                              helo=message.get("helo"),
                              hostname=message.get("hostname") if session else None,
                              user=message.get("user") if session else None,
                              envelope_from=message.get("envelope_from"),
                              rcpt=message.get("rcpt") or [])


def _eve(message: dict[str, Any]) -> dict[str, Any]:
    """The EVE smtp record Suricata would write for this message (extended + custom)."""
    msg = email.message_from_bytes(build_message(message), policy=compat32)
    heads: dict[str, list[str]] = {}
    for key, value in msg.raw_items():
        text = str(value)
        if not text.isascii():
            text = text.encode("ascii", "surrogateescape").decode("utf-8", "replace")
        heads.setdefault(key.lower(), []).append(text)
    env = message.get("envelope_from")
    smtp: dict[str, Any] = {"rcpt_to": [f"<{r}>" for r in message.get("rcpt") or []]}
    if message.get("helo") is not None:
        smtp["helo"] = message["helo"]
    if env is not None:
        smtp["mail_from"] = f"<{env}>"
    mail: dict[str, Any] = {"status": "PARSE_DONE",
                            "received": list(reversed(heads.get("received", [])))}
    if heads.get("from"):
        mail["from"] = heads["from"][0]
    if heads.get("reply-to"):
        mail["reply_to"] = heads["reply-to"][0]
    return {"event_type": "smtp", "src_ip": message.get("ip") or "", "smtp": smtp,
            "email": mail}


def _verdict(facts: MailFacts, config: dict, mail: dict, tmp) -> dict[str, list[str]]:
    hits = run_checks(facts, _config(config, tmp), mail)
    return {h.symbol: h.options for h in hits}


def test_vectors_exist() -> None:
    names = {v[0].split(":")[0] for v in VECTORS}
    assert {"internal_spoof", "domestic_via_overseas", "new_infrastructure", "display_name",
            "lookalike", "header_mismatch", "hostile", "displayed_from"} <= names


@pytest.mark.parametrize("vector", VECTORS, ids=[v[0] for v in VECTORS])
def test_vector(vector, cfg_dir) -> None:
    _, config, mail, case = vector
    symbols = _verdict(_facts(case["message"]), config, mail, cfg_dir)
    problems = check_expect(case.get("expect") or {}, symbols)
    assert not problems, "; ".join(problems)


@pytest.mark.parametrize("vector", VECTORS, ids=[v[0] for v in VECTORS])
def test_vector_as_eve(vector, cfg_dir) -> None:
    """The passive handler's EVE → facts conversion gives the same verdict."""
    _, config, mail, case = vector
    message = case["message"]
    if message.get("ip") is None:
        pytest.skip("Suricata always knows the connecting IP")
    raw = build_message(message)
    if raw.count(b"\nFrom:") + raw.startswith(b"From:") > 1:
        pytest.skip("several From headers: which one Suricata logs is its own business")
    reference = _verdict(_facts(message, session=False), config, mail, cfg_dir)
    from_eve = _verdict(facts_from_eve(_eve(message)), config, mail, cfg_dir)
    assert from_eve == reference
