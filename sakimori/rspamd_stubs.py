"""Loopback stand-ins a private Rspamd needs: a DNS server and a metadata_exporter receiver.

- :class:`DnsStub` answers every UDP query with NXDOMAIN at once. Rspamd with no answering
  resolver waits for its task timeout (8 s) on every scan; a closed port still costs ~0.3 s.
- :class:`EventSink` accepts the JSON that Rspamd's ``metadata_exporter`` posts for flagged
  mail, standing in for the sakimori consumer (tests read :attr:`EventSink.events`).
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DnsStub:
    """A loopback UDP DNS server answering NXDOMAIN to every query, at once."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.queries = 0
        self._thread = threading.Thread(target=self._serve, name="sakimori-dns-stub",
                                        daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            if len(data) < 12:
                continue
            qid, flags, qdcount = struct.unpack("!HHH", data[:6])
            end = 12
            while end < len(data) and data[end] != 0:  # first question's name
                end += data[end] + 1
            question = data[12:end + 5] if qdcount else b""
            rflags = 0x8000 | (flags & 0x7900) | 0x0080 | 3  # response, RD copied, RA, NXDOMAIN
            reply = struct.pack("!HHHHHH", qid, rflags, 1 if question else 0, 0, 0, 0)
            self.queries += 1
            with contextlib.suppress(OSError):
                self.sock.sendto(reply + question, peer)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


class EventSink:
    """Collects what Rspamd's metadata_exporter posts (stands in for the consumer)."""

    def __init__(self) -> None:
        events: list[dict[str, Any]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server API name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    events.append(json.loads(body))
                except ValueError:
                    events.append({"raw": body.decode("utf-8", "replace")})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.events = events
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/rspamd/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
