"""CWMB: the Code World Models Benchmark."""

__version__ = "0.1.0"
