"""The admin screen's Flask application: :func:`create_app` wires auth, CSRF, headers, views.

Every request passes :func:`_guard` first: its Host header must name this screen
(``web.base_url``, the listen address, ``web.allowed_hosts``; else 400 — no redirect or link is
ever built from a foreign Host, and URL rules do not merge slashes, so ``//evil.example/``
never redirects); static files aside, it needs a user (a server-side session,
:mod:`sakimori.web.sessions`, or a trusted proxy's header with the shared secret,
:mod:`sakimori.web.auth`) — HTML pages redirect to ``/login`` (302), ``/report.csv`` and
``/api/…`` answer 401 — and a state-changing request needs the CSRF token
(:mod:`sakimori.web.csrf`, else 400). Every response carries a strict Content-Security-Policy
(no script at all, styles and images from this origin only, no framing), ``nosniff``,
``Referrer-Policy: no-referrer`` and ``Cache-Control: no-store``. Jinja2 autoescaping is on for
every template, so network-derived text (Host, SNI, URLs, subjects, display names) is inert.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, abort, current_app, g, redirect, request, session, url_for
from werkzeug.routing import Map

from sakimori.config import Config
from sakimori.web import auth, csrf, sessions
from sakimori.web.reportindex import ReportIndex
from sakimori.webconfig import WebConfig

CSP = ("default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
PUBLIC_ENDPOINTS = frozenset({"static", "login", "logout", "favicon"})
HERE = Path(__file__).resolve().parent
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


class _Map(Map):
    """URL rules that never merge slashes (Werkzeug's merge redirect echoes the Host)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["merge_slashes"] = False
        super().__init__(*args, **kwargs)


class _Flask(Flask):
    url_map_class = _Map


@dataclass
class WebState:
    """What the screen keeps between requests."""

    store: sessions.SessionStore
    throttle: sessions.LoginThrottle
    users: auth.UserList
    proxy_secret: bytes | None
    allowed_hosts: frozenset[str]
    index: ReportIndex


def allowed_hosts(web: WebConfig, listen_host: str) -> frozenset[str]:
    """Host names a request may carry: ``web.allowed_hosts``, ``web.base_url``'s host, the
    listen address (and the loopback names when it is loopback or a wildcard)."""
    names = set(web.allowed_hosts)
    if web.base_url:
        names.add((urlsplit(web.base_url).hostname or "").lower())
    host = listen_host.lower().strip("[]")
    try:
        ip = ipaddress.ip_address(host)
        if ip.is_loopback or ip.is_unspecified:
            names.update(LOOPBACK_NAMES)
        if not ip.is_unspecified:
            names.add(host)
    except ValueError:
        names.add(host)
    return frozenset(n for n in names if n)


def host_name(value: str) -> str:
    """The host name of a Host header value, port removed, lower case."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return value.rpartition(":")[0] if value.count(":") == 1 else value


def create_app(cfg: Config, *, testing: bool = False, listen_host: str | None = None) -> Flask:
    """The WSGI application for *cfg* (serve it with waitress: ``sakimori serve``);
    *listen_host*: the address actually listened on (default ``web.listen``)."""
    web = cfg.web
    store = sessions.SessionStore(web.sessions_file)
    app = _Flask("sakimori.web", template_folder=str(HERE / "templates"),
                static_folder=str(HERE / "static"), static_url_path="/static")
    app.config.update(
        SECRET_KEY=auth.secret_key(web.secret_key_file),
        SESSION_COOKIE_NAME="sakimori_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=web.base_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=web.session_minutes * 60,
        MAX_CONTENT_LENGTH=64 * 1024,
        TESTING=testing,
    )
    app.jinja_env.autoescape = True  # every template, whatever its name
    app.extensions["sakimori_cfg"] = cfg
    app.extensions["sakimori_web"] = WebState(
        store, sessions.LoginThrottle(store, auth.MAX_FAILURES, auth.FAILURE_WINDOW_S),
        auth.UserList(web.users_file), auth.proxy_secret(web),
        allowed_hosts(web, listen_host if listen_host is not None else web.listen_host),
        ReportIndex(web.index_file, web.report_dirs))
    app.before_request(_guard)
    app.after_request(_headers)
    app.jinja_env.globals.update(csrf_token=lambda: csrf.token(session),
                                 auth_mode=web.auth)
    from sakimori.web import views

    views.register(app)
    return app


def config() -> Config:
    return current_app.extensions["sakimori_cfg"]


def state() -> WebState:
    return current_app.extensions["sakimori_web"]


def current_user() -> str | None:
    return getattr(g, "user", None)


def _wants_html() -> bool:
    path = request.path
    return not (path.startswith("/api/") or path.endswith(".csv"))


def _guard() -> Any:
    cfg, st = config(), state()
    host = request.headers.get("Host")
    if host is not None and host_name(host) not in st.allowed_hosts:
        abort(400, description="Unknown Host: set web.base_url or web.allowed_hosts.")
    if request.endpoint == "static":
        return None
    g.via_proxy = auth.from_trusted_proxy(cfg.web, request.remote_addr,
                                          request.headers.get(cfg.web.proxy_secret_header),
                                          st.proxy_secret)
    g.user = None
    if cfg.web.auth == "header":
        g.user = auth.header_user(cfg.web, g.via_proxy, request.headers.get(cfg.web.header_name))
    else:
        g.user = _session_user(cfg, st)
    if request.method in csrf.UNSAFE_METHODS and not csrf.valid(
            session, request.form.get(csrf.FIELD)):
        abort(400, description="CSRF token missing or wrong: reload the page and try again.")
    if g.user is not None or request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if cfg.web.auth == "header" or not _wants_html():
        return Response("login required\n", 401, {"Content-Type": "text/plain; charset=utf-8",
                                                  "WWW-Authenticate": 'Session realm="sakimori"'})
    return redirect(url_for("login", next=request.full_path.rstrip("?")))


def _session_user(cfg: Config, st: WebState) -> str | None:
    """The user of the request's server-side session (live, and still in the users file)."""
    sid = session.get("sid")
    if sid is None:
        return None
    user = st.store.user(sid, cfg.web.session_minutes * 60)
    if user is not None and user not in st.users.current():
        st.store.revoke(sid)  # the user was deleted
        user = None
    if user is None:
        session.pop("sid", None)
    return user


def _headers(resp: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        resp.headers.setdefault(name, value)
    return resp


def safe_next(target: str | None) -> str:
    """A local path to go to after login (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or any(
            c == "\\" or not c.isprintable() or c.isspace() for c in target):
        return "/"  # browsers drop tabs and newlines: "/\t/evil" would become "//evil"
    return target


def client_address() -> str:
    """The client's address for the login throttle (see :func:`auth.client_address`)."""
    web = config().web
    return auth.client_address(web, request.remote_addr, bool(getattr(g, "via_proxy", False)),
                               request.headers.get(web.client_address_header))


def login_user(name: str) -> None:
    state().store.revoke(session.get("sid"))  # a session the browser had before: ended
    session.clear()
    session["sid"] = state().store.create(name)
    session.permanent = True
    csrf.renew(session)


def logout_user() -> None:
    state().store.revoke(session.get("sid"))
    session.clear()
