"""What the dispatcher calls for a flow event: each flow handler's ``handle``, or its compiled
gate (``eve_consumer/handlers/_flowgate.pyx``, built by ``setup.py`` when a C compiler is
there).

Half of all events are flows and each goes to four handlers (``beacon``, ``fw_blocked``,
``non_http_on_http_port``, ``long_session``), most of which stop early. A gate repeats a
handler's early exits in C (the whole flow branch for ``beacon``) and hands every flow it does
not settle to the handler's own ``handle``, which stays the reference and the fallback (no
compiler, ``USE_COMPILED = False``, a handler subclass that changes ``handle``, any other
handler). Findings, counters and statistics are the same either way
(tests/test_flowgate.py compares the reports on real and hostile EVE).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sakimori.accel import compiled

if TYPE_CHECKING:
    from eve_consumer.handlers import Handler
    from sakimori.eve.decode import Event

# Dispatchers made from now use the compiled gates when they are built (tests switch it off
# to run the reference handlers on the same EVE).
USE_COMPILED = True


def compiled_gates() -> Any:
    """The compiled gate module, or None when it was not built."""
    return compiled("eve_consumer.handlers._flowgate")


def flow_handle(handler: Handler) -> Callable[[Event], None]:
    """The callable the dispatcher gives *handler*'s flow events: its compiled gate when
    there is one (and :data:`USE_COMPILED`), else ``handler.handle``."""
    if USE_COMPILED:
        module = compiled_gates()
        if module is not None:
            gate = module.gate(handler)
            if gate is not None:
                return gate  # type: ignore[no-any-return]
    return handler.handle
