"""The Ansible deployment, converged on this machine and proven end to end (marker ``deploy``).

Opt-in (it changes the machine: /etc/suricata, /etc/rspamd, /etc/postfix, /etc/redis,
/opt/sakimori, /etc/sakimori, /var/lib/sakimori, /etc/systemd/system/sakimori-*): runs only
with ``SAKIMORI_TEST_DEPLOY=1``, as root (CI sets it). No systemd runs here, so the converge
uses ``sakimori_manage_services: false`` and this test starts the daemons by hand from the
deployed files, on free loopback ports:

1. ``ansible-playbook ansible/site.yml`` against localhost (``connection: local``), all three
   roles, with the sakimori package installed from this checkout; the unit files pass
   ``systemd-analyze verify``; a second converge reports ``changed=0``.
2. Mail: a mail spoofing our own domain from 8.8.8.8 (Postfix XCLIENT) is submitted to the
   deployed Postfix → deployed Rspamd milter with the generated plugin → metadata_exporter →
   the deployed consumer (the unit's ExecStart, as its user) → a warning mail through
   Postfix's milter-less listener → the SMTP sink; the spoofed mail arrives tagged.
3. Traffic: the crafted office capture of tests/test_consumer_scenario.py read by Suricata with
   the deployed suricata.yaml and the rules suricata-update installed → the deployed consumer
   → hosts.csv with every expected host and detection.
4. Admin screen: the deployed ``sakimori-serve`` unit's command, started by hand as its user
   with a user added by ``serve --add-user``: login with the CSRF token, the hosts page, and the
   mail warnings page showing the warning the deployed consumer sent in step 2.
5. The three-host layout on the same machine (three inventory names, ``connection: local``):
   the build travels correlator → controller → sensor and mail gateway; again ``changed=0``
   the second time. With EVE over Redis switched on (``sakimori_eve_redis``): Suricata with
   the deployed suricata.yaml pushes the capture into the sensor's Redis (deployed
   configuration, started by hand) and the correlator's per-sensor consumer unit reads it
   (ACL user, password file) into hosts.csv with every expected host.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import smtplib
import subprocess
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

import pytest
import requests
import yaml
from aiosmtpd.controller import Controller
from deploy_daemons import Daemons, converge, stop_leftovers, unit_exec_start, unit_user
from engines import missing, require_binary
from mailsink import Sink
from scenario import EXPECTED, build_scenario

from sakimori.rspamd_local import DnsStub, free_port

pytestmark = [pytest.mark.deploy, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
RUN_BASE = Path("/var/tmp/sakimori-deploy-test")
UNITS = ["sakimori-consume.service", "sakimori-learn.service", "sakimori-learn.timer",
         "sakimori-serve.service"]
WHITELIST = ["*.windowsupdate.com", "ntp.nict.jp", "203.0.113.0/24"]


def _require_deploy() -> None:
    """Opt-in (it changes this machine); once opted in, a missing root or engine is a failure
    in CI and a skip elsewhere (tests/engines.py)."""
    if os.environ.get("SAKIMORI_TEST_DEPLOY") != "1":
        pytest.skip("changes this machine: set SAKIMORI_TEST_DEPLOY=1 to converge ansible/site.yml")
    if os.geteuid() != 0:
        missing("the deploy test must run as root")
    for tool in ("suricata", "rspamd"):
        require_binary(tool)


def _write_inputs(run: Path, repo: Path, ports: dict[str, int], dns_port: int) -> Path:
    data = run / "data"
    _, baselines, _, _ = build_scenario(data)
    inventory = run / "inventory.yml"
    groups = {g: {"hosts": {"localhost": None}}
              for g in ("sakimori_correlator", "sakimori_sensor", "sakimori_mailgw")}
    inventory.write_text(yaml.safe_dump({"all": {
        "hosts": {"localhost": {"ansible_connection": "local",
                                "ansible_python_interpreter": "/usr/bin/python3"}},
        "children": groups}}), encoding="utf-8")
    extra = {
        "sakimori_manage_services": False,
        "sakimori_home_networks": ["10.1.0.0/16"],
        "sakimori_internal_domains": ["example.co.jp"],
        "sakimori_rspamd_listen": f"127.0.0.1:{ports['consumer']}",
        "sakimori_correlator_source_dir": str(repo),
        "sakimori_correlator_baselines_src": str(baselines),
        "sakimori_correlator_whitelist": WHITELIST,
        "sakimori_correlator_tor_relays": [str(data / "relays.txt")],
        "sakimori_correlator_alerts_admins": ["soc@example.co.jp"],
        "sakimori_correlator_alerts_smtp": f"127.0.0.1:{ports['alert']}",
        "sakimori_correlator_web_listen": f"127.0.0.1:{ports['web']}",
        "sakimori_mailgw_rspamd_dns_servers": [f"127.0.0.1:{dns_port}"],
        "sakimori_mailgw_rspamd_dns_timeout": "0.3s",
        "sakimori_mailgw_rspamd_dns_retransmits": 1,
        # offline: no greylisting (it would defer the test mail), no modules scoring failed
        # network lookups (hfilter alone would push the test mail to "reject")
        "sakimori_mailgw_rspamd_disabled_modules": [
            "greylist", "rbl", "asn", "hfilter", "fuzzy_check", "neural", "reputation",
            "url_redirector", "replies", "emails", "phishing", "mx_check", "dcc", "ratelimit"],
        "sakimori_mailgw_rspamd_proxy_port": ports["proxy"],
        "sakimori_mailgw_rspamd_normal_port": ports["normal"],
        "sakimori_mailgw_rspamd_controller_port": ports["controller"],
        "sakimori_mailgw_redis_port": ports["redis"],
        "sakimori_mailgw_postfix_listen": f"127.0.0.1:{ports['smtpd']}",
        "sakimori_mailgw_postfix_alert_listen": f"127.0.0.1:{ports['alert']}",
        "sakimori_mailgw_postfix_myhostname": "mx.example.co.jp",
        "sakimori_mailgw_postfix_inet_protocols": "ipv4",
        "sakimori_mailgw_postfix_relay_nexthop": f"[127.0.0.1]:{ports['sink']}",
        "sakimori_mailgw_postfix_xclient_hosts": ["127.0.0.1"],
        "sakimori_mailgw_postfix_maillog_file": str(run / "postfix.log"),
    }
    extra_file = run / "extra-vars.yml"
    extra_file.write_text(yaml.safe_dump(extra), encoding="utf-8")
    return inventory


@pytest.fixture(scope="module")
def deployed():
    _require_deploy()
    stop_leftovers()
    for old in RUN_BASE.glob("run-*"):  # an earlier run's files (kept for reading until now)
        shutil.rmtree(old, ignore_errors=True)
    run = RUN_BASE / f"run-{os.getpid()}"
    run.mkdir(parents=True)
    for d in (RUN_BASE, run):
        d.chmod(0o755)  # the consumer runs as the unit's user and reads the test data
    names = ("smtpd", "alert", "proxy", "normal", "controller", "redis", "consumer", "sink",
             "web")
    ports = {name: free_port() for name in names}
    dns = DnsStub()
    sink = Sink()
    smtp = Controller(sink, hostname="127.0.0.1", port=ports["sink"])
    smtp.start()
    daemons = Daemons(run)
    try:
        inventory = _write_inputs(run, REPO, ports, dns.port)
        started = time.monotonic()
        first = converge(inventory, run / "extra-vars.yml", run / "converge-1.log")
        converged = time.monotonic() - started
        second = converge(inventory, run / "extra-vars.yml", run / "converge-2.log")
        yield {"run": run, "ports": ports, "sink": sink, "daemons": daemons, "first": first,
               "second": second, "converge_s": converged}
    finally:
        daemons.stop()
        smtp.stop()
        dns.close()


def test_site_yml_converges_and_a_second_run_changes_nothing(deployed: dict) -> None:
    rc, _, out = deployed["first"]
    assert rc == 0, out[-4000:]
    rc, changed, out = deployed["second"]
    assert rc == 0, out[-4000:]
    assert changed == 0, [line for line in out.splitlines() if line.startswith("changed:")
                          or line.startswith("TASK")][-40:]


def test_unit_files_verify(deployed: dict) -> None:
    assert deployed["first"][0] == 0
    paths = [f"/etc/systemd/system/{u}" for u in UNITS]
    for path in paths:
        assert Path(path).is_file(), path
    require_binary("systemd-analyze", "systemd: unit files cannot be verified without it")
    proc = subprocess.run(["systemd-analyze", "verify", *paths], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sakimori-" not in proc.stderr, proc.stderr


@pytest.fixture(scope="module")
def running(deployed: dict) -> dict:
    assert deployed["first"][0] == 0, "converge failed"
    ports, daemons = deployed["ports"], deployed["daemons"]
    daemons.start("redis", ["runuser", "-u", "redis", "--", "redis-server",
                            "/etc/redis/redis.conf", "--daemonize", "no", "--supervised", "no",
                            "--pidfile", "", "--logfile", ""], ports["redis"])
    rundir = Path("/run/rspamd")
    rundir.mkdir(exist_ok=True)
    shutil.chown(rundir, "_rspamd", "_rspamd")
    daemons.start("rspamd", ["rspamd", "-f", "-c", "/etc/rspamd/rspamd.conf", "-u", "_rspamd",
                             "-g", "_rspamd"], ports["proxy"], timeout=240)
    unit = Path("/etc/systemd/system/sakimori-consume.service")
    eve = Path("/var/log/suricata/eve.json")
    eve.parent.mkdir(parents=True, exist_ok=True)
    daemons.start("consumer", ["runuser", "-u", unit_user(unit), "--", *unit_exec_start(unit)],
                  ports["consumer"])
    daemons.start_postfix(ports["smtpd"])
    return deployed


def _spoof(message_id: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Taro <taro@example.co.jp>"
    msg["To"] = "hanako@example.co.jp"
    msg["Subject"] = "invoice"
    msg["Message-ID"] = message_id
    msg["Date"] = "Tue, 25 Nov 2026 10:00:00 +0900"
    msg.set_content("please pay\n")
    return msg


@pytest.fixture(scope="module")
def spoofed(running: dict) -> dict:
    """Submit one spoofed mail to the deployed Postfix; wait for the warning and the mail."""
    sink, ports = running["sink"], running["ports"]
    message_id = f"<{uuid.uuid4().hex}@evil.example>"
    with smtplib.SMTP("127.0.0.1", ports["smtpd"], timeout=60) as client:
        client.ehlo("mx.evil.example")
        code, reply = client.docmd("XCLIENT", "ADDR=8.8.8.8 NAME=[UNAVAILABLE] "
                                              "HELO=mx.evil.example")
        assert code == 220, reply
        client.ehlo("mx.evil.example")
        refused = client.send_message(_spoof(message_id), from_addr="bounce@evil.example",
                                      to_addrs=["hanako@example.co.jp"])
        assert refused == {}
    deadline = time.monotonic() + 90
    warnings: list = []
    passed: list = []
    while time.monotonic() < deadline:
        warnings = [m for m in sink.messages if m["X-Sakimori-Warning"] == "spoofed-mail"
                    and message_id.strip("<>") in m.get_content()]
        passed = [m for m in sink.messages if m["Message-ID"] == message_id]
        if warnings and passed:
            break
        time.sleep(0.2)
    return {**running, "message_id": message_id, "warnings": warnings, "passed": passed}


def test_spoofed_mail_through_postfix_and_rspamd_raises_a_warning_mail(spoofed: dict) -> None:
    sink, message_id = spoofed["sink"], spoofed["message_id"]
    warnings, passed = spoofed["warnings"], spoofed["passed"]
    assert len(warnings) == 1, [m["Subject"] for m in sink.messages]
    assert "SAKIMORI_INTERNAL_SPOOF" in warnings[0]["Subject"]
    body = warnings[0].get_content()
    assert "from=example.co.jp" in body and "8.8.8.8" in body
    assert message_id.strip("<>") in body
    # the spoofed mail itself passed the milter, tagged by the plugin
    assert len(passed) == 1
    assert "SAKIMORI_INTERNAL_SPOOF" in (passed[0]["X-Sakimori"] or "")


def test_admin_screen_shows_the_deployed_consumers_warning(spoofed: dict) -> None:
    assert len(spoofed["warnings"]) == 1, "no warning mail to show"
    unit = Path("/etc/systemd/system/sakimori-serve.service")
    user = unit_user(unit)
    proc = subprocess.run(["runuser", "-u", user, "--", "/opt/sakimori/venv/bin/sakimori",
                           "serve", "--config", "/etc/sakimori/sakimori.yaml", "--add-user",
                           "soc"], input="deploy-test-password\n", capture_output=True,
                          text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    port = spoofed["ports"]["web"]
    spoofed["daemons"].start("serve", ["runuser", "-u", user, "--", *unit_exec_start(unit)],
                             port)
    base = f"http://127.0.0.1:{port}"
    web = requests.Session()
    first = web.get(f"{base}/", allow_redirects=False, timeout=30)
    assert first.status_code == 302 and "/login" in first.headers["Location"]
    assert "script-src 'none'" in first.headers["Content-Security-Policy"]
    form = web.get(f"{base}/login", timeout=30).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    done = web.post(f"{base}/login", data={"username": "soc", "password": "deploy-test-password",
                                           "csrf_token": token},
                    allow_redirects=False, timeout=30)
    assert done.status_code == 302, done.text[:500]
    assert web.get(f"{base}/", timeout=30).status_code == 200
    mail = web.get(f"{base}/mail", timeout=30)
    assert mail.status_code == 200
    assert "SAKIMORI_INTERNAL_SPOOF" in mail.text and "invoice" in mail.text


def test_capture_through_deployed_suricata_and_consumer_gives_hosts_csv(running: dict) -> None:
    run = running["run"]
    out = run / "pcap"
    out.mkdir()
    proc = subprocess.run(["suricata", "-c", "/etc/suricata/suricata.yaml", "-r",
                           str(run / "data" / "office.pcap"), "-l", str(out), "-k", "none",
                           "--runmode", "single"], capture_output=True, text=True, check=False,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report, state = out / "report", out / "state"
    user = unit_user(Path("/etc/systemd/system/sakimori-consume.service"))
    for d in (report, state):
        d.mkdir()
        shutil.chown(d, user, user)
    proc = subprocess.run(["runuser", "-u", user, "--", "/opt/sakimori/venv/bin/sakimori",
                           "consume", "--config", "/etc/sakimori/sakimori.yaml", "--baselines",
                           "/var/lib/sakimori/baselines.json", "--eve", str(out / "eve.json"),
                           "--out", str(report), "--state-dir", str(state), "--no-mail"],
                          capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == 0, proc.stderr
    with (report / "hosts.csv").open(newline="", encoding="utf-8") as fh:
        rows = {r["host"]: set(r["detections"].split(";")) for r in csv.DictReader(fh)}
    # suricata-update installed our rules only (no ET Open): the web attack has no rule
    expected = {h: d for h, d in EXPECTED.items() if h != "10.1.20.20"}
    assert rows == expected


def test_three_host_layout_moves_the_build_through_the_controller(deployed: dict) -> None:
    """Three inventory names on this machine, with EVE over Redis: the sensor role's Redis
    (started here by hand from its deployed configuration) receives the capture from Suricata
    with the deployed suricata.yaml (unix socket); the correlator's per-sensor consumer unit
    (its ExecStart plus --drain, as its user, ACL user + password file) reads it over TCP and
    writes hosts.csv with every expected host."""
    assert deployed["first"][0] == 0, "converge failed"
    run = deployed["run"]
    inventory = run / "three-hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3"},
        "children": {"sakimori_correlator": {"hosts": {"correlator1": None}},
                     "sakimori_sensor": {"hosts": {"sensor1": None}},
                     "sakimori_mailgw": {"hosts": {"mx1": None}}}}}), encoding="utf-8")
    extra = yaml.safe_load((run / "extra-vars.yml").read_text(encoding="utf-8"))
    extra["sakimori_build_fetch_dir"] = str(run / "fetched")
    eve_port = free_port()
    extra.update({"sakimori_eve_redis": True, "sakimori_eve_redis_password": uuid.uuid4().hex,
                  "sakimori_sensor_eve_redis_port": eve_port,
                  "sakimori_eve_redis_sensors": [{"name": "sensor1", "key": "sensor1",
                                                  "url": f"redis://127.0.0.1:{eve_port}/0"}]})
    extra_file = run / "extra-vars-three.yml"
    extra_file.write_text(yaml.safe_dump(extra), encoding="utf-8")
    rc, _, out = converge(inventory, extra_file, run / "converge-three-1.log")
    assert rc == 0, out[-4000:]
    for name in ("suricata/sakimori-rules.tar.gz", "rspamd/plugins/sakimori.lua",
                 "rspamd/local.d/metadata_exporter.conf"):
        assert (run / "fetched" / name).is_file(), name
    rc, changed, out = converge(inventory, extra_file, run / "converge-three-2.log")
    assert rc == 0, out[-4000:]
    assert changed == 0, out[-3000:]
    _eve_over_redis(deployed, eve_port)


def _eve_over_redis(deployed: dict, port: int) -> None:
    run, daemons = deployed["run"], deployed["daemons"]
    rundir = Path("/run/redis-sakimori-eve")  # systemd's RuntimeDirectory, made by hand
    rundir.mkdir(exist_ok=True)
    shutil.chown(rundir, "redis", "redis")
    # The machine keeps the sensor Redis's data (AOF/RDB) between runs: a list or processing
    # list an earlier run left would be read again by a consumer starting from a fresh state.
    conf = dict(line.split(None, 1) for line in Path("/etc/redis/redis-sakimori-eve.conf")
                .read_text(encoding="utf-8").splitlines() if line.strip()
                and not line.startswith("#") and len(line.split(None, 1)) == 2)
    data_dir = Path(conf["dir"].strip())
    shutil.rmtree(data_dir / conf["appenddirname"].strip().strip('"'), ignore_errors=True)
    (data_dir / conf["dbfilename"].strip().strip('"')).unlink(missing_ok=True)
    daemons.start("eve-redis", ["runuser", "-u", "redis", "--", "redis-server",
                                "/etc/redis/redis-sakimori-eve.conf", "--supervised", "no",
                                "--logfile", ""], port)
    out = run / "pcap-redis"
    out.mkdir()
    proc = subprocess.run(["suricata", "-c", "/etc/suricata/suricata.yaml", "-r",
                           str(run / "data" / "office.pcap"), "-l", str(out), "-k", "none",
                           "--runmode", "single"], capture_output=True, text=True, check=False,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not (out / "eve.json").exists()  # EVE went to Redis, not to a file
    unit = Path("/etc/systemd/system/sakimori-consume-sensor1.service")
    argv = unit_exec_start(unit)
    # The machine keeps /var/lib/sakimori between runs: an earlier run's consumer state would
    # add its counts to this one's (fw_blocked per host-day), so the unit starts afresh.
    shutil.rmtree(argv[argv.index("--state-dir") + 1], ignore_errors=True)
    proc = subprocess.run(["runuser", "-u", unit_user(unit), "--", *argv,
                           "--drain", "--no-mail"], capture_output=True, text=True,
                          check=False, timeout=600)
    assert proc.returncode == 0, proc.stderr
    report = Path("/var/lib/sakimori/sensors/sensor1/report/hosts.csv")
    with report.open(newline="", encoding="utf-8") as fh:
        rows = {r["host"]: set(r["detections"].split(";")) for r in csv.DictReader(fh)}
    expected = {h: d for h, d in EXPECTED.items() if h != "10.1.20.20"}  # no ET Open
    assert rows == expected
