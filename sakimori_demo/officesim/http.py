"""HTTP/1.1 messages and realistic URL paths, content types and body sizes for browsing.

Paths are what a person's browser asks for: mostly 10–120 characters, search and tracking
queries up to ~300, readable words and ids — never encoded data blobs (that is the exfil
host's signature).
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from urllib.parse import quote

from sakimori_demo.officesim.flows import Capture

USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
]
_WORDS = (
    "tokyo", "osaka", "weather", "keizai", "news", "report", "meeting", "budget", "schedule",
    "train", "delay", "recipe", "hotel", "review", "price", "ranking", "office", "printer",
    "driver", "update", "manual", "excel", "python", "security", "cloud", "invoice", "tax",
    "holiday", "station", "map", "lunch", "english", "kanji", "camera", "laptop", "monitor",
    "chair", "contract", "insurance", "seminar", "event"
)
_SECTIONS = (
    "economy", "politics", "technology", "sports", "culture", "world", "local", "business",
    "science", "lifestyle"
)
_HEX = "0123456789abcdef"
_FILLER = ("<div class=\"article\"><p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, "
           "sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.</p></div>\n") * 700
_MAGIC = {"image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "image/png": b"\x89PNG\r\n\x1a\n",
          "image/gif": b"GIF89a", "image/webp": b"RIFF\x00\x00\x00\x00WEBPVP8 ",
          "font/woff2": b"wOF2"}


@dataclass
class Fetch:
    """One request to make on a connection and the response it gets."""

    path: str
    ctype: str
    size: int
    status: int = 200
    method: str = "GET"


def hexid(rng: random.Random, n: int) -> str:
    """``n`` random lowercase hex digits."""
    return "".join(rng.choice(_HEX) for _ in range(n))


def _words(rng: random.Random, lo: int, hi: int, sep: str = "-") -> str:
    return sep.join(rng.choice(_WORDS) for _ in range(rng.randint(lo, hi)))


def _date(rng: random.Random) -> str:
    return f"2026/{rng.randint(9, 11):02d}/{rng.randint(1, 28):02d}"


def page_path(rng: random.Random, kind: str) -> str:
    """The path of a top-level page of a site of the given kind."""
    r = rng.random()
    if r < 0.12:
        return "/"
    if kind == "news":
        return rng.choice([f"/news/{_date(rng)}/{_words(rng, 2, 5)}-{rng.randint(1000, 99999)}"
                           ".html", f"/category/{rng.choice(_SECTIONS)}/",
                           f"/article/{rng.randint(100000, 999999)}?page={rng.randint(1, 4)}"])
    if kind in ("search", "map"):
        extra = f"&ei={hexid(rng, 22)}&ved={hexid(rng, 30)}" if rng.random() < 0.3 else ""
        return f"/search?q={_words(rng, 1, 4, '+')}&hl=ja&source=hp{extra}"
    if kind == "shop":
        return rng.choice([f"/item/{rng.randint(10**6, 10**8)}.html",
                           f"/search?keyword={_words(rng, 1, 3, '+')}&category="
                           f"{rng.randint(1, 400)}&sort=price_asc&page={rng.randint(1, 5)}",
                           "/cart", f"/shop/{_words(rng, 1, 2)}/"])
    if kind == "saas":
        return rng.choice(["/owa/", "/mail/inbox", f"/doc/{hexid(rng, 24)}/edit",
                           f"/api/v2/messages?folder=inbox&limit=50&offset={rng.randint(0, 9)}0"])
    if kind == "travel":
        return (f"/search?from={rng.choice(_WORDS)}&to={rng.choice(_WORDS)}&date=2026-11-"
                f"{rng.randint(3, 30):02d}&time={rng.randint(6, 22):02d}{rng.randint(0, 5)}0")
    if kind == "video":
        return f"/watch?v={hexid(rng, 11)}"
    if kind in ("blog", "forum"):
        return f"/entry/{_date(rng)}/{_words(rng, 2, 6)}"
    return f"/{rng.choice(_SECTIONS)}/{_words(rng, 1, 4)}.html"


def asset_path(rng: random.Random) -> tuple[str, str]:
    """A CDN object path and its content type."""
    r = rng.random()
    if r < 0.55:
        ext, ctype = rng.choice([("jpg", "image/jpeg"), ("png", "image/png"),
                                 ("webp", "image/webp")])
        return f"/images/{_date(rng)}/{hexid(rng, 16)}_{rng.choice([320, 640, 1280])}.{ext}", ctype
    if r < 0.75:
        return f"/assets/js/{rng.choice(['app', 'vendor', 'chunk'])}.{hexid(rng, 8)}.js", \
            "application/javascript"
    if r < 0.92:
        return f"/assets/css/{rng.choice(['main', 'style', 'theme'])}.{hexid(rng, 8)}.css", \
            "text/css"
    return "/fonts/NotoSansJP-Regular.woff2", "font/woff2"


def tracking_path(rng: random.Random, page_url: str) -> str:
    """An analytics beacon URL (percent-encoded page URL and title: ~150–300 chars)."""
    title = quote(_words(rng, 2, 6, " ").title(), safe="")
    path = (f"/collect?v=2&tid=G-{hexid(rng, 10).upper()}&cid={rng.randint(10**8, 10**9)}."
            f"{rng.randint(10**8, 10**9)}&sid={rng.randint(10**8, 10**9)}&dl="
            f"{quote(page_url, safe='')}&dt={title}&sr=1920x1080&ul=ja-jp&_p={rng.randint(1, 999)}")
    return path[:300]


def body_size(rng: random.Random, ctype: str) -> int:
    """A plausible (compressed) body size for a content type; heavy-tailed."""
    if ctype.startswith("text/html"):
        return int(min(90_000, rng.lognormvariate(9.3, 0.6)))
    if ctype.startswith("image/"):
        return int(min(120_000, rng.lognormvariate(8.8, 0.9)))
    if ctype in ("application/javascript", "text/css"):
        return int(min(80_000, rng.lognormvariate(8.7, 0.8)))
    if ctype == "application/json":
        return int(min(20_000, rng.lognormvariate(7.2, 0.7)))
    return int(min(60_000, rng.lognormvariate(9.5, 0.3)))


def request(host: str, path: str, ua: str, method: str = "GET", accept: str = "*/*",
            referer: str | None = None, body: bytes = b"") -> bytes:
    """An HTTP/1.1 request with the usual browser headers."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"User-Agent: {ua}",
             f"Accept: {accept}", "Accept-Language: ja,en-US;q=0.7,en;q=0.3",
             "Accept-Encoding: gzip, deflate", "Connection: keep-alive"]
    if referer:
        lines.append(f"Referer: {referer}")
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


_REASONS = {200: "OK", 204: "No Content", 304: "Not Modified", 404: "Not Found"}


def response(status: int, ctype: str, body: bytes, server: str = "nginx",
             close: bool = False) -> bytes:
    """An HTTP/1.1 response with a Content-Length (no Date: wall-clock free)."""
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}", f"Server: {server}"]
    if status not in (204, 304):
        lines += [f"Content-Type: {ctype}", f"Content-Length: {len(body)}"]
    lines += ["Cache-Control: max-age=300", "Connection: close" if close else
              "Connection: keep-alive"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def body(cap: Capture, rng: random.Random, ctype: str, size: int) -> bytes:
    """Body bytes of ``size``: readable text for text types, random bytes with magic otherwise."""
    if ctype.startswith(("text/", "application/javascript", "application/json")):
        reps = size // len(_FILLER) + 1
        start = rng.randrange(200)
        return (_FILLER * reps)[start:start + size].encode()
    magic = _MAGIC.get(ctype, b"")
    return (magic + cap.random_bytes(rng, max(0, size - len(magic))))[:size]


def random_name(rng: random.Random, lo: int, hi: int) -> str:
    """A random base32-alphabet label like Tor uses: ``[a-z2-7]{lo..hi}``."""
    alphabet = string.ascii_lowercase + "234567"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi)))
