"""The one declaration of sakimori.yaml's keys (sakimori/config_keys.py) and what follows from it.

Parametrised over the declaration itself, so a new key is covered without a new test:

- a value of the wrong type, or off a bound or the choices, is a one-line ConfigError naming
  the file (or the environment variable) and the dotted key;
- the loaded defaults are the declared ones (a key is either compared to its declared default
  or listed in :data:`DERIVED` with the post-processing that changes it);
- examples/sakimori.yaml and the Ansible role's rendered sakimori.yaml load and use only
  declared keys, and the example shows every one of them;
- docs/configuration.md is the reference generated from the declaration.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_daemons import ANSIBLE_DIR, ansible_bin
from engines import require_binary

from sakimori.config import DEFAULTS, load_config
from sakimori.config_keys import KEYS, SECTIONS
from sakimori.config_schema import Key, render_markdown
from sakimori.errors import ConfigError
from sakimori.mailclassconfig import MailClassesConfig
from sakimori.whitelist import DEFAULT_POLICY

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "configuration.md"

# Keys whose typed attribute is not the declared value itself (post-processing in
# sakimori/config.py and the section builders), with what it becomes.
DERIVED = {
    "networks.home": "IP networks",
    "networks.mail_relays": "split into networks, presets and suffixes",
    "whitelist.destinations": "merged with the file's entries",
    "whitelist.file": "a Path against the config's directory",
    "whitelist.min_prefix_v4": "whitelist.policy",
    "whitelist.min_prefix_v6": "whitelist.policy",
    "alerts.smtp": "smtp_host, smtp_port",
    "traffic.port_protocols": "traffic.ports (with http_ports)",
    "rspamd.listen": "listen_host, listen_port",
    "rspamd.listen_secret_file": "a Path against the config's directory",
    "rspamd.url": "None for null or \"\"",
    "consumer.state_dir": "a Path against the config's directory",
    "consumer.shared": "\"\" for null",
    "classes.map_file": "a Path against the config's directory",
    "redis.username": "\"\" for null",
    "web.listen": "listen_host, listen_port",
    "web.trusted_proxies": "IP networks",
    **{f"web.{name}": "a Path (null: one in consumer.state_dir)" for name in (
        "users_file", "proxy_secret_file", "secret_key_file", "sessions_file", "index_file",
        "report_dirs", "state_dirs", "baselines", "build_dir", "audit_log", "proxy_logs")},
    "web.reload_commands": "argv tuples",
    "web.user_hosts": "sorted (who, hosts) pairs",
}


def _typed(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def test_declaration_is_the_defaults() -> None:
    assert {s.name: {k.name: k.default for k in s.keys} for s in SECTIONS} == DEFAULTS
    assert set(DERIVED) <= set(KEYS)


@pytest.mark.parametrize("key", [k for k in KEYS.values() if k.dotted not in DERIVED],
                         ids=lambda k: k.dotted)
def test_loaded_defaults_are_the_declared_ones(key: Key) -> None:
    cfg = load_config(None, env={})
    assert getattr(getattr(cfg, key.section), key.name) == _typed(key.default)


def test_typed_section_defaults_are_the_declared_ones() -> None:
    """The dataclasses that can be built without the loader take their defaults from it."""
    cfg = load_config(None, env={})
    assert MailClassesConfig() == cfg.mail_classes
    assert (DEFAULT_POLICY.min_prefix_v4, DEFAULT_POLICY.min_prefix_v6) == (
        cfg.whitelist.policy.min_prefix_v4, cfg.whitelist.policy.min_prefix_v6)


def bad_values(key: Key) -> list[tuple[Any, str]]:
    """(value, the key the error must name) off *key*'s declaration: wrong type, each bound
    crossed, an unknown choice."""
    where = key.dotted
    kind = key.type
    if kind == "bool":
        return [("yes", where), (1, where)]
    if kind in ("int", "float"):
        out: list[tuple[Any, str]] = [("x", where), (True, where), ([1], where)]
        if kind == "int":
            out.append((1.5, where))
        if key.ge is not None:
            out.append((key.ge - (1 if kind == "int" else 0.001), where))
        if key.gt is not None:
            out.append((key.gt, where))
        if key.le is not None:
            out.append((key.le + 1, where))
        return out
    if kind in ("str", "path"):
        out = [([1], where), (5, where)]
        if not key.blank:
            out.append(("  ", where))
        if key.choices:
            out.append(("nope-not-a-choice", where))
        return out
    if kind == "text":
        return [([1], where), ("two\nlines", where)]
    if kind == "map":
        return [([1], where), ("x", where)]
    out = [("not a list", where), ({"a": 1}, where), ([{"a": 1}], f"{where}[0]")]
    if kind == "list[int]":
        out += [(["x"], f"{where}[0]"), ([True], f"{where}[0]")]
        out += [([bound], f"{where}[0]") for bound in (
            None if key.ge is None else key.ge - 1, None if key.le is None else key.le + 1)
            if bound is not None]
    if key.choices:
        out.append(([key.choices[0], "nope"], f"{where}[1]"))
    return out


CASES = [(key, value, where) for key in KEYS.values() for value, where in bad_values(key)]


@pytest.mark.parametrize(("key", "value", "where"), CASES,
                         ids=[f"{k.dotted}={v!r}" for k, v, _ in CASES])
def test_off_declaration_is_one_line_naming_the_key(tmp_path: Path, key: Key, value: Any,
                                                    where: str) -> None:
    path = tmp_path / "sakimori.yaml"
    path.write_text(yaml.safe_dump({key.section: {key.name: value}}), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert err.value.key == where
    text = str(err.value)
    assert text.startswith(f"{path}: {where}: must ") and "\n" not in text, text
    if key.type in ("int", "float") and isinstance(value, int | float):
        assert text.endswith(f", got {value!r}"), text


@pytest.mark.parametrize("key", [k for k in KEYS.values() if k.type in ("int", "float")],
                         ids=lambda k: k.dotted)
def test_environment_is_checked_like_the_file(key: Key) -> None:
    """An environment value off its declaration: the error names the variable."""
    name = f"SAKIMORI_{key.section.upper()}__{key.name.upper()}"
    with pytest.raises(ConfigError) as err:
        load_config(None, env={name: "not-a-number"})
    assert (err.value.path, err.value.key) == (f"environment {name}", key.dotted)
    assert err.value.message == "must be " + (
        "an integer" if key.type == "int" else "a number") + ", got 'not-a-number'"


def test_environment_errors_after_post_processing_name_the_variable(tmp_path: Path) -> None:
    path = tmp_path / "sakimori.yaml"
    path.write_text("networks:\n  home: [10.0.0.0/33]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:  # the file's own value: the file
        load_config(path, env={"SAKIMORI_ALERTS__SMTP": "127.0.0.1:25"})
    assert (err.value.path, err.value.key) == (str(path), "networks.home[0]")
    with pytest.raises(ConfigError) as err:
        load_config(None, env={"SAKIMORI_NETWORKS__HOME": "[10.0.0.0/8, 1.2.3.4/40]"})
    assert str(err.value) == ("environment SAKIMORI_NETWORKS__HOME: networks.home[1]: "
                              "not an IP network: '1.2.3.4/40'")
    with pytest.raises(ConfigError) as err:  # a CLI override wins over the environment
        load_config(None, env={"SAKIMORI_ALERTS__SMTP": "127.0.0.1:25"},
                    overrides={"alerts.smtp": "no-port"})
    assert (err.value.path, err.value.key) == ("<defaults>", "alerts.smtp")


@pytest.mark.parametrize("key", KEYS.values(), ids=lambda k: k.dotted)
def test_declared_default_passes_its_own_check(key: Key) -> None:
    """Writing a key's default explicitly loads the same configuration as leaving it out."""
    assert load_config(None, env={}, overrides={key.dotted: copy.deepcopy(key.default)}) == \
        load_config(None, env={})


def test_every_key_has_a_type_default_and_description() -> None:
    for key in KEYS.values():
        assert key.doc.strip() and "\n" not in key.doc, key.dotted
        assert key.default is not None or key.nullable, key.dotted


def _keys_of(config: dict) -> set[str]:
    return {f"{section}.{key}" for section, values in config.items() for key in values or {}}


def test_example_config_shows_exactly_the_declared_keys(example_config: Path) -> None:
    load_config(example_config, env={})
    assert _keys_of(yaml.safe_load(example_config.read_text(encoding="utf-8"))) == set(KEYS)


def test_ansible_rendered_config_loads(tmp_path: Path) -> None:
    """The role's templates/sakimori.yaml.j2 rendered with the role's defaults and vars."""
    role = ANSIBLE_DIR / "roles" / "sakimori_correlator"
    tool = ansible_bin("ansible") or require_binary("ansible", "run `make setup`")
    out = tmp_path / "sakimori.yaml"
    proc = subprocess.run(
        [tool, "localhost", "-i", "localhost,", "-c", "local", "-m", "ansible.builtin.template",
         "-a", f"src={role / 'templates' / 'sakimori.yaml.j2'} dest={out}",
         "-e", f"@{role / 'defaults' / 'main.yml'}", "-e", f"@{role / 'vars' / 'main.yml'}",
         "-e", f"ansible_python_interpreter={sys.executable}"],
        capture_output=True, text=True, check=False, timeout=300,
        env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(tmp_path)))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    used = _keys_of(yaml.safe_load(out.read_text(encoding="utf-8")))
    assert used and used <= set(KEYS), used - set(KEYS)
    cfg = load_config(out, env={})
    assert cfg.alerts.smtp_port == 10026 and cfg.redis is not None


def test_reference_doc_is_generated_from_the_declaration() -> None:
    """Regenerate with `python -m sakimori.config_schema --markdown > docs/configuration.md`."""
    assert DOC.read_text(encoding="utf-8") == render_markdown(SECTIONS)
    proc = subprocess.run([sys.executable, "-m", "sakimori.config_schema", "--markdown"],
                          capture_output=True, text=True, check=True, timeout=60)
    assert proc.stdout == render_markdown(SECTIONS)


def test_reference_doc_has_a_row_per_key() -> None:
    text = DOC.read_text(encoding="utf-8")
    for sec in SECTIONS:
        part = text.split(f"\n## `{sec.name}`\n", 1)[1].split("\n## ", 1)[0]
        rows = [line.split(" | ") for line in part.splitlines() if line.startswith("| `")]
        assert [row[0].strip("| `") for row in rows] == [k.name for k in sec.keys], sec.name
        for row, key in zip(rows, sec.keys, strict=True):  # the default reads back as YAML
            assert yaml.safe_load(row[2].strip("`")) == key.default, key.dotted
