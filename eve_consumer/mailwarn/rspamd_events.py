"""Rspamd ``metadata_exporter`` events (formatter ``json``) → flagged mails.

Rspamd 3.4's ``json`` formatter (``get_general_metadata`` in
``/usr/share/rspamd/plugins/metadata_exporter.lua``) posts one compact JSON object per
exported mail: ``ip``, ``user``, ``qid``, ``from`` (envelope), ``rcpt`` (envelope, list),
``subject``, ``message_id`` (without angle brackets), ``score``, ``action``, ``symbols`` (a
list of ``{name, score, options?, group, groups}``), ``header_from``, ``header_to``,
``header_subject``, ``header_date`` (lists of RFC 2047-decoded values), ``scan_time``,
``rspamd_server``, ``fuzzy``. A missing value is the string ``"unknown"``. Any field may be
absent or of another type here (hostile or broken input): it is then treated as missing.

:func:`flagged_from_rspamd` keeps the ``SAKIMORI_*`` symbols (fixed vocabulary) with their
options, the names of Rspamd's own symbols about the same divergence (``RELATED``), and a
ClamAV malware verdict (``CLAM_VIRUS``: signature names, for the mail classes of
:mod:`sakimori.mail.classes`; the exporter posts infected mail too).
:func:`read_events_file` is the file mode (``consume --rspamd-events FILE``): one JSON object
per line; bad lines are counted and the first few named as ``file:line: reason``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from sakimori.errors import InputError
from sakimori.mail.checks import SYMBOLS, Hit
from sakimori.mail.classes import AV_SYMBOL
from sakimori.mail.warnings import FlaggedMail, cap

RELATED = frozenset({"FORGED_SENDER", "FROM_NEQ_ENVFROM", "REPLYTO_DOM_NEQ_FROM_DOM",
                     "REPLYTO_ADDR_EQ_FROM", "SPOOF_REPLYTO", "SPOOF_DISPLAY_NAME",
                     "FROM_NAME_HAS_TITLE", "FORGED_RECIPIENTS", "R_SPF_FAIL", "R_SPF_SOFTFAIL",
                     "R_DKIM_REJECT", "DMARC_POLICY_REJECT", "DMARC_POLICY_QUARANTINE",
                     "DMARC_POLICY_SOFTFAIL", "PHISHING", "HFILTER_HELO_NORES_A_OR_MX"})
MAX_LINE = 1 << 20  # bytes of one event (an exporter post is a few kB)
MAX_OPTIONS = 50
MAX_EXAMPLES = 5
_MISSING = ("", "unknown", "undef")


def _value(obj: dict[str, Any], key: str, limit: int = 2000) -> str:
    """A scalar string field ('' when missing, ``unknown`` or not a string)."""
    value = obj.get(key)
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str)), "")
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    return "" if not isinstance(value, str) or value in _MISSING else cap(value, limit)


def _symbols(raw: Any) -> list[tuple[str, Any]]:
    """(name, symbol object) from the exporter's list, or from a name → object mapping."""
    if isinstance(raw, dict):
        return [(str(k), v) for k, v in raw.items()]
    if isinstance(raw, list):
        return [(s["name"], s) for s in raw if isinstance(s, dict)
                and isinstance(s.get("name"), str)]
    return []


def _options(sym: Any) -> list[str]:
    opts = sym.get("options") if isinstance(sym, dict) else None
    if not isinstance(opts, list):
        return []
    return [cap(o, 500) for o in opts[:MAX_OPTIONS] if isinstance(o, str)]


def _score(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def flagged_from_rspamd(obj: Any) -> FlaggedMail | None:
    """The flagged mail of one exporter event; None when neither a SAKIMORI_* symbol nor a
    malware verdict is in it."""
    if not isinstance(obj, dict):
        return None
    found = dict(_symbols(obj.get("symbols")))
    hits = tuple(Hit(s, _options(found[s])) for s in SYMBOLS if s in found)
    malware = tuple(sorted({o[:200] for o in _options(found[AV_SYMBOL])} or {"unknown"})) \
        if AV_SYMBOL in found else ()
    if not hits and not malware:
        return None
    rcpt = obj.get("rcpt")
    recipients = [rcpt] if isinstance(rcpt, str) else rcpt if isinstance(rcpt, list) else []
    return FlaggedMail(
        source="rspamd", hits=hits, header_from=_value(obj, "header_from"),
        envelope_from=_value(obj, "from", 320),
        recipients=tuple(cap(r, 320) for r in recipients[:1000]
                         if isinstance(r, str) and r not in _MISSING),
        subject=_value(obj, "header_subject") or _value(obj, "subject"),
        date=_value(obj, "header_date", 200), message_id=_value(obj, "message_id", 998),
        ip=_value(obj, "ip", 64), queue_id=_value(obj, "qid", 200),
        score=_score(obj.get("score")), action=_value(obj, "action", 40),
        related=tuple(sorted(n for n in found if n in RELATED)), malware=malware,
        extra={"user": _value(obj, "user", 200), "server": _value(obj, "rspamd_server", 200)})


@dataclass
class FileStats:
    """What one events file held."""

    path: str
    lines: int = 0
    flagged: int = 0
    not_flagged: int = 0
    bad: int = 0
    examples: list[str] = field(default_factory=list)

    def reject(self, lineno: int, reason: str) -> None:
        self.bad += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(f"{self.path}:{lineno}: {reason}")


def parse_line(line: bytes) -> tuple[FlaggedMail | None, str | None]:
    """(flagged mail or None, reason the line is bad or None)."""
    if len(line) > MAX_LINE:
        return None, f"longer than {MAX_LINE} bytes"
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None, "not valid JSON"
    if not isinstance(obj, dict):
        return None, "not a JSON object"
    if not isinstance(obj.get("symbols"), list | dict):
        return None, "no 'symbols' (not a metadata_exporter json event)"
    return flagged_from_rspamd(obj), None


def _bounded_lines(fh: BinaryIO) -> Iterator[bytes | None]:
    """Lines of at most MAX_LINE bytes; a longer one is skipped to its end and yields None."""
    while line := fh.readline(MAX_LINE + 1):
        if len(line) > MAX_LINE and not line.endswith(b"\n"):
            while (rest := fh.readline(MAX_LINE)) and not rest.endswith(b"\n"):
                pass
            yield None
        else:
            yield line


def _read(fh: BinaryIO, stats: FileStats, submit: Callable[[FlaggedMail], Any]) -> None:
    for lineno, line in enumerate(_bounded_lines(fh), 1):
        stats.lines += 1
        if line is not None and not line.strip():
            continue
        mail, reason = parse_line(line) if line is not None else \
            (None, f"longer than {MAX_LINE} bytes")
        if reason:
            stats.reject(lineno, reason)
        elif mail is None:
            stats.not_flagged += 1
        else:
            stats.flagged += 1
            submit(mail)


def read_events_file(path: str | Path, submit: Callable[[FlaggedMail], Any]) -> FileStats:
    """Feed every flagged mail of a JSON-lines file to *submit* (see the module docstring)."""
    stats = FileStats(str(path))
    try:
        with Path(path).open("rb") as fh:
            _read(fh, stats, submit)
    except OSError as exc:
        raise InputError(str(path), None, f"cannot read: {exc.strerror or exc}") from exc
    return stats
