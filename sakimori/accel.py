"""The optional compiled accelerators (Cython modules ``setup.py`` builds from ``*.pyx``).

Each accelerator has a pure-Python module that stays the reference and the fallback. Without
a C compiler at install the compiled module is absent: :func:`compiled` returns None and the
pure code runs. A module that is present but fails to import (a broken or mismatched build)
raises — a broken install must fail loudly, not slow down silently
(``tests/test_test_hygiene.py`` forbids catching ``ImportError`` in the product).
"""

from __future__ import annotations

from importlib import import_module
from importlib.util import find_spec
from types import ModuleType


def compiled(name: str) -> ModuleType | None:
    """The compiled module *name* (dotted), or None when it was not built."""
    return import_module(name) if find_spec(name) is not None else None
