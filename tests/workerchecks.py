"""Checks shared by the ``consume --workers`` tests (tests/test_consumer_workers*.py)."""

from __future__ import annotations

from typing import Any


def assert_batch_loop(stats: dict[str, Any], n: int, router_impl: str) -> list[int]:
    """In a ``--workers`` run's stats.json (*stats*): every one of the *n* workers fed every
    batch it was given by the batch loop (compiled with the compiled router, pure with the
    pure one: the ``router_impl`` fixture sets both), none by the per-line loop — a worker
    whose hosts have no line is given none —, worker 0 some; returns each worker's shared
    lines (decoded with scratch statistics for another worker)."""
    loop = "compiled" if router_impl == "compiled" else "python"
    workers = stats["timing"]["workers"]
    assert len(workers) == n
    assert all(set(w["batches"]) <= {loop} for w in workers)
    assert set(workers[0]["batches"]) == {loop}
    return [w["shared_lines"] for w in workers]
