"""Rule revision ledger: ``rev``, ``created_at`` and ``updated_at`` of every sakimori rule.

ET Open convention: a rule's ``rev`` goes up whenever its text changes, ``created_at`` stays,
``updated_at`` is the day of the last change. The dates must not come from the clock (the
output of ``generate`` is deterministic), so they live in a committed ledger,
``suricata_rules/rule_revisions.json``: SID offset (from ``suricata.sid_base``) → sha256 of the
rule's canonical text, rev, created_at, updated_at.

The canonical text of a generated rule is the template rendered with a fixed configuration
that switches every rule on (:func:`canonical_rules`), without ``rev`` and ``metadata``
(thresholds and dates change per site, the rule's logic does not). A static rule's canonical
text is its line in ``suricata_rules/static.rules`` without ``rev`` and ``metadata``; the
ledger's rev and dates are written into that file by ``--update``.

After changing the template or static.rules run::

    python -m generator.rule_ledger --update

(``--check`` exits 1 when the ledger is stale; ``tests/test_rule_ledger.py`` fails then.)
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from suricata_rules import STATIC_RULES

LEDGER = Path(STATIC_RULES).resolve().parent / "rule_revisions.json"
DEFAULT_SID_BASE = 9300000
_SID = re.compile(r"\bsid:\s*(\d+)\s*;")
_VOLATILE = re.compile(r"\s*\b(?:rev:\s*\d+|metadata:[^;]*);")

CANONICAL_CONFIG = """networks:
  home: [10.1.0.0/16]
whitelist:
  destinations: [ntp.example.jp, "*.example.org", 203.0.113.0/24]
traffic:
  port_protocols: {80: [http], 443: [tls, http], 9443: [tls]}
anonymizer:
  tor_relays: [relays.txt]
  tor_cert_pattern: true
"""


def canonical_text(rule: str) -> str:
    """The rule without rev and metadata (what a revision is about)."""
    return _VOLATILE.sub("", rule.strip())


def rule_hash(rule: str) -> str:
    return hashlib.sha256(canonical_text(rule).encode("utf-8")).hexdigest()


def load(path: Path = LEDGER) -> dict[str, dict[str, Any]]:
    """The ledger: {"<sid offset>": {sha256, rev, created_at, updated_at}}."""
    with open(path, encoding="utf-8") as fh:
        data: dict[str, dict[str, Any]] = json.load(fh)
    return data


def entry(ledger: dict[str, dict[str, Any]], offset: int) -> dict[str, Any]:
    """The ledger entry of *offset*; a clear error when the rule is not in the ledger."""
    try:
        return ledger[str(offset)]
    except KeyError:
        raise KeyError(f"{LEDGER}: no entry for SID offset {offset} — run "
                       "`python -m generator.rule_ledger --update`") from None


def canonical_rules() -> dict[int, str]:
    """SID offset → rule line for every generated and static rule (canonical render)."""
    from generator.render_suricata import SID_OFFSETS, render_rules
    from sakimori.config import load_config
    from sakimori.tor import load_relays

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "relays.txt").write_text("192.0.2.1\n2001:db8::1\n", encoding="utf-8")
        path = Path(tmp) / "sakimori.yaml"
        path.write_text(CANONICAL_CONFIG, encoding="utf-8")
        cfg = load_config(path, env={})
        blank = {"rev": 0, "created_at": "", "updated_at": ""}  # metadata: not hashed
        text = render_rules(cfg, None, load_relays(cfg.anonymizer.tor_relays),
                            {str(o): blank for o in SID_OFFSETS.values()})
    text += "\n" + STATIC_RULES.read_text(encoding="utf-8")
    rules: dict[int, str] = {}
    for line in text.splitlines():
        m = _SID.search(line)
        if line.startswith("alert ") and m:
            rules[int(m.group(1)) - DEFAULT_SID_BASE] = line
    return rules


def stale(ledger: dict[str, dict[str, Any]]) -> list[str]:
    """SID offsets whose ledger hash differs from the current text, is missing or is extra."""
    rules = canonical_rules()
    out = [str(o) for o, r in sorted(rules.items())
           if ledger.get(str(o), {}).get("sha256") != rule_hash(r)]
    return out + sorted(set(ledger) - {str(o) for o in rules}, key=int)


def update(ledger: dict[str, dict[str, Any]], today: str) -> dict[str, dict[str, Any]]:
    """The ledger with changed rules' rev bumped and updated_at set to *today*."""
    new: dict[str, dict[str, Any]] = {}
    for offset, rule in sorted(canonical_rules().items()):
        digest, old = rule_hash(rule), ledger.get(str(offset))
        if old is None:
            new[str(offset)] = {"sha256": digest, "rev": 1, "created_at": today,
                                "updated_at": today}
        elif old["sha256"] != digest:
            new[str(offset)] = {**old, "sha256": digest, "rev": old["rev"] + 1,
                                "updated_at": today}
        else:
            new[str(offset)] = old
    return new


def stamp_static(ledger: dict[str, dict[str, Any]], path: Path = STATIC_RULES) -> str:
    """static.rules with each rule's rev, created_at and updated_at taken from the ledger."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        m = _SID.search(line)
        if line.startswith("alert ") and m:
            e = entry(ledger, int(m.group(1)) - DEFAULT_SID_BASE)
            line = re.sub(r"\brev:\s*\d+;", f"rev:{e['rev']};", line)
            line = re.sub(r"created_at \d{4}_\d\d_\d\d", f"created_at {e['created_at']}", line)
            line = re.sub(r"updated_at \d{4}_\d\d_\d\d", f"updated_at {e['updated_at']}", line)
        out.append(line)
    return "".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m generator.rule_ledger", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="exit 1 when the ledger is stale")
    mode.add_argument("--update", action="store_true", help="bump revs of changed rules")
    ap.add_argument("--date", help="updated_at of changed rules (YYYY_MM_DD; default today)")
    args = ap.parse_args(argv)
    ledger = load() if LEDGER.exists() else {}
    if args.check:
        bad = stale(ledger) + (["static.rules"] if STATIC_RULES.exists()
                               and stamp_static(ledger) != STATIC_RULES.read_text("utf-8")
                               else [])
        if bad:
            print(f"{LEDGER}: stale for SID offsets {', '.join(bad)} — run "
                  "`python -m generator.rule_ledger --update`", file=sys.stderr)
            return 1
        return 0
    today = args.date or dt.datetime.now(dt.UTC).strftime("%Y_%m_%d")
    ledger = update(ledger, today)
    LEDGER.write_text(json.dumps(ledger, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    STATIC_RULES.write_text(stamp_static(ledger), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
