"""Read an EVE JSON file once, start to end, as decoded events with file:line positions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from eve_consumer.decode import Decoder, Event
from sakimori.errors import InputError


def read_events(path: str | Path, decoder: Decoder) -> Iterator[Event]:
    """Yield decoded events of *path*; bad lines are counted in ``decoder.stats``."""
    name = str(path)
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed in finally, generator may stop early
    except OSError as exc:
        raise InputError(name, None, f"cannot read EVE file: {exc.strerror or exc}") from exc
    decoder.source = name
    try:
        for lineno, line in enumerate(fh, 1):
            event = decoder.decode(line, lineno)
            if event is not None:
                yield event
    finally:
        fh.close()
