"""Mail-side shared code: normalisation, country data and the Python reference checks."""
