"""Print a SHA-256 over sakimori's packaged sources (pyproject.toml, setup.py, the package trees).

The correlator role reinstalls the package into its virtualenv only when this changes, so a
second converge changes nothing and a changed checkout is always deployed. Build products in
the trees (compiled accelerators and the C that Cython generates from a ``.pyx`` beside it,
left by an editable install) are not sources and are skipped.
"""

import hashlib
import sys
import tomllib
from pathlib import Path


def packages(root: Path) -> list[str]:
    """The top-level packages pyproject.toml installs (its setuptools ``include`` patterns),
    so a package added there is fingerprinted without a change here."""
    data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    include = data["tool"]["setuptools"]["packages"]["find"]["include"]
    return sorted({pattern.split(".")[0].rstrip("*") for pattern in include})


root = Path(sys.argv[1])
PACKAGES = packages(root)
digest = hashlib.sha256()


def built(path: Path) -> bool:
    """A compiled module, or C generated from the .pyx beside it."""
    return path.suffix in {".pyc", ".so"} or (
        path.suffix == ".c" and path.with_suffix(".pyx").exists())


files = [p for p in (root / "pyproject.toml", root / "setup.py") if p.exists()]
for package in PACKAGES:
    files += [p for p in (root / package).rglob("*")
              if p.is_file() and "__pycache__" not in p.parts and not built(p)]
for path in sorted(files):
    digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
print(digest.hexdigest())
