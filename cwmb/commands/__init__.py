"""Sub-commands of `cwmb`; each module exposes `register(subparsers)`."""
