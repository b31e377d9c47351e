"""Tor relay lists: plain files, Onionoo JSON, http(s) URLs (served by a local http.server
started in the test) and the one-line error when a URL cannot be fetched."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sakimori.errors import InputError
from sakimori.tor import load_relays

ONIONOO = {"version": "8.0", "relays": [
    {"nickname": "a", "or_addresses": ["192.0.2.10:9001", "[2001:db8::10]:9001"]},
    {"nickname": "b", "or_addresses": ["192.0.2.11:443"]},
    {"nickname": "c"},
]}


def test_plain_list_with_comments_ports_and_junk(tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    f = tmp_path / "tor-relays.txt"
    f.write_text("# relays\n192.0.2.1\n192.0.2.2:9001  # guard\n\n[2001:db8::1]:443\n"
                 "2001:db8::2\n192.0.2.1\nnot-an-ip\n192.0.2.0/24\n192.0.2.3/32\n")
    relays = load_relays([str(f)])
    assert relays.sorted_ipv4() == ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
    assert relays.sorted_ipv6() == ["2001:db8::1", "2001:db8::2"]
    assert relays.skipped == 2
    assert f"{f}:8: not a relay address" in caplog.text
    assert relays.sources == [{"source": str(f), "format": "list", "addresses": 6}]


def test_onionoo_details_json(tmp_path: Path) -> None:
    f = tmp_path / "details.json"
    f.write_text(json.dumps(ONIONOO))
    relays = load_relays([str(f)])
    assert relays.sorted_ipv4() == ["192.0.2.10", "192.0.2.11"]
    assert relays.sorted_ipv6() == ["2001:db8::10"]
    bad = tmp_path / "bad.json"
    bad.write_text('{"relays": 5}')
    with pytest.raises(InputError, match="without a 'relays' list"):
        load_relays([str(bad)])


def test_missing_file_is_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        load_relays([str(tmp_path / "nope.txt")])
    assert "cannot read Tor relay list" in str(info.value) and "\n" not in str(info.value)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """A local http.server on 127.0.0.1 serving tmp_path; yields its base URL."""
    (tmp_path / "relays.txt").write_text("192.0.2.50\n192.0.2.51:9001\n")
    (tmp_path / "details").write_text(json.dumps(ONIONOO))
    handler = functools.partial(_Quiet, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_url_sources_are_fetched(served: str, tmp_path: Path) -> None:
    local = tmp_path / "local.txt"
    local.write_text("192.0.2.99\n")
    relays = load_relays([f"{served}/relays.txt", f"{served}/details", str(local)])
    assert relays.sorted_ipv4() == ["192.0.2.10", "192.0.2.11", "192.0.2.50", "192.0.2.51",
                                    "192.0.2.99"]
    assert [s["format"] for s in relays.sources] == ["list", "onionoo", "list"]


def test_url_errors_are_one_line(served: str, free_port: int) -> None:
    with pytest.raises(InputError, match=r"HTTP 404"):
        load_relays([f"{served}/missing.txt"])
    with pytest.raises(InputError) as info:
        load_relays([f"http://127.0.0.1:{free_port}/relays.txt"])  # nothing listens: offline
    text = str(info.value)
    assert "cannot fetch Tor relay list (ConnectionError)" in text and "\n" not in text
