"""Write the example mail corpus: past mail (Maildir and mbox), the test set, the ground truth.

Layout under ``out_dir``::

    past/Maildir/{cur,new,tmp}/   every past message (and the broken files), as delivered
    past/past.mbox                the same messages, mboxrd
    testset/NN-name.eml           new mails as our MX receives them
    testset/NN-name.json          their sidecars (session + expected symbols)
    truth.json                    counts, what learning must find, the test-set sidecars

The expected learning results in ``truth.json`` are computed from what the generator *did*
(catalogue countries, relays, names), not by running the learner, so they can check it.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from sakimori.mail.norm import fold_name, infrastructure_keys
from sakimori_demo.mailsim import catalogue as cat
from sakimori_demo.mailsim.compose import to_mbox
from sakimori_demo.mailsim.hosted import HOSTED
from sakimori_demo.mailsim.past import Record, broken_mail, past_mail
from sakimori_demo.mailsim.testset import build, cases

SCHEMA_VERSION = 1
FREQUENT_MIN_MESSAGES = 3  # examples/sakimori.yaml mail.frequent_min_messages
NEW_MAIL = 5  # the newest messages stay in Maildir new/ (unread)


def _maildir_name(i: int, ts: float, seen: bool) -> str:
    base = f"{int(ts)}.M{i:06d}P1000Q{i}.{cat.OUR_STORE}"
    return base + ":2,S" if seen else base


def _write_past(root: Path, mails: list[tuple[bytes, Record]],
                broken: list[tuple[str, bytes]]) -> dict[str, Any]:
    maildir = root / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    chunks = []
    for i, (data, rec) in enumerate(mails):
        seen = i < len(mails) - NEW_MAIL
        (maildir / ("cur" if seen else "new") / _maildir_name(i, rec.ts, seen)).write_bytes(
            data)
        envelope = data.split(b"\r\n", 1)[0].decode()[len("Return-Path: <"):-1]
        chunks.append(to_mbox(envelope, rec.ts, data))
    last = mails[-1][1].ts if mails else 0.0
    for j, (_, data) in enumerate(broken):
        i = len(mails) + j
        (maildir / "cur" / _maildir_name(i, last + j, True)).write_bytes(data)
        chunks.append(to_mbox("MAILER-DAEMON", last + j, data))
    (root / "past.mbox").write_bytes(b"".join(chunks))
    return {"maildir": str(maildir), "mbox": str(root / "past.mbox")}


def expected_learning(records: list[Record], n: int = FREQUENT_MIN_MESSAGES) -> dict[str, Any]:
    """What learning the past mail must yield (docs/mail-checks.md rules, threshold *n*)."""
    domains: dict[str, dict[str, Any]] = {}
    sent: Counter = Counter()
    names: dict[str, set[str]] = {}
    for rec in records:
        sent[rec.from_addr] += 1
        if rec.external and not rec.authenticated:
            d = domains.setdefault(rec.domain, {"messages": 0, "infra": set(),
                                                "countries": set()})
            d["messages"] += 1
            d["infra"].update(infrastructure_keys(rec.ip, rec.ptr))
            d["countries"].update(rec.chain_countries)
    for rec in records:
        pairs = [(rec.from_name, rec.from_addr)]
        pairs += [p for p in rec.to if p[1].endswith("@" + cat.INTERNAL_DOMAIN)]
        for name, addr in pairs:
            internal = addr.endswith("@" + cat.INTERNAL_DOMAIN)
            if fold_name(name) and (internal or sent[addr] >= n):
                names.setdefault(fold_name(name), set()).add(addr)
    frequent = sorted(d for d, v in domains.items() if v["messages"] >= n)
    return {
        "messages": len(records),
        "domains": {d: {"messages": v["messages"], "infra": sorted(v["infra"]),
                        "countries": sorted(v["countries"])} for d, v in sorted(domains.items())},
        "frequent_domains": frequent,
        "domestic_domains": [d for d in frequent if domains[d]["countries"] == {"JP"}],
        "names": {k: sorted(v) for k, v in sorted(names.items())},
    }


def _write_testset(root: Path) -> list[dict[str, Any]]:
    root.mkdir(parents=True, exist_ok=True)
    sidecars = []
    for index, case in enumerate(cases(), start=1):
        data, sidecar = build(case, index)
        (root / sidecar["file"]).write_bytes(data)
        (root / f"{case.name}.json").write_text(
            json.dumps(sidecar, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
            encoding="utf-8")
        sidecars.append(sidecar)
    return sidecars


def generate_corpus(out_dir: Path, seed: int = 2026, months: int = cat.MONTHS,
                    scale: float = 1.0, hosted: str = "") -> dict[str, Any]:
    """Write the corpus into *out_dir* (replacing ``past/`` and ``testset/``); returns the
    ground truth that is also written to ``truth.json``. Same arguments → same bytes."""
    if not 1 <= months <= 24:
        raise ValueError(f"months must be in [1, 24], got {months}")
    if not 0 < scale <= 50:
        raise ValueError(f"scale must be in (0, 50], got {scale}")
    if hosted not in HOSTED:
        raise ValueError(f"hosted must be one of {', '.join(h for h in HOSTED if h)}, "
                         f"got {hosted!r}")
    out_dir = Path(out_dir)
    for sub in ("past", "testset"):
        shutil.rmtree(out_dir / sub, ignore_errors=True)
    mails = past_mail(seed, months, scale, hosted)
    broken = broken_mail(seed)
    paths = _write_past(out_dir / "past", mails, broken)
    records = [rec for _, rec in mails]
    sidecars = _write_testset(out_dir / "testset")
    truth = {
        "schema_version": SCHEMA_VERSION,
        "seed": seed, "months": months, "scale": scale, **({"hosted": hosted} if hosted else {}),
        "config": "examples/sakimori.yaml",
        "past": {**paths, "messages": len(mails), "broken": len(broken),
                 "broken_reasons": [reason for reason, _ in broken],
                 "first": records[0].ts if records else None,
                 "last": records[-1].ts if records else None,
                 "expected": expected_learning(records)},
        "testset": {"dir": str(out_dir / "testset"), "cases": sidecars},
    }
    (out_dir / "truth.json").write_text(
        json.dumps(truth, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return truth
