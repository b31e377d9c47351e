"""The import rule of docs/architecture.md: dependencies run one way, lazy imports included.

core (sakimori/*, sakimori/mail, sakimori/eve) <- generator/ and eve_consumer/ (never each other)
<- wiring (sakimori/commands, sakimori/web, sakimori/cli.py) <- demo (sakimori_demo/). A module
may import its own layer or any layer below it; generator and eve_consumer are siblings that
never meet; the admin screen never calls a CLI verb. One upward edge is allowed, and only lazily
(inside a function): the ``demo`` verb loading the demo package, so no other verb imports demo
code.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sakimori", "generator", "eve_consumer", "sakimori_demo")

# Which layers each layer may import (its own included).
ALLOWED = {
    "core": {"core"},
    "generator": {"core", "generator"},
    "consumer": {"core", "consumer"},
    "wiring": {"core", "generator", "consumer", "wiring"},
    "demo": {"core", "generator", "consumer", "wiring", "demo"},
}
# (importing module, imported layer) allowed only inside a function body.
LAZY_ONLY = {("sakimori.commands.demo", "demo")}


def _under(module: str, *packages: str) -> bool:
    """True when module is one of packages or inside one of them."""
    return any(module == p or module.startswith(p + ".") for p in packages)


def layer_of(module: str) -> str | None:
    """The layer of a dotted module name, None when it is not the project's."""
    top = module.split(".")[0]
    if top == "generator":
        return "generator"
    if top == "eve_consumer":
        return "consumer"
    if top == "sakimori_demo":
        return "demo"
    if top != "sakimori":
        return None
    if _under(module, "sakimori.cli", "sakimori.__main__", "sakimori.commands", "sakimori.web"):
        return "wiring"
    return "core"


def _web_calls_cli(src: str, dst: str) -> bool:
    """The admin screen and the CLI are both wiring, but the screen never calls a CLI verb."""
    return _under(src, "sakimori.web") and _under(dst, "sakimori.commands", "sakimori.cli")


def module_name(path: Path) -> str:
    """The dotted name of a source file under ROOT."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(tree: ast.AST, name: str, is_pkg: bool) -> list[tuple[int, str, bool]]:
    """(line, module, lazy) of every import in the file at any depth, relative ones resolved;
    lazy: inside a function body."""
    found: list[tuple[int, str, bool]] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend((node.lineno, a.name, lazy) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = name.split(".") if is_pkg else name.split(".")[:-1]
                pkg = pkg[: len(pkg) - (node.level - 1)]
                base = ".".join([*pkg, base] if base else pkg)
            found.append((node.lineno, base, lazy))
            found.extend((node.lineno, f"{base}.{a.name}", lazy) for a in node.names)
        inner = lazy or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, False)
    return found


def _allowed(src: str, dst: str, lazy: bool) -> bool:
    src_layer, dst_layer = layer_of(src), layer_of(dst)
    if src_layer is None or dst_layer is None:
        return True
    if _web_calls_cli(src, dst):
        return False
    if lazy and (src, dst_layer) in LAZY_ONLY:
        return True
    return dst_layer in ALLOWED[src_layer]


def violations() -> list[str]:
    """Every import that runs against the layer order, as `file:line: a → b (layer → layer)`."""
    out: list[str] = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            name = module_name(path)
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            seen: set[tuple[int, str | None]] = set()
            for line, mod, lazy in imported(tree, name, path.name == "__init__.py"):
                if _allowed(name, mod, lazy) or (line, layer_of(mod)) in seen:
                    continue
                seen.add((line, layer_of(mod)))
                rel = path.relative_to(ROOT)
                out.append(f"{rel}:{line}: {name} → {mod} "
                           f"({layer_of(name)} → {layer_of(mod)})")
    return out


def test_layer_of_maps_each_package() -> None:
    assert layer_of("sakimori.mail.relays") == "core"
    assert layer_of("sakimori.eve.decode") == "core"
    assert layer_of("sakimori.webconfig") == "core"
    assert layer_of("sakimori.web.views") == "wiring"
    assert layer_of("sakimori.commands.learn") == "wiring"
    assert layer_of("sakimori.cli") == "wiring"
    assert layer_of("generator.mail.learn") == "generator"
    assert layer_of("eve_consumer.pipeline") == "consumer"
    assert layer_of("sakimori_demo.officesim") == "demo"
    assert layer_of("yaml") is None


def test_relative_imports_are_resolved() -> None:
    tree = ast.parse("from ..outputs import hosts_csv\nfrom . import x\n")
    got = [(line, mod) for line, mod, _ in imported(tree, "eve_consumer.handlers.beacon", False)]
    assert (1, "eve_consumer.outputs.hosts_csv") in got
    assert (2, "eve_consumer.handlers.x") in got


def test_the_checker_sees_lazy_and_forbidden_imports() -> None:
    tree = ast.parse("import os\ndef f():\n    from eve_consumer import store\n")
    got = imported(tree, "generator.x", False)
    assert (3, "eve_consumer", True) in got and (1, "os", False) in got
    assert not _allowed("generator.x", "eve_consumer.store", lazy=True)
    assert not _allowed("eve_consumer.pipeline", "generator.render_suricata", lazy=False)
    assert not _allowed("sakimori.mail.checks", "generator.mail.learn", lazy=True)
    assert not _allowed("sakimori.web.wledit", "sakimori.commands.generate", lazy=True)
    assert not _allowed("sakimori.cli", "sakimori_demo.command", lazy=True)
    assert not _allowed("sakimori.commands.demo", "sakimori_demo.command", lazy=False)
    assert _allowed("sakimori.commands.demo", "sakimori_demo.command", lazy=True)
    assert _allowed("sakimori.web.wledit", "generator.build", lazy=False)


def test_imports_run_one_way() -> None:
    bad = violations()
    assert not bad, f"{len(bad)} imports against the layer order:\n" + "\n".join(bad)


def test_the_product_imports_no_demo_code() -> None:
    """Every product module imported in a fresh interpreter, plus every verb's parser: neither
    the demo package nor scapy / aiosmtpd (the ``demo`` extra) gets loaded. (cryptography, the
    third, is probed by redis-py itself when present; no product module imports it — the
    ast walk below says so.)"""
    code = (
        "import importlib, pkgutil, sys\n"
        "for top in ('sakimori', 'generator', 'eve_consumer'):\n"
        "    pkg = importlib.import_module(top)\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, top + '.'):\n"
        "        if not m.name.endswith('__main__'):\n"
        "            importlib.import_module(m.name)\n"
        "from sakimori.cli import build_parser\n"
        "build_parser()\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in\n"
        "             ('sakimori_demo', 'scapy', 'aiosmtpd'))\n"
        "print(' '.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True, timeout=120)
    assert out.stdout.strip() == "", f"demo code in the product's import path: {out.stdout}"


def test_no_product_module_imports_a_demo_dependency() -> None:
    found = []
    for pkg in ("sakimori", "generator", "eve_consumer"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            name = module_name(path)
            found += [f"{path.relative_to(ROOT)}:{line}: {mod}"
                      for line, mod, _ in imported(tree, name, path.name == "__init__.py")
                      if mod.split(".")[0] in ("scapy", "cryptography", "aiosmtpd")]
    assert not found, "demo-only dependencies imported by the product:\n" + "\n".join(found)


def test_demo_verb_without_the_demo_extra_says_so_in_one_line(tmp_path: Path) -> None:
    """`sakimori demo` where the demo's dependencies are missing: exit 2, one line naming the
    missing module and how to install the extra (the other verbs never need it)."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'aiosmtpd':\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from sakimori.cli import main\n"
        f"main(['demo', '--no-serve', '--out', {str(tmp_path)!r}])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "demo is not installed (aiosmtpd)" in lines[0] and ".[demo]" in lines[0]
    assert not any(tmp_path.iterdir())  # nothing started
