"""Table 1 mail classes: ``targeted`` | ``mass_virus`` | ``spam`` | ``clean`` for one mail.

The verdicts come from real engines through Rspamd: ClamAV (Rspamd's ``antivirus`` module,
symbol ``CLAM_VIRUS`` with the signature names as options, ``CLAM_VIRUS_FAIL`` when clamd could
not be asked), Rspamd's own spam verdict (its action, ``GTUBE``) and the sakimori plugin's
spoofing checks (``SAKIMORI_*``). :func:`classify` applies the precedence documented in
docs/mail-checks.md ("Mail classes (Table 1)"):

1. ``mass_virus`` — a malware verdict on mail whose malware reached at least
   ``mail_classes.mass_min_recipients`` distinct recipients within
   ``mail_classes.mass_window_hours`` (:class:`VolumeCounter`), spoofed sender or not: a
   campaign to that many people is not aimed at one of them;
2. ``targeted`` — any sakimori spoofing check fired, or a malware verdict on low-volume mail;
3. ``spam`` — Rspamd's action is ``reject``, ``rewrite subject`` or ``add header``, or GTUBE;
4. ``clean`` — none of these.

The antivirus fails open: when clamd is down the mail still flows and is classed on the
other verdicts; :func:`antivirus_state` then says ``failed``.

Volume ("the same attachment reaching many recipients") is counted per malware signature
name: copies of one malicious attachment get the same name from ClamAV, whatever their
Message-ID, subject or sender. Recipients are counted distinct (a copy sent twice to the same
person is one); a copy without envelope recipients counts as one recipient of its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sakimori.mail import norm
from sakimori.mail.checks import SYMBOLS as SPOOF_SYMBOLS
from sakimori.mailclassconfig import SPAM_ACTIONS, MailClassesConfig

AV_SYMBOL = "CLAM_VIRUS"
AV_FAIL_SYMBOL = AV_SYMBOL + "_FAIL"
AV_SYMBOLS = (AV_SYMBOL, AV_FAIL_SYMBOL)
SPAM_SYMBOLS = frozenset({"GTUBE"})
MAX_KEYS = 100_000  # distinct malware names kept by a VolumeCounter
MAX_RCPTS_PER_KEY = 10_000


def malware_names(symbols: Mapping[str, Iterable[str]]) -> list[str]:
    """Signature names of a malware verdict ([] when none); '.UNOFFICIAL' etc. kept."""
    if AV_SYMBOL not in symbols:
        return []
    names = [str(n)[:200] for n in (symbols.get(AV_SYMBOL) or [])]
    return sorted(set(names)) or ["unknown"]


def antivirus_state(symbols: Mapping[str, Any], enabled: bool | None = True) -> str:
    """``infected``, ``failed`` (clamd not reachable: failed open), ``clean``, ``off`` (no
    antivirus), or ``unknown`` (*enabled* None: another Rspamd, its antivirus set-up unknown)."""
    if AV_SYMBOL in symbols:
        return "infected"
    if AV_FAIL_SYMBOL in symbols:
        return "failed"
    if enabled is None:
        return "unknown"
    return "clean" if enabled else "off"


def volume_keys(symbols: Mapping[str, Iterable[str]]) -> list[str]:
    return [f"malware:{name.lower()}" for name in malware_names(symbols)]


def recipient_keys(recipients: Iterable[str]) -> list[str]:
    """The distinct recipients of one mail as volume counters key them (normalised address,
    else the raw text cut to 320 characters); empty when the mail names none."""
    return sorted({norm.normalise_address(r) or str(r)[:320] for r in recipients})


class VolumeCounter:
    """Distinct recipients per malware signature within a sliding window (in memory)."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._seen: dict[str, dict[str, float]] = {}
        self._anon = 0

    def _prune(self, now: float) -> None:
        cutoff = now - self.window_s
        for key in list(self._seen):
            rcpts = {r: t for r, t in self._seen[key].items() if t >= cutoff}
            if rcpts:
                self._seen[key] = rcpts
            else:
                del self._seen[key]

    def add(self, keys: Iterable[str], recipients: Iterable[str],
            now: float | None = None) -> None:
        """Count one mail with *keys* to *recipients* (none: one anonymous recipient)."""
        now = time.time() if now is None else now
        keys = list(keys)
        if not keys:
            return
        rcpts = recipient_keys(recipients)
        if not rcpts:
            self._anon += 1
            rcpts = [f"(copy {self._anon})"]
        if len(self._seen) >= MAX_KEYS:
            self._prune(now)
        for key in keys:
            if key not in self._seen and len(self._seen) >= MAX_KEYS:
                continue
            seen = self._seen.setdefault(key, {})
            for r in rcpts:
                if r in seen or len(seen) < MAX_RCPTS_PER_KEY:
                    seen[r] = now

    def volume(self, keys: Iterable[str], now: float | None = None) -> int:
        """The most distinct recipients any of *keys* reached within the window."""
        now = time.time() if now is None else now
        cutoff = now - self.window_s
        return max((sum(1 for t in self._seen.get(k, {}).values() if t >= cutoff)
                    for k in keys), default=0)


@dataclass(frozen=True)
class MailClass:
    """The class of one mail and why."""

    name: str
    reasons: tuple[str, ...]
    malware: tuple[str, ...] = ()
    volume: int = 0
    antivirus: str = "off"

    def as_dict(self) -> dict[str, Any]:
        return {"class": self.name, "class_reasons": list(self.reasons),
                "malware": list(self.malware), "volume": self.volume,
                "antivirus": self.antivirus}


def classify(cfg: MailClassesConfig, symbols: Mapping[str, Iterable[str]],
             action: Any, volume: int, antivirus_enabled: bool | None = True) -> MailClass:
    """The class of a mail with Rspamd *symbols* (name → options) and *action*, whose malware
    reached *volume* distinct recipients (see the module docstring for the precedence)."""
    malware = tuple(malware_names(symbols))
    spoof = [s for s in SPOOF_SYMBOLS if s in symbols]
    av = antivirus_state(symbols, antivirus_enabled)
    reasons: list[str] = []
    if av in ("failed", "off"):
        reasons.append("antivirus failed (clamd not reachable): classed without a malware "
                       "verdict" if av == "failed" else "no antivirus: classed without a "
                       "malware verdict")
    threshold = cfg.mass_min_recipients
    if malware and volume >= threshold:
        name = "mass_virus"
        reasons.insert(0, f"malware {', '.join(malware)} reached {volume} recipients "
                          f"(>= {threshold} within {cfg.mass_window_hours:g} h)")
        if spoof:
            reasons.append(f"spoofing checks also fired: {', '.join(spoof)}")
    elif spoof:
        name = "targeted"
        reasons.insert(0, f"spoofing checks fired: {', '.join(spoof)}")
        if malware:
            reasons.append(f"malware {', '.join(malware)} to {volume} recipient(s)")
    elif malware:
        name = "targeted"
        reasons.insert(0, f"malware {', '.join(malware)} to only {volume} recipient(s) "
                          f"(< {threshold})")
    elif str(action or "") in SPAM_ACTIONS or SPAM_SYMBOLS.intersection(symbols):
        name = "spam"
        hit = sorted(SPAM_SYMBOLS.intersection(symbols))
        reasons.insert(0, f"Rspamd spam verdict: action {action}"
                          + (f", {', '.join(hit)}" if hit else ""))
    else:
        name = "clean"
        reasons.insert(0, f"no malware, no spoofing check, Rspamd action {action}")
    return MailClass(name, tuple(reasons), malware, volume if malware else 0, av)
