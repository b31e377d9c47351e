"""The fixed external world: web sites, CDNs, service endpoints and their IPv4 addresses.

Names are invented (RFC-looking, non-existent); only ``*.windowsupdate.com`` and
``ntp.nict.jp`` are real and whitelisted. Site popularity is Zipf-like in list order; some
sites share a hosting IP and several CDN names share one edge IP, as in real networks.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sakimori_demo.officesim.params import NTP_IP, NTP_NAME


@dataclass(frozen=True)
class Site:
    """One web site: its name, address, content kind, scheme and the CDN it pulls assets from."""

    name: str
    ip: str
    kind: str
    https: bool
    cdn: str | None


CDNS: dict[str, str] = {
    "cdn.static-assets.net": "151.139.44.10",
    "img.static-assets.net": "151.139.44.10",
    "cdn.jsdelivery-mirror.com": "146.75.92.17",
    "fonts.webtype-cdn.net": "146.75.92.17",
    "media.pixcache-cloud.net": "23.48.201.77",
    "video.pixcache-cloud.net": "23.48.201.77",
    "static.kumo-edge.jp": "163.44.185.20",
}
TRACKER = ("track.admetrics-hub.net", "34.96.122.8")

_S = "cdn.static-assets.net"
_I = "img.static-assets.net"
_J = "cdn.jsdelivery-mirror.com"
_F = "fonts.webtype-cdn.net"
_M = "media.pixcache-cloud.net"
_V = "video.pixcache-cloud.net"
_K = "static.kumo-edge.jp"

# (name, ip, kind, https, cdn) — most popular first.
_SITES: list[tuple[str, str, str, bool, str | None]] = [
    ("search.findall-engine.com", "34.120.55.161", "search", True, _S),
    ("mail.office-suite-online.com", "52.98.34.12", "saas", True, _F),
    ("news.example-portal.jp", "133.242.13.88", "news", False, _I),
    ("docs.cloudwork-drive.net", "35.190.27.14", "saas", True, _J),
    ("www.tokyo-biz-journal.jp", "210.140.92.183", "news", False, _I),
    ("weather.sorairo-forecast.jp", "157.7.44.190", "weather", False, _S),
    ("shop.marketplace-yokocho.jp", "202.218.3.211", "shop", True, _M),
    ("www.videotube-stream.com", "64.29.17.132", "video", True, _V),
    ("translate.kotoba-bridge.com", "34.120.55.161", "search", True, _S),
    ("wiki.open-knowledge-base.org", "91.198.174.30", "wiki", True, None),
    ("www.nihon-keizai-daily.jp", "133.242.13.88", "news", False, _I),
    ("portal.hr-cloud-kintai.jp", "160.16.66.41", "saas", True, _K),
    ("map.chizu-navi.jp", "150.95.17.229", "map", True, _K),
    ("www.techblog-devnotes.net", "104.21.58.77", "blog", True, _J),
    ("qa.engineer-forum.jp", "104.21.58.77", "forum", False, _J),
    ("www.train-transit-info.jp", "163.44.160.12", "travel", False, _K),
    ("www.stocks-kabuka-now.jp", "210.140.92.190", "news", False, _S),
    ("calendar.office-suite-online.com", "52.98.34.12", "saas", True, _F),
    ("www.gov-portal-sample.go.jp", "118.151.232.9", "gov", False, None),
    ("www.travel-tabi-planner.jp", "202.218.3.214", "travel", True, _M),
    ("support.printer-maker-help.com", "23.200.143.61", "support", False, _S),
    ("www.cooking-recipe-box.jp", "157.7.44.201", "blog", False, _M),
    ("www.pc-parts-review.jp", "150.95.17.233", "shop", False, _M),
    ("www.sports-kekka-live.jp", "210.140.92.197", "news", False, _I),
    ("www.legal-info-houritsu.jp", "118.151.232.17", "gov", True, None),
    ("drive.filebox-share.com", "35.190.27.14", "saas", True, _J),
    ("www.office-supply-direct.jp", "202.218.3.220", "shop", True, _M),
    ("www.english-jisho-online.com", "64.29.17.140", "wiki", True, _S),
    ("www.it-security-news.jp", "133.242.13.95", "news", False, _I),
    ("www.hotel-yoyaku-net.jp", "202.218.3.214", "travel", True, _M),
    ("blog.cloud-vendor-updates.com", "104.21.58.80", "blog", True, _J),
    ("www.local-city-office.lg.jp", "118.151.232.25", "gov", False, None),
    ("www.bento-delivery-order.jp", "157.7.44.205", "shop", True, _K),
    ("www.auto-parts-catalog.jp", "150.95.17.240", "shop", False, _M),
    ("www.manga-news-matome.jp", "210.140.92.201", "blog", False, _I),
    ("status.cloud-services-health.com", "104.21.58.80", "support", True, None),
    ("www.bank-sample-online.jp", "61.211.160.54", "bank", True, _K),
    ("www.insurance-hoken-guide.jp", "61.211.160.58", "support", True, _K),
    ("www.realestate-bukken-search.jp", "202.218.3.226", "shop", True, _M),
    ("www.job-tenshoku-board.jp", "163.44.160.19", "search", True, _K),
    ("www.movie-eiga-review.jp", "157.7.44.212", "blog", False, _I),
    ("www.science-daily-notes.org", "91.198.174.35", "wiki", True, None),
    ("www.weather-alert-bousai.jp", "157.7.44.190", "weather", False, _S),
    ("www.car-rental-kuruma.jp", "202.218.3.231", "travel", True, _M),
    ("www.music-ongaku-chart.jp", "64.29.17.151", "video", True, _V),
    ("www.pet-care-advice.jp", "157.7.44.219", "blog", False, _M),
    ("www.garden-engei-tips.jp", "157.7.44.219", "blog", False, _M),
    ("www.photo-camera-review.net", "150.95.17.245", "blog", True, _M),
    ("www.opensource-project-hub.org", "140.82.121.40", "forum", True, _J),
    ("www.airline-sora-booking.jp", "61.211.160.66", "travel", True, _K),
    ("www.hospital-clinic-finder.jp", "163.44.160.27", "search", False, _K),
    ("www.education-manabi-site.jp", "118.151.232.33", "gov", False, None),
    ("www.smartphone-sumaho-news.jp", "210.140.92.205", "news", False, _I),
    ("www.furniture-kagu-store.jp", "202.218.3.238", "shop", True, _M),
    ("www.book-hon-review.jp", "157.7.44.226", "blog", False, _I),
    ("www.sake-brewery-tour.jp", "150.95.17.250", "travel", False, _M),
    ("www.fitness-kenko-log.jp", "157.7.44.230", "blog", True, _M),
    ("www.history-rekishi-archive.jp", "118.151.232.41", "wiki", False, None),
    ("www.station-eki-guide.jp", "163.44.160.35", "map", False, _K),
    ("www.game-news-asobi.jp", "210.140.92.211", "news", True, _I),
]
SITES: list[Site] = [Site(*row) for row in _SITES]
ZIPF_WEIGHTS: list[float] = [1.0 / (rank + 1) ** 1.1 for rank in range(len(SITES))]

# Services used by every office PC.
UPDATE = ("fe2.update.windowsupdate.com", "13.107.4.50")
NTP = (NTP_NAME, NTP_IP)
PRESENCE = ("presence.teamchat-saas.com", "158.85.224.18")
MEET = ("meet.teamchat-saas.com", "158.85.224.31")
# A SaaS operations dashboard many PCs keep open: it polls every ~5 s (popular: prevalence).
DASHBOARD = ("board.opsview-cloud.net", "34.149.87.112")


def all_names() -> dict[str, str]:
    """Every external name of the benign world → its address."""
    out = {s.name: s.ip for s in SITES}
    out.update(CDNS)
    out.update(dict([TRACKER, UPDATE, NTP, PRESENCE, MEET, DASHBOARD]))
    return out


def host_weights(rng: random.Random) -> list[float]:
    """One user's site preferences: global Zipf popularity plus a few personal favourites."""
    weights = list(ZIPF_WEIGHTS)
    for idx in rng.sample(range(len(SITES)), rng.randint(3, 6)):
        weights[idx] += rng.uniform(0.15, 0.6)
    return weights
