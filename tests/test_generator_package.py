"""The suricata-update source package: archive layout, checksum, index.yaml, and a real
offline ``suricata-update`` run (file:// source, temp --data-dir, no internet) that installs our
rules and dataset files into a rules file Suricata accepts."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml
from engines import require_binary

from generator.package import PACKAGE_NAME, SOURCE_NAME
from generator.render_suricata import write_suricata
from sakimori.config import Config, load_config
from sakimori.suricata import validate_rules


def _cfg(tmp_path: Path) -> Config:
    (tmp_path / "relays.txt").write_text("192.0.2.1\n192.0.2.2\n2001:db8::1\n")
    path = tmp_path / "sakimori.yaml"
    path.write_text("networks:\n  home: [10.1.0.0/16]\nwhitelist:\n  destinations: "
                    "[\"*.windowsupdate.com\", 203.0.113.0/24]\n"
                    "anonymizer:\n  tor_relays: [relays.txt]\n")
    return load_config(path)


def test_archive_layout_checksum_and_index(tmp_path: Path) -> None:
    write_suricata(_cfg(tmp_path), None, tmp_path / "build")
    out = tmp_path / "build" / "suricata"
    archive = out / PACKAGE_NAME
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        assert names == ["rules/sakimori.rules", "rules/static.rules",
                         "rules/tor-relays-ipv4.lst", "rules/tor-relays-ipv6.lst"]
        member = tar.extractfile("rules/sakimori.rules")
        assert member is not None and member.read() == (out / "sakimori.rules").read_bytes()
    md5 = (out / f"{PACKAGE_NAME}.md5").read_text().strip()
    assert md5 == hashlib.md5(archive.read_bytes()).hexdigest()
    index = yaml.safe_load((out / "index.yaml").read_text())
    assert index["version"] == 1
    source = index["sources"][SOURCE_NAME]
    assert source["url"] == archive.resolve().as_uri()
    assert {"vendor", "summary", "license"} <= set(source)


def _suricata_update() -> str:
    found = shutil.which("suricata-update", path=str(Path(sys.executable).parent)) \
        or shutil.which("suricata-update")
    return found or require_binary("suricata-update")


def _run(argv: list[str], env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def _update(su: str, data: Path, conf: Path) -> str:
    return _run([su, "--data-dir", str(data), "--no-test", "--no-reload",
                 "--suricata", require_binary("suricata"),
                 "--suricata-conf", str(conf)])


def _check_installed(cfg: Config, data: Path, tmp_path: Path) -> None:
    installed = (data / "rules" / "suricata.rules").read_text()
    ours = [ln for ln in installed.splitlines() if re.search(r"sid:930\d{4};", ln)]
    assert any("sid:9301100;" in ln for ln in ours) and any("sid:9300000;" in ln for ln in ours)
    loads = re.findall(r"load (datasets/[0-9a-f]{32});", installed)
    assert len(loads) == 2  # IPv4 and IPv6 relay datasets, rewritten by suricata-update
    contents = sorted((data / "rules" / p).read_text() for p in loads)
    assert contents == ["192.0.2.1\n192.0.2.2\n", "2001:db8::1\n"]
    # Suricata accepts what suricata-update installed (datasets resolved next to the file).
    only_ours = data / "rules" / "sakimori-installed.rules"
    only_ours.write_text("\n".join(ours) + "\n")
    validate_rules(cfg, [only_ours], tmp_path / "validate")


@pytest.mark.suricata
def test_suricata_update_installs_the_file_source(tmp_path: Path,
                                                  require_suricata: str) -> None:
    su = _suricata_update()
    cfg = _cfg(tmp_path)
    write_suricata(cfg, None, tmp_path / "build")
    archive = tmp_path / "build" / "suricata" / PACKAGE_NAME
    data = tmp_path / "su"
    _run([su, "--data-dir", str(data), "add-source", "sakimori", archive.resolve().as_uri()])
    conf = tmp_path / "validate-conf"
    validate_rules(cfg, [], conf)  # writes a minimal suricata-test.yaml to point at
    log = _update(su, data, conf / "suricata-test.yaml")
    assert "emergingthreats" not in log, "must not fetch ET Open when a source is configured"
    _check_installed(cfg, data, tmp_path)


@pytest.mark.suricata
def test_suricata_update_via_index_yaml(tmp_path: Path, require_suricata: str) -> None:
    su = _suricata_update()
    cfg = _cfg(tmp_path)
    write_suricata(cfg, None, tmp_path / "build")
    index = (tmp_path / "build" / "suricata" / "index.yaml").resolve().as_uri()
    data = tmp_path / "su"
    _run([su, "--data-dir", str(data), "update-sources"], env={"SOURCE_INDEX_URL": index})
    _run([su, "--data-dir", str(data), "enable-source", SOURCE_NAME])
    conf = tmp_path / "validate-conf"
    validate_rules(cfg, [], conf)
    log = _update(su, data, conf / "suricata-test.yaml")
    assert "emergingthreats" not in log
    _check_installed(cfg, data, tmp_path)
