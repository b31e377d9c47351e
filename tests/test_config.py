"""sakimori.config: defaults, YAML, environment, overrides, and errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from sakimori.config import load_config
from sakimori.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "sakimori.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_example_config_loads_every_section(example_config: Path) -> None:
    cfg = load_config(example_config)
    assert cfg.is_home("10.1.20.11")
    assert not cfg.is_home("8.8.8.8")
    assert cfg.alerts.smtp_port == 25
    assert cfg.whitelist.destinations == ("*.windowsupdate.com", "ntp.nict.jp", "203.0.113.0/24")
    assert cfg.traffic.url_length_threshold is None  # learned
    # relative list files resolve against the config's directory
    assert cfg.anonymizer.tor_relays == (str(example_config.parent / "tor-relays.txt"),)


def test_defaults_without_file() -> None:
    cfg = load_config(None, env={})
    assert cfg.suricata.sid_base == 9300000
    assert cfg.is_home("192.168.1.5")


@pytest.mark.parametrize(("text", "key"), [
    ("alerts:\n  smtpp: x\n", "alerts.smtpp"),
    ("networkz: {}\n", "networkz"),
    ("networks:\n  home: [10.0.0.0/33]\n", "networks.home[0]"),
    ("alerts:\n  smtp: nohostport\n", "alerts.smtp"),
    ("traffic:\n  beacon_threshold: 2\n", "traffic.beacon_threshold"),
    ("traffic:\n  http_ports: [80, 70000]\n", "traffic.http_ports[1]"),
    ("whitelist:\n  destinations: ['*bad*.com']\n", "whitelist.destinations[0]"),
    ("mail:\n  domestic_country: JPN\n", "mail.domestic_country"),
    ("alerts:\n  notify_recipient: 'yes'\n", "alerts.notify_recipient"),
    ("networks:\n  mail_relays: [192.0.2.10/32, office365]\n", "networks.mail_relays[1]"),
    ("networks:\n  mail_relays: ['preset:yahoo']\n", "networks.mail_relays[0]"),
    ("networks:\n  mail_relays: [.co.jp]\n", "networks.mail_relays[0]"),
    ("networks:\n  mail_relays: ['.bad name.com']\n", "networks.mail_relays[0]"),
    ("networks:\n  mail_relays: ['.']\n", "networks.mail_relays[0]"),
    ("networks:\n  learned_mail_relays: 1\n", "networks.learned_mail_relays"),
    ("mail:\n  relay_min_share: 0\n", "mail.relay_min_share"),
    ("mail:\n  relay_min_domains: 1\n", "mail.relay_min_domains"),
    ("mail:\n  relay_min_domains: 33\n", "mail.relay_min_domains"),
])
def test_bad_values_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text), env={})
    assert err.value.key == key
    assert str(err.value).startswith(f"{tmp_path / 'sakimori.yaml'}: {key}: ")
    assert err.value.exit_code == 2


def test_mail_relays_take_cidrs_presets_and_suffixes(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "networks:\n  mail_relays: [192.0.2.10/32, microsoft365, "
                                      "'preset:Google_Workspace', .Protection.Outlook.com., "
                                      "microsoft365]\n"), env={})
    net = cfg.networks
    assert [str(n) for n in net.mail_relays] == ["192.0.2.10/32"]  # own relays only
    assert net.mail_relay_presets == ("microsoft365", "google_workspace")
    assert net.mail_relay_suffixes == (".protection.outlook.com",)
    assert net.learned_mail_relays is True
    assert cfg.mail.relay_min_share == 0.5 and cfg.mail.relay_min_domains == 5


def test_preset_data_files_are_dated_networks() -> None:
    from sakimori.mail.relays import PRESETS, preset
    for name in PRESETS:
        data = preset(name)
        assert data.networks and "source: https://" in data.source and "taken: " in data.source
        assert all(n.is_global for n in data.networks)
    assert any(n.version == 6 for n in preset("google_workspace").networks)


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"line 2"):
        load_config(write(tmp_path, "alerts:\n  smtp: : :\n  - x\n"), env={})


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml", env={})


def test_precedence_file_env_override(tmp_path: Path) -> None:
    path = write(tmp_path, "alerts:\n  smtp: 10.0.0.1:25\ntraffic:\n  beacon_threshold: 0.6\n")
    assert load_config(path, env={}).alerts.smtp_host == "10.0.0.1"
    env = {"SAKIMORI_ALERTS__SMTP": "127.0.0.1:2525", "UNRELATED": "x"}
    cfg = load_config(path, env=env)
    assert (cfg.alerts.smtp_host, cfg.alerts.smtp_port) == ("127.0.0.1", 2525)
    assert cfg.traffic.beacon_threshold == 0.6
    cfg = load_config(path, env=env, overrides={"traffic.beacon_threshold": 0.9})
    assert cfg.traffic.beacon_threshold == 0.9


def test_unknown_environment_key_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SAKIMORI_ALERTS__SMTPP"):
        load_config(None, env={"SAKIMORI_ALERTS__SMTPP": "x"})


def test_consumer_registries_are_checked_by_name(tmp_path: Path) -> None:
    from eve_consumer.pipeline import Consumer

    path = write(tmp_path, "consumer:\n  handlers: [beacon, becaon]\n")
    cfg = load_config(path, env={})
    assert cfg.consumer.handlers == ("beacon", "becaon")
    with pytest.raises(ConfigError) as err:
        Consumer(cfg, None, tmp_path / "out", tmp_path / "state")
    assert err.value.key == "consumer.handlers"
    assert "becaon" in str(err.value)
    cfg = load_config(write(tmp_path, "consumer:\n  outputs: [hosts_csv, pdf]\n"), env={})
    with pytest.raises(ConfigError, match=r"consumer\.outputs"):
        Consumer(cfg, None, tmp_path / "out", tmp_path / "state")
