"""Print a SHA-256 over sakimori's packaged sources (pyproject.toml and the package trees).

The correlator role reinstalls the package into its virtualenv only when this changes, so a
second converge changes nothing and a changed checkout is always deployed.
"""

import hashlib
import sys
from pathlib import Path

PACKAGES = ("sakimori", "generator", "eve_consumer", "suricata_rules", "rspamd_lua")

root = Path(sys.argv[1])
digest = hashlib.sha256()
files = [root / "pyproject.toml"]
for package in PACKAGES:
    files += [p for p in (root / package).rglob("*")
              if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]
for path in sorted(files):
    digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
print(digest.hexdigest())
