"""CLI sub-commands. Each module has ``register(subparsers)``; its handler returns an exit code."""
