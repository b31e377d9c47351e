"""Input stage: where EVE lines come from, registered by name in :data:`INPUTS`.

Every input hands out :class:`Batch` es of complete lines, the line number of the first one
and the file they came from (so a rejected line is reported as ``file:line``), bounded by
``max_bytes`` and ``max_lines`` (``consumer.queue_size``) per call — the bounded queue between
input and decode. ``read_batch()`` returns None when a one-shot input is exhausted and
an empty batch when a followed file has nothing new yet. ``checkpoint()`` says where to
resume.

- ``file``   — :class:`~eve_consumer.inputs.eve_file.FileInput`: one pass, start to end.
- ``follow`` — :class:`~eve_consumer.inputs.eve_follow.FollowInput`: tail with a persisted
  checkpoint, rotation and truncation handling, partial last lines held back.
- ``redis``  — :class:`~eve_consumer.inputs.redis_list.RedisListInput`: Suricata's redis
  eve-log output (lists), at least once through a processing list acknowledged after the
  checkpoint commit (``consume --redis``).

File inputs are pull-based: the file itself is the buffer, so a full batch is never a drop —
the rest is read on the next call.
An unknown input name is a configuration error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sakimori.errors import ConfigError

DEFAULT_MAX_BYTES = 4 << 20
DEFAULT_MAX_LINES = 10_000  # the consumer passes consumer.queue_size


@dataclass
class Batch:
    """Complete lines read in one call from ``source``; ``lines[i]`` is line ``first + i``."""

    source: str
    lines: list[bytes] = field(default_factory=list)
    first: int = 1


def _registry() -> dict[str, Any]:
    from eve_consumer.inputs.eve_file import FileInput
    from eve_consumer.inputs.eve_follow import FollowInput
    from eve_consumer.inputs.redis_list import RedisListInput

    return {"file": FileInput, "follow": FollowInput, "redis": RedisListInput}


INPUT_NAMES = ("file", "follow", "redis")


def get_input(name: str, source: str = "<config>") -> Any:
    """The input class registered as *name*; ConfigError (exit 2) for an unknown name."""
    registry = _registry()
    if name not in registry:
        raise ConfigError(source, "consumer.input",
                          f"unknown input {name!r} (known: {', '.join(registry)})")
    return registry[name]
