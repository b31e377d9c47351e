"""The header From as the reader sees it (docs/mail-checks.md, "Displayed From").

Phishers write From headers that a strict RFC 5322 parser reads differently from a mail
client: ``Name,(<user@domain>)``, ``"Name"<"user@domain">``, ``a@b@domain``,
``X <junk>, Y <user@domain>``, ``Yamada, Taro <user@domain>``, ``CEO <user@domain>>``,
``"user@internal" <x@evil>``. One lenient reading, implemented here and in
``rspamd_lua/sakimori/from.lua`` (same vectors, same fuzz corpus):

- :func:`displayed` ``(raw value, decoded value) -> (displayed address, others)`` — the
  address a mail client shows and every other address-like text of the header (display name,
  comments, further mailboxes; RFC 2047 words decoded);
- :func:`read_from` — what the mail checks, the passive handler and learning take from the
  From header value(s): :class:`FromView` (strict name and address from :mod:`email.utils`,
  plus the displayed reading);
- :func:`from_domains` — the From domain(s) every check judges, with their evidence.

Pure, bounded (:data:`MAX_FROM` characters looked at) and never raising on hostile input.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import getaddresses

from sakimori.mail import (
    features,  # attribute access at call time: features imports us
    norm,
)

MAX_FROM = 4096  # characters of the first From value looked at
MAX_OTHERS = 8  # other address-like texts kept
MAX_ADDR = 320  # characters of one address kept
MAX_NAME = 200  # display-name characters kept (as learning keeps them)

# End a bare word of the structural reading (besides white space and control characters).
_WORD_END = frozenset('"(<>,;:)')
# End the local part of address-like text; '@' splits it.
_LOCAL_END = frozenset('<>()[]",;:\\@')
# Brackets, quotes and list punctuation that wrap text in prose (never part of an address).
_PUNCT = frozenset(chr(c) for c in (0xAB, 0xBB, *range(0x2018, 0x2020), 0x3001,
                                    *range(0x3008, 0x3012), *range(0x3014, 0x301C),
                                    0xFF08, 0xFF09, 0xFF0C, 0xFF1A, 0xFF1B, 0xFF1C, 0xFF1E,
                                    0xFF3B, 0xFF3D, 0xFF5B, 0xFF5D, 0xFF62, 0xFF63))


@dataclass(frozen=True, slots=True)
class FromView:
    """The From header, strictly parsed and as displayed. Strings may be hostile."""

    name: str = ""  # decoded display name of the strict mailbox
    strict: str = ""  # address of the strict parse ('' when none)
    shown: str = ""  # the displayed address ('' when none)
    others: tuple[str, ...] = ()  # other address-like text, in order of appearance


def _space(ch: str) -> bool:
    return ch.isspace() or ch < " " or ch == "\x7f"


def _domain_char(ch: str) -> bool:
    if ch.isascii():
        return ch.isalnum() or ch in "-._"
    return not _space(ch) and ch not in _PUNCT


def _local_char(ch: str) -> bool:
    return not _space(ch) and ch not in _LOCAL_END and ch not in _PUNCT


def usable(address: str) -> bool:
    """A non-empty local part, ``@`` and a domain that normalises (after the last ``@``)."""
    local, at, _ = address.rpartition("@")
    return bool(at and local) and bool(norm.domain_of(address))


def address_like(text: str) -> list[str]:
    """Every ``local@domain`` in free text, in order; ``a@b.jp@c.jp`` gives ``a@b.jp`` and
    ``b.jp@c.jp``. The domain needs a dot (prose such as ``at@home`` is not an address)."""
    out: list[str] = []
    n = len(text)
    at = text.find("@")
    while at >= 0 and len(out) < MAX_OTHERS * 2:
        i = at
        while i > 0 and _local_char(text[i - 1]):
            i -= 1
        k = at + 1
        while k < n and _domain_char(text[k]):
            k += 1
        local, dom = text[i:at], text[at + 1:k].rstrip(".")
        if local and "." in norm.normalise_domain(dom):
            out.append(f"{local}@{dom}"[:MAX_ADDR])
        at = text.find("@", at + 1)
    return out


def _skip_quoted(text: str, i: int) -> int:
    """Index after the quoted string starting at *i* (``\\`` escapes; unterminated: end)."""
    n, i = len(text), i + 1
    while i < n:
        if text[i] == "\\":
            i += 2
        elif text[i] == '"':
            return i + 1
        else:
            i += 1
    return n


def _skip_comment(text: str, i: int) -> int:
    """Index after the (nested) comment starting at *i* (unterminated: end)."""
    n, depth, i = len(text), 0, i
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        depth += (ch == "(") - (ch == ")")
        i += 1
        if depth == 0:
            return i
    return n


def _clean_angle(content: str) -> str:
    return "".join(ch for ch in content if ch != '"' and not _space(ch))


def _segments(text: str) -> list[tuple[str | None, list[str]]]:
    """(first angle content | None, bare words) per mailbox: split at top-level ``,``/``;``;
    quoted strings and comments are skipped, ``<...>`` ends at the first ``>``."""
    segs: list[tuple[str | None, list[str]]] = []
    angle: str | None = None
    words: list[str] = []
    word: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if _space(ch) or ch in _WORD_END:
            if word:
                words.append("".join(word))
                word = []
            if ch == '"':
                i = _skip_quoted(text, i)
                continue
            if ch == "(":
                i = _skip_comment(text, i)
                continue
            if ch == "<":
                end = text.find(">", i + 1)
                end = n if end < 0 else end
                if angle is None:
                    angle = text[i + 1:end]
                i = end + 1
                continue
            if ch in ",;":
                segs.append((angle, words))
                angle, words = None, []
        else:
            word.append(ch)
        i += 1
    if word:
        words.append("".join(word))
    segs.append((angle, words))
    return segs


def _mailbox_address(angle: str | None, words: list[str]) -> str:
    if angle is not None:
        addr = _clean_angle(angle)
        if usable(addr):
            return addr
    return next((w for w in words if usable(w)), "")


def displayed(raw: str, decoded: str = "") -> tuple[str, tuple[str, ...]]:
    """(displayed address, other address-like texts) of one From value (see module doc).

    *raw* is the header value as written and alone gives the displayed address; *decoded*,
    the same with RFC 2047 words decoded, is searched for further address-like text only
    (decoded words never make structure).
    """
    raw, decoded = raw[:MAX_FROM], decoded[:MAX_FROM]
    shown = next((a for a in (_mailbox_address(*s) for s in _segments(raw)) if a), "")
    found = address_like(raw)
    if not shown and found:
        shown = found[0]
    shown = shown[:MAX_ADDR]
    found += address_like(decoded) if decoded != raw else []
    seen = {shown.lower()}
    others = []
    for text in found:
        if text.lower() not in seen and len(others) < MAX_OTHERS:
            seen.add(text.lower())
            others.append(text)
    return shown, tuple(others)


def from_domains(shown: str, strict: str) -> tuple[tuple[str, str], ...]:
    """The From domains the checks judge, each with its evidence: the displayed and the strict
    address's domain — both, with ``parse=displayed``/``parse=strict``, when they differ."""
    d_shown, d_strict = norm.domain_of(shown), norm.domain_of(strict)
    if d_shown and d_strict and d_shown != d_strict:
        return (d_shown, "parse=displayed"), (d_strict, "parse=strict")
    return ((d_shown or d_strict, ""),) if d_shown or d_strict else ()


def _strict(value: str) -> tuple[str, str]:
    """(name, address) of the first mailbox with an ``@`` address, else of the first mailbox
    with a name or an address (:func:`email.utils.getaddresses`)."""
    try:
        pairs = getaddresses([value])
    except Exception:  # email.utils on hostile input: no mailbox
        return "", ""
    first = next(((n, a) for n, a in pairs if "@" in a), None)
    first = first or next(((n, a) for n, a in pairs if n or a), ("", ""))
    return first[0], first[1].strip()[:MAX_ADDR]


def one_line(value: str, limit: int = MAX_FROM) -> str:
    """The value capped at *limit* characters, control characters as spaces, stripped."""
    return "".join(" " if _space(ch) else ch for ch in value[:limit]).strip()


def read_from(values: Iterable[str]) -> FromView:
    """:class:`FromView` of the first non-blank From header value."""
    lines = (one_line(v) for v in list(values)[:8] if isinstance(v, str))
    raw = next((v for v in lines if v), "")
    if not raw:
        return FromView()
    name, strict = _strict(raw)
    shown, others = displayed(raw, features.decode_words(raw))
    strict_key = strict.lower()
    return FromView(name=features.clean_text(features.decode_words(name), MAX_NAME),
                    strict=strict,
                    shown=shown, others=tuple(o for o in others if o.lower() != strict_key))
