"""What ``sakimori demo`` runs (its arguments: :mod:`sakimori.commands.demo`): the whole
backdoor-traffic pipeline on bundled example data.

Steps: simulate an office network (clean baseline day + incident day with infected hosts and a
ground truth) and a mail history with a test set of legitimate and spoofed mails; ``learn``
from the baseline capture, proxy log and past mail; ``generate`` the Suricata rules and the
Rspamd plugin; ``analyze`` the incident capture with real Suricata (alert mail to a loopback
SMTP sink); scan the test mails with a real Rspamd whose warnings go through the consumer to
the same sink; compare both with their ground truth; print the hosts.csv path. Then the admin
screen: a demo user ``analyst`` with a random password (printed once), and the screen served in
the foreground on 127.0.0.1:8080 (another free port when 8080 is taken) until Ctrl-C — the last
two lines printed are its URL and the login. ``--no-serve`` prints them (and the serve
command) and exits instead (tests, CI).
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import socket
import sys
from pathlib import Path

import yaml

from sakimori import groundtruth
from sakimori.config import load_config
from sakimori.errors import SakimoriError
from sakimori_demo.mail import format_mail_table, run_mail_demo, warning_summaries
from sakimori_demo.smtpsink import SmtpSink, free_port


def _say(text: str) -> None:
    print(f"==> {text}", flush=True)


def _simulate(data_dir: Path, seed: int, hours: float) -> None:
    from sakimori_demo.officesim import SimParams, generate

    truth = data_dir / "ground_truth.json"
    if truth.is_file():
        params = json.loads(truth.read_text(encoding="utf-8")).get("params", {})
        if params.get("seed") == seed and params.get("hours") == hours:
            _say(f"using simulated captures in {data_dir} (delete it to regenerate)")
            return
    _say(f"simulating {hours:g} h of an office network (seed {seed}) into {data_dir}")
    generate(data_dir, SimParams(seed=seed, hours=hours))


def _mail_corpus(mail_dir: Path, seed: int) -> dict:
    from sakimori_demo.mailsim import generate_corpus

    truth = mail_dir / "truth.json"
    if truth.is_file():
        doc = json.loads(truth.read_text(encoding="utf-8"))
        if doc.get("seed") == seed:
            return doc
    _say(f"simulating past mail and a test set of new mails into {mail_dir}")
    return generate_corpus(mail_dir, seed=seed)


def _web_port(preferred: int = 8080) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            return free_port()


def _demo_config(base: Path, out: Path, data_dir: Path, smtp_port: int) -> Path:
    from sakimori_demo.mailsim.testset import RELAY_PRESETS

    doc = yaml.safe_load(base.read_text(encoding="utf-8")) or {}
    # Some of the simulated organisation's mailboxes are at a hosted provider that routes
    # their mail on to our MX: the test mails expect its preset among our relays.
    relays = doc.setdefault("networks", {}).setdefault("mail_relays", [])
    relays.extend(p for p in RELAY_PRESETS if p not in relays)
    doc.setdefault("anonymizer", {})["tor_relays"] = [str(data_dir / "tor-relays.txt")]
    doc.setdefault("consumer", {})["state_dir"] = str(out / "state")
    doc.setdefault("alerts", {})["smtp"] = f"127.0.0.1:{smtp_port}"
    # The demo scans its test mails within seconds: every warning is shown at once instead of
    # alerts.max_per_recipient_per_minute a minute (the rate limit is tested elsewhere).
    doc["alerts"].update(max_per_minute=1000, max_per_recipient_per_minute=1000)
    doc.setdefault("rspamd", {})["listen"] = f"127.0.0.1:{free_port()}"
    doc.setdefault("whitelist", {})["file"] = str(out / "whitelist.txt")
    port = _web_port()
    doc["web"] = {
        "listen": f"127.0.0.1:{port}", "base_url": f"http://127.0.0.1:{port}",
        "report_dirs": [str(out / "report"), str(out / "mail-report")],
        "state_dirs": [str(out / "state-mail")],
        "baselines": str(out / "baselines.json"), "build_dir": str(out / "build"),
        "users_file": str(out / "web-users.json"),
        "secret_key_file": str(out / "web-secret.key"),
        "audit_log": str(out / "whitelist-audit.jsonl"),
        # The simulated office's inventory: who uses which PC (kill-chain view).
        "user_hosts": {"keiri@example.co.jp": ["10.1.20.11"],
                       "taro.yamada@example.co.jp": ["10.1.20.14"]},
        "proxy_logs": [str(data_dir / "squid-access.log")],
    }
    path = out / "sakimori.yaml"
    path.write_text("# Demo configuration derived from examples/sakimori.yaml by "
                    "`sakimori demo`.\n" + yaml.safe_dump(doc, sort_keys=False), "utf-8")
    return path


def _verb(argv: list[str]) -> None:
    from sakimori.cli import build_parser

    _say("sakimori " + " ".join(argv))
    args = build_parser(argv[0]).parse_args(argv)
    code = args.func(args)
    if code != 0:
        raise SakimoriError(f"step `sakimori {argv[0]}` failed with exit code {code}")


def run(args: argparse.Namespace) -> int:
    out: Path = args.out.resolve()
    data_dir = out / "data"
    out.mkdir(parents=True, exist_ok=True)
    _simulate(data_dir, args.seed, args.hours)
    corpus = _mail_corpus(data_dir / "mail", args.seed)
    for stale in ("state", "state-mail", "report", "mail-report", "build", "mail",
                  "baselines.json", "whitelist.txt", "whitelist-audit.jsonl",
                  "web-users.json"):
        target = out / stale
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
    with SmtpSink(out / "mail") as sink:
        cfg = str(_demo_config(args.config, out, data_dir, sink.port))
        baselines = str(out / "baselines.json")
        _verb(["learn", "--config", cfg, "--pcap", str(data_dir / "baseline.pcap"),
               "--proxy-log", str(data_dir / "squid-access.log"),
               "--mail", corpus["past"]["maildir"], "--out", baselines])
        _verb(["generate", "--config", cfg, "--baselines", baselines, "--out",
               str(out / "build")])
        _verb(["analyze", "--config", cfg, "--baselines", baselines, "--pcap",
               str(data_dir / "office.pcap"), "--out", str(out / "report")])
        alerts = len(sink.messages())
        mail_verdicts = run_mail_demo(load_config(cfg), Path(cfg), out / "build",
                                      corpus["testset"], out)
        mails = sink.messages()
    report = out / "report" / "hosts.csv"
    verdicts = groundtruth.compare(report, data_dir / "ground_truth.json")
    print()
    print(groundtruth.format_table(verdicts))
    print()
    for i, msg in enumerate(mails[:alerts], 1):
        attachments = [p.get_filename() for p in msg.iter_attachments()]
        print(f"alert mail {i}: to {msg['To']} — {msg['Subject']} "
              f"(attachments: {', '.join(filter(None, attachments)) or 'none'})")
    if not alerts:
        print("no alert mail was sent")
    print()
    print(format_mail_table(mail_verdicts))
    print()
    for line in warning_summaries(out / "mail-report"):
        print(line)
    print(f"\n{len(mails) - alerts} warning mail(s) and {alerts} host alert mail(s) reached "
          f"the SMTP sink; saved in {out / 'mail'}")
    wrong = [v for v in verdicts if not v.ok]
    if wrong:
        print(f"{len(wrong)} host(s) differ from the ground truth", file=sys.stderr)
    wrong_mail = [v for v in mail_verdicts if not v.ok]
    if wrong_mail:
        print(f"{len(wrong_mail)} mail(s) judged differently from the ground truth",
              file=sys.stderr)
    print(f"\nreport: {report}")
    code = 1 if wrong or wrong_mail else 0
    return _admin_screen(Path(cfg), args.no_serve, code)


def _admin_screen(cfg_path: Path, no_serve: bool, code: int) -> int:
    """Create the demo user, then print the URL and login last (and serve unless no_serve)."""
    from sakimori.commands.serve import add_user, serve

    password = secrets.token_urlsafe(12)
    add_user(cfg_path, "analyst", password)
    cfg = load_config(cfg_path)
    url = f"http://{cfg.web.listen_host}:{cfg.web.listen_port}/"
    print()
    if no_serve:
        print(f"admin screen (not started: --no-serve): .venv/bin/sakimori serve --config "
              f"{cfg_path}")
    else:
        print("admin screen: serving until Ctrl-C (demo user's password is random, shown once)")
    print(f"URL:   {url}")
    print(f"login: analyst / {password}", flush=True)
    if no_serve:
        return code
    serve(cfg, cfg.web.listen_host, cfg.web.listen_port, quiet=True)
    return code
