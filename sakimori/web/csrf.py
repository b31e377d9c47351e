"""CSRF protection: a synchronizer token per session, required on every state-changing request.

The token is 32 random bytes (URL-safe text) kept in the signed session cookie; every form
carries it in a hidden ``csrf_token`` field (templates call ``csrf_token()``). A POST (PUT,
PATCH, DELETE) whose field is missing or differs — compared in constant time — is refused
with 400 before any view runs, so nothing changes. The token is renewed at login (no
fixation). The session cookie is also ``SameSite=Strict``.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import MutableMapping
from typing import Any

FIELD = "csrf_token"
SESSION_KEY = "csrf"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def token(session: MutableMapping[str, Any]) -> str:
    """The session's token, created on first use."""
    value = session.get(SESSION_KEY)
    if not isinstance(value, str) or len(value) < 32:
        value = secrets.token_urlsafe(32)
        session[SESSION_KEY] = value
    return value


def renew(session: MutableMapping[str, Any]) -> str:
    session.pop(SESSION_KEY, None)
    return token(session)


def valid(session: MutableMapping[str, Any], submitted: str | None) -> bool:
    """True when *submitted* equals the session's token."""
    expected = session.get(SESSION_KEY)
    if not isinstance(expected, str) or not isinstance(submitted, str) or not submitted:
        return False
    return hmac.compare_digest(expected.encode(), submitted.encode())
