"""Input stage: where EVE lines come from, registered by name in :data:`INPUTS`.

Every input hands out batches (:class:`sakimori.eve.lines.Batch`) of complete lines, the line
number of the first one and the file they came from (so a rejected line is reported as
``file:line``), bounded by ``max_bytes`` and ``max_lines`` (``consumer.queue_size``) per call —
the bounded queue between input and decode. ``read_batch()`` returns None when a one-shot input
is exhausted and an empty batch when a followed file has nothing new yet. ``checkpoint()`` says
where to resume.

- ``file``   — :class:`~sakimori.eve.file.FileInput`: one pass, start to end.
- ``follow`` — :class:`~eve_consumer.inputs.eve_follow.FollowInput`: tail with a persisted
  checkpoint, rotation and truncation handling, partial last lines held back.
- ``redis``  — :class:`~eve_consumer.inputs.redis_list.RedisListInput`: Suricata's redis
  eve-log output (lists), at least once through a processing list acknowledged after the
  checkpoint commit (``consume --redis``).

File inputs are pull-based: the file itself is the buffer, so a full batch is never a drop —
the rest is read on the next call. A line longer than ``consumer.max_line_bytes`` is kept only
up to that length plus one byte (:class:`LineBuffer`), so memory stays bounded whatever the
file holds; the decoder rejects it as too long (file:line). The file inputs' lines are a
:class:`~sakimori.eve.lines.Lines` (the chunk read and where its lines are: a line becomes a
``bytes`` object only when read), the redis input's a list: both read alike.
An unknown input name is a configuration error.
"""

from __future__ import annotations

from typing import Any

from sakimori.errors import ConfigError


def _registry() -> dict[str, Any]:
    from eve_consumer.inputs.eve_follow import FollowInput
    from eve_consumer.inputs.redis_list import RedisListInput
    from sakimori.eve.file import FileInput

    return {"file": FileInput, "follow": FollowInput, "redis": RedisListInput}


INPUT_NAMES = ("file", "follow", "redis")


def get_input(name: str, source: str = "<config>") -> Any:
    """The input class registered as *name*; ConfigError (exit 2) for an unknown name."""
    registry = _registry()
    if name not in registry:
        raise ConfigError(source, "consumer.input",
                          f"unknown input {name!r} (known: {', '.join(registry)})")
    return registry[name]
