"""HTTP receiver for Rspamd's ``metadata_exporter`` (backend ``http``, formatter ``json``).

A stdlib :class:`http.server.ThreadingHTTPServer` in a daemon thread, bound to
``rspamd.listen`` (default ``127.0.0.1:11339``; the generator points the exporter at
``http://{rspamd.listen}/rspamd/events``). ``POST /rspamd/events`` with one JSON object and
``Authorization: Basic`` of ``sakimori:<listener secret>`` (:mod:`sakimori.listen_secret`;
the generated exporter rule sends it, compared in constant time; there is no receiver without
a secret):

- ``200`` — ``accepted``: the flagged mail is in the intake journal (written to disk) before
  the answer and goes into the outbox right after (:mod:`.intake`: the answer no longer waits
  for the outbox's transactions, which Rspamd's reply to the MTA would wait for); or
  ``not_flagged``: the event carries no ``SAKIMORI_*`` symbol. (With a plain ``submit``
  callable instead of the intake, the outcome is ``new``, ``duplicate`` or ``own_warning``.)
- ``400`` not JSON / not an object; ``401`` no or wrong credentials (the body is neither
  read nor stored); ``403`` client not loopback or in ``networks.mail_relays``; ``404`` other
  path; ``405`` other method; ``411`` no Content-Length; ``413`` body over 1 MiB; ``503``
  outbox full or too many accepted mails waiting for it; ``500`` store failure.

Rspamd does not retry a failed post, so a refusal is logged once per kind and counted
(``stats``). Network values are never logged raw.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from eve_consumer.mailwarn.intake import IntakeFull
from eve_consumer.mailwarn.outbox import OutboxFull
from eve_consumer.mailwarn.rspamd_events import MAX_LINE, flagged_from_rspamd
from sakimori.config import Config
from sakimori.errors import SakimoriError
from sakimori.listen_secret import authorised
from sakimori.mail.warnings import FlaggedMail

log = logging.getLogger("sakimori.mailwarn")
PATH = "/rspamd/events"
READ_TIMEOUT_S = 10.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # listen backlog (socketserver's default is 5): Rspamd's workers post apart from their
    # tasks, up to rspamd.export_detached each at once; a full backlog drops a connect, which
    # the client retries only after a second
    request_queue_size = 128

    def __init__(self, addr: tuple[str, int], handler: type, owner: Receiver) -> None:
        self.address_family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        self.owner = owner
        super().__init__(addr, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that stalls or drops mid-request: counted, no traceback on stderr."""
        self.owner.count("client_error", 0)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = READ_TIMEOUT_S
    server_version = "sakimori-mailwarn"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the stdlib would log raw request lines; outcomes are counted instead

    def log_error(self, format: str, *args: Any) -> None:
        self.server.owner.count("client_error", 0)  # timed out, malformed request line

    def _answer(self, code: int, outcome: str) -> None:
        self.server.owner.count(outcome, code)
        body = outcome.encode("ascii") + b"\n"
        self.send_response(code)
        if code == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="sakimori"')
            self.close_connection = True  # the unread body must not be taken for a request
        self.send_header("Content-Type", "text/plain; charset=ascii")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # other methods: 501
        self._answer(405 if self.path.split("?")[0] == PATH else 404, "refused")

    def do_POST(self) -> None:
        owner = self.server.owner
        if not owner.allowed(self.client_address[0]):
            return self._answer(403, "forbidden")
        if self.path.split("?")[0] != PATH:
            return self._answer(404, "not_found")
        if not authorised(self.headers.get("Authorization"), owner.secret):
            return self._answer(401, "unauthorised")
        length = self.headers.get("Content-Length")
        if length is None or not length.strip().isdigit():
            return self._answer(411, "no_length")
        if int(length) > MAX_LINE:
            return self._answer(413, "too_large")
        try:
            obj = orjson.loads(self.rfile.read(int(length)))
        except orjson.JSONDecodeError:
            return self._answer(400, "bad_json")
        if not isinstance(obj, dict):
            return self._answer(400, "bad_json")
        mail = flagged_from_rspamd(obj)
        if mail is None:
            return self._answer(200, "not_flagged")
        try:
            outcome = owner.submit(mail)
        except (OutboxFull, IntakeFull):
            return self._answer(503, "outbox_full")
        except Exception:  # store trouble: the exporter logs the failed post
            log.exception("warning receiver: cannot store a flagged mail")
            return self._answer(500, "error")
        return self._answer(200, "accepted" if outcome is None else str(outcome))


class Receiver:
    """The listening receiver; :meth:`start` binds (one-line error), :meth:`stop` closes."""

    def __init__(self, cfg: Config, submit: Callable[[FlaggedMail], Any], secret: str,
                 host: str | None = None, port: int | None = None) -> None:
        if not secret:
            raise SakimoriError("rspamd.listen_secret_file: the receiver needs a secret")
        self.secret = secret
        self.host = host if host is not None else cfg.rspamd.listen_host
        self.port = port if port is not None else cfg.rspamd.listen_port
        self.submit = submit
        self.allowed_nets = tuple(cfg.networks.mail_relays)
        self.stats: Counter[str] = Counter()
        self._logged: set[int] = set()
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{PATH}"

    def allowed(self, client: str) -> bool:
        try:
            addr = ipaddress.ip_address(client.split("%")[0])
        except ValueError:
            return False
        if addr.version == 6 and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return addr.is_loopback or any(addr in net for net in self.allowed_nets)

    def count(self, outcome: str, code: int) -> None:
        with self._lock:
            self.stats[outcome] += 1
            first = code >= 400 and code not in self._logged
            if first:
                self._logged.add(code)
        if first:
            log.warning("warning receiver refused a post: HTTP %d (%s); further ones are "
                        "only counted", code, outcome)

    def start(self) -> Receiver:
        try:
            self._server = _Server((self.host, self.port), _Handler, self)
        except OSError as exc:
            raise SakimoriError(f"rspamd.listen {self.host}:{self.port}: cannot listen: "
                                f"{exc.strerror or exc}") from exc
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="sakimori-mailwarn-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
