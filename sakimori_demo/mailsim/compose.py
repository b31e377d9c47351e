"""Build raw RFC 5322 messages for the simulated corpus: headers, Received hops, bodies.

Messages are written byte by byte (not through ``email.message``) so the generator controls
folding, encodings and — for the hostile test mails — exactly which rule is broken. Display
names are RFC 2047-encoded (UTF-8 or ISO-2022-JP, as Japanese mailers do); bodies are short
Japanese or English text. Everything is a function of its arguments: no clock, no randomness.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

JST = timezone(timedelta(hours=9), "JST")


@dataclass
class Draft:
    """One message being composed; :meth:`render` gives its bytes (CRLF line ends)."""

    headers: list[tuple[str, str]] = field(default_factory=list)
    received: list[str] = field(default_factory=list)  # newest first
    body: bytes = b""
    trace: list[tuple[str, str]] = field(default_factory=list)  # Return-Path, Delivered-To

    def add(self, name: str, value: str) -> Draft:
        self.headers.append((name, value))
        return self

    def render(self) -> bytes:
        lines = [f"{k}: {v}" for k, v in self.trace]
        lines += [f"Received: {r}" for r in self.received]
        lines += [f"{k}: {v}" for k, v in self.headers]
        head = "\r\n".join(lines).encode("utf-8", "surrogateescape")
        return head + b"\r\n\r\n" + self.body


def rfc2822_date(ts: float, tz: timezone = JST) -> str:
    """``Mon, 06 Oct 2025 09:01:20 +0900``."""
    when = datetime.fromtimestamp(ts, UTC).astimezone(tz)
    return when.strftime("%a, %d %b %Y %H:%M:%S %z")


def encode_words(text: str, charset: str = "utf-8") -> str:
    """RFC 2047 B-encoding of *text* when it is not plain ASCII (ISO-2022-JP falls back to
    UTF-8 for characters it cannot hold, e.g. half-width katakana)."""
    if text.isascii():
        return text
    if charset == "iso-2022-jp":
        try:
            raw = text.encode("iso2022_jp")
            return f"=?ISO-2022-JP?B?{base64.b64encode(raw).decode()}?="
        except UnicodeEncodeError:
            pass
    return f"=?UTF-8?B?{base64.b64encode(text.encode('utf-8')).decode()}?="


def address(name: str, addr: str, charset: str = "utf-8") -> str:
    """``Name <addr>`` with the name quoted or encoded as needed."""
    if not name:
        return f"<{addr}>"
    if name.isascii():
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        needs = any(ch in name for ch in '()<>[]:;@\\,."')
        return f'"{quoted}" <{addr}>' if needs else f"{name} <{addr}>"
    return f"{encode_words(name, charset)} <{addr}>"


def received(helo: str, ptr: str, ip: str, by: str, proto: str, qid: str, ts: float,
             rcpt: str = "", style: str = "postfix") -> str:
    """One Received header value (folded), in the style of the receiving server."""
    literal = f"IPv6:{ip}" if ":" in ip else ip
    when = rfc2822_date(ts)
    if style == "exchange":
        return (f"from {helo} ({ip}) by {by}\r\n with Microsoft SMTP Server (version=TLS1_2, "
                f"cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.20.8293.{qid[:3]};"
                f"\r\n {when}")
    if style == "gmail":
        return (f"from {helo} ({ptr or 'unknown'}. [{ip}])\r\n        by {by} with SMTPS id "
                f"{qid}\r\n        for <{rcpt}>\r\n        (Google Transport Security);\r\n"
                f"        {when}")
    target = f"\r\n\tfor <{rcpt}>" if rcpt else ""
    return (f"from {helo} ({ptr or 'unknown'} [{literal}])\r\n\tby {by} (Postfix) with "
            f"{proto} id {qid}{target}; {when}")


def text_body(text: str, charset: str = "utf-8") -> tuple[list[tuple[str, str]], bytes]:
    """MIME headers and CRLF body for a text/plain part in *charset*."""
    if charset == "iso-2022-jp":
        try:
            raw = text.encode("iso2022_jp")
            return ([("MIME-Version", "1.0"),
                     ("Content-Type", 'text/plain; charset="ISO-2022-JP"'),
                     ("Content-Transfer-Encoding", "7bit")],
                    raw.replace(b"\n", b"\r\n") + b"\r\n")
        except UnicodeEncodeError:
            pass
    encoded = base64.encodebytes(text.replace("\n", "\r\n").encode("utf-8"))
    return ([("MIME-Version", "1.0"), ("Content-Type", 'text/plain; charset="UTF-8"'),
             ("Content-Transfer-Encoding", "base64")],
            encoded.replace(b"\n", b"\r\n"))


def to_mbox(envelope: str, ts: float, message: bytes) -> bytes:
    """One mboxrd entry: ``From `` line, LF line ends, ``>From`` quoting, blank line after."""
    stamp = datetime.fromtimestamp(ts, UTC).strftime("%a %b %d %H:%M:%S %Y")
    out = [f"From {envelope or 'MAILER-DAEMON'} {stamp}".encode()]
    for line in message.replace(b"\r\n", b"\n").split(b"\n"):
        stripped = line.lstrip(b">")
        out.append(b">" + line if stripped.startswith(b"From ") else line)
    if out[-1] != b"":
        out.append(b"")
    return b"\n".join(out) + b"\n"
