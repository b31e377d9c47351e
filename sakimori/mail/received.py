"""Parse one ``Received`` header into a hop: connecting IP, names, protocol, time.

Forms understood (the part before ``by`` is the sending side):

- Postfix/Sendmail ``from HELO (PTR [IP])`` and ``(unknown [IPv6:…])``, ident
  ``(user@PTR [IP])``, ``(may be forged)`` comments;
- Exim ``from NAME ([IP] helo=HELO)`` (NAME is the looked-up host name) and
  ``from [IP] (helo=HELO)``;
- qmail ``from unknown (HELO name) (IP)``, Microsoft ``from NAME (IP)``;
- a bare address literal ``from [IP]``, and ``from NAME [IP]`` (NAME is the HELO).

The hop's ``hostname`` follows docs/mail-checks.md: the PTR name in parentheses, else the HELO
name. Anything else (``Received: apparently``) gives a hop with no IP. Input is capped and
unfolded first; the parser never raises on garbage.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from functools import lru_cache

from sakimori.mail.norm import normalise_domain

MAX_RECEIVED = 2048  # characters of one header looked at
_KEYWORDS = frozenset({"by", "with", "id", "for", "via"})
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,62}\.)+[a-z0-9-]{1,63}$")
_BRACKET_IP = re.compile(r"\[(?:ipv6:)?([0-9a-f:.]+)(?:%[^\]]*)?\]", re.IGNORECASE)
_WITH = re.compile(r"\bwith\s+([A-Za-z0-9_]+)", re.IGNORECASE)
_AUTH_PROTO = re.compile(r"^(?:utf8)?(?:e?smtp|lmtp)s?a$", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_COMMENT = re.compile(r"\([^()]*\)")
_HELO_EQ = re.compile(r"\bhelo=(\[[^\]\s]*\]|[^\s)\]]+)", re.IGNORECASE)
# "(name [IP])" or "(user@name [IP])" in the sending part of a Received header
_PTR_COMMENT = re.compile(r"\(\s*(?:[^()\s@]*@)?([A-Za-z0-9._-]+)\s+\[(?:IPv6:)?[0-9A-Fa-f:.]+\]")


@dataclass(frozen=True, slots=True)
class Hop:
    """One Received header (newest first in a message)."""

    ip: str = ""
    hostname: str = ""  # PTR name in parentheses, else the HELO name ('' when none usable)
    helo: str = ""
    ptr: str = ""
    proto: str = ""
    verified: str = ""  # the PTR in parentheses only (verified_name): what trust may use
    authenticated: bool = False
    ts: float | None = None


def unfold(value: str, limit: int = MAX_RECEIVED) -> str:
    """One line: folding, CR/LF and other control characters become spaces, capped."""
    return " ".join(_CONTROL.sub(" ", value[: limit * 2]).split())[:limit]


@lru_cache(maxsize=65536)
def clean_ip(text: str) -> str:
    """Canonical text of an IP literal (``IPv6:`` prefix, brackets, zone removed); '' if none."""
    text = text.strip().strip("[]")
    if text[:5].lower() == "ipv6:":
        text = text[5:]
    text = text.split("%", 1)[0]
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return ""
    if addr.version == 6 and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)


@lru_cache(maxsize=65536)
def clean_hostname(text: str) -> str:
    """A plausible DNS host name (normalised) or ''; ``unknown``/``localhost`` are not names."""
    name = normalise_domain(text.strip().strip("[]()<>").rstrip("."))
    if not name or name in ("unknown", "localhost", "localhost.localdomain") or clean_ip(name):
        return ""
    top = name.rsplit(".", 1)[-1]
    return name if _HOSTNAME.match(name) and not top.isdigit() else ""


def verified_name(value: str) -> str:
    """The PTR name in parentheses before ``by`` (docs/mail-checks.md: a hop's verified
    name) — not Exim's looked-up name in front of ``([IP] helo=…)``, not the HELO. The Lua
    twin is ``norm.verified_name`` (rspamd_lua/sakimori/norm.lua)."""
    match = _PTR_COMMENT.search(unfold(value).split(" by ", 1)[0])
    return clean_hostname(match.group(1)) if match else ""


def _split_from_part(text: str) -> tuple[str, list[str], list[str], str]:
    """``from`` token, its parenthesised comments (nesting kept inside), other words before
    the first keyword (``from NAME [IP]``), and the rest."""
    i, n = 5, len(text)  # after "from "
    while i < n and text[i] == " ":
        i += 1
    start = i
    while i < n and text[i] not in " (":
        i += 1
    token, comments, words = text[start:i], [], []
    while i < n:
        if text[i] == " ":
            i += 1
        elif text[i] == "(":
            depth, begin = 0, i
            while i < n:
                depth += {"(": 1, ")": -1}.get(text[i], 0)
                i += 1
                if depth == 0:
                    break
            comments.append(text[begin + 1:i - 1])
        else:
            word = text[i:].split(" ", 1)[0]
            if word.lower() in _KEYWORDS:
                break
            words.append(word)
            i += len(word) or 1  # unexpected word: step over it
    return token, comments, words, text[i:]


def _from_comments(comments: list[str]) -> tuple[str, str, str]:
    """(ip, ptr, helo) from the comments after the ``from`` token."""
    ip = ptr = helo = ""
    for comment in comments:
        match = _BRACKET_IP.search(comment)
        if match and not ip:
            ip = clean_ip(match.group(1))
            before = comment[:match.start()].strip().rsplit("@", 1)[-1]
            if before and not ptr:
                ptr = clean_hostname(before.split()[-1])
        elif not ip and clean_ip(comment):
            ip = clean_ip(comment)
        words = comment.split()
        if len(words) == 2 and words[0].upper() == "HELO" and not helo:
            helo = words[1]
        eq = _HELO_EQ.search(comment)
        if eq and not helo:
            helo = eq.group(1)
    return ip, ptr, helo


def _timestamp(text: str) -> float | None:
    if ";" not in text:
        return None
    try:
        when = parsedate_to_datetime(text.rsplit(";", 1)[1].strip())
        return when.timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _without_comments(text: str) -> str:
    for _ in range(4):  # nested comments, a few levels deep
        text, n = _COMMENT.subn(" ", text)
        if not n:
            break
    return text


def parse_received(value: str) -> Hop:
    """Parse one Received header value (see the module docstring); never raises."""
    text = unfold(value)
    is_from = text[:5].lower() == "from "
    token, comments, words, rest = _split_from_part(text) if is_from else ("", [], [], text)
    proto_match = _WITH.search(_without_comments(rest))
    proto = proto_match.group(1).upper() if proto_match else ""
    hop = {"proto": proto, "authenticated": bool(_AUTH_PROTO.match(proto)),
           "ts": _timestamp(text), "verified": verified_name(text) if is_from else ""}
    if not is_from:
        return Hop(**hop)
    ip, ptr, helo = _from_comments(comments)
    token_ip = clean_ip(token) if token.startswith("[") else ""
    if not ip:  # 'from [IP]', or 'from NAME [IP]' (NAME is then the HELO)
        ip = token_ip or next((clean_ip(w) for w in words[:2] if w.startswith("[")
                               and clean_ip(w)), "")
    if helo:  # Exim/qmail: the token before the comment is the looked-up name
        ptr = ptr or clean_hostname(token)
    else:
        helo = token
    helo_name = "" if token_ip or helo.startswith("[") else clean_hostname(helo)
    return Hop(ip=ip, hostname=ptr or helo_name, helo=helo[:255], ptr=ptr, **hop)
