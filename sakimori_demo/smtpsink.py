"""A loopback SMTP sink (aiosmtpd) that stores every received message as an .eml file.

Used by ``sakimori demo`` so the alert mails it sends can be looked at, and by tests that
parse warning mails back. Never listens on anything but loopback.
"""

from __future__ import annotations

import socket
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller


def free_port(host: str = "127.0.0.1") -> int:
    """An unused TCP port on *host* (another process may still take it; callers retry)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class _Store:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.lock = threading.Lock()
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.count += 1
            path = self.directory / f"{self.count:04d}.eml"
        path.write_bytes(envelope.original_content or envelope.content)
        return "250 OK"


class SmtpSink:
    """Context manager: ``with SmtpSink(dir) as sink: ... sink.port ... sink.messages()``."""

    def __init__(self, directory: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.directory = directory
        self.host = host
        self.port = port or free_port(host)
        self._store = _Store(directory)
        self._controller: Controller | None = None

    def __enter__(self) -> SmtpSink:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._controller = Controller(self._store, hostname=self.host, port=self.port)
        self._controller.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def messages(self) -> list[EmailMessage]:
        """Every message received so far, parsed (oldest first)."""
        out = []
        for path in sorted(self.directory.glob("*.eml")):
            msg = message_from_bytes(path.read_bytes(), policy=policy.default)
            assert isinstance(msg, EmailMessage)
            out.append(msg)
        return out
