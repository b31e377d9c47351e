"""Admin-screen test client helpers shared by the web tests: the test password, CSRF token, login,
and the check that a page renders attacker text inert."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import webfixtures as wf
from flask.testing import FlaskClient

PASSWORD = "correct horse battery"


def token(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def login(client: FlaskClient, password: str = PASSWORD, next_: str = "") -> object:
    url = "/login" + (f"?next={next_}" if next_ else "")
    return client.post(url, data={"username": "alice", "password": password,
                                  "csrf_token": token(client)})


class _Tags(HTMLParser):
    """Every element and attribute the browser would build from a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def inert(text: str) -> None:
    """No script or img element, no event-handler attribute, no javascript: link."""
    parser = _Tags()
    parser.feed(text)
    for tag, attrs in parser.tags:
        assert tag not in ("script", "img", "iframe", "object"), (tag, attrs)
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name, value)
            if name in ("href", "src", "action"):
                assert not (value or "").strip().lower().startswith("javascript:"), value
    for payload in wf.PAYLOADS:
        assert payload not in text, payload
