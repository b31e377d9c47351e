"""Learn the ``mail`` baselines from stored mail, incrementally (``sakimori learn --mail``).

:class:`MailLearner` starts from an existing baselines document (or an empty one), reads each
input with :mod:`generator.mail.reader`, turns every message into features
(:mod:`sakimori.mail.features`) and folds them into the mergeable counts of
:mod:`generator.mail.state`; :meth:`MailLearner.document_section` derives the lists.

What one message contributes:

- every message: the header-From address's message count and display name; the display
  names of internal To/Cc addresses;
- a message with an external sender and an unauthenticated session: for its sender domain,
  one message, each infrastructure key of the external sender once, each known country of
  the external chain once, and its date (first/last);
- a message with a sender domain: the networks of its newest public hops (relay candidates,
  :meth:`MailState.see_hops`). After each input the learned relays are derived again; when
  they changed, that input's messages are judged under the new trust boundary before their
  domain history is counted (so the tenant hops of a hosted mailbox are never taken for the
  senders' path). Messages learned from earlier inputs keep the boundary they were learned
  with.

Incremental rules (provenance as in traffic learning: one entry per input with path, kind,
records, bad, time span): a file whose sha256 was already learned is skipped; an input path
learned before only contributes messages dated after the newest one learned from it (so a
growing Maildir or mbox can be learned every day). Each input is learned into its own counts
and then merged, which is exactly what makes learning A then B equal learning A+B.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from generator.learn_traffic import file_sha256, now_iso
from generator.mail.reader import ReadStats, read_mail
from generator.mail.state import RELAY_DEPTH, MailState, RelayStats, is_internal
from generator.traffic_summary import from_iso, iso
from sakimori.baselines import SCHEMA_VERSION, empty_document
from sakimori.config import Config
from sakimori.errors import InputError
from sakimori.mail import country
from sakimori.mail.features import MailFeatures, Trust, extract, receiving_networks, rejudge

log = logging.getLogger(__name__)

SANE_DATES = (631152000.0, 4102444800.0)  # 1990-01-01 .. 2100-01-01: others are ignored


class MailLearner:
    """Fold stored mail into the ``mail`` section of a baselines document."""

    def __init__(self, cfg: Config, doc: dict[str, Any] | None = None,
                 source: str = "<new>") -> None:
        self.cfg = cfg
        self.messages_read = 0  # messages of the input being read (for a progress line)
        self.doc = doc if doc is not None else empty_document()
        try:
            self.state = MailState.from_section(self.doc.get("mail") or {})
        except (ValueError, TypeError, AttributeError) as exc:
            raise InputError(source, None, f"baselines mail section unusable: {exc}") from exc
        self.relays = self.state.relays(cfg.mail)
        self.trust = Trust(cfg, {"relays": self.relays})
        self._rejudge = False
        prov = self.doc.get("provenance") or {}
        self.inputs: list[dict[str, Any]] = list(prov.get("inputs") or [])
        self._known = {i.get("sha256") for i in self.inputs
                       if isinstance(i, dict) and i.get("sha256")}
        self.skipped: list[str] = []

    # --- inputs ------------------------------------------------------------------------

    def _watermark(self, path: Path) -> tuple[bool, float | None]:
        """(learned before, newest message time already learned from this path)."""
        target = path.resolve()
        entries = [i for i in self.inputs if isinstance(i, dict) and i.get("kind") == "mail"
                   and Path(str(i.get("path"))).resolve() == target]
        lasts = [from_iso(i["last"]) for i in entries if i.get("last")]
        return bool(entries), (max(lasts) if lasts else None)

    def add_path(self, path: Path) -> dict[str, Any] | None:
        """Learn one input (EML file or directory, mbox, Maildir); its provenance entry, or
        None when the same content was already learned."""
        path = Path(path)
        if not path.exists():
            raise InputError(str(path), None, "mail input not found")
        digest = file_sha256(path) if path.is_file() else ""
        if digest and digest in self._known:
            log.warning("%s: already learned (same sha256), skipped", path)
            self.skipped.append(str(path))
            return None
        part, stats, span, old = self._learn(path, *self._watermark(path))
        self.state.merge(part)
        if digest:
            self._known.add(digest)
        entry = {"path": str(path), "kind": "mail", "format": "+".join(sorted(stats.kinds)),
                 "sha256": digest, "records": stats.messages - old, "bad": stats.broken,
                 "bad_examples": stats.examples, "already_learned": old,
                 "first": span[0], "last": span[1]}
        self.inputs.append(entry)
        return entry

    def _learn(self, path: Path, seen_before: bool, watermark: float | None
               ) -> tuple[MailState, ReadStats, tuple[str | None, str | None], int]:
        part, stats = MailState(), ReadStats()
        first = last = None
        old = 0
        pending: list[tuple[MailFeatures, float | None]] = []
        for label, msg in read_mail(path, stats):
            self.messages_read = stats.messages
            try:
                feats = extract(msg, self.trust)
            except Exception as exc:  # extract is written never to raise; never stop here
                stats.messages -= 1
                stats.bad(label, f"features: {type(exc).__name__}: {str(exc)[:120]}")
                continue
            when = feats.date if feats.date and SANE_DATES[0] < feats.date < SANE_DATES[1] \
                else None
            if seen_before and (when is None or (watermark is not None and when <= watermark)):
                old += 1
                continue
            self._learn_people(part, feats)
            part.see_hops(receiving_networks(feats.hops, self.trust, RELAY_DEPTH),
                          feats.sender_domain)
            if feats.sender_domain:  # judged once this input's relays are known
                pending.append((replace(feats, recipients=()), when))
            if when is not None:
                first = when if first is None else min(first, when)
                last = when if last is None else max(last, when)
        self._update_relays(part)
        for feats, when in pending:
            self._learn_domain(part, rejudge(feats, self.trust) if self._rejudge else feats,
                               when)
        if not seen_before:  # undated, like undated messages: counted on the first learn only
            part.broken += stats.broken
        if stats.broken:
            log.warning("%s: %d broken mails skipped (first: %s)", path, stats.broken,
                        "; ".join(stats.examples[:3]))
        span = (iso(first) if first is not None else None,
                iso(last) if last is not None else None)
        return part, stats, span, old

    def _update_relays(self, part: MailState) -> None:
        """Derive the relays from the counts so far plus *part*'s; a change of relays means
        this input's messages are judged again under the new trust boundary."""
        probe = MailState(relay_messages=self.state.relay_messages + part.relay_messages)
        for source in (self.state, part):
            for net, stats in source.relay_hops.items():
                probe.relay_hops.setdefault(net, RelayStats()).merge(stats)
        relays = probe.relays(self.cfg.mail)
        self._rejudge = set(relays) != set(self.relays)
        if self._rejudge:
            self.relays = relays
            self.trust = Trust(self.cfg, {"relays": relays})

    def learn_message(self, state: MailState, f: MailFeatures, when: float | None) -> None:
        """Fold one message's features into *state* (see the module docstring)."""
        self._learn_people(state, f)
        self._learn_domain(state, f, when)

    def _learn_people(self, state: MailState, f: MailFeatures) -> None:
        state.messages += 1
        internal = self.cfg.mail.internal_domains
        if f.from_addr:
            sender = state.address(f.from_addr)
            sender.messages += 1
            if f.from_name:
                sender.names[f.from_name] += 1
        for name, addr in f.recipients:
            if name and is_internal(addr.rpartition("@")[2], internal):
                state.address(addr).names[name] += 1

    @staticmethod
    def _learn_domain(state: MailState, f: MailFeatures, when: float | None) -> None:
        domain = f.sender_domain
        if domain and f.external and not f.authenticated:
            known = {cc for cc in f.countries if cc}
            state.domain(domain).see(f.infra, known, when)

    # --- output --------------------------------------------------------------------------

    def document_section(self) -> dict[str, Any]:
        """The ``mail`` section, lists derived from the merged counts."""
        data = {"source": country.SOURCE, "version": country.data_version().split(" ", 1)[1]}
        return self.state.section(self.cfg.mail, data)

    def document(self) -> dict[str, Any]:
        """The whole updated baselines document (other sections kept as they were)."""
        doc = dict(self.doc)
        doc["schema_version"] = SCHEMA_VERSION
        doc["generated_at"] = now_iso()
        doc.setdefault("traffic", {})
        doc["mail"] = self.document_section()
        doc["provenance"] = provenance(self.inputs)
        return doc


def provenance(inputs: list[dict[str, Any]]) -> dict[str, Any]:
    """Inputs, total records and overall time span (same form as traffic learning)."""
    entries = [i for i in inputs if isinstance(i, dict)]
    firsts = [i["first"] for i in entries if i.get("first")]
    lasts = [i["last"] for i in entries if i.get("last")]
    return {
        "inputs": inputs,
        "records": sum(int(i.get("records") or 0) for i in entries),
        "first_seen": iso(min(from_iso(t) for t in firsts)) if firsts else None,
        "last_seen": iso(max(from_iso(t) for t in lasts)) if lasts else None,
    }
