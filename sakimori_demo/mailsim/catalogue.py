"""Who writes to ``example.co.jp`` in the simulated past, and through which relays.

Every relay address block is a real /24 of the country it claims (checked against
:func:`sakimori.mail.country.lookup` when the corpus is generated), with PTR names that stay
the same per sender domain. Domain, company and person names are invented; freemail and
mail-service names (``gmail.com``, ``outlook.com``) are used as they appear in real mail.

The organisation plan matches ``examples/sakimori.yaml``: internal domain ``example.co.jp``,
our relay ``mx1.example.co.jp`` = 192.0.2.10 (``networks.mail_relays``), office PCs in
10.1.0.0/16 (``networks.home``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

INTERNAL_DOMAIN = "example.co.jp"
OUR_MX = ("mx1.example.co.jp", "192.0.2.10")
OUR_STORE = "mbox.example.co.jp"
OFFICE_NET = "10.1.30."  # office PCs submit from 10.1.30.x
START = "2025-10-01T00:00:00+09:00"
MONTHS = 4


@dataclass(frozen=True)
class Person:
    """A mailbox and the display names it is written with (first = usual)."""

    local: str
    names: tuple[str, ...]
    weight: float = 1.0


@dataclass(frozen=True)
class Relay:
    """A sending host: /24 prefix (``a.b.c.``) or IPv6 prefix (``…::``), PTR pattern, HELO."""

    prefix: str
    ptr: str  # may contain {n}: host number
    hosts: tuple[int, ...] = (25,)
    country: str = "JP"
    helo: str = ""  # '' = same as the PTR name


@dataclass(frozen=True)
class Org:
    """One sender domain in the past mail: its people, relays and volume (messages/workday)."""

    domain: str
    people: tuple[Person, ...]
    relays: tuple[Relay, ...]
    rate: float
    kind: str  # domestic | overseas | newsletter | freemail | cloud
    inner: str = ""  # submission hop inside the sender's network ('' = none)
    upstream: tuple[Relay, ...] = field(default=())  # earlier public hops (outbound filter)
    charset: str = "utf-8"


INTERNAL_USERS = (
    Person("taro.yamada", ("山田 太郎", "山田　太郎", "山田太郎", "Yamada Taro"), 3.0),
    Person("hanako.sato", ("佐藤 花子", "佐藤花子", "Hanako Sato"), 2.0),
    Person("ichiro.suzuki", ("鈴木 一郎", "鈴木　一郎"), 2.0),
    Person("ken.takahashi", ("高橋 健", "代表取締役 高橋 健"), 1.0),
    Person("misaki.ito", ("伊藤 美咲", "ｲﾄｳ ﾐｻｷ"), 1.5),
    Person("yui.watanabe", ("渡辺 結衣", "ﾜﾀﾅﾍﾞ ﾕｲ"), 1.0),
    Person("sho.nakamura", ("中村 翔", "Ｓｈｏ Ｎａｋａｍｕｒａ"), 1.0),
    Person("keiri", ("経理部", "経理部 (Accounting)"), 1.0),
    Person("soumu", ("総務部",), 0.5),
    Person("info", ("株式会社エグザンプル",), 0.5),
)

_JP = "JP"
ORGS = (
    Org("tanaka-shoji.co.jp",
        (Person("ichiro.tanaka", ("田中 一郎", "田中一郎"), 3.0),
         Person("sales", ("田中商事 営業部",), 1.0), Person("yoko.kimura", ("木村 洋子",))),
        (Relay("153.127.10.", "mail.tanaka-shoji.co.jp", (25,)),), 3.0, "domestic",
        inner="192.168.10.", charset="iso-2022-jp"),
    Org("kyoto-seiki.co.jp",
        (Person("k.morita", ("森田 健二",), 2.0), Person("order", ("京都精機 受注センター",))),
        (Relay("210.130.1.", "smtp{n:02d}.relay.sakura-isp.ne.jp", (11, 12, 13, 14)),),
        2.0, "domestic", inner="192.168.1."),
    Org("sakura-design.jp",
        (Person("aoi", ("小林 葵",)),),
        (Relay("210.130.1.", "smtp{n:02d}.relay.sakura-isp.ne.jp", (11, 12, 13, 14)),),
        0.6, "domestic", inner="192.168.0."),
    Org("nihon-robotics.com",
        (Person("t.kato", ("加藤 拓也",), 2.0), Person("support", ("Nihon Robotics Support",))),
        (Relay("202.224.32.", "mx-out{n}.nihon-robotics.com", (5, 6)),), 1.5, "domestic",
        inner="172.16.5."),
    Org("hokuriku-u.ac.jp",
        (Person("prof.hayashi", ("林 誠",)),),
        (Relay("2001:2f8:1c::", "mail.hokuriku-u.ac.jp", (0x25,)),), 0.6, "domestic",
        inner="10.50.1."),
    Org("ginza-bank.co.jp",
        (Person("notify", ("銀座銀行",)),),
        (Relay("133.242.5.", "ob{n}.mail.ginza-bank.co.jp", (40, 41)),), 1.0, "domestic"),
    Org("osaka-trading.co.jp",
        (Person("m.fujii", ("藤井 真一",)),),
        (Relay("2a01:111:f403:c405::", "mail-ty3jpn01on20{n}.outbound.protection.outlook.com",
               (0x701, 0x702, 0x703), "GB"),), 0.8, "cloud"),
    Org("acme-industries.com",
        (Person("john.miller", ("John Miller",), 2.0), Person("orders", ("ACME Orders",))),
        (Relay("12.130.136.", "mx{n}.acme-industries.com", (20, 21), "US"),), 1.0,
        "overseas", inner="10.20.0."),
    Org("mueller-technik.de",
        (Person("s.mueller", ("Stefan Müller",)),),
        (Relay("85.13.128.", "mail.mueller-technik.de", (77,), "DE"),), 0.6, "overseas",
        upstream=(Relay("46.4.0.", "filter.mueller-technik.de", (9,), "DE"),)),
    Org("shenzhen-parts.cn",
        (Person("li.wei", ("Li Wei",)),),
        (Relay("113.108.0.", "smtp.shenzhen-parts.cn", (33,), "CN"),), 0.4, "overseas"),
    Org("seoul-semicon.co.kr",
        (Person("kim.minjun", ("Kim Minjun",)),),
        (Relay("211.234.64.", "mail.seoul-semicon.co.kr", (18,), "KR"),), 0.3, "overseas"),
    Org("mag.kaimono-club.jp",
        (Person("news", ("ショップ通信",)),),
        (Relay("167.89.100.", "o{n}.ptr1234.esp-mailer.net", (3, 4, 5, 6), "US"),), 0.7,
        "newsletter"),
    Org("news.cloudvendor.com",
        (Person("newsletter", ("CloudVendor News",)),),
        (Relay("198.2.128.", "mail{n}.mcsv.esp-mailer.net", (10, 11), "US"),), 0.3,
        "newsletter"),
    Org("gmail.com",
        (Person("tanaka.ichiro.private", ("田中 一郎",)),),
        (Relay("209.85.220.", "mail-sor-f{n}.google.com", (41, 69, 73), "US",
               helo="mail-sor-f{n}.google.com"),), 0.2, "freemail"),
)

# Internal users who also send from outside (phone, home) via authenticated submission.
ROAMING = (Relay("126.0.0.", "softbank126000000{n:03d}.bbtec.net", (12, 57)),)


def org(domain: str) -> Org:
    """The catalogue entry of *domain* (KeyError when unknown)."""
    for entry in ORGS:
        if entry.domain == domain:
            return entry
    raise KeyError(domain)


def relay_ip(relay: Relay, n: int) -> str:
    """The address of host *n* of *relay* (IPv4 last octet, or IPv6 interface id)."""
    if ":" in relay.prefix:
        return f"{relay.prefix}{n:x}"
    return f"{relay.prefix}{n}"


def relay_ptr(relay: Relay, n: int) -> str:
    return relay.ptr.format(n=n)


def relay_helo(relay: Relay, n: int) -> str:
    return (relay.helo or relay.ptr).format(n=n)
