"""The wire protocol between the trusted host and a sandbox worker.

One JSON object per line in each direction, over the worker's stdin and stdout (which the worker
moves away from the program at start-up, so a program's prints cannot corrupt the channel).
Requests: {"op": "load" | "step_batch" | "plan" | "ping", ...}; answers: {"ok": true, ...} or
{"ok": false, "error": "..."}. Numeric batches may travel as `.npy` images (see below)."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import numpy as np

# Bumped whenever host and worker must change together: a worker from a stale image says which
# version it speaks in its answer to "load", and the host refuses a mismatch with a clear error.
PROTOCOL_VERSION = 2


def encode(message: dict[str, Any]) -> bytes:
    # NaN and infinities are legal values of a prediction; Python's json round-trips them.
    return (json.dumps(message, separators=(",", ":")) + "\n").encode()


def decode(line: bytes) -> dict[str, Any]:
    message = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError("protocol message is not an object")
    return message


# -- numeric batches as `.npy` bytes (base64 inside the JSON line) -----------------------------
# JSON spells every float in decimal, which costs more than the model itself on a batch of a few
# thousand transitions. Regular numeric data travels as an `.npy` image instead: read back with
# allow_pickle=False and checked for dtype and shape, so it is plain data like the JSON.


def pack_array(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def unpack_array(text: Any, dtype: str, ndim: int) -> np.ndarray:
    """The array in `text`, which must have exactly `dtype` and `ndim` dimensions."""
    if not isinstance(text, str):
        raise ValueError("packed array is not a string")
    array = np.load(io.BytesIO(base64.b64decode(text, validate=True)), allow_pickle=False)
    if array.dtype != np.dtype(dtype) or array.ndim != ndim:
        raise ValueError(f"packed array has dtype {array.dtype} and {array.ndim} dimensions")
    return array


def numeric_batch(values: list[Any]) -> np.ndarray | None:
    """`values` as one int64 or float64 array, when they are regular numbers (else None)."""
    try:
        array = np.asarray(values)
    except (ValueError, TypeError):
        return None
    if array.dtype.kind == "f":
        return array.astype(np.float64, copy=False)
    if array.dtype.kind in "iu" and array.dtype.itemsize <= 8:
        return array.astype(np.int64, copy=False)
    return None


def _regular(prediction: dict[str, Any], size: int | None) -> bool:
    """A prediction of a flat float state, a float reward, a real boolean `done`, no error."""
    state = prediction.get("next_state")
    return (
        prediction.get("error") is None
        and type(prediction.get("reward")) is float
        and type(prediction.get("done")) is bool
        and type(state) is list
        and (size is None or len(state) == size)
        and all(type(v) is float for v in state)
    )


def pack_predictions(predictions: list[dict[str, Any]]) -> dict[str, Any]:
    """The worker's answer to step_batch: regular predictions as arrays, the rest as JSON
    (a null in `predictions` stands for the next packed row)."""
    size = None
    for prediction in predictions:
        if _regular(prediction, None):
            size = len(prediction["next_state"])
            break
    rows = [i for i, p in enumerate(predictions) if size and _regular(p, size)]
    if not rows:
        return {"ok": True, "predictions": predictions}
    packed = set(rows)
    chosen = [predictions[i] for i in rows]
    return {
        "ok": True,
        "predictions": [None if i in packed else p for i, p in enumerate(predictions)],
        "packed": {
            "next_state": pack_array(np.array([p["next_state"] for p in chosen], np.float64)),
            "reward": pack_array(np.array([p["reward"] for p in chosen], np.float64)),
            "done": pack_array(np.array([p["done"] for p in chosen], np.bool_)),
        },
    }


def unpack_predictions(answer: dict[str, Any]) -> list[Any]:
    """The host's side of `pack_predictions`: one plain prediction per transition (a malformed
    answer raises ValueError)."""
    predictions = answer.get("predictions")
    if not isinstance(predictions, list):
        raise ValueError("no predictions")
    packed = answer.get("packed")
    if packed is None:
        return predictions
    if not isinstance(packed, dict):
        raise ValueError("packed predictions are not an object")
    states = unpack_array(packed.get("next_state"), "float64", 2)
    rewards = unpack_array(packed.get("reward"), "float64", 1)
    dones = unpack_array(packed.get("done"), "bool", 1)
    slots = [i for i, p in enumerate(predictions) if p is None]
    if not len(slots) == len(states) == len(rewards) == len(dones):
        raise ValueError("packed predictions do not fill the gaps")
    result = list(predictions)
    for i, state, reward, done in zip(
        slots, states.tolist(), rewards.tolist(), dones.tolist(), strict=True
    ):
        result[i] = {"next_state": state, "reward": reward, "done": done, "error": None}
    return result
