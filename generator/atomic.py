"""Deploy a build all at once or not at all.

``generate`` (and the admin screen's regeneration, through the same ``render_build``) renders
into a staging directory inside the build directory, ``BUILD_DIR/.sakimori-build-XXXXXX/``
(same file system; a dot name, so Ansible's ``find`` skips it), which starts as a copy of the
deployed ``suricata/`` and ``rspamd/`` (modes and mtimes kept, so files whose content does not
change keep their mtime and a running Rspamd reloads only changed maps). Only after every check
passed is each part swapped into place:

- with Linux ``renameat2(RENAME_EXCHANGE)`` the staged and the deployed directory trade places
  in one atomic step — a reader sees the old tree or the new one, never a mix;
- where that call is missing (another kernel or file system), the old directory is renamed
  aside and the new one renamed in: never half-written, but for a moment the path is absent.

The deployed paths stay real directories (``BUILD_DIR/suricata``, ``BUILD_DIR/rspamd``), as
the Ansible roles, ``sakimori analyze`` and the admin screen expect. Any failure before the swap
removes the staging directory and leaves the deployed build byte-identical. Staging
directories left by a killed run are removed when older than an hour. The swap happens between
``BUILD_DIR/<part>`` and a staged sibling, so it needs write access to ``BUILD_DIR`` only (the
Ansible role gives the whole build to the sakimori user).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

STAGE_PREFIX = ".sakimori-build-"
STALE_S = 3600.0
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _renameat2_exchange(a: Path, b: Path) -> bool:
    """Swap *a* and *b* atomically; False when the system cannot (then nothing changed)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def exchange(new: Path, target: Path) -> None:
    """Put directory *new* at *target*; the previous *target* (if any) ends up at *new*."""
    if not target.exists():
        os.rename(new, target)
        return
    if _renameat2_exchange(new, target):
        return
    aside = new.with_name(new.name + ".old")
    os.rename(target, aside)
    os.rename(new, target)
    os.rename(aside, new)


def _remove_stale(build_dir: Path) -> None:
    now = time.time()
    for old in build_dir.glob(STAGE_PREFIX + "*"):
        with contextlib.suppress(OSError):
            if now - old.stat().st_mtime > STALE_S:
                shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def staging(build_dir: Path, parts: Sequence[str]) -> Iterator[Path]:
    """A staging root holding a copy of each deployed ``build_dir/<part>``; removed on exit
    (after :func:`publish` it holds the previous build)."""
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale(build_dir)
    stage = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=build_dir))
    try:
        for part in parts:
            current = build_dir / part
            if current.is_dir():
                shutil.copytree(current, stage / part, symlinks=True)
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def publish(stage: Path, build_dir: Path, parts: Sequence[str]) -> None:
    """Swap each staged part into ``build_dir`` (see the module docstring). The staged part is
    first moved beside its target (``BUILD_DIR/.sakimori-build-XXXXXX-<part>``), so the swap
    itself happens inside one directory and needs write access to ``BUILD_DIR`` only."""
    for part in parts:
        staged = stage / part  # made by mkdir (umask) or copied with the deployed modes
        if not staged.is_dir():
            continue
        beside = Path(build_dir) / f"{stage.name}-{part}"
        os.rename(staged, beside)
        try:
            exchange(beside, Path(build_dir) / part)
        finally:
            shutil.rmtree(beside, ignore_errors=True)  # now the previous build (or a failure)
