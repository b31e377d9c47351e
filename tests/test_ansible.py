"""The Ansible roles and playbook, statically (fast; every ``make test`` runs it).

- ``ansible-playbook --syntax-check`` of ``ansible/site.yml`` with both example inventories
  (one host, three hosts);
- ``ansible-lint`` with the production profile, offline;
- every variable in a role's ``defaults/main.yml`` is prefixed with the role name (hence
  ``sakimori_``) and has a comment above it or above its block.

The converge on a real host is tests/test_deploy.py (opt-in).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from deploy_daemons import ANSIBLE_DIR, ansible_bin
from engines import require_binary

ROLES = ["sakimori_correlator", "sakimori_mailgw", "sakimori_sensor"]
INVENTORIES = sorted((ANSIBLE_DIR / "inventory").glob("*/hosts.yml"))
ENV = dict(os.environ, ANSIBLE_NOCOLOR="1", NO_COLOR="1", ANSIBLE_LOCAL_TEMP="/tmp")


def _tool(name: str) -> str:
    path = ansible_bin(name)
    return path or require_binary(name, "run `make setup`: it is in the dev extra")


@pytest.mark.parametrize("inventory", INVENTORIES, ids=lambda p: p.parent.name)
def test_site_yml_syntax(inventory: Path) -> None:
    proc = subprocess.run([_tool("ansible-playbook"), "--syntax-check", "-i", str(inventory),
                           str(ANSIBLE_DIR / "site.yml")], capture_output=True, text=True,
                          env=ENV, check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_two_example_inventories() -> None:
    assert {p.parent.name for p in INVENTORIES} == {"one-host", "three-hosts"}


@pytest.mark.slow
def test_ansible_lint_production_profile() -> None:
    proc = subprocess.run([_tool("ansible-lint"), "--profile", "production", "--offline",
                           "--nocolor", "site.yml"], cwd=ANSIBLE_DIR, capture_output=True,
                          text=True, env=ENV, check=False, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Profile 'production' was required, and it passed" in proc.stdout + proc.stderr


@pytest.mark.parametrize("role", ROLES)
def test_role_defaults_are_prefixed_and_documented(role: str) -> None:
    lines = (ANSIBLE_DIR / "roles" / role / "defaults" / "main.yml").read_text().splitlines()
    commented = False
    for line in lines:
        if line.startswith("#"):
            commented = True
        elif not line.strip():
            commented = False
        elif found := re.match(r"^([A-Za-z_][A-Za-z0-9_]*):", line):
            assert found.group(1).startswith(role + "_"), found.group(1)
            assert commented, f"{role}: {found.group(1)} has no comment above its block"


def test_source_fingerprint_covers_every_installed_package(tmp_path: Path) -> None:
    """The correlator reinstalls when the fingerprint changes: a change in any package the
    wheel installs (pyproject's include list, sakimori_demo too) must change it."""
    script = ANSIBLE_DIR / "roles/sakimori_correlator/files/source_fingerprint.py"
    tree = tmp_path / "src"
    for name in ("pyproject.toml", "setup.py", "sakimori", "generator", "eve_consumer",
                 "suricata_rules", "rspamd_lua", "sakimori_demo"):
        src = ANSIBLE_DIR.parent / name
        if src.is_dir():
            shutil.copytree(src, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            tree.mkdir(exist_ok=True)
            shutil.copy(src, tree / name)

    def digest() -> str:
        return subprocess.run([sys.executable, str(script), str(tree)], check=True,
                              capture_output=True, text=True).stdout.strip()

    before = digest()
    assert len(before) == 64 and digest() == before
    for package in ("sakimori_demo", "rspamd_lua", "eve_consumer"):
        module = next((tree / package).rglob("*.py"))
        module.write_text(module.read_text(encoding="utf-8") + "\n# changed\n",
                          encoding="utf-8")
        after = digest()
        assert after != before, package
        before = after
    # the build's inputs count (setup.py, a Cython source); its products do not (a module
    # an editable install compiled in place, the C generated beside its .pyx)
    (tree / "setup.py").write_text((tree / "setup.py").read_text(encoding="utf-8") + "\n# x\n",
                                   encoding="utf-8")
    assert digest() != before
    before = digest()
    (tree / "eve_consumer/_accel.pyx").write_text("def f():\n    return 1\n", encoding="utf-8")
    assert digest() != before
    before = digest()
    (tree / "eve_consumer/_accel.c").write_text("/* generated */\n", encoding="utf-8")
    (tree / "eve_consumer/_accel.cpython-311-x86_64-linux-gnu.so").write_bytes(b"\x7fELF")
    assert digest() == before
