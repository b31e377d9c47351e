"""Every key of sakimori.yaml, declared once: type, default, limits, one-line description.

The format and what is derived from it (defaults, validation, docs/configuration.md) are in
:mod:`sakimori.config_schema`; :mod:`sakimori.config` loads the file with it. A default of
``None`` means learned from the baselines, or unset. Adding a key here makes it known,
checked, documented (regenerate the reference) and covered by tests/test_config_schema.py;
``examples/sakimori.yaml`` must then show it too.
"""

from __future__ import annotations

from typing import Any

from sakimori.config_schema import Key, Section, defaults, section

RELAY_MAX_DOMAINS = 32  # sender domains kept per relay candidate (generator/mail/state.py)
MAIL_CLASSES = ("targeted", "mass_virus", "spam", "clean")


def k(name: str, type_: str, default: Any, doc: str,
      **limits: Any) -> tuple[str, str, Any, str, dict[str, Any]]:
    """One row of :func:`section`: name, type, default, description, limits."""
    return name, type_, default, doc, limits


SECTIONS: tuple[Section, ...] = (
    section(
        "networks", "Internal networks and the mail trust boundary.",
        k("home", "list[str]", ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
          "Internal hosts (CIDR): Suricata's HOME_NET and the hosts that get rows in "
          "hosts.csv.", extra="IP networks"),
        k("mail_relays", "list[str]", [],
          "Mail trust boundary: own relays (CIDR), provider presets (microsoft365, "
          "google_workspace) and .host.suffix entries (docs/mail-checks.md).",
          extra="CIDR, preset or .suffix"),
        k("learned_mail_relays", "bool", True,
          "Also trust the relays `sakimori learn --mail` found in past mail."),
    ),
    section(
        "mail", "Spoofed-mail checks (docs/mail-checks.md).",
        k("internal_domains", "list[str]", [],
          "Our own mail domains (mail claiming them must enter through our relays)."),
        k("domestic_country", "str", "JP",
          "Country that counts as domestic for relay-country checks.",
          extra="ISO 3166-1 alpha-2"),
        k("domestic_tlds", "list[str]", ["jp"],
          "Sender domains under these TLDs are presumed domestic before anything is learned."),
        k("new_infra_min_history", "int", 5,
          "Learned messages a sender domain needs before new infrastructure is judged.", ge=1),
        k("frequent_min_messages", "int", 3,
          "Learned messages after which a correspondent or domain is frequent (protected).",
          ge=1),
        k("display_name_min_length", "int", 3,
          "Display names shorter than this (after folding) are never compared.", ge=1),
        k("lookalike_max_distance", "int", 1,
          "Edit distance at which a sender domain is close to a protected domain.",
          ge=0, le=3),
        k("tag_subject", "text", "",
          "Prefix added to the Subject of a flagged mail (\"\" = leave it alone)."),
        k("tag_header", "bool", True,
          "Add an X-Sakimori header with the fired checks to a flagged mail."),
        k("relay_min_share", "float", 0.5,
          "Learned relays: a network among the newest hops of at least this share of mail.",
          ge=0.01, le=1.0),
        k("relay_min_domains", "int", 5,
          "Learned relays: ... from at least this many sender domains.",
          ge=2, le=RELAY_MAX_DOMAINS),
    ),
    section(
        "whitelist", "Destinations excluded from every traffic detection.",
        k("destinations", "list[str]", [],
          "host.name, *.sub.domain, .domain.and.subdomains or an address/CIDR; no public "
          "suffix, nothing wider than min_prefix_v4/_v6, nothing overlapping networks.home.",
          extra="whitelist entries"),
        k("file", "path", None,
          "Extra entries, one per line (the admin screen's editor appends to it); null = "
          "none.", nullable=True),
        k("min_prefix_v4", "int", 16,
          "Narrowest IPv4 prefix a whitelisted network may have (0 = no limit).", ge=0, le=32),
        k("min_prefix_v6", "int", 32,
          "Narrowest IPv6 prefix a whitelisted network may have (0 = no limit).",
          ge=0, le=128),
    ),
    section(
        "alerts", "Warning and report mails.",
        k("smtp", "str", "127.0.0.1:25",
          "SMTP relay that accepts sakimori's mails (must not route them back through "
          "Rspamd).", extra="host:port"),
        k("sender", "str", "sakimori@localhost", "Envelope and header sender of the mails."),
        k("admins", "list[str]", [],
          "Who receives host reports and spoofed-mail warnings."),
        k("notify_recipient", "bool", False,
          "The recipient of a spoofed mail is warned as well as the admins."),
        k("recipient_checks", "list[str]", [],
          "With notify_recipient: only these checks warn the recipient ([] = all)."),
        k("language", "str", "en", "Language of the mails.", choices=("en", "ja")),
        k("enabled", "bool", True, "false: never send mail (reports are still written)."),
        k("notify_max", "int", 20,
          "With notify_recipient: more internal recipients than this = admins only "
          "(0 = never warn recipients).", ge=0, le=1000),
        k("notify_exclude", "list[str]", [],
          "With notify_recipient: addresses never warned (case-insensitive globs)."),
        k("max_per_minute", "int", 30,
          "Spoofed-mail warnings sent a minute in all (more wait in the outbox).", ge=1),
        k("max_per_recipient_per_minute", "int", 10,
          "Spoofed-mail warnings sent a minute to any one address.", ge=1),
    ),
    section(
        "traffic", "Traffic detections and their learned thresholds (docs/baselines.md).",
        k("http_ports", "list[int]", [80, 8080, 3128, 8000],
          "Destination ports where only HTTP is expected.", ge=1, le=65535,
          extra="at least one"),
        k("port_protocols", "map", {443: ["tls", "http"], 8443: ["tls", "http"]},
          "Port -> protocols expected on it (http, tls); extends http_ports "
          "(non_http_on_http_port).", extra="port: [protocols], e.g. {443: [tls, http]}"),
        k("url_length_threshold", "int", None,
          "Long-URL threshold in characters; null = learned.", ge=1, nullable=True),
        k("url_length_k", "float", 6.0,
          "k in the learned URL-length rule median + k·MAD (log length).", ge=0.5, le=50),
        k("long_url_min_events", "int", 2,
          "Long-URL requests before a host is reported.", ge=1),
        k("long_session_seconds", "int", None,
          "Long-session threshold in seconds; null = learned.", ge=60, nullable=True),
        k("long_session_k", "float", 6.0,
          "k in the learned session-duration rule median + k·MAD (log duration).",
          ge=0.5, le=50),
        k("fw_blocked_min_failures", "int", None,
          "Failed connections per host and day that are reported; null = learned.",
          ge=1, nullable=True),
        k("beacon_min_connections", "int", 5,
          "Beats a host × destination pair needs before beaconing is judged (docs/beacon.md).",
          ge=4),
        k("beacon_threshold", "float", 0.74,
          "Beacon score from which a pair is reported (docs/beacon.md).", ge=0.0, le=1.0),
        k("beacon_prevalence_fraction", "float", 0.25,
          "Destinations this share of internal hosts contact are common services, not "
          "beacons.", ge=0.0, le=1.0),
    ),
    section(
        "anonymizer", "Tor and other anonymizers.",
        k("tor_relays", "list[str]", [],
          "Tor relay lists: files (one IP a line, or Onionoo JSON) or http(s) URLs.",
          extra="files or URLs"),
        k("tor_cert_pattern", "bool", True,
          "Also flag TLS with Tor's certificate pattern."),
    ),
    section(
        "rspamd", "Rspamd 3.4 (docs/rspamd.md).",
        k("binary", "str", "rspamd", "Binary used when sakimori starts a private instance."),
        k("url", "text", None,
          "An existing Rspamd normal worker to scan with; null = a private instance.",
          nullable=True),
        k("listen", "str", "127.0.0.1:11339",
          "Where the consumer receives Rspamd's metadata_exporter posts (flagged mail).",
          extra="host:port"),
        k("listen_secret_file", "path", "rspamd-listen.secret",
          "Shared secret of that receiver (created by `sakimori generate`, mode 0600)."),
        k("export_detached", "int", 64,
          "Exporter posts in flight per Rspamd worker (a socket each until answered) that "
          "Rspamd's reply to the MTA does not wait for; beyond them a reply waits for its post "
          "(0: every reply waits, as Rspamd's stock http exporter).", ge=0, le=1_000),
    ),
    section(
        "suricata", "Suricata 7.",
        k("binary", "str", "suricata", "Binary (name on PATH or absolute path)."),
        k("sid_base", "int", 9300000,
          "First SID of sakimori's range: static base+0..999, generated base+1000..9999.",
          ge=1, le=4_000_000_000),
    ),
    section(
        "consumer", "The EVE consumer (docs/consumer.md).",
        k("state_dir", "path", "/var/lib/sakimori",
          "Where the consumer keeps its state (checkpoint, mails sent); default of paths "
          "below."),
        k("queue_size", "int", 10000,
          "Bounded queue between stages (drops are counted).", ge=1),
        k("max_line_bytes", "int", 1048576,
          "Longest EVE line read; a longer one is skipped and counted.",
          ge=4096, le=1 << 30),
        k("rotated_pattern", "str", "{name}[.-]*",
          "Where a rotated EVE file is looked for ({name} = the file name).",
          extra="file name pattern with {name}"),
        k("handlers", "list[str]", None,
          "Detections to run, by name; null = all.", nullable=True),
        k("outputs", "list[str]", None,
          "Report outputs (hosts_csv, findings_jsonl, mail, stats_json); null = all.",
          nullable=True),
        k("shared", "text", None,
          "redis://HOST:PORT/DB of the state shared by consumers (no credentials); null = "
          "alone.", nullable=True, extra="Redis URL"),
    ),
    section(
        "classes", "Table 1 classes of reported hosts (docs/classes.md).",
        k("map_file", "path", None,
          "Detection/alert -> class map; null = the packaged eve_consumer/classes.yaml.",
          nullable=True),
    ),
    section(
        "redis", "How sakimori talks to Redis (`consume --redis`, consumer.shared).",
        k("username", "str", None, "Redis ACL user; null = the default user.",
          nullable=True, extra="no spaces"),
        k("password_file", "path", None,
          "File holding the Redis password (0600); null = no AUTH.", nullable=True),
        k("tls", "bool", False, "Use TLS (also implied by a rediss:// URL)."),
        k("ca_file", "path", None, "CA bundle for TLS; null = the system CAs.", nullable=True),
        k("mode", "str", "list",
          "Suricata's eve-log redis mode of the keys read: list (lpush) or rpush.",
          choices=("list", "rpush")),
        k("connect_timeout_s", "float", 5.0,
          "Seconds to wait for a TCP/TLS connection.", gt=0, le=60),
    ),
    section(
        "web", "The admin screen, `sakimori serve` (docs/admin-screen.md); paths left null "
        "live in consumer.state_dir.",
        k("listen", "str", "127.0.0.1:8080", "Address to listen on.", extra="host:port"),
        k("auth", "str", "local",
          "local: users in users_file; header: user name from a trusted reverse proxy.",
          choices=("local", "header")),
        k("users_file", "path", None,
          "User -> salted scrypt hash (JSON, 0600); null = STATE_DIR/web-users.json.",
          nullable=True, blank=True),
        k("header_name", "str", "X-Remote-User", "With auth: header, the user name header.",
          extra="HTTP header name"),
        k("trusted_proxies", "list[str]", ["127.0.0.1/32", "::1/128"],
          "Reverse proxies whose headers are believed.", extra="IP networks"),
        k("proxy_secret_file", "path", None,
          "The reverse proxy's shared secret (>= 16 characters); required with auth: header.",
          nullable=True, blank=True),
        k("proxy_secret_header", "str", "X-Sakimori-Proxy-Secret",
          "Header carrying that secret.", extra="HTTP header name"),
        k("client_address_header", "str", "X-Real-IP",
          "Header with the client address forwarded by the proxy.", extra="HTTP header name"),
        k("allowed_hosts", "list[str]", [],
          "Host names requests may carry besides base_url's and the listen address.",
          extra="host names"),
        k("session_minutes", "int", 480, "Sessions end this many minutes after login.",
          ge=1, le=10080),
        k("secret_key_file", "path", None,
          "Session signing key (0600); null = STATE_DIR/web-secret.key.",
          nullable=True, blank=True),
        k("sessions_file", "path", None,
          "Server-side sessions (SQLite); null = STATE_DIR/web-sessions.sqlite.",
          nullable=True, blank=True),
        k("index_file", "path", None,
          "SQLite index of the reports (a cache); null = STATE_DIR/web-index.sqlite.",
          nullable=True, blank=True),
        k("page_size", "int", 100, "Hosts and mail warnings per page.", ge=10, le=5000),
        k("base_url", "text", "",
          "Public URL of the screen, linked from alert mails (https: Secure cookie).",
          extra="http(s) URL or empty"),
        k("report_dirs", "list[path]", None,
          "Consumer report directories shown; null = [STATE_DIR/report].", nullable=True),
        k("state_dirs", "list[path]", None,
          "State directories whose warning outbox is shown; null = [consumer.state_dir].",
          nullable=True),
        k("baselines", "path", None,
          "Baselines the whitelist editor regenerates with.", nullable=True, blank=True),
        k("build_dir", "path", None,
          "Build directory the whitelist editor regenerates; null = none.",
          nullable=True, blank=True),
        k("reload_commands", "list", [],
          "Run after a regeneration (argv split like a shell, never run by one).",
          extra="strings or argv lists"),
        k("audit_log", "path", None,
          "Whitelist edits (JSON lines); null = STATE_DIR/whitelist-audit.jsonl.",
          nullable=True, blank=True),
        k("user_hosts", "map", {},
          "Kill-chain view: mail address (or user name) -> host IPs.",
          extra="mail address or user name: [host IPs]"),
        k("proxy_logs", "list[path]", [],
          "Squid/Apache logs with user names, teaching which address each user used."),
    ),
    section(
        "mail_classes", "Table 1 mail classes and ClamAV (docs/mail-checks.md).",
        k("antivirus_servers", "str", "/run/clamav/clamd.ctl",
          "clamd the gateway's Rspamd asks: HOST:PORT or a unix socket path.",
          extra="no quotes, ;, {}"),
        k("antivirus_timeout", "float", 5.0,
          "Seconds Rspamd waits for clamd per mail.", gt=0, le=120.0),
        k("clamd_binary", "str", "clamd", "clamd binary for scan-mail's private daemon."),
        k("clamd_database", "str", "auto", "scan-mail's signatures.",
          choices=("auto", "system", "test")),
        k("mass_min_recipients", "int", 10,
          "Malware reaching this many recipients in the window is mass_virus.",
          ge=1, le=1_000_000),
        k("mass_window_hours", "float", 24.0,
          "The window of mass_min_recipients, in hours.", gt=0, le=24 * 366),
        k("warn_classes", "list[str]", ["targeted"],
          "Classes the consumer sends warning mails for.", choices=MAIL_CLASSES),
    ),
)

KEYS: dict[str, Key] = {key.dotted: key for s in SECTIONS for key in s.keys}
DEFAULTS: dict[str, dict[str, Any]] = defaults(SECTIONS)


def default(dotted: str) -> Any:
    """The declared default of ``section.key`` (lists as tuples, for the typed sections)."""
    value = KEYS[dotted].default
    return tuple(value) if isinstance(value, list) else value
