"""``python -m sakimori`` runs the CLI."""

from sakimori.cli import main

main()
