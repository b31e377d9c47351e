"""Mail learning: read stored mail, extract per-message features, learn the ``mail`` baselines."""
