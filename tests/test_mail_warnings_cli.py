"""``sakimori consume`` with the mail-warning options, through the real CLI: file mode
(``--rspamd-events``: bad lines named as file:line), usage and input errors (one line, exit
codes 2 and 1), and the service (``--follow --rspamd-listen``): an exporter post and a
Suricata ``smtp`` event appended to the followed EVE file each give one warning at a real
SMTP server on loopback, and SIGTERM stops it cleanly."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from aiosmtpd.controller import Controller
from mailsink import Sink
from mailwarnfixtures import RSPAMD_EVENT

from sakimori.config import load_config
from sakimori.listen_secret import authorization, ensure_secret, read_secret
from sakimori_demo.smtpsink import free_port

CONFIG = """\
networks: {{home: [10.0.0.0/8], mail_relays: [192.0.2.10/32]}}
mail: {{internal_domains: [example.co.jp]}}
alerts: {{smtp: "127.0.0.1:{smtp}", sender: sakimori@example.co.jp, admins: [soc@example.co.jp]}}
rspamd: {{listen: "127.0.0.1:{listen}"}}
"""
SMTP_EVENT = {
    "timestamp": "2026-11-25T01:00:00.000000+0000", "flow_id": 7, "event_type": "smtp",
    "src_ip": "8.8.4.4", "src_port": 40000, "dest_ip": "10.0.0.25", "dest_port": 25,
    "proto": "TCP", "tx_id": 0,
    "smtp": {"helo": "x", "mail_from": "<a@evil.example>", "rcpt_to": ["<b@example.co.jp>"]},
    "email": {"status": "PARSE_DONE", "from": "CEO <ceo@example.co.jp>",
              "to": ["b@example.co.jp"], "subject": "wire transfer",
              "message_id": "<passive-1@evil.example>"},
}


def sakimori(*args: object, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sakimori", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture
def env(tmp_path: Path):
    sink = Sink()
    smtp, listen = free_port(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp)
    controller.start()
    cfg = tmp_path / "sakimori.yaml"
    cfg.write_text(CONFIG.format(smtp=smtp, listen=listen), encoding="utf-8")
    ensure_secret(load_config(cfg, env={}))  # what `sakimori generate` creates
    yield sink, cfg, listen
    controller.stop()


def test_events_file_mode(env, tmp_path) -> None:
    sink, cfg, _ = env
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join([json.dumps(RSPAMD_EVENT), json.dumps(RSPAMD_EVENT),
                                 "{broken", '"text"']) + "\n", encoding="utf-8")
    proc = sakimori("consume", "--config", cfg, "--rspamd-events", events, "--state-dir",
                    tmp_path / "s", "--out", tmp_path / "o")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"sakimori consume: mail warnings: 1 new, 1 duplicate(s); 1 sent, 0 recorded without "
        f"mail, 0 SMTP failure(s); 2 bad event line(s) (first: {events}:3: not valid JSON)"]
    assert proc.stdout.strip() == str(tmp_path / "o" / "mail_warnings.jsonl")
    sink.wait(1)
    assert len(sink.messages) == 1 and "SAKIMORI_INTERNAL_SPOOF" in sink.messages[0]["Subject"]


def test_errors_are_one_line(env, tmp_path) -> None:
    _, cfg, _ = env
    missing = sakimori("consume", "--config", cfg, "--rspamd-events", tmp_path / "none.jsonl",
                       "--state-dir", tmp_path / "s")
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        f"sakimori consume: {tmp_path / 'none.jsonl'}: cannot read: No such file or directory"]
    for args in (["--rspamd-listen", "nonsense"], ["--eve", "x.json", "--rspamd-listen"], []):
        proc = sakimori("consume", "--config", cfg, *args)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, args


def test_no_receiver_without_its_secret(env, tmp_path) -> None:
    """consume --rspamd-listen refuses to start without a usable secret file (exit 2, one
    line naming the key and the file, never the secret)."""
    _, cfg, _ = env
    secret_file = tmp_path / "rspamd-listen.secret"
    secret = secret_file.read_text().strip()
    secret_file.chmod(0o644)
    loose = sakimori("consume", "--config", cfg, "--rspamd-listen", "--state-dir", tmp_path / "s")
    assert loose.returncode == 2 and "chmod 600" in loose.stderr
    assert secret not in loose.stderr + loose.stdout
    secret_file.unlink()
    proc = sakimori("consume", "--config", cfg, "--rspamd-listen", "--state-dir", tmp_path / "s")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"sakimori consume: {cfg}: rspamd.listen_secret_file: {secret_file}: missing; "
        "`sakimori generate --config …` creates it (and writes it into the Rspamd exporter "
        "configuration)"]


def test_follow_with_receiver(env, tmp_path) -> None:
    sink, cfg, listen = env
    eve = tmp_path / "eve.json"
    eve.write_text("")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sakimori", "consume", "--config", str(cfg), "--eve", str(eve),
         "--follow", "--rspamd-listen", "--interval", "0.2", "--poll", "0.1", "--state-dir",
         str(tmp_path / "s"), "--out", str(tmp_path / "o")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        assert f"127.0.0.1:{listen}/rspamd/events" in proc.stderr.readline()
        url = f"http://127.0.0.1:{listen}/rspamd/events"
        secret = read_secret(load_config(cfg, env={}))
        assert requests.post(url, data=json.dumps(RSPAMD_EVENT), timeout=5).status_code == 401
        assert requests.post(url, data=json.dumps(RSPAMD_EVENT), timeout=5, headers={
            "Authorization": authorization(secret)}).status_code == 200
        sink.wait(1)
        assert len(sink.messages) == 1
        with eve.open("a") as fh:
            fh.write(json.dumps(SMTP_EVENT) + "\n")
        sink.wait(2)
        assert len(sink.messages) == 2
        assert "from=example.co.jp, ip=8.8.4.4" in sink.messages[1].get_content()
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "mail warnings: 2 new, 0 duplicate(s); 2 sent" in err
    time.sleep(0.2)
    assert len(sink.messages) == 2


def test_resend_failed(env, tmp_path) -> None:
    """A warning given up after SMTP failures is re-sent by `consume --resend-failed`."""
    from mailwarnfixtures import flagged

    from eve_consumer.mailwarn.outbox import Outbox

    sink, cfg, _ = env
    outbox = Outbox(tmp_path / "s" / "state.sqlite")
    key, _new = outbox.add(flagged())
    outbox.finish(key, "failed", "[Errno 111] Connection refused")
    outbox.close()
    proc = sakimori("consume", "--config", cfg, "--resend-failed", "--state-dir",
                    tmp_path / "s", "--out", tmp_path / "o")
    assert proc.returncode == 0, proc.stderr
    assert "1 given-up warning(s) queued again" in proc.stderr
    assert "1 sent" in proc.stderr
    sink.wait(1)
    assert len(sink.messages) == 1
    again = sakimori("consume", "--config", cfg, "--resend-failed", "--state-dir",
                     tmp_path / "s", "--out", tmp_path / "o")
    assert "0 given-up warning(s) queued again" in again.stderr
    time.sleep(0.3)
    assert len(sink.messages) == 1
