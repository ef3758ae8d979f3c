"""Converting observations and actions between storage, the wire and the program's types.

A format is the plain dict of env.toml's [observation] / [action] tables, so the sandbox worker
can use these functions without the registry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def to_runtime(value: Any, fmt: Mapping[str, Any]) -> Any:
    """A stored or wire value in the type a program receives (see the CWM contract)."""
    kind = fmt["type"]
    if kind == "discrete":
        return int(np.asarray(value).item())
    if kind == "tuple":
        return tuple(int(v) for v in np.asarray(value).ravel())
    return np.asarray(value, dtype=fmt["dtype"]).reshape(tuple(fmt.get("shape", ())))


def to_plain(value: Any) -> Any:
    """A JSON-ready copy of an observation or action (exact: float32 widens losslessly)."""
    array = np.asarray(value)
    return array.tolist() if array.ndim else array.item()
