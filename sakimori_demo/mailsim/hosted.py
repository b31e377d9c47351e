"""Hosted-mailbox shapes for the simulated past (``--hosted microsoft365|google_workspace``).

With ``hosted`` set, external mail reaches ``example.co.jp`` through our tenant at the
provider first and is then routed on to our MX (an outbound connector / routing rule), the
way an organisation with Microsoft 365 or Google Workspace and an on-premises gateway sees
it. The provider's hops are written in the provider's own Received styles:

- **microsoft365** — the EOP frontend (``*.mail.protection.outlook.com``) receives from the
  sender (Exchange style ``from HELO (IP)``), our tenant's transport servers pass it on over
  IPv6 (``*.prod.outlook.com``, two /48s that stay the same for our tenant), and EOP's
  outbound servers (``40.107.0.0/16``, a different /24 nearly every time) deliver it to our
  MX, which records their verified PTR names.
- **google_workspace** — ``mx.google.com`` receives from the sender (``(PTR. [IP])``), an
  internal ``by 2002:…`` hop without an address, and Google's outbound servers
  (``mail-*.google.com``, spread over ``209.85.128.0/17``) deliver to our MX.

The provider's addresses are real ones of the provider (their country, by RIR data, is US);
host names and ids are invented in the provider's naming patterns. The default (``""``)
leaves the corpus exactly as before: our MX receives from the sender.
"""

from __future__ import annotations

import random

from sakimori_demo.mailsim.compose import received, rfc2822_date

HOSTED = ("", "microsoft365", "google_workspace")
# our tenant's Exchange Online transport networks (frontend, mailbox servers)
M365_FRONTEND = "2603:1096:404:"
M365_MAILBOX = "2603:1096:604:"


def _hex(rng: random.Random, lo: int = 256, hi: int = 4095) -> str:
    return f"{rng.randint(lo, hi):x}"


def _m365(rng: random.Random, sender: tuple[str, str, str], ts: float, rcpt: str
          ) -> tuple[list[str], tuple[str, str, str, str]]:
    helo, _ptr, ip = sender
    ft = f"TYZPEPF0000{rng.randint(1000, 9999)}"
    ca = f"TYCP286CA{rng.randint(1000, 9999):04d}"
    mb1, mb2 = (f"TYCP286MB{rng.randint(1000, 9999)}" for _ in range(2))
    ft_ip = f"{M365_FRONTEND}{_hex(rng)}:cafe::{_hex(rng, 1, 255)}"
    ca_ip = f"{M365_FRONTEND}{_hex(rng)}::{_hex(rng, 1, 255)}"
    mb_ip = f"{M365_MAILBOX}{_hex(rng)}::{_hex(rng, 1, 255)}"
    qid = f"{rng.randint(100, 999)}"
    hops = [  # newest first, below our MX's own line
        received(f"{mb1}.JPNP286.PROD.OUTLOOK.COM", "", mb_ip,
                 f"{mb2}.JPNP286.PROD.OUTLOOK.COM", "", qid, ts - 0.4, style="exchange"),
        received(f"{ca}.JPNP286.PROD.OUTLOOK.COM", "", ca_ip,
                 f"{mb1}.JPNP286.PROD.OUTLOOK.COM", "", qid, ts - 0.6, style="exchange"),
        received(f"{ft}.apcprd03.prod.outlook.com", "", ft_ip,
                 f"{ca}.outlook.office365.com", "", qid, ts - 0.7, style="exchange"),
        received(helo, "", ip, f"{ft}.mail.protection.outlook.com", "", qid, ts - 0.8,
                 style="exchange"),
    ]
    n = rng.randint(2, 254)
    out_ip = f"40.107.{rng.randint(0, 255)}.{n}"
    out_ptr = f"mail-os0jpn01on2{n:03d}.outbound.protection.outlook.com"
    return hops, ("JPN01-OS0-obe.outbound.protection.outlook.com", out_ptr, out_ip, "ESMTPS")


def _google(rng: random.Random, sender: tuple[str, str, str], ts: float, rcpt: str
            ) -> tuple[list[str], tuple[str, str, str, str]]:
    helo, ptr, ip = sender
    hops = [
        f"by 2002:a05:7300:{_hex(rng, 4096, 65535)}:b0:{_hex(rng)}:{_hex(rng, 4096, 65535)}"
        f" with SMTP id {rng.getrandbits(48):x}csp{rng.randint(10**6, 10**7)};"
        f"\r\n        {rfc2822_date(ts - 0.5)}",
        received(helo, ptr, ip, "mx.google.com", "", f"{rng.getrandbits(64):x}", ts - 0.8,
                 rcpt, style="gmail"),
    ]
    third, host = rng.randint(128, 255), rng.randint(1, 254)
    name = f"mail-{rng.choice(('yw1', 'pl1', 'ej1', 'lf1'))}-f{host}.google.com"
    return hops, (name, name, f"209.85.{third}.{host}", "ESMTPS")


def provider_hops(hosted: str, rng: random.Random, sender: tuple[str, str, str], ts: float,
                  rcpt: str) -> tuple[list[str], tuple[str, str, str, str]]:
    """(the provider's Received values, newest first; the hop our MX receives from:
    (helo, ptr, ip, proto)) for mail from *sender* = (helo, ptr, ip)."""
    if hosted == "microsoft365":
        return _m365(rng, sender, ts, rcpt)
    if hosted == "google_workspace":
        return _google(rng, sender, ts, rcpt)
    raise ValueError(f"hosted must be one of {', '.join(h for h in HOSTED if h)}, "
                     f"got {hosted!r}")
