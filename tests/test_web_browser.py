"""The admin screen in a real browser: Debian's headless Chromium driven by Playwright (the
system browser, no download) against ``sakimori serve`` running as its own process.

Data: a crafted capture (two beaconing hosts, one with an HTML payload as HTTP Host) learned
from and analysed by the real CLI (``sakimori learn`` and ``analyze``: real Suricata, then the
consumer); the build directory comes from ``sakimori generate``. The browser logs in, opens
the top host, sees its evidence, whitelists the C2 destination and sees the regenerated rule;
the rule file on disk changed.
No JavaScript dialog may open (an XSS payload that ran would open one). Screenshots are saved
in the test's tmp directory (and copied to ``$SAKIMORI_SCREENSHOT_DIR`` when it is set).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import webfixtures as wf
from engines import require_binary, require_module
from pcapcraft import T0, http_get, write_pcap

pytestmark = [pytest.mark.browser, pytest.mark.suricata, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
PASSWORD = "browser-test-password"
BEACON = "10.1.20.50"
HOSTILE = "10.1.20.51"
HOSTILE_HOST = 'x.test"><img src=x onerror=alert(1)>'


def _cli(*args: str, stdin: str | None = None) -> str:
    proc = subprocess.run([sys.executable, "-m", "sakimori", *args], input=stdin,
                          capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == 0, f"sakimori {args[0]}: {proc.stderr[-2000:]}"
    return proc.stdout


def _capture(path: Path) -> Path:
    packets = []
    for i in range(24):  # one beacon a minute, ±2 s
        t = T0 + 60 * i + (i % 5) - 2
        packets += http_get(BEACON, "198.51.100.9", wf.C2, "/gate.php", sport=41000 + i, t0=t)
        packets += http_get(HOSTILE, "198.51.100.10", HOSTILE_HOST, "/p", sport=42000 + i,
                            t0=t + 7 + 300 * (i % 2))
    return write_pcap(path, packets)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert proc.poll() is None, "sakimori serve exited early"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"sakimori serve did not listen on {port}")


def _need_browser() -> None:
    require_binary(str(CHROMIUM), "`make setup` installs Debian's chromium")
    require_module("playwright.sync_api", "playwright is in the dev extra: `make setup`")


@contextmanager
def _serving(cfg: Path, tmp_path: Path):
    """`sakimori serve` for *cfg* as its own process on a free port; its base URL."""
    _cli("serve", "--config", str(cfg), "--add-user", "alice", stdin=PASSWORD + "\n")
    port = _free_port()
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "sakimori", "serve", "--config", str(cfg),
                             "--listen", f"127.0.0.1:{port}"], stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        _wait_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def server(tmp_path: Path, require_suricata: str):
    _need_browser()
    report, build = tmp_path / "report", tmp_path / "build"
    cfg = wf.write_config(tmp_path, report_dirs=[report], build_dir=build,
                          reload_commands=["echo suricata reload requested"],
                          extra_web={"user_hosts": {wf.KC_USER: [BEACON]}})
    pcap, baselines = str(_capture(tmp_path / "c.pcap")), str(tmp_path / "baselines.json")
    _cli("learn", "--config", str(cfg), "--pcap", pcap, "--out", baselines)
    _cli("analyze", "--config", str(cfg), "--baselines", baselines, "--pcap", pcap, "--out",
         str(report), "--no-mail")
    _cli("generate", "--config", str(cfg), "--baselines", baselines, "--out", str(build),
         "--no-validate")
    # mail warnings of every mail class (the sender's own records), the first targeted one
    # to the user of BEACON half a day before its beacons: a kill chain
    with (report / "mail_warnings.jsonl").open("a", encoding="utf-8") as fh:
        for rec in wf.triage_warnings(T0 - wf.DAY):
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    with _serving(cfg, tmp_path) as base:
        yield base, build, tmp_path


def _shot(page, tmp_path: Path, name: str) -> None:
    path = tmp_path / "screenshots" / name
    page.screenshot(path=str(path), full_page=True)
    extra = os.environ.get("SAKIMORI_SCREENSHOT_DIR")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(extra) / name)


def test_login_top_host_evidence_whitelist(server) -> None:
    from playwright.sync_api import sync_playwright

    base, build, tmp_path = server
    dialogs: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS, headless=True, viewport={"width": 1280, "height": 900})
        try:
            page = browser.new_page()
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(base + "/")
            assert "/login" in page.url
            page.fill("#username", "alice")
            page.fill("#password", "wrong password")
            page.click("#login-submit")
            assert page.locator("#login-error").is_visible()
            page.fill("#username", "alice")
            page.fill("#password", PASSWORD)
            page.click("#login-submit")
            page.wait_for_selector("#hosts")
            _shot(page, tmp_path, "1-hosts.png")
            top = page.locator("#hosts a.host-link").first
            assert top.inner_text() == BEACON
            top.click()
            page.wait_for_selector("#finding-beacon")
            body = page.inner_text("body")
            assert f"Host {BEACON}" in body and wf.C2 in body and "flow_ids" in body
            assert "sub_z_shape" in body and "period" in body
            assert page.locator("#finding-beacon svg").count() >= 1  # the interval plot
            _shot(page, tmp_path, "2-host.png")
            form = page.locator("form.wl-form", has=page.locator(
                f'input[name="entry"][value="{wf.C2}"]'))
            form.locator('input[name="reason"]').fill("our vendor's CDN (browser test)")
            form.locator("button").click()
            page.wait_for_selector("#wl-result")
            result = page.inner_text("#wl-result")
            assert f"{wf.C2} whitelisted and rules regenerated" in result
            assert re.escape(wf.C2) in page.inner_text("#rule-lines")
            assert "suricata reload requested" in result
            assert "alice" in page.inner_text("#audit")
            _shot(page, tmp_path, "3-whitelisted.png")
            page.goto(base + f"/hosts/{BEACON}")
            assert "whitelisted — reports change" in page.inner_text("#finding-beacon")
            page.goto(base + f"/hosts/{HOSTILE}")
            _shot(page, tmp_path, "4-hostile.png")
            _triage(page, base, tmp_path)
        finally:
            browser.close()
    assert not dialogs, f"a script ran in the page: {dialogs}"
    rules = (build / "suricata" / "sakimori.rules").read_text(encoding="utf-8")
    assert re.escape(wf.C2) in rules
    assert wf.C2 in (tmp_path / "whitelist.txt").read_text(encoding="utf-8")


def _triage(page, base: str, tmp_path: Path) -> None:
    """The triage page from the nav: the kill chain first, its link leads to the host's
    evidence, a targeted mail's link to the mail's evidence."""
    page.goto(base + "/")
    page.click("header nav >> text=Triage")
    page.wait_for_selector("#look-first")
    assert page.locator("#class-days svg rect.cell").count() >= 7
    first = page.locator("#tier-kill_chain li.item a.host-link").first
    assert first.inner_text() == BEACON
    assert "targeted mail" in page.inner_text("#tier-kill_chain")
    _shot(page, tmp_path, "5-triage.png")
    first.click()
    page.wait_for_selector("#finding-beacon")
    page.go_back()
    page.locator("#tier-targeted a.mail-link").first.click()
    page.wait_for_selector("#class-reasons")
    assert "targeted" in page.inner_text("#mail-class")


@pytest.fixture
def triage_server(tmp_path: Path):
    """Every Table 1 class over three days (tests/webfixtures.py ``write_triage``: the
    consumer's own outputs and warning records, hostile strings included)."""
    _need_browser()
    report = wf.write_triage(tmp_path / "report")
    cfg = wf.write_config(tmp_path, report_dirs=[report],
                          extra_web={"user_hosts": {wf.KC_USER: [wf.KC_HOST]}})
    with _serving(cfg, tmp_path) as base:
        yield base, tmp_path


def test_triage_page_every_class(triage_server) -> None:
    """The triage page in the browser with every class: tiers in order, the plot drawn, no
    script ran; the screenshot is the one in docs/admin-screen.md."""
    from playwright.sync_api import sync_playwright

    base, tmp_path = triage_server
    dialogs: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS, headless=True, viewport={"width": 1280, "height": 900})
        try:
            page = browser.new_page()
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(base + "/triage")
            page.fill("#username", "alice")
            page.fill("#password", PASSWORD)
            page.click("#login-submit")
            page.wait_for_selector("#look-first")
            tiers = [li.get_attribute("id") for li in page.locator("li.tier").all()]
            assert tiers == [f"tier-{k}" for k in (
                "kill_chain", "targeted", "backdoor", "web_attack", "malware", "anonymizer",
                "mass_virus", "spam")]
            assert page.locator("#tier-kill_chain a.host-link").first.inner_text() == \
                wf.KC_HOST
            box = page.locator("#class-days svg").bounding_box()
            assert box is not None and box["width"] > 350 and box["height"] > 150
            _shot(page, tmp_path, "admin-screen-triage.png")
            page.click("#tier-web_attack a.host-link")
            page.wait_for_selector("#finding-web_attack")
        finally:
            browser.close()
    assert not dialogs, f"a script ran in the page: {dialogs}"
