"""A loopback SMTP sink for tests: an aiosmtpd handler keeping every message and envelope.

The ``smtp`` fixture in conftest.py runs it on a free loopback port (``sink.port``).
"""

from __future__ import annotations

import threading
import time
from email import message_from_bytes, policy
from typing import Any


class Sink:
    """A real SMTP server on loopback (aiosmtpd) keeping messages and envelopes."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.lock = threading.Lock()
        self.port = 0  # set by the fixture that serves it

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(message_from_bytes(envelope.original_content,
                                                    policy=policy.default))
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"

    def wait(self, n: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.messages) < n and time.monotonic() < deadline:
            time.sleep(0.05)
