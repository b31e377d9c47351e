"""Every case of tests/vectors/*.yaml (mode ``inline``) judged by a real private Rspamd 3.4
running the generated sakimori plugin; the Python checks run the same files (mode
``passive``), so the two implementations cannot drift. Cases are grouped by their config and
baselines: the instance is re-rendered and restarted only between groups."""

from __future__ import annotations

import pytest
from rspamd_support import (
    build_message,
    check_expect,
    configure,
    envelope,
    load_vectors,
    requires_rspamd,
    shared_instance,
    symbol_options,
)

pytestmark = [pytest.mark.rspamd, requires_rspamd]

# Sorting by (config, baselines) keeps cases that share them adjacent → few restarts.
VECTORS = sorted(load_vectors("inline"), key=lambda v: (repr(v[1]), repr(v[2]), v[0]))


def test_vectors_exist() -> None:
    names = {v[0].split(":")[0] for v in VECTORS}
    assert {"internal_spoof", "domestic_via_overseas", "new_infrastructure", "display_name",
            "lookalike", "header_mismatch", "hostile", "displayed_from"} <= names


@pytest.mark.parametrize("vector", VECTORS, ids=[v[0] for v in VECTORS])
def test_vector(vector) -> None:
    _, config, mail, case = vector
    inst = configure(config, mail)
    before = len(inst.lua_errors())
    reply = inst.scan(build_message(case["message"]), **envelope(case["message"]))
    problems = check_expect(case.get("expect") or {}, symbol_options(reply))
    assert not problems, "; ".join(problems)
    assert inst.lua_errors()[before:] == []


def test_no_lua_errors_after_all_vectors() -> None:
    assert shared_instance().lua_errors() == []
