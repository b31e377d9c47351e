"""Helpers shared by the real-Rspamd tests (no tests here).

- :func:`shared_instance` — one private Rspamd per test session (started on first use,
  stopped at exit); :func:`configure` renders a config + baselines into it, restarting it
  only when the rendered files changed.
- :func:`load_vectors` / :func:`build_message` / :func:`check_expect` — the shared test-vector
  format of ``tests/vectors/*.yaml`` (documented in docs/mail-checks.md, "Test vectors").
"""

from __future__ import annotations

import atexit
import base64
import copy
import fnmatch
import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.render_rspamd import write_rspamd
from sakimori.config import Config, load_config
from sakimori.rspamd import RspamdInstance

VECTOR_DIR = Path(__file__).resolve().parent / "vectors"
requires_rspamd = pytest.mark.engine("rspamd")

_STATE: dict[str, Any] = {"instance": None, "key": None, "tmp": None}


def deep_merge(base: Any, over: Any) -> Any:
    """Mappings merge key by key; anything else in *over* replaces *base*."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = copy.deepcopy(base)
        for key, value in over.items():
            out[key] = deep_merge(out.get(key), value) if key in out else copy.deepcopy(value)
        return out
    return copy.deepcopy(over) if over is not None else copy.deepcopy(base)


def make_config(sections: dict[str, Any], tmp: Path) -> Config:
    digest = hashlib.sha256(json.dumps(sections, sort_keys=True).encode()).hexdigest()[:12]
    path = tmp / f"sakimori-{digest}.yaml"
    path.write_text(yaml.safe_dump(sections, allow_unicode=True), encoding="utf-8")
    return load_config(path, env={})


def make_doc(mail: dict[str, Any]) -> dict[str, Any]:
    return {"schema_version": 1, "generated_at": "2026-01-01T00:00:00Z",
            "provenance": {"inputs": ["tests/vectors"], "records": 0}, "traffic": {},
            "mail": mail}


def _tmp() -> Path:
    if _STATE["tmp"] is None:
        _STATE["tmp"] = Path(tempfile.mkdtemp(prefix="sakimori-rspamd-tests-"))
    return _STATE["tmp"]


def shared_instance() -> RspamdInstance:
    if _STATE["instance"] is None:
        build = _tmp() / "build"
        write_rspamd(make_config({}, _tmp()), make_doc({}), build)
        _STATE["instance"] = RspamdInstance(build).start()
        _STATE["key"] = ("{}", "{}")
        atexit.register(_shutdown)
    return _STATE["instance"]


def _shutdown() -> None:
    if _STATE["instance"] is not None:
        _STATE["instance"].stop()
        _STATE["instance"] = None
    if _STATE["tmp"] is not None:
        shutil.rmtree(_STATE["tmp"], ignore_errors=True)
        _STATE["tmp"] = None


def configure(config: dict[str, Any], mail: dict[str, Any]) -> RspamdInstance:
    """The shared instance running *config* (sakimori.yaml sections) and *mail* baselines."""
    inst = shared_instance()
    key = (json.dumps(config, sort_keys=True), json.dumps(mail, sort_keys=True))
    if key == _STATE["key"]:
        return inst
    build = _tmp() / "build"
    write_rspamd(make_config(config, _tmp()), make_doc(mail), build)
    if inst.sync(build):
        inst.restart()
    _STATE["key"] = key
    return inst


# --- test vectors ---------------------------------------------------------------------------

def load_vectors(mode: str) -> list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """(id, config, baselines, case) for every case of every file that applies to *mode*."""
    out = []
    for path in sorted(VECTOR_DIR.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        defaults = doc.get("defaults") or {}
        for case in doc.get("cases") or []:
            if mode not in (case.get("modes") or ["inline", "passive"]):
                continue
            config = deep_merge(defaults.get("config") or {}, case.get("config") or {})
            mail = deep_merge(defaults.get("baselines") or {}, case.get("baselines") or {})
            out.append((f"{path.stem}: {case['name']}", config, mail, case))
    return out


def build_message(message: dict[str, Any]) -> bytes:
    """Raw message bytes: ``raw_base64`` if given, else headers (in order) + blank line + body."""
    if message.get("raw_base64"):
        return base64.b64decode(message["raw_base64"])
    lines = [f"{name}: {value}" for name, value in message.get("headers") or []]
    body = str(message.get("body") or "")
    return ("\r\n".join(lines) + "\r\n\r\n" + body.replace("\n", "\r\n")).encode("utf-8")


def envelope(message: dict[str, Any]) -> dict[str, Any]:
    """Rspamd protocol envelope of a vector message (``envelope_from: ""`` is ``<>``)."""
    env_from = message.get("envelope_from")
    return {"ip": message.get("ip"), "hostname": message.get("hostname"),
            "helo": message.get("helo"), "user": message.get("user"),
            "mail_from": "<>" if env_from == "" else env_from,
            "rcpt": message.get("rcpt") or []}


def check_expect(expect: dict[str, Any], symbols: dict[str, list[str]]) -> list[str]:
    """Problems (empty when the verdict matches). *symbols*: name → options."""
    problems = []
    for sym, options in (expect.get("fire") or {}).items():
        if sym not in symbols:
            problems.append(f"{sym} did not fire")
            continue
        missing = [o for o in options or [] if o not in symbols[sym]]
        if missing:
            problems.append(f"{sym} options {symbols[sym]} lack {missing}")
    for pattern in expect.get("quiet") or []:
        hits = [s for s in symbols if fnmatch.fnmatchcase(s, pattern)]
        if hits:
            problems.append(f"{', '.join(hits)} fired ({[symbols[h] for h in hits]}) "
                            f"but must be quiet")
    return problems


def symbol_options(reply: dict[str, Any]) -> dict[str, list[str]]:
    return {name: list(sym.get("options") or [])
            for name, sym in (reply.get("symbols") or {}).items()}
