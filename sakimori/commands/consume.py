"""The ``sakimori consume`` verb: run the EVE consumer over an EVE file, once or as a service.

``--redis URL --redis-key KEY …`` reads Suricata's redis eve-log output instead (at least once,
in push order; ``--drain`` exits when the keys are empty, else it follows) — see
docs/consumer.md "Scale-out" and :mod:`eve_consumer.inputs.redis_list`.

Without ``--follow`` it reads the file to its end, writes OUT_DIR/hosts.csv, findings.jsonl
and stats.json, sends the alert mails and exits. With ``--follow`` it tails the file (rotation
and restarts handled through the state store) until SIGTERM/SIGINT. See docs/consumer.md.

Spoofed-mail warnings (docs/mail-warnings.md): Suricata ``smtp`` events in the EVE are judged
by the passive checks; ``--rspamd-events FILE`` reads Rspamd ``metadata_exporter`` JSON lines;
``--rspamd-listen`` runs the HTTP receiver for the exporter (``rspamd.listen``, or the
HOST:PORT given; it needs the listener secret, ``rspamd.listen_secret_file``) alongside
``--follow``, or alone until SIGTERM/SIGINT when no ``--eve`` is given. ``--proxy-log FILE`` reads a
web-proxy access log (Squid native, Apache combined) instead of, or besides, the EVE file;
with ``--follow`` it is tailed like the EVE file (own checkpoint). ``--resend-failed``
re-queues warnings given up after 20 minutes of SMTP failures and sends them.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from sakimori.errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("consume", help="correlate an EVE file into the per-host report",
                       description="Run the EVE consumer over an EVE JSON file, or over Suricata's "
                                   "redis eve-log output (--redis).")
    p.add_argument("--config", required=True, type=Path, help="sakimori.yaml")
    p.add_argument("--eve", type=Path,
                   help="EVE JSON file to read or follow (optional with --rspamd-events or "
                        "--rspamd-listen)")
    p.add_argument("--redis", metavar="URL",
                   help="read Suricata's redis eve-log output: redis://HOST:PORT/DB (rediss:// "
                        "for TLS; user, password, CA from the redis section of the config); "
                        "follows until SIGTERM/SIGINT unless --drain")
    p.add_argument("--redis-key", action="append", default=[], metavar="KEY",
                   help="a Suricata redis key to read (repeatable; KEY#list or KEY#rpush "
                        "overrides redis.mode for that key)")
    p.add_argument("--drain", action="store_true",
                   help="with --redis: exit once every key is empty")
    p.add_argument("--baselines", type=Path,
                   help="baselines.json (optional: fallback thresholds without it)")
    p.add_argument("--follow", action="store_true",
                   help="keep following the file as a service (until SIGTERM/SIGINT)")
    p.add_argument("--out", type=Path,
                   help="report directory (default: STATE_DIR/report)")
    p.add_argument("--state-dir", type=Path,
                   help="state directory (default: consumer.state_dir of the config)")
    p.add_argument("--no-mail", action="store_true", help="never send alert mail")
    p.add_argument("--fw-log", type=Path, action="append", default=[], metavar="FILE",
                   help="iptables/nftables LOG lines counted as blocked attempts "
                        "(repeatable)")
    p.add_argument("--proxy-log", type=Path, metavar="FILE",
                   help="web-proxy access log (Squid native, Apache combined) to read, or "
                        "with --follow to tail")
    p.add_argument("--interval", type=float, default=5.0, metavar="S",
                   help="follow mode: evaluate and commit at most every S seconds (5)")
    p.add_argument("--poll", type=float, default=0.5, metavar="S",
                   help="follow mode: wait S seconds when the file has nothing new (0.5)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="one-shot: N processes sharded by internal host, same report (1); "
                        "follow mode runs one")
    p.add_argument("--rspamd-events", type=Path, action="append", default=[], metavar="FILE",
                   help="Rspamd metadata_exporter JSON lines to warn about (repeatable)")
    p.add_argument("--rspamd-listen", nargs="?", const="", default=None, metavar="HOST:PORT",
                   help="receive Rspamd metadata_exporter posts over HTTP (default: "
                        "rspamd.listen of the config) while following, or alone; needs "
                        "rspamd.listen_secret_file (sakimori generate creates it)")
    p.add_argument("--resend-failed", action="store_true",
                   help="re-queue the warnings given up after SMTP failures and send them "
                        "(alone, or before the other work of this run)")
    p.set_defaults(func=run)


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _listen_address(text: str) -> tuple[str | None, int | None]:
    if not text:
        return None, None  # rspamd.listen of the config
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--rspamd-listen: expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def _check_redis_usage(args: argparse.Namespace) -> None:
    if args.redis is None:
        if args.redis_key or args.drain:
            raise UsageError("--redis-key and --drain need --redis")
        return
    if args.eve is not None:
        raise UsageError("--eve and --redis are exclusive (one EVE source per consumer)")
    if not args.redis_key:
        raise UsageError("--redis needs at least one --redis-key")
    if args.drain and (args.follow or args.rspamd_listen is not None):
        raise UsageError("--drain exits when the keys are empty: not with --follow or "
                         "--rspamd-listen")


def _check_workers_usage(args: argparse.Namespace) -> None:
    from eve_consumer.shard import MAX_WORKERS

    if not 1 <= args.workers <= MAX_WORKERS:
        raise UsageError(f"--workers: expected a number of processes from 1 to {MAX_WORKERS}, "
                         f"got {args.workers}")
    if args.workers == 1:
        return
    if args.follow or args.rspamd_listen is not None:
        raise UsageError("--workers N > 1 is for one-shot runs; --follow runs one worker")
    if args.redis is not None or args.proxy_log is not None:
        raise UsageError("--workers N > 1 shards an --eve file; --redis and --proxy-log run "
                         "one worker")
    if args.eve is None:
        raise UsageError("--workers needs --eve")


def _check_usage(args: argparse.Namespace) -> None:
    _check_workers_usage(args)
    _check_redis_usage(args)
    if args.redis is not None:
        if args.proxy_log is not None:
            raise UsageError("--redis and --proxy-log are exclusive (one source per consumer)")
        return
    if args.proxy_log is not None:
        if args.follow and args.eve is not None:
            raise UsageError("--follow tails one file: give --eve or --proxy-log, not both")
        if args.follow and args.proxy_log.suffix == ".gz":
            raise UsageError("--follow cannot tail a compressed log: "
                             f"{args.proxy_log} (follow the live file)")
        if args.rspamd_listen is not None and not args.follow:
            raise UsageError("--rspamd-listen with --proxy-log needs --follow")
        return
    if (args.eve is None and not args.rspamd_events and args.rspamd_listen is None
            and not args.resend_failed):
        raise UsageError("--eve is required (unless --rspamd-events, --rspamd-listen or "
                         "--resend-failed is given)")
    if args.rspamd_listen is not None and args.eve is not None and not args.follow:
        raise UsageError("--rspamd-listen with --eve needs --follow (the receiver runs "
                         "as long as the service)")
    if args.follow and args.eve is None:
        raise UsageError("--follow needs --eve")


def _serve(consumer: Any, args: argparse.Namespace) -> None:
    """The long-running part: follow the EVE file and/or receive Rspamd events."""
    stop = threading.Event()
    _stop_on_signals(stop)
    warnings = consumer.mail_warnings
    if args.rspamd_listen is not None:
        receiver = warnings.listen(*_listen_address(args.rspamd_listen))
        print(f"sakimori consume: receiving Rspamd events on {receiver.url}", file=sys.stderr)
    warnings.start()
    if args.redis is not None:
        consumer.follow_redis(_redis_input(consumer, args), stop, interval_s=args.interval)
    elif args.eve is not None:
        consumer.follow(args.eve, stop, poll_s=args.poll, interval_s=args.interval)
    elif args.proxy_log is not None:
        consumer.follow(args.proxy_log, stop, poll_s=args.poll, interval_s=args.interval,
                        proxy=True)
    else:
        stop.wait()


def _redis_input(consumer: Any, args: argparse.Namespace) -> Any:
    from eve_consumer.inputs.redis_list import RedisListInput, parse_keys
    from sakimori.redisconn import connect, redact

    cfg = consumer.cfg
    keys = parse_keys(args.redis_key, cfg.redis.mode)
    client = connect(args.redis, cfg.redis, "--redis")
    return RedisListInput(client, keys, redact(args.redis), str(consumer.store.path.parent),
                          max_lines=cfg.consumer.queue_size, block_s=max(0.1, args.poll))


def run(args: argparse.Namespace) -> int:
    # Imported here: building the CLI parser must stay cheap for every other verb.
    from sakimori.baselines import load_document
    from sakimori.config import load_config
    from sakimori.listen_secret import read_secret

    _check_usage(args)
    if args.rspamd_listen:
        _listen_address(args.rspamd_listen)  # a bad address is a usage error before start-up
    cfg = load_config(args.config)
    if args.rspamd_listen is not None:
        read_secret(cfg)  # no receiver without its secret: a config error before start-up
    doc = load_document(args.baselines) if args.baselines else None
    state_dir = args.state_dir or cfg.consumer.state_dir
    out = args.out or state_dir / "report"
    workers = None
    if args.workers > 1:  # forked before worker 0's consumer opens its store
        from eve_consumer.workers import Workers
        workers = Workers(cfg, doc, args.eve, args.workers, args.fw_log)
    try:
        _run_consumer(args, cfg, doc, state_dir, out, workers)
    finally:
        if workers is not None:
            workers.close(0)  # after a normal run they have ended; else they are stopped
    reads = args.eve is not None or args.proxy_log is not None or args.redis is not None
    print(out / "hosts.csv" if reads else out / "mail_warnings.jsonl")
    return 0


def _run_consumer(args: argparse.Namespace, cfg: Any, doc: Any, state_dir: Path, out: Path,
                  workers: Any) -> None:
    from eve_consumer.pipeline import Consumer

    with Consumer(cfg, doc, out, state_dir, mail=not args.no_mail) as consumer:
        if args.resend_failed:
            count = consumer.mail_warnings.resend_failed()
            print(f"sakimori consume: {count} given-up warning(s) queued again",
                  file=sys.stderr)
        for events in args.rspamd_events:
            consumer.mail_warnings.read_file(events)
        for fw_log in args.fw_log if workers is None else ():  # workers: run_sharded
            consumer.add_fw_log(fw_log)
        if args.redis is not None and args.drain:
            stop = threading.Event()
            _stop_on_signals(stop)
            consumer.follow_redis(_redis_input(consumer, args), stop, drain=True,
                                  interval_s=args.interval)
        elif args.follow or args.rspamd_listen is not None or args.redis is not None:
            _serve(consumer, args)
        elif workers is not None:
            from eve_consumer.workers import run_sharded
            run_sharded(consumer, workers, args.eve)
        elif args.eve is not None or args.proxy_log is not None:
            consumer.run_once(args.eve, [args.proxy_log] if args.proxy_log else [])
        else:
            consumer.mail_warnings.drain()
        reads = args.eve is not None or args.proxy_log is not None or args.redis is not None
        if reads:
            print(f"sakimori consume: {consumer.summary()}", file=sys.stderr)
    warnings = consumer.mail_warnings  # after close(): the last pending ones have been sent
    if args.rspamd_events or args.rspamd_listen is not None or warnings.counts:
        print(f"sakimori consume: {warnings.summary()}", file=sys.stderr)
