"""The Table 1 triage pages: ``/triage`` (classes × days, top hosts and mails per class, what
to look at first and why), ``/triage/CLASS`` (every host or mail of one class, paginated) and
``/mail/D/POS`` (one warning's evidence, the drill-down of a mail).

Reads only the report index through bounded queries (:mod:`sakimori.web.triagequery`) and the
kill chain the hosts page computes; the ordering and its reasons are
:mod:`sakimori.web.triage`, the plot :mod:`sakimori.web.classplot`. Templates are autoescaped;
links carry only a fixed class name, a validated host IP, or two integers.
"""

from __future__ import annotations

from flask import Flask, abort, render_template, request

from sakimori.web import triage
from sakimori.web import triagequery as tq
from sakimori.web.app import config, current_user
from sakimori.web.classplot import heatmap, window
from sakimori.web.views import _chain, _outbox, _page, _report

LOOK_FIRST = 10  # items per tier of "look at these first"
TOP_PER_CLASS = 5  # hosts or mails per class in the "top per class" panel
DAYS, MIN_DAYS, MAX_DAYS = 30, 7, 90
CLASS_PAGES = {k: (t, w) for k, t, w in triage.TIERS if k != "kill_chain"}


def _days() -> int:
    try:
        return min(max(MIN_DAYS, int(request.args.get("days", DAYS))), MAX_DAYS)
    except ValueError:
        return DAYS


def triage_page() -> str:
    ix = _report()
    chain = _chain(ix, _outbox(ix))
    counts = tq.class_days(ix)
    totals = tq.totals(counts)
    span = _days()
    days = window([d for _, d in counts if d], span)
    rows = [(k, t, k in tq.MAIL_CLASSES) for k, t, _ in triage.TIERS if k != "kill_chain"]
    earlier = len({d for _, d in counts if d and days and d < days[0]})
    plot = heatmap(counts, rows, days, f"Table 1 classes per UTC day, {len(days)} day(s)")
    top = {k: (tq.top_mails(ix, k, TOP_PER_CLASS) if mail
               else tq.top_hosts(ix, k, TOP_PER_CLASS)) for k, _, mail in rows}
    return render_template(
        "triage.html", user=current_user(), plot=plot, days=days, span=span,
        earlier=earlier, rows=rows, totals=totals, top=top,
        tiers=triage.look_first(ix, chain, totals, LOOK_FIRST), linkable=triage.linkable,
        limit=LOOK_FIRST, top_n=TOP_PER_CLASS)


def triage_class(cls: str) -> str:
    if cls not in CLASS_PAGES:
        abort(404)
    ix = _report()
    total = tq.class_total(ix, cls)
    page, pages, offset = _page(total)
    size = config().web.page_size
    mail = cls in tq.MAIL_CLASSES
    items = tq.top_mails(ix, cls, size, offset) if mail else tq.top_hosts(ix, cls, size, offset)
    title, why = CLASS_PAGES[cls]
    return render_template("triage_class.html", user=current_user(), cls=cls, title=title,
                           why=why, mail=mail, items=items, total=total, page=page,
                           pages=pages, offset=offset, linkable=triage.linkable)


def mail_one(d: int, pos: int) -> str:
    rec = tq.mail_at(_report(), d, pos)
    if rec is None:
        abort(404)
    return render_template("mail_one.html", user=current_user(), w=rec,
                           record={k: v for k, v in rec.items() if not k.startswith("_")},
                           admins=set(config().alerts.admins))


def register(app: Flask) -> None:
    app.add_url_rule("/triage", "triage", triage_page)
    app.add_url_rule("/triage/<cls>", "triage_class", triage_class)
    app.add_url_rule("/mail/<int:d>/<int:pos>", "mail_one", mail_one)
