"""The shared secret between Rspamd's metadata_exporter and ``consume --rspamd-listen``.

Rspamd 3.4's ``metadata_exporter`` http backend sends no custom header of ours: its pusher
passes only ``url``, ``mime_type``, the ``meta_headers`` (message metadata) and the rule's
``user`` / ``password`` to ``rspamd_http.request``, which turns the pair into a standard
``Authorization: Basic base64(user:password)`` header. So the generated exporter rule carries
``user = "sakimori"`` and ``password = <secret>``, and the receiver compares the header with the
expected value in constant time (:func:`authorised`). The secret never travels in the URL
(URLs end up in Rspamd's and proxies' logs).

The secret lives in ``rspamd.listen_secret_file`` (default ``rspamd-listen.secret`` next to
sakimori.yaml): one line, 16–256 characters of ``[A-Za-z0-9._~+/=-]`` (it is written into a
UCL string). ``sakimori generate`` creates it (mode 0600, :func:`ensure_secret`) when it is
absent; ``consume --rspamd-listen`` refuses to start without it (:func:`read_secret`). A file
readable by group or others is refused (chmod 600 it). The secret is never logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import stat
from pathlib import Path

from sakimori.config import Config
from sakimori.errors import ConfigError

USER = "sakimori"
KEY = "rspamd.listen_secret_file"
_VALID = re.compile(r"^[A-Za-z0-9._~+/=-]{16,256}$")


def _problem(path: Path) -> str | None:
    """Why *path* cannot hold the secret (None when it can)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return (f"{path}: missing; `sakimori generate --config …` creates it (and writes it "
                "into the Rspamd exporter configuration)")
    except OSError as exc:
        return f"{path}: cannot read: {exc.strerror or exc}"
    if not stat.S_ISREG(st.st_mode):
        return f"{path}: not a regular file"
    if st.st_mode & 0o077:
        return f"{path}: readable or writable by group/others (mode {st.st_mode & 0o777:o}); " \
               "chmod 600 it"
    return None


def read_secret(cfg: Config) -> str:
    """The listener secret; ConfigError (one line, no secret in it) when unusable."""
    path = cfg.rspamd.listen_secret_file
    problem = _problem(path)
    if problem:
        raise ConfigError(cfg.source, KEY, problem)
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(cfg.source, KEY, f"{path}: cannot read: "
                                           f"{getattr(exc, 'strerror', None) or exc}") from exc
    if not _VALID.match(text):
        raise ConfigError(cfg.source, KEY, f"{path}: must hold one line of 16-256 characters "
                                           "A-Z a-z 0-9 . _ ~ + / = -")
    return text


def ensure_secret(cfg: Config) -> str:
    """The listener secret, created (random, mode 0600) when the file does not exist yet."""
    path = cfg.rspamd.listen_secret_file
    if not path.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return read_secret(cfg)  # created meanwhile by another process
        except OSError as exc:
            raise ConfigError(cfg.source, KEY, f"{path}: cannot create: "
                                               f"{exc.strerror or exc}") from exc
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_urlsafe(32) + "\n")
    return read_secret(cfg)


def authorization(secret: str) -> str:
    """The ``Authorization`` header value Rspamd sends for ``user``/``password``."""
    token = base64.b64encode(f"{USER}:{secret}".encode("ascii")).decode("ascii")
    return "Basic " + token


def authorised(header: str | None, secret: str) -> bool:
    """True when *header* is the expected Authorization value (constant-time comparison of
    digests, so neither content nor length of the secret leaks through timing)."""
    if header is None:
        return False
    got = hashlib.sha256(header.strip().encode("utf-8", "replace")).digest()
    want = hashlib.sha256(authorization(secret).encode("ascii")).digest()
    return hmac.compare_digest(got, want)
