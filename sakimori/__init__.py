"""sakimori — early warning against targeted attacks (shared CLI, config and helpers)."""

__version__ = "0.1.0"
