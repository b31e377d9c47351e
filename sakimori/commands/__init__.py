"""One module per CLI verb: ``register(subparsers)`` adds it, ``run(args)`` executes it."""
