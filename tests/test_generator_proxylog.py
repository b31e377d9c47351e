"""Proxy access logs: Squid native and Apache combined lines, CONNECT, garbage lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from sakimori.errors import InputError
from sakimori.proxylog import ProxyLogStats, parse_line, read_proxy_log

SQUID_GET = ("1700000000.123     98 10.1.10.5 TCP_MISS/200 2244 GET "
             "http://www.example.com/a/b?q=1 - HIER_DIRECT/93.184.216.34 text/html")
SQUID_CONNECT = ("1700000001.000  60000 10.1.10.6 TCP_TUNNEL/200 5120 CONNECT "
                 "login.example.net:443 - HIER_DIRECT/198.51.100.3 -")
COMBINED = ('10.1.10.7 - - [14/Nov/2023:22:13:20 +0000] "GET http://cdn.example.org:8080/x.js '
            'HTTP/1.1" 200 512 "-" "Mozilla/5.0"')
COMMON_RELATIVE = '10.1.10.8 - - [14/Nov/2023:22:13:21 +0000] "GET /index.html HTTP/1.0" 200 7'


def test_squid_native_get_counts_the_request_target_length() -> None:
    rec = parse_line(SQUID_GET)
    assert rec is not None
    assert (rec.client, rec.method, rec.host, rec.port) == ("10.1.10.5", "GET",
                                                            "www.example.com", 80)
    assert rec.url_length == len("/a/b?q=1")  # what urilen sees on a direct request
    assert rec.ts == pytest.approx(1700000000.123)


def test_squid_connect_has_host_port_and_no_url() -> None:
    rec = parse_line(SQUID_CONNECT)
    assert rec is not None
    assert (rec.host, rec.port, rec.url_length) == ("login.example.net", 443, None)


def test_apache_combined_and_common() -> None:
    rec = parse_line(COMBINED)
    assert rec is not None and rec.host == "cdn.example.org" and rec.port == 8080
    assert rec.url_length == len("/x.js") and rec.ts == 1700000000.0
    rel = parse_line(COMMON_RELATIVE)
    assert rel is not None and rel.host is None and rel.url_length == len("/index.html")


def test_requestless_lines_are_ignored_not_malformed() -> None:
    assert parse_line("1700000000.000 0 10.1.10.5 NONE/400 3900 NONE error:invalid-request "
                      "- HIER_NONE/- text/html") is None
    assert parse_line('10.1.10.5 - - [14/Nov/2023:22:13:20 +0000] "-" 408 0 "-" "-"') is None


@pytest.mark.parametrize("line", [
    "garbage",
    "1700000000.1 5 not-an-ip TCP_MISS/200 10 GET http://a.example/ - DIRECT/1.2.3.4 -",
    "1700000000.1 5 10.1.10.5 TCP_MISS/200 10 CONNECT nohostport - DIRECT/1.2.3.4 -",
    '10.1.10.5 - - [99/Foo/2023:22:13:20 +0000] "GET / HTTP/1.1" 200 1 "-" "-"',
    '10.1.10.5 - - [14/Nov/2023:22:13:20 +0000] "GET" 200 1 "-" "-"',
    "1700000000.1 5 10.1.10.5 TCP_MISS/200 10 GET ftp-ish-no-scheme - DIRECT/1.2.3.4 -",
])
def test_malformed_lines_raise(line: str) -> None:
    with pytest.raises(ValueError):
        parse_line(line)


def test_reader_counts_and_names_bad_lines(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("\n".join([SQUID_GET, "garbage one", SQUID_CONNECT, "", "\x00\x01binary",
                              COMBINED, "# comment"]) + "\n")
    stats = ProxyLogStats()
    records = list(read_proxy_log(log, stats))
    assert len(records) == 3
    assert (stats.lines, stats.records, stats.malformed, stats.ignored) == (7, 3, 2, 2)
    assert stats.examples[0].startswith(f"{log}:2: ")
    assert stats.examples[1].startswith(f"{log}:5: ")
    assert "2 malformed" in stats.summary()


def test_gzip_and_missing_file(tmp_path: Path) -> None:
    import gzip

    gz = tmp_path / "access.log.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write(SQUID_GET + "\n")
    assert len(list(read_proxy_log(gz, ProxyLogStats()))) == 1
    with pytest.raises(InputError, match="cannot read proxy log"):
        list(read_proxy_log(tmp_path / "nope.log", ProxyLogStats()))
