"""The admin screen's Flask application: :func:`create_app` wires auth, CSRF, headers, views.

Every request passes :func:`_guard` first: static files aside, it needs a user (local session
or trusted proxy header, :mod:`sakimori.web.auth`) — HTML pages redirect to ``/login`` (302),
``/report.csv`` and ``/api/…`` answer 401 — and a state-changing request needs the CSRF token
(:mod:`sakimori.web.csrf`, else 400). Every response carries a strict Content-Security-Policy
(no script at all, styles and images from this origin only, no framing), ``nosniff``,
``Referrer-Policy: no-referrer`` and ``Cache-Control: no-store``. Jinja2 autoescaping is on for
every template, so network-derived text (Host, SNI, URLs, subjects, display names) is inert.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, g, redirect, request, session, url_for

from sakimori.config import Config
from sakimori.web import auth, csrf

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


def create_app(cfg: Config, *, testing: bool = False) -> Flask:
    """The WSGI application for *cfg* (serve it with waitress: ``sakimori serve``)."""
    web = cfg.web
    app = Flask("sakimori.web", template_folder=str(HERE / "templates"),
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
    app.before_request(_guard)
    app.after_request(_headers)
    app.jinja_env.globals.update(csrf_token=lambda: csrf.token(session),
                                 auth_mode=web.auth)
    from sakimori.web import views

    views.register(app)
    return app


def config() -> Config:
    from flask import current_app

    return current_app.extensions["sakimori_cfg"]


def current_user() -> str | None:
    return getattr(g, "user", None)


def _wants_html() -> bool:
    path = request.path
    return not (path.startswith("/api/") or path.endswith(".csv"))


def _guard() -> Any:
    cfg = config()
    if request.endpoint == "static":
        return None
    g.user = None
    if cfg.web.auth == "header":
        g.user = auth.header_user(cfg.web, request.remote_addr,
                                  request.headers.get(cfg.web.header_name))
    else:
        g.user = auth.session_user(session, cfg.web)
        if g.user is None and "user" in session:
            session.pop("user", None)  # expired: log out
            session.pop("since", None)
    if request.method in csrf.UNSAFE_METHODS and not csrf.valid(
            session, request.form.get(csrf.FIELD)):
        abort(400, description="CSRF token missing or wrong: reload the page and try again.")
    if g.user is not None or request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if cfg.web.auth == "header" or not _wants_html():
        return Response("login required\n", 401, {"Content-Type": "text/plain; charset=utf-8",
                                                  "WWW-Authenticate": 'Session realm="sakimori"'})
    return redirect(url_for("login", next=request.full_path.rstrip("?")))


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


def login_user(name: str) -> None:
    session.clear()
    session["user"] = name
    session["since"] = int(time.time())
    session.permanent = True
    csrf.renew(session)
