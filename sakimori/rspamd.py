"""A private Rspamd 3.4 on loopback: start, scan, reload maps, stop — never the system one.

:class:`RspamdInstance` runs ``rspamd -f`` with a configuration directory it writes: the stock
``common.conf`` (so the stock modules and rules load), ``LOCAL_CONFDIR`` = a copy of a
``BUILD_DIR/rspamd`` (the sakimori plugin, settings, maps) plus the harness's own ``override.d``
(offline profile: network modules off, loopback-only ``local_addrs``, DNS pointed at an
in-process stub that answers NXDOMAIN at once, quick map checks). ``DBDIR`` is kept between
runs and the hyperscan cache is shared by all slots (a start takes ~1 s instead of ~15 s);
each live instance holds a lock on its DBDIR slot, so concurrent instances never share one.

Leftovers of a crashed run (an owner process that is gone, its rspamd still running) are found
by the run directory's ``owner.json`` and stopped by PID after checking that the process is an
rspamd started in that very directory (:mod:`sakimori.rspamd_local`). :func:`configtest` runs
``rspamadm configtest`` on a build inside the same offline profile. Ports are free loopback
ports; a port taken meanwhile makes the start retry on others. :meth:`RspamdInstance.lua_errors`
lists the log lines that are Lua failures, so tests can require none.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
import requests

from sakimori.errors import ToolFailedError, ToolMissingError
from sakimori.rspamd_local import (
    RSPAMD_USER,
    DnsStub,
    EventSink,
    free_port,
    reap_leftovers,
    rspamd_ids,
    terminate,
    wait_ready,
    write_owner,
)

DEFAULT_BASE = Path(os.environ.get("SAKIMORI_RSPAMD_DIR", "/var/tmp/sakimori-rspamd"))
OFFLINE_DISABLED = ("rbl", "asn", "hfilter", "fuzzy_check", "neural", "reputation",
                    "url_redirector", "replies", "emails", "phishing", "history_redis",
                    "mx_check", "dcc", "greylist", "ratelimit", "rspamd_update")
# error lines from Lua code: module "lua", lua_* C glue, or the plugin's own files/prefix
_LUA_ERROR = re.compile(r"\[(?:error|critical)\].*(?:; lua;|\blua_\w+:|sakimori\.lua|"
                        r"plugins/sakimori/|\bsakimori: )")
_EXPORT_URL = re.compile(r'^(\s*url\s*=\s*)"[^"]*"(\s*;)', re.M)

PRIVATE_TEMPLATES = Path(__file__).resolve().parents[1] / "generator" / "templates" / "rspamd" \
    / "private"


def _render(name: str, **context: Any) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(PRIVATE_TEMPLATES)),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             trim_blocks=True, lstrip_blocks=True, autoescape=False)
    return env.get_template(name).render(**context)


def find_binary(binary: str = "rspamd") -> str:
    """Absolute path of the rspamd binary, or ToolMissingError with a hint."""
    path = shutil.which(binary)
    if path is None:
        raise ToolMissingError(binary, "install Rspamd 3.4 with `make setup`, or set "
                                       "rspamd.binary in sakimori.yaml")
    return path


def copy_tree(src: Path, dst: Path,
              transform: Callable[[Path, bytes], bytes] | None = None) -> list[Path]:
    """Mirror the files of *src* into *dst*: changed files only, each replaced atomically
    (Rspamd reloads a map when it changes and must never read a half-written one).
    *transform(relative path, data)* may rewrite a file on the way."""
    changed = []
    for path in sorted(Path(src).rglob("*")):
        if not path.is_file():
            continue
        target = Path(dst) / path.relative_to(src)
        data = path.read_bytes()
        if transform is not None:
            data = transform(path.relative_to(src), data)
        if target.exists() and target.read_bytes() == data:
            continue
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=str(target.parent))
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
        changed.append(target)
    return changed


def write_private_config(etc: Path, *, port: int, controller_port: int, dns_port: int,
                         map_watch_s: float = 1.0, workers: int = 1,
                         hs_cache_dir: Path | None = None,
                         antivirus: str | None = None) -> Path:
    """``etc/rspamd.conf`` and ``etc/override.d/`` of a private instance (offline profile).
    *antivirus*: the ``HOST:PORT`` of a (private) clamd the antivirus module asks; None
    switches the module off (no clamd: every scan would log a failed connection)."""
    override = etc / "override.d"
    override.mkdir(parents=True, exist_ok=True)
    (etc / "rspamd.conf").write_text(_render(
        "rspamd.conf.j2", port=port, controller_port=controller_port, workers=workers),
        encoding="utf-8")
    (override / "options.inc").write_text(_render(
        "options.inc.j2", dns_port=dns_port, map_watch=map_watch_s,
        hs_cache_dir=str(hs_cache_dir) if hs_cache_dir else ""), encoding="utf-8")
    (override / "logging.inc").write_text('level = "info";\nlog_severity = true;\n',
                                          encoding="utf-8")
    for module in OFFLINE_DISABLED:
        (override / f"{module}.conf").write_text("enabled = false;\n", encoding="utf-8")
    (override / "antivirus.conf").write_text(_antivirus_override(etc, antivirus), encoding="utf-8")
    return etc / "rspamd.conf"


def _antivirus_override(etc: Path, servers: str | None) -> str:
    """override.d/antivirus.conf: the build's clamav rule (``etc/local.d/antivirus.conf``, as
    ``sakimori generate`` rendered it) pointed at *servers*, or off (no servers, no rule)."""
    if not servers:
        return "enabled = false;\n"
    try:
        built = (etc / "local.d" / "antivirus.conf").read_text(encoding="utf-8")
    except OSError:
        return "enabled = false;\n"
    line = f"servers = {json.dumps(servers, ensure_ascii=True)};"
    text, n = _SERVERS.subn(lambda _m: line, built, count=1)
    return text if n else "enabled = false;\n"


_SERVERS = re.compile(r"^\s*servers\s*=.*;[ \t]*$", re.MULTILINE)


def configtest(build_dir: Path, binary: str = "rspamd") -> str:
    """``rspamadm configtest -s`` of ``build_dir/rspamd`` inside the offline profile (the stock
    configuration needs the network for fuzzy servers). Returns rspamadm's output; raises
    ToolFailedError naming the first problem (a sakimori line first)."""
    rspamadm = shutil.which("rspamadm") or str(Path(find_binary(binary)).with_name("rspamadm"))
    if not Path(rspamadm).exists():
        raise ToolMissingError("rspamadm", "it comes with the rspamd package")
    src = Path(build_dir) / "rspamd"
    with tempfile.TemporaryDirectory(prefix="sakimori-configtest-") as tmp:
        etc = Path(tmp) / "etc"
        copy_tree(src, etc)
        conf = write_private_config(etc, port=free_port(), controller_port=free_port(),
                                    dns_port=53)
        for sub in ("db", "run", "log"):
            (Path(tmp) / sub).mkdir()
        argv = [rspamadm, f"--var=LOCAL_CONFDIR={etc}", f"--var=DBDIR={Path(tmp) / 'db'}",
                f"--var=RUNDIR={Path(tmp) / 'run'}", f"--var=LOGDIR={Path(tmp) / 'log'}",
                "configtest", "-s", "-c", str(conf)]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    output = (proc.stdout + proc.stderr).strip()
    problems = [ln for ln in output.splitlines()
                if ln.strip() and ln.strip() not in ("syntax OK",)]
    ours = [ln for ln in problems if "sakimori" in ln.lower()]
    if proc.returncode != 0 or ours:
        raise ToolFailedError("rspamadm configtest", (ours or problems or ["syntax BAD"])[0])
    return output


class RspamdInstance:
    """A private Rspamd; use as a context manager or call :meth:`start`/:meth:`stop`."""

    def __init__(self, build_dir: Path | None = None, *, binary: str = "rspamd",
                 base_dir: Path | None = None, map_watch_s: float = 1.0,
                 start_timeout: float = 120.0, workers: int = 1,
                 export_to: str | None = None, antivirus: str | None = None) -> None:
        self.binary = find_binary(binary)
        self.base = Path(base_dir or DEFAULT_BASE)
        self.build_dir = Path(build_dir) if build_dir else None
        self.map_watch_s = map_watch_s
        self.workers = workers
        self.start_timeout = start_timeout
        self.port = self.controller_port = 0
        self.pid: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.run_dir: Path | None = None
        self.db_dir: Path | None = None
        self._lock_fh: Any = None
        self.dns: DnsStub | None = None
        self.sink: EventSink | None = None
        self.export_to = export_to  # None: the exporter posts to this harness's EventSink
        self.antivirus = antivirus  # clamd HOST:PORT; None: antivirus module off
        self.session = requests.Session()

    # -- layout --------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def etc(self) -> Path:
        assert self.run_dir is not None
        return self.run_dir / "etc"

    @property
    def log_path(self) -> Path:
        assert self.run_dir is not None
        return self.run_dir / "log" / "rspamd.log"

    def _own(self, path: Path) -> None:
        ids = rspamd_ids()
        if ids:
            os.chown(path, *ids)

    def _claim_db(self) -> None:
        for slot in range(64):
            fh = (self.base / f"db-{slot}.lock").open("a")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                fh.close()
                continue
            self._lock_fh, self.db_dir = fh, self.base / f"db-{slot}"
            for shared in (self.db_dir, self.base / "hs"):
                shared.mkdir(exist_ok=True)
                self._own(shared)
            return
        raise ToolFailedError("rspamd", f"no free DBDIR slot in {self.base}")

    def _write_config(self) -> None:
        assert self.dns is not None
        if self.build_dir is not None:
            self.sync(self.build_dir)
        write_private_config(self.etc, port=self.port, controller_port=self.controller_port,
                             dns_port=self.dns.port, map_watch_s=self.map_watch_s,
                             workers=self.workers, hs_cache_dir=self.base / "hs",
                             antivirus=self.antivirus)

    def sync(self, build_dir: Path) -> list[Path]:
        """Copy ``build_dir/rspamd`` into the instance (changed files only, atomically);
        the exporter posts to this harness's event sink. Returns the files that changed."""
        src = Path(build_dir) / "rspamd"
        if not (src / "rspamd.conf.local").is_file():
            raise ToolFailedError("rspamd", f"{src}: not a rendered sakimori build "
                                            "(run `sakimori generate` first)")
        self.build_dir = Path(build_dir)
        return copy_tree(src, self.etc, self._to_sink)

    def _to_sink(self, rel: Path, data: bytes) -> bytes:
        """The exporter posts to *export_to*, else to this harness's event sink — never to
        the rendered ``rspamd.listen`` (a consumer of the real site could be there)."""
        url = self.export_to or (self.sink.url if self.sink is not None else None)
        if rel != Path("local.d/metadata_exporter.conf") or url is None:
            return data
        return _EXPORT_URL.sub(lambda m: f'{m.group(1)}"{url}"{m.group(2)}',
                               data.decode("utf-8")).encode("utf-8")

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> RspamdInstance:
        self.base.mkdir(parents=True, exist_ok=True)
        os.chmod(self.base, 0o755)
        reap_leftovers(self.base)
        self._claim_db()
        self.dns = DnsStub()
        self.sink = EventSink() if self.export_to is None else None
        last = ""
        for _attempt in range(3):
            self.run_dir = Path(tempfile.mkdtemp(prefix=f"run-{os.getpid()}-", dir=self.base))
            os.chmod(self.run_dir, 0o755)
            for sub in ("run", "log"):
                (self.run_dir / sub).mkdir()
                self._own(self.run_dir / sub)
            self.port, self.controller_port = free_port(), free_port()
            self._write_config()
            self._spawn()
            last = self._wait_ready()
            if not last:
                return self
            port_taken = any(re.search(r"bind|listen|in use", ln, re.I)
                             for ln in self._error_lines())
            self._kill()
            if not port_taken:
                break
            shutil.rmtree(self.run_dir, ignore_errors=True)
        self.stop()
        raise ToolFailedError("rspamd", last or "did not start")

    def _spawn(self) -> None:
        assert self.run_dir is not None and self.db_dir is not None
        argv = [self.binary, "-f", "-c", str(self.etc / "rspamd.conf"),
                f"--var=LOCAL_CONFDIR={self.etc}", f"--var=DBDIR={self.db_dir}",
                f"--var=RUNDIR={self.run_dir / 'run'}", f"--var=LOGDIR={self.run_dir / 'log'}"]
        if rspamd_ids():
            argv += ["-u", RSPAMD_USER, "-g", RSPAMD_USER]
        self.proc = subprocess.Popen(argv, cwd=self.run_dir, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        self.pid = self.proc.pid
        write_owner(self.run_dir, "rspamd_pid", self.pid)

    def _wait_ready(self) -> str:
        """'' when /ping answers; otherwise the reason (last error line of the log)."""
        return wait_ready(self.proc, self.ping, self.start_timeout, self._last_error,
                          f"no answer on {self.url}/ping after {self.start_timeout:.0f} s")

    def _error_lines(self) -> list[str]:
        return [ln.strip() for ln in self.log_text().splitlines()
                if "[error]" in ln or "[critical]" in ln]

    def _last_error(self) -> str:
        lines = self._error_lines()
        first = [ln for ln in lines if re.search(r"bind|listen|sakimori|lua", ln, re.I)]
        if first:
            return first[0]
        return lines[-1] if lines else ""

    def ping(self) -> bool:
        try:
            return self.session.get(self.url + "/ping", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def restart(self) -> None:
        """Stop and start the daemon again (after a settings change; maps need no restart)."""
        self._kill()
        self.port, self.controller_port = free_port(), free_port()
        self._write_config()
        self._spawn()
        reason = self._wait_ready()
        if reason:
            raise ToolFailedError("rspamd", reason)

    def _kill(self) -> None:
        if self.pid is not None:
            terminate(self.pid)
            if self.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=5)
        self.pid = self.proc = None

    def stop(self) -> None:
        self._kill()
        for closer in (self.dns, self.sink):
            if closer is not None:
                closer.close()
        self.dns = self.sink = None
        if self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir = None
        if self._lock_fh is not None:
            self._lock_fh.close()
            self._lock_fh = None
        self.session.close()

    def __enter__(self) -> RspamdInstance:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- use -------------------------------------------------------------------------------------
    def scan(self, message: bytes, **envelope: Any) -> dict[str, Any]:
        """Scan one message; see :func:`scan_url` for the envelope keywords."""
        return scan_url(self.url, message, session=self.session, **envelope)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except (OSError, AssertionError):
            return ""

    def lua_errors(self) -> list[str]:
        """Log lines that are Lua failures (error/critical lines naming lua or sakimori)."""
        return [ln for ln in self.log_text().splitlines() if _LUA_ERROR.search(ln)]

    @property
    def events(self) -> list[dict[str, Any]]:
        return self.sink.events if self.sink is not None else []


def scan_url(url: str, message: bytes, *, ip: str | None = None, mail_from: str | None = None,
             rcpt: list[str] | tuple[str, ...] = (), helo: str | None = None,
             hostname: str | None = None, user: str | None = None, timeout: float = 30.0,
             session: requests.Session | None = None) -> dict[str, Any]:
    """POST *message* to ``{url}/checkv2`` with the envelope as Rspamd protocol headers
    (``IP``, ``From``, ``Rcpt`` — comma-separated, ``Helo``, ``Hostname``, ``User``)."""
    headers = {"IP": ip, "From": mail_from, "Helo": helo, "Hostname": hostname, "User": user,
               "Rcpt": ", ".join(f"<{r}>" for r in rcpt) if rcpt else None}
    clean = {k: _header_value(v) for k, v in headers.items() if v}
    try:
        reply = (session or requests).post(url.rstrip("/") + "/checkv2", data=message,
                                           headers=clean, timeout=timeout)
    except requests.RequestException as exc:
        raise ToolFailedError("rspamd", f"{url}: {exc}") from exc
    if reply.status_code != 200:
        raise ToolFailedError("rspamd", f"{url}/checkv2 answered HTTP {reply.status_code}")
    try:
        return reply.json()
    except ValueError as exc:
        raise ToolFailedError("rspamd", f"{url}/checkv2: reply is not JSON") from exc


def _header_value(value: str) -> str:
    """Protocol headers are one line of printable ASCII/UTF-8 (no CR/LF injection)."""
    text = re.sub(r"[\x00-\x1f\x7f]", "", str(value))
    return text.encode("utf-8").decode("latin-1")
