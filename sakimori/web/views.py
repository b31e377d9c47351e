"""The admin screen's pages: hosts (with the kill chain first), a host's evidence, mail
warnings, the whitelist editor, the CSV download, login and logout.

Views only read (the report index through :mod:`sakimori.web.reportquery`, refreshed first;
:mod:`sakimori.web.killchain`) and hand values to autoescaped templates; the whitelist
editor's work is in :mod:`sakimori.web.wledit`. The hosts and mail pages are paginated
(``?page=N``, ``web.page_size`` per page); the CSV is streamed in chunks.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from flask import Flask, Response, abort, redirect, render_template, request, session, url_for

from eve_consumer.outputs.hosts_csv import render_csv
from sakimori.config import Config, load_config
from sakimori.errors import SakimoriError
from sakimori.web import auth, data, killchain, wledit
from sakimori.web import reportquery as rq
from sakimori.web.app import (
    client_address,
    config,
    current_user,
    login_user,
    logout_user,
    safe_next,
    state,
)
from sakimori.web.reportindex import ReportIndex
from sakimori.web.svgplot import interval_plot
from sakimori.whitelist import Whitelist

_LEARNED: dict[str, Any] = {}


def _learned() -> dict[str, str]:
    """The proxy-log mapping, re-learned when a log changed (mtime and size)."""
    cfg = config()
    stamp = []
    for p in cfg.web.proxy_logs:
        try:
            st = p.stat()
            stamp.append((str(p), st.st_mtime_ns, st.st_size))
        except OSError:
            stamp.append((str(p), 0, 0))
    if _LEARNED.get("stamp") != stamp:
        _LEARNED["map"] = killchain.learn_from_proxy_logs(cfg, cfg.web.proxy_logs)
        _LEARNED["stamp"] = stamp
    return _LEARNED["map"]


def _report() -> ReportIndex:
    """The report index, brought up to date with the report files."""
    ix = state().index
    ix.refresh()
    return ix


def _outbox(ix: ReportIndex) -> list[dict[str, Any]]:
    """Warnings waiting for SMTP or given up, not yet in mail_warnings.jsonl."""
    recs = [r for d in config().web.state_dirs
            for r in data.outbox_records(d, lambda _key: False)]
    known = rq.known_warnings(ix, [str(r.get("key")) for r in recs])
    return [r for r in recs if str(r.get("key")) not in known]


def _chain(ix: ReportIndex, outbox: list[dict[str, Any]]) -> list[killchain.Escalation]:
    """The kill chain over the newest warnings; only the hosts they map to are read."""
    cfg, learned = config(), _learned()
    warnings = outbox + rq.warnings(ix, 0, data.MAX_WARNINGS)
    rows = rq.hosts_with_findings(ix, killchain.mapped_hosts(cfg, warnings, learned))
    return killchain.escalations(cfg, rows, warnings, learned)


def _page(total: int) -> tuple[int, int, int]:
    """(page, pages, offset) from ``?page=`` (out-of-range values are clamped)."""
    size = config().web.page_size
    pages = max(1, -(-total // size))
    try:
        page = min(max(1, int(request.args.get("page", "1"))), pages)
    except ValueError:
        page = 1
    return page, pages, (page - 1) * size


def index() -> str:
    ix = _report()
    outbox = _outbox(ix)
    chain = _chain(ix, outbox)
    escalated = {e.host for e in chain}
    first = rq.hosts_with_findings(ix, escalated)  # escalated hosts come first, on page 1
    total = rq.host_count(ix)
    page, pages, offset = _page(max(0, total - len(first)))
    hosts = (first if page == 1 else []) + rq.host_page(ix, offset, config().web.page_size,
                                                         exclude=escalated)
    return render_template("index.html", user=current_user(), hosts=hosts,
                           total=total, page=page, pages=pages,
                           chain=_group(chain), escalated=escalated,
                           problems=rq.problems(ix),
                           warnings=rq.warning_count(ix) + len(outbox), stats=rq.stats(ix))


def _group(chain: list[killchain.Escalation]) -> list[dict[str, Any]]:
    """One kill-chain row per host: its recipients, the spoofed mails and their checks."""
    rows: dict[str, dict[str, Any]] = {}
    for e in chain:
        row = rows.setdefault(e.host, {"host": e.host, "score": e.score,
                                       "detections": e.detections, "recipients": {},
                                       "checks": {}, "mails": set(), "first": e.mail_time,
                                       "subjects": {}})
        row["recipients"][e.recipient] = e.mapping
        row["checks"].update(dict.fromkeys(e.warning.get("symbols") or []))
        row["mails"].add(str(e.warning.get("key")))
        row["first"] = min(row["first"], e.mail_time)
        if len(row["subjects"]) < 3:
            row["subjects"][str(e.warning.get("subject", ""))] = None
    return list(rows.values())


def _beacon_pairs(finding: Any) -> list[dict[str, Any]]:
    pairs = finding.evidence.get("pairs") if finding.detection == "beacon" else None
    out = []
    for pair in pairs if isinstance(pairs, list) else []:
        if not isinstance(pair, dict):
            continue
        label = f"beacon intervals to {pair.get('destination', '?')}"
        out.append({"pair": pair,
                     "subs": {k: v for k, v in pair.items() if str(k).startswith("sub_")},
                     "plot": interval_plot(pair.get("intervals_s"), pair.get("period_s"),
                                           label)})
    return out


def _crossed(finding: Any) -> list[tuple[str, Any]]:
    """The evidence entries naming the learned or configured value that was crossed."""
    return [(k, v) for k, v in finding.evidence.items()
            if ("threshold" in k or "baseline" in k) and not isinstance(v, dict | list)]


def host(address: str) -> str:
    try:
        address = str(ipaddress.ip_address(address))
    except ValueError:
        abort(404)
    ix = _report()
    rows = rq.hosts_with_findings(ix, [address])
    if not rows:
        abort(404)
    row = rows[0]
    chain = [e for e in _chain(ix, _outbox(ix)) if e.host == address]
    findings = sorted(row.findings, key=lambda f: f.first_seen)
    try:
        fresh = _fresh()
        current = Whitelist.from_entries(fresh.whitelist.destinations)
        policy = fresh.whitelist.policy
    except (SakimoriError, ValueError):
        current, policy = Whitelist(), config().whitelist.policy
    return render_template(
        "host.html", user=current_user(), row=row,
        findings=[(f, _beacon_pairs(f), _crossed(f)) for f in findings],
        chain=chain,
        offers=lambda d: wledit.offers(d, policy),
        listed=lambda e: current.matches_ip(e) or current.matches_host(e))


def mail() -> str:
    ix = _report()
    outbox = _outbox(ix)
    page, pages, offset = _page(rq.warning_count(ix))
    shown = (outbox if page == 1 else []) + rq.warnings(ix, offset, config().web.page_size)
    admins = set(config().alerts.admins)
    return render_template("mail.html", user=current_user(), warnings=shown,
                           total=rq.warning_count(ix) + len(outbox), page=page, pages=pages,
                           admins=admins)


def _fresh() -> Config:
    """The configuration as it is on disk now (the whitelist file may have changed)."""
    cfg = config()
    return load_config(cfg.source) if cfg.source != "<defaults>" else cfg


def whitelist() -> str:
    cfg = config()
    error = session.pop("wl_error", None)
    refill = session.pop("wl_entry", "")  # never from the URL: a link must not pre-fill it
    try:
        fresh = _fresh()
    except SakimoriError as exc:  # e.g. the whitelist file was broken by hand
        problem = f"the configuration does not load now: {exc}"
        fresh, error = cfg, f"{error} — {problem}" if error else problem
    audit = wledit.read_audit(cfg)
    done = request.args.get("done", "")
    last = next((a for a in audit if a.get("id") == done), None) if done else None
    return render_template("whitelist.html", user=current_user(), wl=fresh.whitelist,
                           audit=audit, last=last, entry=refill,
                           error=error,
                           editable=fresh.whitelist.file is not None, web=cfg.web)


def whitelist_add() -> Response:
    """The whitelist page's form: any valid entry, typed by the analyst."""
    return _added(wledit.add_entry(config(), request.form.get("entry", ""),
                                   current_user() or "?", request.form.get("reason", "")))


def host_benign(address: str) -> Response:
    """"Mark benign" on a host page: only an entry the page offered for this host's evidence
    (re-computed here, so a forged or edited form cannot whitelist anything else)."""
    try:
        address = str(ipaddress.ip_address(address))
    except ValueError:
        abort(404)
    cfg = config()
    rows = rq.hosts_with_findings(_report(), [address])
    if not rows:
        abort(404)
    row = rows[0]
    try:
        policy = _fresh().whitelist.policy
    except SakimoriError:
        policy = cfg.whitelist.policy
    entry = request.form.get("entry", "").strip()
    offered = {e for f in row.findings for d in f.destinations
               for e in wledit.offers(d, policy)}
    if entry not in offered:
        session["wl_error"] = (f"not changed: {entry[:100]!r} is not a destination address or "
                               f"host name seen in the evidence of {address}")
        return redirect(url_for("whitelist"))
    return _added(wledit.add_entry(cfg, entry, current_user() or "?",
                                   request.form.get("reason", "")))


def _added(result: wledit.EditResult) -> Response:
    if not result.ok and not result.regenerated:
        session["wl_error"] = result.message[:300]
        session["wl_entry"] = result.entry[:300]
        return redirect(url_for("whitelist"))
    return redirect(url_for("whitelist", done=result.id))


def report_csv() -> Response:
    ix = _report()

    def body() -> Any:
        from eve_consumer.outputs.hosts_csv import COLUMNS

        yield render_csv([])  # the header
        for chunk in rq.csv_chunks(ix):
            yield render_csv(chunk)[len(",".join(COLUMNS)) + 2:]  # rows only

    return Response(body(), 200, {
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": 'attachment; filename="sakimori-hosts.csv"'})


def login() -> Any:
    cfg, st = config(), state()
    if cfg.web.auth == "header":
        abort(404)
    if request.method != "POST":
        return render_template("login.html", user=None, error=None)
    name = request.form.get("username", "")[:64]
    password = request.form.get("password", "")[:1024]
    keys = [f"addr:{client_address()}"] + ([f"user:{name.lower()}"]
                                           if auth.valid_user_name(name) else [])
    if st.throttle.blocked(keys):
        return render_template("login.html", user=None,
                               error="Too many failed logins: wait a few minutes."), 429
    if auth.valid_user_name(name) and auth.check_login(st.users.current(), name, password):
        login_user(name)
        return redirect(safe_next(request.args.get("next")))
    st.throttle.failed(keys)
    return render_template("login.html", user=None, error="Wrong user name or password."), 401


def logout() -> Response:
    logout_user()
    return redirect(url_for("login"))


def register(app: Flask) -> None:
    app.add_url_rule("/", "index", index)
    app.add_url_rule("/hosts/<address>", "host", host)
    app.add_url_rule("/hosts/<address>/benign", "host_benign", host_benign, methods=["POST"])
    app.add_url_rule("/mail", "mail", mail)
    app.add_url_rule("/whitelist", "whitelist", whitelist)
    app.add_url_rule("/whitelist", "whitelist_add", whitelist_add, methods=["POST"])
    app.add_url_rule("/report.csv", "report_csv", report_csv)
    app.add_url_rule("/login", "login", login, methods=["GET", "POST"])
    app.add_url_rule("/logout", "logout", logout, methods=["POST"])
    app.add_url_rule("/favicon.ico", "favicon", lambda: Response(status=204))
    app.jinja_env.filters["iso"] = _iso
    from sakimori.web import triageviews

    triageviews.register(app)


def _iso(ts: Any) -> str:
    from eve_consumer.model import iso

    return iso(ts) if isinstance(ts, int | float) and ts > 0 else "-"
