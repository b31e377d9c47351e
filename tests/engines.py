"""The one way a test says it needs an engine or shared data: skip locally, fail in CI.

In CI (``CI=true``, set by CI; ``.ci/run`` runs ``make test``) a missing Suricata, Rspamd,
Chromium, ClamAV, Redis, logrotate — any program a test needs — or missing shared sample data
is a failure with a clear message: a green CI run then means every test really ran. Outside CI
the test is skipped with the same reason, so a developer without an engine can still run the
rest. ``tests/test_test_hygiene.py`` checks that every engine skip goes through this module.

Use :func:`require_binary` inside a test or fixture, or mark a whole test/module with
``pytest.mark.engine("rspamd", ...)`` (checked by ``pytest_runtest_setup`` in conftest.py).
"""

from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path
from types import ModuleType

import pytest

SETUP_HINT = "run `make setup`"


def in_ci() -> bool:
    """True when CI runs the suite (``CI=true``, as CI services set it)."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def missing(why: str) -> None:
    """Fail under CI, else skip — with ``why`` as the message either way."""
    if in_ci():
        pytest.fail(f"{why} (CI=true: a missing engine or data set is a failure, not a skip)",
                    pytrace=False)
    pytest.skip(why)


def require_binary(name: str, hint: str = SETUP_HINT) -> str:
    """The full path of program ``name`` on PATH (or an absolute path that exists)."""
    path = name if os.path.isabs(name) and os.access(name, os.X_OK) else shutil.which(name)
    if path is None:
        missing(f"{name} not installed ({hint})")
    return str(path)


def require_path(path: Path, what: str = "shared sample data") -> Path:
    """``path`` when it exists (file or directory), else skip / fail in CI naming it."""
    if not path.exists():
        missing(f"{what} not found: {path}")
    return path


def require_module(name: str, hint: str = SETUP_HINT) -> ModuleType:
    """A third-party module (never the project's own), imported, else skip / fail in CI."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing(f"python module {name} not installed ({hint}): {exc}")
        raise  # unreachable: missing() always raises


def check_engine_marks(item: pytest.Item) -> None:
    """Apply every ``pytest.mark.engine(name, ...)`` of ``item`` (conftest calls this)."""
    for mark in item.iter_markers("engine"):
        for name in mark.args:
            require_binary(name, **mark.kwargs)
