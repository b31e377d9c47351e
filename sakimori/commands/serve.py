"""The ``sakimori serve`` verb: the admin screen, served by waitress (a production WSGI server).

``sakimori serve --config C [--listen HOST:PORT]`` serves until SIGINT/SIGTERM.
``sakimori serve --config C --add-user NAME`` adds (or replaces) a local user: the password is
read from standard input when it is not a terminal (first line), else asked twice; it is stored
as a salted scrypt hash in ``web.users_file`` (0600). ``--delete-user NAME`` removes a user
and ends every session of it at once (server-side sessions); replacing a user's password ends
its sessions too. See docs/admin-screen.md.
"""

from __future__ import annotations

import argparse
import getpass
import signal
import sqlite3
import sys
import threading
from pathlib import Path

from sakimori.errors import SakimoriError, UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve the admin screen (login required)",
                       description="Serve the admin screen: hosts, findings, mail warnings, "
                                   "the whitelist editor.")
    p.add_argument("--config", required=True, type=Path, help="sakimori.yaml")
    p.add_argument("--listen", metavar="HOST:PORT",
                   help="address to listen on (default: web.listen, 127.0.0.1:8080)")
    p.add_argument("--add-user", metavar="NAME",
                   help="add or replace a local user (password from stdin or a prompt), exit")
    p.add_argument("--delete-user", metavar="NAME",
                   help="remove a local user and end its sessions, exit")
    p.add_argument("--threads", type=int, default=4, help="worker threads (4)")
    p.set_defaults(func=run)


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--listen: expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def _read_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise UsageError("the passwords differ")
    return first


def add_user(cfg_path: Path, name: str, password: str) -> Path:
    """Add *name* to the users file of the configuration at *cfg_path*; returns the file."""
    from sakimori.config import load_config
    from sakimori.web.auth import add_user as _add
    from sakimori.web.sessions import SessionStore

    cfg = load_config(cfg_path)
    try:
        if not _add(cfg.web.users_file, name, password):
            SessionStore(cfg.web.sessions_file).revoke_user(name)  # a new password
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    except (OSError, sqlite3.Error) as exc:
        raise SakimoriError(f"{cfg.web.users_file}: cannot write: "
                            f"{getattr(exc, 'strerror', None) or exc}") from exc
    return cfg.web.users_file


def delete_user(cfg_path: Path, name: str) -> tuple[bool, int]:
    """Remove *name* and revoke its sessions: (was a user, sessions ended)."""
    from sakimori.config import load_config
    from sakimori.web.auth import delete_user as _delete
    from sakimori.web.sessions import SessionStore

    cfg = load_config(cfg_path)
    try:
        existed = _delete(cfg.web.users_file, name)
        ended = SessionStore(cfg.web.sessions_file).revoke_user(name)
    except (OSError, sqlite3.Error) as exc:
        raise SakimoriError(f"cannot delete user {name}: "
                            f"{getattr(exc, 'strerror', None) or exc}") from exc
    return existed, ended


def run(args: argparse.Namespace) -> int:
    from sakimori.config import load_config

    if args.delete_user is not None:
        existed, ended = delete_user(args.config, args.delete_user)
        print(f"sakimori serve: user {args.delete_user} "
              f"{'deleted' if existed else 'was not in the users file'}; {ended} session(s) "
              "ended")
        return 0
    if args.add_user is not None:
        path = add_user(args.config, args.add_user, _read_password())
        print(f"sakimori serve: user {args.add_user} saved in {path}")
        return 0
    cfg = load_config(args.config)
    host, port = _listen(args.listen) if args.listen else (cfg.web.listen_host,
                                                           cfg.web.listen_port)
    return serve(cfg, host, port, args.threads)


def _prebuild(app: object) -> None:
    """Bring the report index up to date while the server starts (a first request waits for
    this build instead of starting its own)."""
    try:
        app.extensions["sakimori_web"].index.refresh()  # type: ignore[attr-defined]
    except (OSError, sqlite3.Error) as exc:
        print(f"sakimori serve: report index not built at start: {exc}", file=sys.stderr)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve(cfg: object, host: str, port: int, threads: int = 4, quiet: bool = False) -> int:
    """Serve the admin screen of *cfg* on host:port until interrupted (*quiet*: print
    nothing, the caller already told where)."""
    import waitress

    from sakimori.web.app import create_app
    from sakimori.web.auth import load_users

    app = create_app(cfg, listen_host=host)  # type: ignore[arg-type]
    threading.Thread(target=_prebuild, args=(app,), daemon=True).start()
    web = cfg.web  # type: ignore[attr-defined]
    if web.auth == "local" and not load_users(web.users_file) and not quiet:
        print(f"sakimori serve: no user yet — add one with `sakimori serve --config "
              f"{cfg.source} --add-user NAME`", file=sys.stderr)  # type: ignore[attr-defined]
    try:
        server = waitress.create_server(app, host=host, port=port, threads=threads,
                                        ident="sakimori", clear_untrusted_proxy_headers=True)
    except OSError as exc:
        raise SakimoriError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    shown = f"[{host}]" if ":" in host else host
    if not quiet:
        print(f"sakimori serve: admin screen on http://{shown}:{port}/ (auth: {web.auth})",
              file=sys.stderr, flush=True)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM stops it as Ctrl-C does
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0
