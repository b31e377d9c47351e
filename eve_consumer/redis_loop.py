"""The consumer's loop over the Redis input (``consume --redis``), follow or ``--drain``.

Same cycle as file follow mode (:meth:`eve_consumer.pipeline.Consumer.follow`): feed batches;
every ``interval_s`` while events arrive (and when stopping, or with ``--drain`` once every
key is empty) evaluate, which commits the input's checkpoints together with every handler's
snapshot and the findings in one store transaction, writes the reports and sends the mails —
and only **then** acknowledge the events in Redis
(:meth:`~eve_consumer.inputs.redis_list.RedisListInput.acknowledge`). A crash before the
commit redelivers the events (the state does not have them); a crash between commit and
acknowledgement is finished on the next start without counting them twice.
"""

from __future__ import annotations

import threading
import time
from typing import Any

MAIL_RETRY_S = 60.0


def run_redis(consumer: Any, inp: Any, stop: threading.Event, *, drain: bool,
              interval_s: float) -> None:
    """Feed *consumer* from *inp* until *stop* is set (or, with *drain*, the keys are empty)."""
    store = consumer.store
    inp.resume({k.checkpoint_name: store.checkpoint(k.checkpoint_name) for k in inp.keys})
    consumer.input_stats.update(input="redis", source=inp.source,
                                keys=[k.name for k in inp.keys])
    dirty, last_eval = True, time.monotonic()
    try:
        while True:
            stopping = stop.is_set()
            batch = inp.read_batch(block=not drain and not stopping)
            if batch.lines:
                consumer.feed(batch)
                dirty = True
            now = time.monotonic()
            finishing = not batch.lines and (stopping or (drain and inp.empty()))
            retry = consumer._mail_pending() and now - last_eval >= MAIL_RETRY_S
            if (dirty and now - last_eval >= interval_s) or retry or (finishing and dirty):
                evaluate(consumer, inp)
                dirty, last_eval = False, now
            if finishing and not dirty:
                return
    finally:
        inp.close()


def evaluate(consumer: Any, inp: Any) -> None:
    """Commit state + checkpoints, write reports, send mail; then acknowledge in Redis."""
    checkpoints = inp.checkpoints()
    consumer.input_stats.update(dict(inp.stats))
    consumer.evaluate(follow=True, checkpoints=checkpoints or None)
    inp.acknowledge()
