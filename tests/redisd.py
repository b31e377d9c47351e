"""A private redis-server for tests: free loopback port, own directory, stopped by PID.

``RedisServer(tmp_path).start()`` runs ``redis-server`` in the foreground as a child
(no persistence, ``requirepass``, an ACL user and TLS optional), waits for PING, and
``stop()`` terminates exactly that PID. A leftover daemon of an earlier run cannot collide:
every run picks a fresh free port and its own directory.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from engines import require_binary


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    def __init__(self, work: Path, password: str | None = None,
                 user: tuple[str, str] | None = None,
                 tls: tuple[Path, Path] | None = None) -> None:
        self.dir = Path(work)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.password = password
        self.user = user
        self.tls = tls  # (certificate, key) PEM files: TLS only, no plain port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        scheme = "redis" if self.tls is None else "rediss"
        return f"{scheme}://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = require_binary("redis-server")
        listen = [f"port {self.port}"] if self.tls is None else [
            "port 0", f"tls-port {self.port}", f"tls-cert-file {self.tls[0]}",
            f"tls-key-file {self.tls[1]}", f"tls-ca-cert-file {self.tls[0]}",
            "tls-auth-clients no"]
        conf = [*listen, "bind 127.0.0.1", f"dir {self.dir}", 'save ""',
                "appendonly no", "protected-mode yes", "daemonize no",
                f"logfile {self.dir / 'redis.log'}"]
        if self.password:
            conf.append(f"requirepass {self.password}")
        if self.user:
            name, pw = self.user
            conf.append(f"user {name} on >{pw} ~* &* +@all")
        cfile = self.dir / "redis.conf"
        cfile.write_text("\n".join(conf) + "\n", encoding="utf-8")
        self.proc = subprocess.Popen([binary, str(cfile)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server exited: {self.dir / 'redis.log'}") \
                        from None
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def client(self, db: int = 0):
        import redis

        kwargs = {}
        if self.user:
            kwargs = {"username": self.user[0], "password": self.user[1]}
        elif self.password:
            kwargs = {"password": self.password}
        return redis.Redis(host="127.0.0.1", port=self.port, db=db, **kwargs)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
