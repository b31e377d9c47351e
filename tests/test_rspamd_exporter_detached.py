"""The generated exporter in a real Rspamd 3.4 against a consumer that does not answer: Rspamd's
reply to the MTA does not wait for the post (``rspamd.export_detached`` posts per worker in
flight), the posts still arrive whole and authenticated, and beyond the bound a reply waits for
its post again (back-pressure; 0 = Rspamd's stock exporter behaviour).

The stand-in consumer holds every post until the test releases it, and the exporter's timeout
is rendered longer than the test's waits, so each assertion is an ordering (did the reply come
back while the post was held?), not a timing.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from rspamd_support import make_config, make_doc, requires_rspamd

from generator import render_rspamd as render
from sakimori.listen_secret import authorization
from sakimori.rspamd import RspamdInstance
from sakimori.rspamd_local import terminate

pytestmark = [pytest.mark.rspamd, requires_rspamd]

CONFIG = {"mail": {"internal_domains": ["example.co.jp"]},
          "networks": {"home": ["10.0.0.0/8"], "mail_relays": ["192.0.2.10/32"]}}
SPOOF = (b"From: CEO <ceo@example.co.jp>\r\nTo: hanako@example.co.jp\r\n"
         b"Subject: transfer\r\nMessage-ID: <m-%d@evil.example>\r\n\r\npay\r\n")
ENV = {"ip": "8.8.8.8", "mail_from": "ceo@example.co.jp", "rcpt": ["hanako@example.co.jp"],
       "helo": "mx.evil.example"}
SECRET = "s" * 43
HOLD_S = 60.0  # the exporter's rendered timeout and the sink's longest hold: beyond every wait
WAIT_S = 20.0  # how long the test waits for something that must happen


class HoldingSink:
    """An HTTP receiver that records each post at once and answers it only when released."""

    def __init__(self, hold: int | None = None) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []  # (Authorization, event)
        self.arrived = threading.Semaphore(0)
        self.release = threading.Event()
        self.hold = hold  # how many posts are held (None: all)
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server API name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sink.posts.append((self.headers.get("Authorization") or "", json.loads(body)))
                held = sink.hold is None or len(sink.posts) <= sink.hold
                sink.arrived.release()
                if held:
                    sink.release.wait(HOLD_S)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/rspamd/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class Scan:
    """One scan in a thread: ``done`` is set when Rspamd's reply came back."""

    def __init__(self, inst: RspamdInstance, n: int) -> None:
        self.reply: dict[str, Any] | None = None
        self.done = threading.Event()

        def run() -> None:
            self.reply = inst.scan(SPOOF % n, timeout=2 * HOLD_S, **ENV)
            self.done.set()

        threading.Thread(target=run, daemon=True).start()


@pytest.fixture
def sink() -> Iterator[HoldingSink]:
    s = HoldingSink()
    yield s
    s.close()


def _instance(tmp_path: Path, sink: HoldingSink, detached: int,
              monkeypatch: pytest.MonkeyPatch) -> RspamdInstance:
    monkeypatch.setattr(render, "EXPORT_TIMEOUT_S", HOLD_S)
    config = {**CONFIG, "rspamd": {"export_detached": detached}}
    build = tmp_path / "build"
    render.write_rspamd(make_config(config, tmp_path), make_doc({}), build, SECRET)
    return RspamdInstance(build, export_to=sink.url)


def _flagged(scan: Scan) -> None:
    assert scan.reply is not None
    assert "SAKIMORI_INTERNAL_SPOOF" in scan.reply["symbols"]


def test_reply_does_not_wait_for_the_post(tmp_path: Path, sink: HoldingSink,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    with _instance(tmp_path, sink, 64, monkeypatch) as inst:
        first, second = Scan(inst, 1), Scan(inst, 2)
        # both replies come back while the sink still holds both posts
        assert first.done.wait(WAIT_S) and second.done.wait(WAIT_S)
        assert sink.arrived.acquire(timeout=WAIT_S) and sink.arrived.acquire(timeout=WAIT_S)
        assert not sink.release.is_set()
        _flagged(first)
        _flagged(second)
        sink.release.set()
        assert sink.posts and {auth for auth, _ in sink.posts} == {authorization(SECRET)}
        assert sorted(e["message_id"] for _, e in sink.posts) == ["m-1@evil.example",
                                                                  "m-2@evil.example"]
        event = sink.posts[0][1]
        assert event["from"] == "ceo@example.co.jp" and event["rcpt"] == ENV["rcpt"]
        names = {s["name"] for s in event["symbols"]}
        assert "SAKIMORI_INTERNAL_SPOOF" in names
        assert inst.lua_errors() == []


def test_beyond_the_bound_the_reply_waits(tmp_path: Path, sink: HoldingSink,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """export_detached 1: the first post goes apart from its task; while it is held, the next
    flagged mail's reply waits for its own post (Rspamd's stock behaviour, back-pressure)."""
    with _instance(tmp_path, sink, 1, monkeypatch) as inst:
        first = Scan(inst, 1)
        assert first.done.wait(WAIT_S)
        assert sink.arrived.acquire(timeout=WAIT_S)
        second = Scan(inst, 2)
        assert sink.arrived.acquire(timeout=WAIT_S)  # its post arrived and is held …
        assert not second.done.wait(2.0)  # … and the reply waits for it
        sink.release.set()
        assert second.done.wait(WAIT_S)
        _flagged(first)
        _flagged(second)
        assert inst.lua_errors() == []


def test_zero_keeps_rspamds_stock_behaviour(tmp_path: Path, sink: HoldingSink,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    with _instance(tmp_path, sink, 0, monkeypatch) as inst:
        scan = Scan(inst, 1)
        assert sink.arrived.acquire(timeout=WAIT_S)
        assert not scan.done.wait(2.0)
        sink.release.set()
        assert scan.done.wait(WAIT_S)
        _flagged(scan)
        assert inst.lua_errors() == []


def test_a_stopped_consumer_never_delays_mail(tmp_path: Path, sink: HoldingSink,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing listens at the exporter's address: every flagged mail is answered, each failed
    post is logged as the exporter's error (not a Lua failure), and the worker keeps going."""
    with _instance(tmp_path, sink, 64, monkeypatch) as inst:
        sink.close()  # its port is closed now: connection refused
        for n in range(5):
            scan = Scan(inst, n)
            assert scan.done.wait(WAIT_S)
            _flagged(scan)
        deadline = time.monotonic() + WAIT_S
        while inst.log_text().count("sakimori exporter: ") < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        failed = [ln for ln in inst.log_text().splitlines()
                  if "sakimori exporter: post to " + sink.url + " failed" in ln]
        assert len(failed) == 5  # one line per post, once its failure is known
        assert [ln for ln in inst.lua_errors() if ln not in failed] == []


def test_a_post_on_its_way_when_rspamd_stops_is_sent_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that stops ends its event loop without waiting for detached posts: the ones
    still on their way are posted again by its finish script, bound to a task it waits for."""
    sink = HoldingSink(hold=1)  # the first post is held; the copy is answered at once
    try:
        with _instance(tmp_path, sink, 64, monkeypatch) as inst:
            scan = Scan(inst, 7)
            assert scan.done.wait(WAIT_S) and sink.arrived.acquire(timeout=WAIT_S)
            _flagged(scan)
            assert inst.pid is not None and inst.proc is not None
            terminate(inst.pid)  # Rspamd's own stop (TERM), the first post still held
            inst.proc.wait(timeout=WAIT_S)
            # the copy arrived meanwhile (else: Rspamd's log, to tell why)
            assert sink.arrived.acquire(timeout=WAIT_S), inst.log_text()[-6000:]
            errors = inst.lua_errors()
        assert [e["message_id"] for _, e in sink.posts] == ["m-7@evil.example"] * 2
        assert sink.posts[0] == sink.posts[1]  # the same body and credentials
        assert errors == []
    finally:
        sink.close()
