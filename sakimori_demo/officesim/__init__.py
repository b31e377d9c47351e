"""Deterministic office-network traffic simulator with ground truth (``sakimori_demo.officesim``).

Writes real pcaps of a simulated office (benign PCs plus ten infected hosts, one backdoor
behaviour each) for tests, demos and benchmarks::

    from sakimori_demo.officesim import generate, SimParams
    gt = generate(Path("out"), SimParams(seed=2026, hours=26.0))

or ``python -m sakimori_demo.officesim --out DIR``. Same params → byte-identical files.
"""

from sakimori_demo.officesim.params import SimParams
from sakimori_demo.officesim.sim import generate

__all__ = ["SimParams", "generate"]
