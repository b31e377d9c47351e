"""Python checks of a rendered build, run by every ``generate`` before it is deployed.

They stand in for ``suricata -T`` and ``rspamadm configtest`` on an admin host without those
programs (and run in front of them when they exist), so a build that is not sane never
replaces the deployed one (:mod:`generator.atomic`).

Suricata rule files (:func:`check_rules`), per rule line:

- header: an action, a protocol, source and destination address and port each plainly one of
  ``any``, ``$VAR``, an address/CIDR, a port or range, optionally negated, or a ``[...]`` group
  of those (no stray bracket, parenthesis or space), direction ``->`` or ``<>``;
- options in ``( ... )`` closing the line, split like Suricata does (on ``;`` not escaped by
  a backslash); every quoted value closed, no unescaped ``"`` inside;
- every keyword known (:data:`KEYWORDS`): the keywords the generator and ``static.rules``
  use plus common match keywords. Keywords that silence or rate-limit an alert
  (``noalert``, ``threshold``, ``detection_filter``, ``tag``) are not in the list: only
  ``flowbits:noalert`` on the whitelist and Tor helper rules silences anything;
- ``msg`` (quoted), ``sid`` and ``rev`` (integers) present; SIDs unique across the files and
  inside ``suricata.sid_base`` … ``+9999``;
- a dataset's ``load`` file exists next to the rule file.

Rspamd overlay (:func:`check_rspamd`): the loader, settings, group and plugin files exist;
each ``.conf`` file is lexically sound UCL (strings and heredocs closed, braces and brackets
balanced); every ``$LOCAL_CONFDIR/...`` file it names without ``try=true`` exists in the
overlay (``override.d`` is the operator's); maps and Lua files are UTF-8 without NUL bytes.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

from sakimori.errors import InputError

SID_SPAN = 10000
ACTIONS = frozenset({"alert", "pass", "drop", "reject", "rejectsrc", "rejectdst",
                     "rejectboth"})
KEYWORDS = frozenset({
    # general
    "msg", "sid", "rev", "gid", "classtype", "reference", "priority", "metadata", "target",
    # flow and state
    "flow", "flowbits", "flowint", "flow.age", "stream_size", "app-layer-protocol",
    "app-layer-event", "prefilter", "flags", "dsize", "ttl", "ip_proto", "ipopts",
    # payload matching and modifiers
    "content", "nocase", "depth", "offset", "distance", "within", "startswith", "endswith",
    "fast_pattern", "rawbytes", "bsize", "isdataat", "pcre", "byte_test", "byte_jump",
    "urilen", "dataset", "datarep",
    # sticky buffers
    "ip.src", "ip.dst", "pkt_data", "file.data", "http.host", "http.host.raw", "http.uri",
    "http.uri.raw", "http.method", "http.protocol", "http.user_agent", "http.header",
    "http.header_names", "http.request_line", "http.start", "http.content_type",
    "http.request_body", "http.response_body", "http.stat_code", "http.server",
    "http.referer", "http.cookie", "tls.sni", "tls.random", "tls.version", "tls.subject",
    "tls.issuerdn", "tls.cert_subject", "tls.cert_issuer", "tls.cert_serial",
    "tls.cert_fingerprint", "tls.certs", "tls_cert_notbefore", "tls_cert_notafter",
    "tls_cert_expired", "ja3.hash", "ja3.string", "ja3s.hash", "dns.query", "ssh.proto",
    "ssh.software", "ssh_proto", "ssh_software",
})
_VAR = re.compile(r"^\$[A-Za-z_][A-Za-z0-9_]*$")
_KEYWORD = re.compile(r"^[a-z0-9_.-]+$")
_INCLUDE = re.compile(r'^\s*\.include(\([^)]*\))?\s+"([^"]+)"')
_CONFDIR_REF = re.compile(r'"\$LOCAL_CONFDIR/([^"]+)"')
RSPAMD_REQUIRED = ("rspamd.conf.local", "local.d/sakimori.conf",
                   "scores.d/sakimori_group.conf", "plugins/sakimori.lua")


def _split_group(text: str) -> list[str] | None:
    """Top-level items of a ``[a,b,[c,d]]`` group, or None when brackets do not balance."""
    items, depth, start = [], 0, 1
    for i, ch in enumerate(text):
        depth += (ch == "[") - (ch == "]")
        if depth < 0 or (depth == 0 and i != len(text) - 1):
            return None
        if ch == "," and depth == 1:
            items.append(text[start:i])
            start = i + 1
    if depth != 0:
        return None
    items.append(text[start:-1])
    return items


def _address_ok(text: str) -> bool:
    text = text[1:] if text.startswith("!") else text
    if text.startswith("["):
        items = _split_group(text)
        return bool(items) and all(_address_ok(i) for i in items or [])
    if text == "any" or _VAR.match(text):
        return True
    if not re.fullmatch(r"[0-9a-fA-F:./]+", text):
        return False
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def _port_ok(text: str) -> bool:
    text = text[1:] if text.startswith("!") else text
    if text.startswith("["):
        items = _split_group(text)
        return bool(items) and all(_port_ok(i) for i in items or [])
    if text == "any" or _VAR.match(text):
        return True
    m = re.fullmatch(r"(\d{1,5})?(:)?(\d{1,5})?", text)
    if not m or not (m.group(1) or m.group(3)) or (m.group(2) is None and m.group(3)):
        return False
    return all(int(p) <= 65535 for p in (m.group(1), m.group(3)) if p)


def split_options(body: str) -> list[str]:
    """Options of a rule body, split on ``;`` not escaped by a backslash (Suricata's way)."""
    out, cur, escaped = [], [], False
    for ch in body:
        if escaped:
            cur.append(ch)
            escaped = False
        elif ch == "\\":
            cur.append(ch)
            escaped = True
        elif ch == ";":
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    tail = "".join(cur).strip()
    return out + ([tail] if tail else [])


def _quoted_ok(value: str) -> bool:
    """A value with quotes is ``"..."`` (or ``!"..."``) with every inner quote escaped."""
    if '"' not in value:
        return True
    inner = value[1:] if value.startswith("!") else value
    if len(inner) < 2 or inner[0] != '"' or inner[-1] != '"':
        return False
    body, escaped = inner[1:-1], False
    for ch in body:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            return False
    return not escaped


def rule_problem(line: str, rule_dir: Path) -> tuple[str | None, dict[str, str]]:
    """(why *line* is not a sane rule or None, its options ``{keyword: value}`` (last wins))."""
    if any(ord(ch) < 32 and ch != "\t" for ch in line):
        return "control character in rule", {}
    head, sep, rest = line.partition("(")
    if not sep or not line.rstrip().endswith(")"):
        return "rule body must be '( ... )' closing the line", {}
    parts = head.split()
    if len(parts) != 7:
        return f"header must have 7 fields, got {len(parts)}: {head.strip()!r}", {}
    action, proto, src, sport, direction, dst, dport = parts
    if action not in ACTIONS or not re.fullmatch(r"[a-z0-9-]+", proto):
        return f"bad action or protocol: {action} {proto}", {}
    if direction not in ("->", "<>"):
        return f"bad direction {direction!r}", {}
    for what, value, ok in (("source", src, _address_ok), ("destination", dst, _address_ok),
                            ("source port", sport, _port_ok),
                            ("destination port", dport, _port_ok)):
        if not ok(value):
            return f"bad {what} {value!r}", {}
    options: dict[str, str] = {}
    for opt in split_options(rest.rstrip()[:-1]):
        name, _, value = (s.strip() for s in opt.partition(":"))
        if not _KEYWORD.match(name) or name not in KEYWORDS:
            return f"keyword {name!r} is not one sakimori renders", {}
        if not _quoted_ok(value):
            return f"unbalanced quotes in {name}", {}
        if name == "dataset":
            load = re.search(r"\bload\s+([^,\s]+)", value)
            if load and not (rule_dir / load.group(1)).is_file():
                return f"dataset file {load.group(1)} missing", {}
        options[name] = value
    for required in ("msg", "sid", "rev"):
        if required not in options:
            return f"no {required}", {}
    if not options["msg"].startswith('"') or not options["sid"].isdigit() \
            or not options["rev"].isdigit():
        return "msg must be quoted, sid and rev integers", {}
    return None, options


def check_rules(files: list[Path], sid_base: int, shown: Path | None = None) -> int:
    """Check the rule *files* (see the module docstring); returns the number of rules.
    Raises InputError naming file (under *shown*, the deployed directory, when given) and line.
    """
    seen: dict[int, str] = {}
    count = 0
    for path in files:
        where = str((shown / path.name) if shown else path)
        for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            problem, options = rule_problem(line, path.parent)
            if problem is None:
                sid = int(options["sid"])
                if not sid_base <= sid < sid_base + SID_SPAN:
                    problem = f"sid {sid} outside {sid_base}..{sid_base + SID_SPAN - 1}"
                elif sid in seen:
                    problem = f"sid {sid} also in {seen[sid]}"
                seen[sid] = f"{path.name}:{lineno}"
            if problem:
                raise InputError(where, lineno, f"rule check: {problem}")
            count += 1
    return count


def ucl_problem(text: str) -> tuple[int, str] | None:
    """(line, why) when *text* is not lexically sound UCL, else None."""
    stack: list[tuple[str, int]] = []
    heredoc: str | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        if heredoc is not None:
            if line.strip() == heredoc:
                heredoc = None
            continue
        quote: str | None = None
        i = 0
        while i < len(line):
            ch = line[i]
            if quote:
                if ch == "\\":
                    i += 1
                elif ch == quote:
                    quote = None
            elif ch in "\"'":
                quote = ch
            elif ch == "#":
                break
            elif line.startswith("<<", i) and re.match(r"<<([A-Z]+)\s*$", line[i:]):
                heredoc = line[i + 2:].strip()
                break
            elif ch in "{[":
                stack.append((ch, lineno))
            elif ch in "}]" and (not stack or stack.pop()[0] != {"}": "{", "]": "["}[ch]):
                return lineno, f"unmatched {ch!r}"
            i += 1
        if quote:
            return lineno, "unterminated string"
    if heredoc is not None:
        return len(text.splitlines()), f"heredoc {heredoc} not closed"
    if stack:
        return stack[-1][1], f"{stack[-1][0]!r} never closed"
    return None


def check_rspamd(overlay: Path, shown: Path | None = None) -> int:
    """Check the Rspamd overlay directory (see the module docstring); returns the number of
    files checked. Raises InputError naming the file (under *shown* when given) and line."""
    def where(path: Path) -> str:
        return str((shown / path.relative_to(overlay)) if shown else path)

    for rel in RSPAMD_REQUIRED:
        if not (overlay / rel).is_file():
            raise InputError(where(overlay / rel), None, "rspamd check: missing")
    files = sorted(p for p in overlay.rglob("*") if p.is_file())
    for path in files:
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(where(path), None, "rspamd check: not UTF-8") from exc
        if "\0" in text:
            raise InputError(where(path), None, "rspamd check: NUL byte")
        if path.suffix not in (".conf", ".local"):
            continue
        problem = ucl_problem(text)
        if problem:
            raise InputError(where(path), problem[0], f"rspamd check: {problem[1]}")
        for lineno, line in enumerate(text.splitlines(), 1):
            inc = _INCLUDE.match(line)
            optional = inc is not None and "try=true" in (inc.group(1) or "")
            for ref in _CONFDIR_REF.findall(line):
                if optional or ref.startswith("override.d/"):
                    continue
                if not (overlay / ref).exists():
                    raise InputError(where(path), lineno,
                                     f"rspamd check: $LOCAL_CONFDIR/{ref} not in the build")
    return len(files)
