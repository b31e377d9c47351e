"""sakimori.whitelist: the documented semantics of each entry form."""

from __future__ import annotations

import pytest

from sakimori.whitelist import Whitelist

WL = Whitelist.from_entries(["*.windowsupdate.com", "ntp.nict.jp", ".corp.example",
                             "203.0.113.0/24", "2001:db8::/32"])


@pytest.mark.parametrize(("host", "expected"), [
    ("fe2.update.windowsupdate.com", True),   # wildcard: any depth
    ("update.windowsupdate.com", True),
    ("windowsupdate.com", False),              # wildcard does not cover the apex
    ("evil-windowsupdate.com", False),         # suffix must start at a label boundary
    ("windowsupdate.com.evil.net", False),
    ("ntp.nict.jp", True),                     # exact
    ("NTP.NICT.JP.", True),                    # case and trailing dot ignored
    ("ntp.nict.jp:123", True),                 # host:port from an HTTP Host header
    ("x.ntp.nict.jp", False),                  # exact means exact
    ("corp.example", True),                    # apex form covers apex ...
    ("a.b.corp.example", True),                # ... and subdomains
    ("", False),
    (None, False),
])
def test_host_semantics(host: str | None, expected: bool) -> None:
    assert WL.matches(host=host) is expected


@pytest.mark.parametrize(("ip", "expected"), [
    ("203.0.113.123", True), ("203.0.114.1", False), ("2001:db8::1", True),
    ("not-an-ip", False), (None, False),
])
def test_ip_semantics(ip: str | None, expected: bool) -> None:
    assert WL.matches(ip=ip) is expected


def test_host_suffixes_for_rules() -> None:
    assert WL.host_suffixes() == [
        (".corp.example", False), (".windowsupdate.com", False),
        ("corp.example", True), ("ntp.nict.jp", True),
    ]


@pytest.mark.parametrize("bad", ["", "*bad*.com", "exa mple.com", "-x.com", "a.*.com"])
def test_invalid_entries_rejected(bad: str) -> None:
    assert Whitelist.entry_problem(bad)
    with pytest.raises(ValueError):
        Whitelist.from_entries([bad])


def test_empty_whitelist_is_falsy() -> None:
    assert not Whitelist.from_entries([])
    assert WL
