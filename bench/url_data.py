"""Labelled URLs for bench/url_model.py, each with its source (train/test split by source).

Sources (docs/bench.md "URL shape model" says how small and how synthetic this is):

- ``officesim``: the demo's benign browsing generator (sakimori_demo/officesim/http.py: pages,
  CDN assets, analytics beacons) — benign, synthetic.
- ``realshape:<family>``: benign URL shapes written here after real services (search engines
  with their tracking parameters, CDN paths with content hashes, analytics and ad beacons with
  long query strings, OCSP, signed storage URLs, OAuth redirects) — the hard negatives;
  synthetic values, real shapes.
- ``capture:benign`` / ``capture:c2``: HTTP request targets of the public captures in
  ``$SAKIMORI_SHARED_DATA`` read with tshark (benign: OCSP, Windows Update, Chrome Web Store
  fetched by the sandboxes; C2: TrickBot's check-in) — real, but only a handful.
- ``et:<sid>``: C2 URLs *derived from ET Open rule patterns*: the ``http_uri`` contents of
  ``trojan-activity``/``command-and-control`` rules, in order, with parameter values filled
  from a neutral mix (numbers, words, hex, alphanumerics) — real request shapes, synthetic
  values.
"""

from __future__ import annotations

import base64
import random
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

from sakimori_demo.officesim import http as osim

ET_FILES = ("emerging-deleted.rules", "emerging-mobile_malware.rules",
            "emerging-current_events.rules", "emerging-hunting.rules",
            "emerging-adware_pup.rules", "emerging-exploit_kit.rules")
CAPTURES_BENIGN_HOSTS = ("ocsp.digicert.com", "ctldl.windowsupdate.com", "edgedl.me.gvt1.com")
_URI_CONTENT = re.compile(r'content:"((?:[^"\\]|\\.)*)";((?:\s*(?:nocase|fast_pattern|'
                          r'depth:\s*\d+|offset:\s*\d+|distance:\s*\d+|within:\s*\d+|'
                          r'startswith|endswith|isdataat:[^;]+);)*)\s*http_uri;')
_STICKY = re.compile(r'http\.uri;\s*((?:content:"(?:[^"\\]|\\.)*";[^;]*;?\s*)+)')
_HEXBYTES = re.compile(r"\|([0-9A-Fa-f ]+)\|")
_WORDS = ("info", "data", "user", "id", "main", "client", "update", "load", "task", "file",
          "host", "win", "report", "admin", "config", "key", "type", "list", "page", "get")


def _unescape(content: str) -> str:
    text = _HEXBYTES.sub(lambda m: bytes.fromhex(m.group(1).replace(" ", "")).decode(
        "latin-1"), content)
    return text.replace('\\"', '"').replace("\\;", ";").replace("\\\\", "\\")


def _value(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.35:
        return str(rng.randint(0, 10 ** rng.randint(1, 8)))
    if r < 0.55:
        return rng.choice(_WORDS) + (str(rng.randint(1, 99)) if rng.random() < 0.3 else "")
    if r < 0.75:
        return "".join(rng.choice("0123456789abcdef") for _ in range(rng.choice((8, 16, 32))))
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
                   for _ in range(rng.randint(4, 20)))


def _et_uri(contents: list[str], rng: random.Random) -> str | None:
    parts = []
    for c in contents:
        c = _unescape(c)
        if not c or any(ord(ch) < 0x21 or ord(ch) > 0x7E for ch in c):
            return None
        if parts and parts[-1].endswith("="):
            parts.append(_value(rng))
            if not c.startswith(("&", "?", ";", "/")):
                parts.append("&" if "?" in "".join(parts) else "?")
        parts.append(c)
    if parts and parts[-1].endswith("="):
        parts.append(_value(rng))
    url = "".join(parts)
    if not url.startswith("/"):
        url = f"/{rng.choice(_WORDS)}/{url}" if url[:1].isalnum() else "/" + url.lstrip("?&")
    return url if len(url) >= 4 else None


def et_derived(et_dir: Path, seed: int = 7) -> list[tuple[str, str]]:
    """``(source, url)`` for every C2 rule with URI contents (one URL per rule)."""
    rng = random.Random(seed)
    out = []
    for name in ET_FILES:
        path = et_dir / name
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if "trojan-activity" not in line and "command-and-control" not in line:
                continue
            if "$HOME_NET any -> $EXTERNAL_NET" not in line:
                continue
            contents = [m.group(1) for m in _URI_CONTENT.finditer(line)]
            for m in _STICKY.finditer(line):
                contents += re.findall(r'content:"((?:[^"\\]|\\.)*)"', m.group(1))
            if not contents:
                continue
            url = _et_uri(contents, rng)
            sid = re.search(r"sid:(\d+)", line)
            if url and sid:
                out.append((f"et:{sid.group(1)}", url))
    return out


def captures(data: Path) -> list[tuple[str, str]]:
    """``(source, url)`` from the public captures (tshark); empty without tshark or data."""
    if shutil.which("tshark") is None:
        return []
    out: list[tuple[str, str]] = []
    pcaps = [(data / "pcaps" / "ndpi-trickbot.pcap", "capture:c2")]
    pcaps += [(p, "capture:benign") for p in sorted((data / "real").glob("anyrun_*.pcap"))]
    for pcap, label in pcaps:
        if not pcap.is_file():
            continue
        res = subprocess.run(["tshark", "-r", str(pcap), "-Y", "http.request", "-T", "fields",
                              "-e", "http.host", "-e", "http.request.uri"],
                             capture_output=True, text=True, check=False)
        for line in res.stdout.splitlines():
            host, _, uri = line.partition("\t")
            if not uri.startswith("/"):
                continue
            if label == "capture:benign" and host not in CAPTURES_BENIGN_HOSTS:
                continue
            out.append((label, uri))
    return out


_OSIM_KINDS = ("news", "search", "shop", "saas", "travel", "video", "blog", "forum", "corp")


def officesim(n: int, seed: int) -> list[tuple[str, str]]:
    """Benign URLs from the demo simulator's browsing generator."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.35:
            url = osim.page_path(rng, rng.choice(_OSIM_KINDS))
        elif r < 0.85:
            url = osim.asset_path(rng)[0]
        else:
            page = f"https://www.example.jp{osim.page_path(rng, rng.choice(_OSIM_KINDS))}"
            url = osim.tracking_path(rng, page)
        out.append(("officesim", url))
    return out


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _b64(rng: random.Random, nbytes: int) -> str:
    return base64.urlsafe_b64encode(rng.randbytes(nbytes)).decode().rstrip("=")


def _words(rng: random.Random, k: int, sep: str = "+") -> str:
    return sep.join(rng.choice(osim._WORDS) for _ in range(k))


def _google(rng: random.Random) -> str:
    q = _words(rng, rng.randint(1, 4))
    return (f"/search?q={q}&oq={q}&gs_lcrp={_b64(rng, rng.randint(30, 90))}&sourceid=chrome"
            f"&ie=UTF-8")


def _bing(rng: random.Random) -> str:
    return (f"/search?q={_words(rng, rng.randint(1, 3))}&form=QBLH&sp=-1&pq={_words(rng, 1)}"
            f"&sc={rng.randint(1, 12)}-{rng.randint(1, 30)}&qs=n&sk=&cvid={_hex(rng, 32).upper()}"
            f"&ghsh=0&ghacc=0&ghpl=")


def _next_chunk(rng: random.Random) -> str:
    kind = rng.choice(("pages/_app", "framework", "main", f"{rng.randint(100, 999)}",
                       "webpack", f"pages/{rng.choice(osim._WORDS)}"))
    return f"/_next/static/chunks/{kind}-{_hex(rng, 16)}.js"


def _cdn_media(rng: random.Random) -> str:
    return (f"/static/media/{rng.choice(osim._WORDS)}.{_hex(rng, 8)}."
            f"{rng.choice(('svg', 'png', 'woff2'))}")


def _ga4(rng: random.Random) -> str:
    page = quote(f"https://www.{rng.choice(osim._WORDS)}.co.jp/{_words(rng, 2, '/')}", safe="")
    return (f"/g/collect?v=2&tid=G-{_hex(rng, 10).upper()}&gtm=45je4b{_hex(rng, 2)}v9"
            f"{rng.randint(10 ** 9, 10 ** 10)}&_p={rng.randint(10 ** 12, 10 ** 13)}&gcd=13l3l3l3l1"
            f"&npa=0&dma=0&cid={rng.randint(10 ** 8, 10 ** 9)}.{rng.randint(10 ** 9, 10 ** 10)}"
            f"&ul=ja-jp&sr=1920x1080&uaa=x86&uab=64&uafvl=Chromium%3B130.0.6723.70"
            f"&uamb=0&uam=&uap=Windows&uapv=15.0.0&uaw=0&are=1&frm=0&pscdl=noapi&_s=1"
            f"&sid={rng.randint(10 ** 9, 10 ** 10)}&sct={rng.randint(1, 50)}&seg=1&dl={page}"
            f"&dt={_words(rng, 3, '%20')}&en=page_view&tfd={rng.randint(100, 9999)}")


def _fbpixel(rng: random.Random) -> str:
    page = quote(f"https://shop.example.jp/item/{rng.randint(10 ** 5, 10 ** 7)}", safe="")
    return (f"/tr/?id={rng.randint(10 ** 14, 10 ** 15)}&ev=PageView&dl={page}&rl=&if=false"
            f"&ts={rng.randint(10 ** 12, 10 ** 13)}&sw=1920&sh=1080&v=2.9.{rng.randint(100, 180)}"
            f"&r=stable&ec=0&o=4126&fbp=fb.1.{rng.randint(10 ** 12, 10 ** 13)}."
            f"{rng.randint(10 ** 8, 10 ** 9)}&it={rng.randint(10 ** 12, 10 ** 13)}"
            "&coo=false&rqm=GET")


def _adserver(rng: random.Random) -> str:
    return (f"/pagead/ads?client=ca-pub-{rng.randint(10 ** 15, 10 ** 16)}&output=html"
            f"&h=250&slotname={rng.randint(10 ** 9, 10 ** 10)}&adk={rng.randint(10 ** 9, 10 ** 10)}"
            f"&adf={rng.randint(10 ** 9, 10 ** 10)}&w=300&lmt={rng.randint(10 ** 9, 10 ** 10)}"
            f"&format=300x250&url=https%3A%2F%2Fnews.example.jp%2F&ea=0&flash=0&wgl=1"
            f"&dt={rng.randint(10 ** 12, 10 ** 13)}&bpp=3&bdt={rng.randint(100, 999)}&idt=0"
            f"&shv=r20241104&mjsv=m{rng.randint(10 ** 7, 10 ** 8)}&ptt=9&saldr=aa"
            f"&abxe=1&cookie=ID%3D{_hex(rng, 16)}%3AT%3D{rng.randint(10 ** 9, 10 ** 10)}"
            f"%3ART%3D{rng.randint(10 ** 9, 10 ** 10)}%3AS%3DALNI_M{_b64(rng, 24)}")


def _ocsp(rng: random.Random) -> str:
    return "/" + quote(base64.b64encode(b"0Q0O0M0K0I0\t\x06\x05+\x0e\x03\x02\x1a\x05\x00\x04\x14"
                                        + rng.randbytes(58)).decode(), safe="")


def _s3(rng: random.Random) -> str:
    return (f"/{rng.choice(osim._WORDS)}-bucket/{_hex(rng, 8)}/{rng.choice(osim._WORDS)}.pdf"
            f"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA{_hex(rng, 16).upper()}"
            f"%2F20261107%2Fap-northeast-1%2Fs3%2Faws4_request&X-Amz-Date=20261107T0"
            f"{rng.randint(10000, 99999)}Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host"
            f"&X-Amz-Signature={_hex(rng, 64)}")


def _oauth(rng: random.Random) -> str:
    guid = f"{_hex(rng, 8)}-{_hex(rng, 4)}-{_hex(rng, 4)}-{_hex(rng, 4)}-{_hex(rng, 12)}"
    return (f"/common/oauth2/v2.0/authorize?client_id={guid}&response_type=code"
            f"&redirect_uri=https%3A%2F%2Fportal.example.co.jp%2Fsignin-oidc&scope=openid"
            f"%20profile&state={_b64(rng, rng.randint(40, 120))}&nonce={_b64(rng, 24)}"
            f"&response_mode=form_post")


def _youtube(rng: random.Random) -> str:
    return f"/watch?v={_b64(rng, 8)[:11]}" + (f"&t={rng.randint(1, 900)}s"
                                              if rng.random() < 0.3 else "")


def _wu(rng: random.Random) -> str:
    name = rng.choice(("authrootstl", "disallowedcertstl", "pinrulesstl"))
    return f"/msdownload/update/v3/static/trustedr/en/{name}.cab?{_hex(rng, 16)}"


def _avupdate(rng: random.Random) -> str:
    return (f"/update/{rng.choice(('x64', 'x86'))}/{rng.randint(1, 9)}.{rng.randint(0, 99)}/"
            f"{_hex(rng, 40)}/{rng.choice(osim._WORDS)}.{rng.choice(('dat', 'bin', 'zip'))}")


FAMILIES = {"google": _google, "bing": _bing, "next_chunk": _next_chunk,
            "cdn_media": _cdn_media, "ga4": _ga4, "fbpixel": _fbpixel, "adserver": _adserver,
            "ocsp": _ocsp, "s3_signed": _s3, "oauth": _oauth, "youtube": _youtube,
            "winupdate": _wu, "av_update": _avupdate}


def realshape(families: list[str], n_each: int, seed: int) -> list[tuple[str, str]]:
    """Benign URLs of the named families (hard negatives), *n_each* per family."""
    rng = random.Random(seed)
    return [(f"realshape:{f}", FAMILIES[f](rng)) for f in families for _ in range(n_each)]


def officesim_exfil(n: int, seed: int) -> list[tuple[str, str]]:
    """The demo's exfiltration shape (sakimori_demo/officesim/infected.py ``long_url_exfil``)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        sid = rng.randint(100000, 999999)
        target = rng.randint(604, 1796)
        blob = _b64(rng, (target - len(f"/search?q=&sid={sid}")) * 3 // 4)
        out.append(("officesim:exfil", f"/search?q={blob}&sid={sid}"))
    return out


def short_exfil(n: int, seed: int) -> list[tuple[str, str]]:
    """Sensitivity probe, purely synthetic: exfiltration in chunks *below* the 200-char floor
    (64–190 chars of base64url/hex in a path segment or one parameter)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        size = rng.randint(48, 130)
        blob = _b64(rng, size) if rng.random() < 0.6 else _hex(rng, size)[: size * 4 // 3]
        shape = rng.choice((f"/{rng.choice(_WORDS)}/{blob}",
                            f"/{rng.choice(_WORDS)}.php?{rng.choice(_WORDS)}={blob}",
                            f"/{blob}.{rng.choice(('gif', 'png', 'js'))}"))
        out.append(("synthetic:short_exfil", shape[:190]))
    return out
