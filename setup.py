"""Build of sakimori's optional compiled accelerators (Cython).

Everything in ``pyproject.toml`` describes the package; this file only adds the extension
modules: every ``*.pyx`` file under the product packages becomes an extension of the same
dotted name (``eve_consumer/_fastfeed.pyx`` → ``eve_consumer._fastfeed``). Each is
**optional**: without a C compiler or Python headers the build warns and goes on, and the code
that would import the accelerator falls back to its pure-Python module, which stays the
reference (tests compare both; in CI a missing compiled module fails them). A source Cython
rejects is skipped the same way. Cython itself comes from ``[build-system] requires``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from setuptools import Extension, setup

_PACKAGES = ("eve_consumer", "sakimori", "generator")
_HERE = Path(__file__).parent


def _extensions() -> list[Extension]:
    found = sorted(p for pkg in _PACKAGES for p in (_HERE / pkg).rglob("*.pyx"))
    if not found:
        return []
    from Cython.Build import cythonize

    exts = [Extension(".".join(p.relative_to(_HERE).with_suffix("").parts),
                      [str(p.relative_to(_HERE))], optional=True,
                      extra_compile_args=["-O2"])
            for p in found]
    built: list[Extension] = []
    for ext in exts:  # one by one: a source Cython rejects loses its module, not the install
        try:
            built += cythonize([ext], language_level=3, quiet=True,
                               compiler_directives={"boundscheck": True, "wraparound": False,
                                                    "initializedcheck": True})
        except Exception as exc:  # Cython's CompileError: the pure-Python module is used
            print(f"setup.py: {ext.name} not compiled: {exc}", file=sys.stderr)
    for ext in built:  # cythonize's copies drop the flag
        ext.optional = True
    return built


setup(ext_modules=_extensions())
